// SPDX-License-Identifier: GPL-2.0
/*
 * References for `make bench`, attached by floor.c:
 *
 *  floor_*  an empty uprobe and an empty uretprobe: what a traced call
 *           costs with nothing done in BPF at all (the floor).
 *  ring_*   the least a two-event tracer can do: the entry writes the time,
 *           pid/tid, a u64 key (arg0) and a 64-byte string (arg1), the
 *           return writes the time and the return value, each one reserve
 *           in one ring buffer, submitted without wakeup. What tasktap's
 *           generic capture programs could cost at best with the same
 *           events.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} ring SEC(".maps");

struct entry_ev {
	__u64 ts;
	__u64 pid_tgid;
	__u64 key;
	char name[64];
};

struct return_ev {
	__u64 ts;
	__u64 pid_tgid;
	__u64 ret;
};

SEC("uprobe")
int floor_entry(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int floor_return(void *ctx)
{
	return 0;
}

SEC("uprobe")
int ring_entry(struct pt_regs *ctx)
{
	struct entry_ev *e = bpf_ringbuf_reserve(&ring, sizeof(*e), 0);

	if (!e)
		return 0;
	e->ts = bpf_ktime_get_ns();
	e->pid_tgid = bpf_get_current_pid_tgid();
	e->key = PT_REGS_PARM1(ctx);
	bpf_probe_read_user_str(e->name, sizeof(e->name), (void *)PT_REGS_PARM2(ctx));
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uretprobe")
int ring_return(struct pt_regs *ctx)
{
	struct return_ev *e = bpf_ringbuf_reserve(&ring, sizeof(*e), 0);

	if (!e)
		return 0;
	e->ts = bpf_ktime_get_ns();
	e->pid_tgid = bpf_get_current_pid_tgid();
	e->ret = PT_REGS_RC(ctx);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
