// SPDX-License-Identifier: GPL-2.0
/*
 * What each piece of a compiled entry program (user/bpfgen.c) costs, one
 * uprobe program per piece, attached by piecemeter.c to bench-worker's
 * tick(key, name64) in turn; its run time less the empty program's is the
 * piece's. Then the whole entry event three ways:
 *
 *  empty      nothing (the floor of a run).
 *  cookie     bpf_get_attach_cookie (the hook id of a shared program).
 *  ktime      bpf_ktime_get_ns.
 *  pidtgid    bpf_get_current_pid_tgid.
 *  scratch    this CPU's scratch (a per-CPU array look-up) and a store.
 *  stats      a per-CPU counter incremented (a lost event, a filtered hit).
 *  rings      this CPU's ring: bpf_get_smp_processor_id + an array-of-maps look-up.
 *  query      bpf_ringbuf_query(AVAIL_DATA) on it.
 *  str        bpf_probe_read_user_str of the 64-byte name into scratch.
 *  read64     bpf_probe_read_user of the name's 64 bytes, for scale.
 *  copy       bpf_probe_read_kernel of 128 bytes, scratch to scratch (an
 *             entry event copied into a session frame, or back).
 *  inline     the same 128 bytes copied by 16 loads and stores in the program.
 *  tstorage   bpf_task_storage_get of this thread's storage (created once).
 *  output     bpf_ringbuf_output of a 128-byte event from scratch.
 *  reserve    bpf_ringbuf_reserve + bpf_ringbuf_submit of 128 bytes, nothing written.
 *  gen        the entry event as bpfgen builds it: cookie, scratch, header
 *             (time, pid), key, the string into scratch, this CPU's ring,
 *             the fill queried one time in 16, bpf_ringbuf_output.
 *  gen_lean   the same without the cookie and the query.
 *  ret_output a return event's header (40 bytes: time, pid, the return value)
 *             built on the stack, bpf_ringbuf_output.
 *  ret_direct the same header reserved and written in the ring.
 *  direct     the same record reserved at its largest size in the ring and
 *             built there (the string read straight into the record).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define EVENT 128 /* the bench's entry event: header 40, key 4+8, name 4+64 rounded */

struct buf {
	__u8 b[2048];
	__u32 hits;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct buf);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
};

/* piecemeter.c puts one ring in each CPU's slot */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 64);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} tstore SEC(".maps");

struct ev {
	__u64 ts;
	__u32 pid, tid, probe, kind;
	__u64 ret;
	__u32 size, ncaps;
	__u32 key_rec;
	__u64 key;
	__u32 name_rec;
	char name[64];
	__u32 pad[3];
} __attribute__((packed));

static struct buf *scratch_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

static void *this_ring(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&rings, &cpu);
}

SEC("uprobe")
int empty(void *ctx)
{
	return 0;
}

SEC("uprobe")
int cookie(void *ctx)
{
	struct buf *s = scratch_buf();

	if (s)
		s->hits = bpf_get_attach_cookie(ctx);
	return 0;
}

SEC("uprobe")
int ktime(void *ctx)
{
	struct buf *s = scratch_buf();

	if (s)
		*(__u64 *)s->b = bpf_ktime_get_ns();
	return 0;
}

SEC("uprobe")
int pidtgid(void *ctx)
{
	struct buf *s = scratch_buf();

	if (s)
		*(__u64 *)s->b = bpf_get_current_pid_tgid();
	return 0;
}

SEC("uprobe")
int scratch_only(void *ctx)
{
	struct buf *s = scratch_buf();

	if (s)
		s->hits++;
	return 0;
}

SEC("uprobe")
int stats_inc(void *ctx)
{
	__u32 k = 1;
	__u64 *v = bpf_map_lookup_elem(&stats, &k);

	if (v)
		*v += 1;
	return 0;
}

SEC("uprobe")
int rings_only(void *ctx)
{
	struct buf *s = scratch_buf();

	if (s && this_ring())
		s->hits++;
	return 0;
}

SEC("uprobe")
int query(void *ctx)
{
	struct buf *s = scratch_buf();
	void *r = this_ring();

	if (s && r)
		s->hits += bpf_ringbuf_query(r, BPF_RB_AVAIL_DATA);
	return 0;
}

SEC("uprobe")
int str(struct pt_regs *ctx)
{
	struct buf *s = scratch_buf();

	if (s)
		bpf_probe_read_user_str(s->b + 64, 64, (void *)PT_REGS_PARM2(ctx));
	return 0;
}

