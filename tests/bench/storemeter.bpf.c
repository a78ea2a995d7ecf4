// SPDX-License-Identifier: GPL-2.0
/*
 * What it costs to keep a call's entry record (640 bytes, the size of a
 * `calls` value) from its entry to its return, by store, attached by
 * storemeter.c as a uprobe + uretprobe pair:
 *
 *  empty_*  nothing (the floor).
 *  hash_*   today's session store: a hash map not preallocated, keyed by
 *           (pid_tgid, time); an update copying the 640-byte value from
 *           scratch at the entry, a lookup, a copy of the entry event (128
 *           bytes here) back into scratch and a delete at the return.
 *  task_*   task local storage holding a stack of 8 frames per thread: the
 *           entry event copied into the thread's frame at the entry and back
 *           into scratch at the return (128 bytes each way).
 *  frame_*  the same storage with the record built in place (no copy): only
 *           the storage's look-ups and the depth, what a store costs when
 *           the entry writes its captures into the frame and the return
 *           writes the ring record from it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define RECORD 640 /* sizeof(struct tt_call_stash): what a hash update copies */
#define ENTRY  128 /* the bench's entry event (key: arg0, a 64-byte string): what is read back */
#define FRAMES 8

struct record {
	__u8 b[RECORD];
};

struct call_key {
	__u64 pid_tgid;
	__u64 start_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct call_key);
	__type(value, struct record);
} calls SEC(".maps");

struct frames {
	__u32 depth;
	__u32 pad;
	struct record f[FRAMES];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct frames);
} frames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct record);
} scratch SEC(".maps");

static struct record *scratch_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

SEC("uprobe")
int empty_entry(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int empty_return(void *ctx)
{
	return 0;
}

/* the start time is not carried to the return (no session cookie here): 0 in both */
SEC("uprobe")
int hash_entry(void *ctx)
{
	struct record *s = scratch_buf();
	struct call_key k = { bpf_get_current_pid_tgid(), 0 };

	if (s)
		bpf_map_update_elem(&calls, &k, s, BPF_NOEXIST);
	return 0;
}

SEC("uretprobe")
int hash_return(void *ctx)
{
	struct record *s = scratch_buf(), *v;
	struct call_key k = { bpf_get_current_pid_tgid(), 0 };

	if (!s)
		return 0;
	v = bpf_map_lookup_elem(&calls, &k);
	if (!v)
		return 0;
	bpf_probe_read_kernel(s, ENTRY, v);
	bpf_map_delete_elem(&calls, &k);
	return 0;
}

SEC("uprobe")
int task_entry(void *ctx)
{
	struct record *s = scratch_buf();
	struct frames *f;
	__u32 d;

	if (!s)
		return 0;
	f = bpf_task_storage_get(&frames, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!f || (d = f->depth) >= FRAMES)
		return 0;
	bpf_probe_read_kernel(&f->f[d], ENTRY, s);
	f->depth = d + 1;
	return 0;
}

SEC("uretprobe")
int task_return(void *ctx)
{
	struct record *s = scratch_buf();
	struct frames *f;
	__u32 d;

	if (!s)
		return 0;
	f = bpf_task_storage_get(&frames, bpf_get_current_task_btf(), 0, 0);
	if (!f || (d = f->depth) == 0 || d > FRAMES)
		return 0;
	bpf_probe_read_kernel(s, ENTRY, &f->f[d - 1]);
	f->depth = d - 1;
	return 0;
}

SEC("uprobe")
int frame_entry(void *ctx)
{
	struct frames *f;
	__u32 d;

	f = bpf_task_storage_get(&frames, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!f || (d = f->depth) >= FRAMES)
		return 0;
	f->f[d].b[0] = 1;
	f->depth = d + 1;
	return 0;
}

SEC("uretprobe")
int frame_return(void *ctx)
{
	struct frames *f;
	__u32 d;

	f = bpf_task_storage_get(&frames, bpf_get_current_task_btf(), 0, 0);
	if (!f || (d = f->depth) == 0 || d > FRAMES)
		return 0;
	f->depth = d - 1;
	return f->f[d - 1].b[0];
}
