// SPDX-License-Identifier: GPL-2.0
/*
 * tasktap's kernel side: one generic entry program and one generic return
 * program, attached to every probed function with the probe id as the
 * attach cookie, and one exit tracepoint.
 *
 * The entry program interprets the probe's capture program (capture.h)
 * and writes one event into this CPU's ring buffer. Events are submitted
 * without wakeup: the agent drains on a short timer, and is woken only
 * when a ring fills past the watermark.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "tasktap/limits.h"
#include "tasktap/capture.h"
#include "tasktap/event.h"

char LICENSE[] SEC("license") = "GPL";

/* Unconsumed bytes in a ring above which the agent is woken. */
const volatile __u64 wakeup_watermark = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_PROBES + 1);
	__type(key, __u32);
	__type(value, struct tt_probe_prog);
} probes SEC(".maps");

/*
 * Scratch space to build an entry event in. Offsets into it are masked
 * with SCRATCH_MASK, and no single write exceeds SCRATCH_MASK + 1 bytes,
 * so every write provably stays inside.
 */
#define SCRATCH_MASK 1023
#define SCRATCH_SIZE (2 * (SCRATCH_MASK + 1))
_Static_assert(TT_MAX_EVENT <= SCRATCH_MASK + 1, "event larger than scratch space");
_Static_assert(TT_MAX_STR <= SCRATCH_MASK + 1 && TT_MAX_BYTES <= SCRATCH_MASK + 1,
	       "capture larger than scratch space");

struct scratch {
	__u8 buf[SCRATCH_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TT_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One ring per CPU, created and sized by the agent. */
struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, TT_MAX_CPUS);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += 1;
}

static __always_inline void *this_cpu_ring(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&rings, &cpu);
}

static __always_inline __u64 wakeup_flags(void *ring)
{
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > wakeup_watermark)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_header(struct tt_event *ev, __u32 probe, __u16 kind)
{
	__u64 id = bpf_get_current_pid_tgid();

	ev->ts_ns = bpf_ktime_get_ns();
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->probe = probe;
	ev->kind = kind;
	ev->flags = 0;
	ev->ret = 0;
	ev->size = sizeof(*ev);
	ev->ncaps = 0;
}

/*
 * Argument slot `slot` at function entry, by the x86-64 SysV rule: six
 * registers, then 8-byte stack slots above the return address.
 */
static __always_inline int read_arg(const __u64 *regs, __u64 sp, __s64 slot, __u64 *val)
{
	if (slot >= 0 && slot < 6) {
		*val = regs[slot & 7];
		return 0;
	}
	if (slot < 0 || slot > TT_MAX_ARG_SLOT)
		return -1;
	return bpf_probe_read_user(val, sizeof(*val), (void *)(sp + 8 * (slot - 5)));
}

static __always_inline int load(__u64 addr, __u8 width, __u8 flags, __u64 *val)
{
	int err;

	switch (width) {
	case 1: {
		__u8 v;

		err = bpf_probe_read_user(&v, sizeof(v), (void *)addr);
		*val = (flags & TT_OPF_SIGNED) ? (__u64)(__s64)(__s8)v : v;
		return err;
	}
	case 2: {
		__u16 v;

		err = bpf_probe_read_user(&v, sizeof(v), (void *)addr);
		*val = (flags & TT_OPF_SIGNED) ? (__u64)(__s64)(__s16)v : v;
		return err;
	}
	case 4: {
		__u32 v;

		err = bpf_probe_read_user(&v, sizeof(v), (void *)addr);
		*val = (flags & TT_OPF_SIGNED) ? (__u64)(__s64)(__s32)v : v;
		return err;
	}
	default:
		return bpf_probe_read_user(val, sizeof(*val), (void *)addr);
	}
}

/* State of the capture interpreter while it runs one probe's program. */
struct vm {
	__u64 regs[8]; /* argument registers at entry; slots 6 and 7 unused */
	__u64 sp;
	__u64 rc;
	const struct tt_probe_prog *prog;
	__u8 *buf;
	__u32 off; /* next free byte in buf */
	__u32 ncaps;
	__u64 acc;
	__u64 r1;
	bool fault;
};

/* Appends a capture record's header; returns the offset of its data. */
static __always_inline __u32 begin_record(struct vm *vm)
{
	return (vm->off + sizeof(struct tt_cap_rec)) & SCRATCH_MASK;
}

static __always_inline void end_record(struct vm *vm, __u8 type, __u8 flags, __u32 len)
{
	struct tt_cap_rec *rec = (void *)(vm->buf + (vm->off & SCRATCH_MASK));

	if (vm->fault) {
		flags |= TT_CAPF_FAULT;
		len = 0;
		stat_inc(TT_STAT_CAP_FAULTS);
	}
	rec->len = len;
	rec->type = type;
	rec->flags = flags;
	vm->off = (vm->off + sizeof(*rec) + len + 3) & ~3U;
	vm->ncaps++;
	vm->fault = false;
	vm->acc = 0;
	vm->r1 = 0;
}

static __always_inline void emit_int(struct vm *vm)
{
	__u32 data = begin_record(vm);

	__builtin_memcpy(vm->buf + data, &vm->acc, sizeof(vm->acc));
	end_record(vm, TT_CAP_INT, 0, sizeof(vm->acc));
}