SEC("uprobe")
int read64(struct pt_regs *ctx)
{
	struct buf *s = scratch_buf();

	if (s)
		bpf_probe_read_user(s->b + 64, 64, (void *)PT_REGS_PARM2(ctx));
	return 0;
}

SEC("uprobe")
int copy(void *ctx)
{
	struct buf *s = scratch_buf();

	if (s)
		bpf_probe_read_kernel(s->b + 1024, EVENT, s->b);
	return 0;
}

SEC("uprobe")
int inline_copy(void *ctx)
{
	struct buf *s = scratch_buf();

	if (!s)
		return 0;
	for (int k = 0; k < EVENT / 8; k++)
		((__u64 *)(s->b + 1024))[k] = ((__u64 *)s->b)[k];
	return 0;
}

SEC("uprobe")
int tstorage(void *ctx)
{
	__u64 *v = bpf_task_storage_get(&tstore, bpf_get_current_task_btf(), 0,
					BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (v)
		*v += 1;
	return 0;
}

SEC("uprobe")
int output(void *ctx)
{
	struct buf *s = scratch_buf();
	void *r = this_ring();

	if (s && r)
		bpf_ringbuf_output(r, s->b, EVENT, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe")
int reserve(void *ctx)
{
	void *r = this_ring();
	void *e;

	if (!r)
		return 0;
	e = bpf_ringbuf_reserve(r, EVENT, 0);
	if (e)
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* the header and the two records, as bpfgen writes them */
static __always_inline int fill(struct ev *e, struct pt_regs *ctx, __u32 probe)
{
	__u64 id;
	long n;

	e->ts = bpf_ktime_get_ns();
	id = bpf_get_current_pid_tgid();
	e->tid = id;
	e->pid = id >> 32;
	e->probe = probe;
	e->kind = 1;
	e->ret = 0;
	e->ncaps = 2;
	e->key_rec = 0x10008;
	e->key = PT_REGS_PARM1(ctx);
	n = bpf_probe_read_user_str(e->name, sizeof(e->name), (void *)PT_REGS_PARM2(ctx));
	e->name_rec = 0x20000 | (n > 0 ? n - 1 : 0);
	e->size = sizeof(*e) - sizeof(e->pad);
	return 0;
}

SEC("uprobe")
int gen(struct pt_regs *ctx)
{
	__u32 probe = bpf_get_attach_cookie(ctx);
	struct buf *s = scratch_buf();
	void *r;

	if (!s)
		return 0;
	fill((struct ev *)s->b, ctx, probe);
	s->hits++;
	r = this_ring();
	if (!r)
		return 0;
	if (!(s->hits & 15))
		s->b[2040] = bpf_ringbuf_query(r, BPF_RB_AVAIL_DATA) > 0;
	bpf_ringbuf_output(r, s->b, EVENT, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe")
int gen_lean(struct pt_regs *ctx)
{
	struct buf *s = scratch_buf();
	void *r;

	if (!s)
		return 0;
	fill((struct ev *)s->b, ctx, 1);
	r = this_ring();
	if (r)
		bpf_ringbuf_output(r, s->b, EVENT, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe")
int direct(struct pt_regs *ctx)
{
	void *r = this_ring();
	struct ev *e;

	if (!r)
		return 0;
	e = bpf_ringbuf_reserve(r, sizeof(*e), 0);
	if (!e)
		return 0;
	fill(e, ctx, 1);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* a return event's header, as bpfgen writes it */
static __always_inline void header(struct ev *e, struct pt_regs *ctx)
{
	__u64 id;

	e->ts = bpf_ktime_get_ns();
	id = bpf_get_current_pid_tgid();
	e->tid = id;
	e->pid = id >> 32;
	e->probe = 1;
	e->kind = 2;
	e->ret = PT_REGS_RC(ctx);
	e->size = 40;
	e->ncaps = 0;
}

SEC("uprobe")
int ret_output(struct pt_regs *ctx)
{
	struct ev e;
	void *r;

	header(&e, ctx);
	r = this_ring();
	if (r)
		bpf_ringbuf_output(r, &e, 40, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe")
int ret_direct(struct pt_regs *ctx)
{
	void *r = this_ring();
	struct ev *e;

	if (!r)
		return 0;
	e = bpf_ringbuf_reserve(r, 40, 0);
	if (!e)
		return 0;
	header(e, ctx);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
