// SPDX-License-Identifier: GPL-2.0
/*
 * holdmeter: how long processes stay stopped at exec. Every process whose
 * name starts with `prefix` is timed from its exec to the first SIGCONT
 * sent to it (by the agent that attached, or by a hold's deadline).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile char prefix[16] = {};
const volatile __u32 prefix_len = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} execs SEC(".maps");

/* What was measured: processes continued, the longest and the total stop. */
__u64 continued = 0, longest_ns = 0, total_ns = 0;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	char comm[16];
	__u32 tgid = task->tgid;
	__u64 now = bpf_ktime_get_ns();

	bpf_get_current_comm(comm, sizeof(comm));
	for (__u32 i = 0; i < 16 && i < prefix_len; i++) {
		if (comm[i] != prefix[i])
			return 0;
	}
	bpf_map_update_elem(&execs, &tgid, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/signal_generate")
int BPF_PROG(on_signal, int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
	     int result)
{
	__u32 tgid = task->tgid;
	__u64 *start, d;

	if (sig != 18 /* SIGCONT */)
		return 0;
	start = bpf_map_lookup_elem(&execs, &tgid);
	if (!start)
		return 0;
	d = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&execs, &tgid);
	__sync_fetch_and_add(&continued, 1);
	__sync_fetch_and_add(&total_ns, d);
	if (d > longest_ns)
		longest_ns = d; /* racy across CPUs: good enough for a maximum of a few */
	return 0;
}