static __always_inline void emit_str(struct vm *vm, __u32 max)
{
	__u32 data = begin_record(vm);
	long n = 0;
	__u8 flags = 0;

	if (max > TT_MAX_STR)
		max = TT_MAX_STR;
	if (!vm->fault && max > 0) {
		n = bpf_probe_read_user_str(vm->buf + data, max, (void *)vm->acc);
		if (n < 0)
			vm->fault = true;
		else if (n == max && vm->buf[(data + n - 1) & SCRATCH_MASK] == 0)
			flags |= TT_CAPF_TRUNCATED; /* filled to the limit: maybe cut */
	}
	/* n counts the NUL; the record keeps the bytes without it */
	end_record(vm, TT_CAP_STR, flags, n > 0 ? n - 1 : 0);
}

static __always_inline void emit_bytes(struct vm *vm, __u32 max)
{
	__u32 data = begin_record(vm);
	__u64 len = vm->r1;
	__u8 flags = 0;

	if (max > TT_MAX_BYTES)
		max = TT_MAX_BYTES;
	if (len > max) {
		len = max;
		flags |= TT_CAPF_TRUNCATED;
	}
	if (!vm->fault && len > 0 &&
	    bpf_probe_read_user(vm->buf + data, len & (TT_MAX_BYTES * 2 - 1), (void *)vm->acc))
		vm->fault = true;
	end_record(vm, TT_CAP_BYTES, flags, len);
}

static __always_inline void step(struct vm *vm, const struct tt_op *op)
{
	__u64 v;

	switch (op->code) {
	case TT_OP_ARG:
		if (read_arg(vm->regs, vm->sp, op->imm, &v))
			vm->fault = true;
		vm->acc = v;
		break;
	case TT_OP_RET:
		vm->acc = vm->rc;
		break;
	case TT_OP_CONST:
		vm->acc = op->imm;
		break;
	case TT_OP_ADD:
		vm->acc += op->imm;
		break;
	case TT_OP_LOAD:
		if (!vm->fault && load(vm->acc, op->aux, op->flags, &v) == 0)
			vm->acc = v;
		else
			vm->fault = true;
		break;
	case TT_OP_SAVE:
		vm->r1 = vm->acc;
		break;
	case TT_OP_EMIT_INT:
		emit_int(vm);
		break;
	case TT_OP_EMIT_STR:
		emit_str(vm, op->len);
		break;
	case TT_OP_EMIT_BYTES:
		emit_bytes(vm, op->len);
		break;
	}
}

/* bpf_loop callback: runs instruction i; the verifier checks it once. */
static long vm_run_op(__u64 i, void *data)
{
	struct vm *vm = data;
	__u32 idx = i;

	if (idx >= vm->prog->nops)
		return 1;
	/* keep the compiler from indexing with the unchecked copy of i */
	asm volatile("" : "+r"(idx));
	if (idx >= TT_MAX_OPS)
		return 1;
	step(vm, &vm->prog->ops[idx]);
	return 0;
}

static __always_inline int submit(void *data, __u32 size, __u32 lost_stat)
{
	void *ring = this_cpu_ring();

	if (!ring || bpf_ringbuf_output(ring, data, size, wakeup_flags(ring))) {
		stat_inc(lost_stat);
		return -1;
	}
	return 0;
}

SEC("uprobe")
int tt_entry(struct pt_regs *ctx)
{
	__u32 probe = bpf_get_attach_cookie(ctx);
	__u32 zero = 0;
	struct tt_event *ev;
	struct scratch *s;
	struct vm vm = {};

	vm.prog = bpf_map_lookup_elem(&probes, &probe);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!vm.prog || !s)
		return 0;

	ev = (void *)s->buf;
	fill_header(ev, probe, TT_EV_ENTRY);
	vm.regs[0] = ctx->di;
	vm.regs[1] = ctx->si;
	vm.regs[2] = ctx->dx;
	vm.regs[3] = ctx->cx;
	vm.regs[4] = ctx->r8;
	vm.regs[5] = ctx->r9;
	vm.sp = ctx->sp;
	vm.rc = ctx->ax;
	vm.buf = s->buf;
	vm.off = sizeof(*ev);
	bpf_loop(TT_MAX_OPS, vm_run_op, &vm, 0);
	ev->ncaps = vm.ncaps;
	ev->size = vm.off & SCRATCH_MASK;
	submit(s->buf, ev->size, TT_STAT_LOST);
	return 0;
}

SEC("uretprobe")
int tt_return(struct pt_regs *ctx)
{
	struct tt_event ev;

	fill_header(&ev, bpf_get_attach_cookie(ctx), TT_EV_RETURN);
	ev.ret = PT_REGS_RC(ctx);
	submit(&ev, sizeof(ev), TT_STAT_LOST);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tt_exit, struct task_struct *task, bool group_dead)
{
	struct tt_event ev;

	fill_header(&ev, 0, TT_EV_EXIT);
	ev.pid = BPF_CORE_READ(task, tgid);
	ev.tid = BPF_CORE_READ(task, pid);
	ev.ret = BPF_CORE_READ(task, exit_code);
	if (group_dead)
		ev.flags |= TT_EXITF_GROUP_DEAD;
	submit(&ev, sizeof(ev), TT_STAT_LOST_EXITS);
	return 0;
}
