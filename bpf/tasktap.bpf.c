// SPDX-License-Identifier: GPL-2.0
/*
 * tasktap's kernel side: generic programs for function entry, function
 * return and USDT probe sites, attached to every hook with the hook id as
 * the attach cookie (for a USDT site, in its low bits: tasktap/usdt.h).
 * The programs about processes (the exec watch, holds, exits, followed
 * forks) are in procs.bpf.h, included at the end: one object.
 *
 * Each program interprets the hook's capture program (capture.h): a filter
 * that may drop the hit, then captures. Hits that pass become one event in
 * this CPU's ring buffer, submitted without wakeup: the agent drains on a
 * short timer, and is woken only when a ring fills past the watermark.
 *
 * Hooks with a filter or return-time captures are tracked per thread: the
 * entry pushes whether it was kept (and, if needed, its arguments) so that
 * the return of a dropped call is dropped too and the return program can
 * read the arguments the call was made with.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "tasktap/limits.h"
#include "tasktap/capture.h"
#include "tasktap/event.h"
#include "tasktap/usdt.h"

char LICENSE[] SEC("license") = "GPL";

/* Unconsumed bytes in a ring above which the agent is woken. */
const volatile __u64 wakeup_watermark = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_PROBES + 1);
	__type(key, __u32);
	__type(value, struct tt_hook_prog);
} probes SEC(".maps");

struct tstate {
	__u32 depth; /* tracked calls open on this thread */
	__u32 pad;
	__u64 accepted; /* bit d: the call at depth d passed its filter */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct tstate);
} threads SEC(".maps");

struct save_key {
	__u32 tid;
	__u32 depth;
};

struct saved_args {
	__u64 regs[6];
	__u64 sp;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct save_key);
	__type(value, struct saved_args);
} saved SEC(".maps");

/*
 * Calls between entry and return of the hooks that run as uprobe session
 * programs (emitted by user/bpfgen.c; this object only holds the map, so
 * that it is made, pinned and shared as the others are). Not preallocated:
 * its memory follows the calls in flight.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_CALLS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tt_call_key);
	__type(value, struct tt_call_stash);
} calls SEC(".maps");

/* Session calls between entry and return, per thread (struct tt_call_frames). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tt_call_frames);
} frames SEC(".maps");

/*
 * Per hook id, nonzero while a reload retires its session links: they stay
 * attached for the returns of the calls they opened, and take no new call
 * (the session programs read it at entry; tt_loader__retire()).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_PROBES + 1);
	__type(key, __u32);
	__type(value, __u32);
} retired SEC(".maps");

/* Whether tt_calls_iter leaves the calls it reads to their returns (--pin hand-over). */
__u32 calls_keep = 0;

/*
 * Takes `task`'s open session calls out of its frames into `calls`, under
 * (its pid_tgid, their start): the thread is dying, its storage with it,
 * and the agent takes a dead process's calls from `calls`.
 */
static __always_inline void frames_to_calls(struct task_struct *task)
{
	struct tt_call_frames *f = bpf_task_storage_get(&frames, task, 0, 0);
	struct tt_call_key key;

	if (!f)
		return;
	key.pid_tgid = (__u64)BPF_CORE_READ(task, tgid) << 32 | (__u32)BPF_CORE_READ(task, pid);
	for (int d = 0; d < TT_CALL_DEPTH; d++) {
		struct tt_call_frame *fr = &f->f[d];

		if (!__sync_bool_compare_and_swap(&fr->open, 1, 0))
			continue;
		key.start_ns = ((struct tt_event *)fr->stash.entry)->ts_ns;
		bpf_map_update_elem(&calls, &key, &fr->stash, BPF_NOEXIST);
	}
	f->depth = 0;
}

/* Where tt_calls_iter copies a frame it leaves open (one iterator runs at a time). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tt_call_stash);
} calls_copy SEC(".maps");

/*
 * Writes frame fr's entry, left open, to the reader: copied, then written
 * only when the frame still holds the same call (open, the same start). A
 * return and a new call may reuse the frame meanwhile; a copy torn by that
 * has a start that no longer matches, or the new call's, which the agent
 * takes for too recent to read (events__peek_calls()).
 */
static __always_inline void write_kept(struct seq_file *seq, struct tt_call_frame *fr)
{
	__u32 zero = 0;
	struct tt_call_stash *c = bpf_map_lookup_elem(&calls_copy, &zero);
	__u64 start;

	if (!c)
		return;
	__builtin_memcpy(c->entry, fr->stash.entry, sizeof(c->entry));
	start = ((struct tt_event *)c->entry)->ts_ns;
	if (fr->open != 1 || ((struct tt_event *)fr->stash.entry)->ts_ns != start)
		return;
	bpf_seq_write(seq, c->entry, sizeof(c->entry));
}

/*
 * The task iterator's context as the kernel lays it out (bpf_iter__task,
 * bpf_iter_meta), read without CO-RE relocations: each type relocated
 * costs libbpf a scan of the kernel's BTF (~1 ms) at every start.
 */
struct tt_iter_meta {
	struct seq_file *seq;
};

struct tt_iter_task {
	struct tt_iter_meta *meta;
	struct task_struct *task;
};

/*
 * Every thread's open session calls, each entry event written whole
 * (sizeof(stash.entry) bytes) to the iterator's reader: taken (open made
 * 0, so that their returns write nothing) unless calls_keep.
 */
SEC("iter/task")
int tt_calls_iter(struct bpf_iter__task *kctx)
{
	const struct tt_iter_task *ctx = (const void *)kctx;
	struct task_struct *task = ctx->task;
	struct tt_call_frames *f;

	if (!task)
		return 0;
	f = bpf_task_storage_get(&frames, task, 0, 0);
	if (!f)
		return 0;
	for (int d = 0; d < TT_CALL_DEPTH; d++) {
		struct tt_call_frame *fr = &f->f[d];

		if (calls_keep) {
			if (fr->open == 1)
				write_kept(ctx->meta->seq, fr);
			continue;
		}
		if (!__sync_bool_compare_and_swap(&fr->open, 1, 0))
			continue;
		bpf_seq_write(ctx->meta->seq, fr->stash.entry, sizeof(fr->stash.entry));
	}
	return 0;
}

/*
 * Scratch space to build an entry event in. Offsets into it are masked
 * with SCRATCH_MASK, and no single write exceeds SCRATCH_MASK + 1 bytes,
 * so every write provably stays inside.
 */
#define SCRATCH_MASK 1023
#define SCRATCH_TMP  (2 * (SCRATCH_MASK + 1)) /* 64 bytes for filter strings */
#define SCRATCH_SIZE (SCRATCH_TMP + 64)

_Static_assert(TT_MAX_EVENT <= SCRATCH_MASK + 1, "event larger than scratch space");

_Static_assert(TT_MAX_LITERAL + 1 <= 56, "literal longer than 7 words");

_Static_assert(TT_MAX_STR <= SCRATCH_MASK + 1 && TT_MAX_BYTES <= SCRATCH_MASK + 1,
	       "capture larger than scratch space");

struct scratch {
	__u8 buf[SCRATCH_SIZE];
	__u32 hits; /* events from this CPU, to sample the ring's fill level */
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

/* Where the arguments of each USDT probe site are, by the site's attach cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_USDT_SITES);
	__type(key, __u64);
	__type(value, struct tt_usdt_site);
} usdt_sites SEC(".maps");

_Static_assert(TT_MAX_PROBES <= TT_USDT_HOOK_MASK, "hook ids must fit in a USDT cookie");

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
	if (ring && bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > wakeup_watermark)
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

/* State of the capture interpreter while it runs one program. */
struct vm {
	__u64 regs[TT_MAX_USDT_ARGS]; /* arguments: registers at entry, or USDT arguments */
	__u64 sp;		      /* stack pointer at entry (function probes) */
	__u64 rc;		      /* return value (return programs) */
	__u32 nregs;		      /* USDT: arguments the probe has; else 0 */
	__u32 argfault;		      /* USDT: bit i, argument i could not be read */
	bool usdt;
	const struct tt_probe_prog *prog;
	__u8 *buf;
	__u32 off; /* next free byte in buf */
	__u32 ncaps;
	__u64 acc;
	__u64 r1;
	__u64 tmp;   /* reads land here: the callback keeps no stack of its own */
	__u64 py[2]; /* Python hooks: the probed frame, the raised type's name (TT_OP_PY) */
	/* fault and drop in one 8-byte stack slot: with a field before them (they
	 * then sit in two) the interpreter's tt_return fails the verifier (1M
	 * instructions processed) */
	bool fault;
	__u32 drop;    /* a filter said no (not a bool: the verifier must see 0 or 1 returned) */
	__u32 py_hook; /* Python hooks: the hook, whose py_hooks entry has the offsets */
};

/*
 * Argument slot `slot`: for a function, by the x86-64 SysV rule (six
 * registers, then 8-byte stack slots above the return address); for a
 * USDT probe, its slot-th argument as its note describes it.
 */
static __always_inline int read_arg(struct vm *vm, __s64 slot)
{
	if (vm->usdt) {
		if (slot < 0 || slot >= vm->nregs || slot >= TT_MAX_USDT_ARGS)
			return -1;
		if (vm->argfault & (1u << slot))
			return -1;
		vm->tmp = vm->regs[slot];
		return 0;
	}
	if (slot >= 0 && slot < 6) {
		vm->tmp = vm->regs[slot];
		return 0;
	}
	if (slot < 0 || slot > TT_MAX_ARG_SLOT)
		return -1;
	return bpf_probe_read_user(&vm->tmp, sizeof(vm->tmp), (void *)(vm->sp + 8 * (slot - 5)));
}

/* Loads `width` bytes at acc into tmp, sign-extended when asked (x86 is little-endian). */
static __always_inline int load(struct vm *vm, __u8 width, __u8 flags)
{
	bool sign = flags & TT_OPF_SIGNED;
	int err;

	vm->tmp = 0;
	switch (width) {
	case 1:
		err = bpf_probe_read_user(&vm->tmp, 1, (void *)vm->acc);
		if (sign)
			vm->tmp = (__u64)(__s64)(__s8)vm->tmp;
		return err;
	case 2:
		err = bpf_probe_read_user(&vm->tmp, 2, (void *)vm->acc);
		if (sign)
			vm->tmp = (__u64)(__s64)(__s16)vm->tmp;
		return err;
	case 4:
		err = bpf_probe_read_user(&vm->tmp, 4, (void *)vm->acc);
		if (sign)
			vm->tmp = (__u64)(__s64)(__s32)vm->tmp;
		return err;
	default:
		return bpf_probe_read_user(&vm->tmp, 8, (void *)vm->acc);
	}
}

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

static __always_inline bool compare(__u8 op, bool is_signed, __u64 a, __u64 b)
{
	switch (op) {
	case TT_CMPOP_EQ:
		return a == b;
	case TT_CMPOP_NE:
		return a != b;
	case TT_CMPOP_LT:
		return is_signed ? (__s64)a < (__s64)b : a < b;
	case TT_CMPOP_LE:
		return is_signed ? (__s64)a <= (__s64)b : a <= b;
	case TT_CMPOP_GT:
		return is_signed ? (__s64)a > (__s64)b : a > b;
	case TT_CMPOP_GE:
		return is_signed ? (__s64)a >= (__s64)b : a >= b;
	}
	return false;
}

/*
 * Compares the string at acc with the literal stored in the instructions
 * after instruction i, a word at a time.
 */
static __always_inline bool string_matches(struct vm *vm, __u32 i, const struct tt_op *op)
{
	__u64 *tmp = (__u64 *)(vm->buf + SCRATCH_TMP);
	__u32 n = op->len + (op->aux == TT_STRCMP_EXACT ? 1 : 0); /* the NUL, for exact */

	if (vm->fault || op->len > TT_MAX_LITERAL)
		return false;
	if (bpf_probe_read_user_str(tmp, 64, (void *)vm->acc) < 0)
		return false;
#pragma unroll
	for (__u32 w = 0; w < 7; w++) {
		__u64 idx = (__u64)i + 1 + w; /* 64-bit: checked and used in one register */
		__u64 mask, lit;

		if (8 * w >= n)
			break;
		asm volatile("" : "+r"(idx));
		if (idx >= TT_MAX_OPS)
			return false;
		lit = vm->prog->ops[idx].imm;
		mask = n - 8 * w >= 8 ? ~0ULL : (1ULL << (8 * (n - 8 * w))) - 1;
		if ((tmp[w] ^ lit) & mask)
			return false;
	}
	return true;
}

/* A form capture.h leaves to compiled programs: a condition, a read limit, a suffix or a contains.
 */
static __always_inline bool compiled_only(const struct tt_op *op)
{
	if (op->code != TT_OP_CMP && op->code != TT_OP_STRCMP)
		return false;
	return (op->flags & TT_OPF_COND) ||
	       (op->code == TT_OP_STRCMP && (op->aux > TT_STRCMP_PREFIX || op->pad));
}

static __always_inline void step(struct vm *vm, __u32 i, const struct tt_op *op)
{
	if (compiled_only(op)) {
		vm->drop = true; /* never guess what it meant */
		return;
	}
	switch (op->code) {
	case TT_OP_ARG:
		vm->tmp = 0;
		if (read_arg(vm, op->imm))
			vm->fault = true;
		vm->acc = vm->tmp;
		break;
	case TT_OP_RET:
		vm->acc = vm->rc;
		if ((op->flags & TT_OPF_INTRET) && (vm->acc >> 32) == 0)
			vm->acc = (__u64)(__s64)(__s32)vm->acc;
		break;
	case TT_OP_CONST:
		vm->acc = op->imm;
		break;
	case TT_OP_ADD:
		vm->acc += op->imm;
		break;
	case TT_OP_LOAD:
		if (!vm->fault && load(vm, op->aux, op->flags) == 0)
			vm->acc = vm->tmp;
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
	case TT_OP_CMP:
		if (vm->fault || !compare(op->aux, op->flags & TT_OPF_SIGNED, vm->acc, op->imm))
			vm->drop = true;
		vm->fault = false;
		break;
	case TT_OP_STRCMP:
		if (string_matches(vm, i, op) == !!(op->flags & TT_OPF_NEGATE))
			vm->drop = true;
		vm->fault = false;
		break;
	case TT_OP_NOP:
		break;
	default:
		/* compiled only (capture.h): never guess what it meant */
		vm->drop = true;
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
	step(vm, idx, &vm->prog->ops[idx]);
	if (vm->drop)
		return 1;
	return 0;
}

/*
 * Writes one event into this CPU's ring without waking the agent, unless
 * `check_fill` and the ring is filling past the watermark (the query is
 * not free: callers ask on a sample of events).
 */
static __always_inline int submit(void *data, __u32 size, __u32 lost_stat, bool check_fill)
{
	void *ring = this_cpu_ring();
	__u64 flags = check_fill ? wakeup_flags(ring) : BPF_RB_NO_WAKEUP;

	if (!ring || bpf_ringbuf_output(ring, data, size, flags)) {
		stat_inc(lost_stat);
		return -1;
	}
	return 0;
}

/* Runs `prog` and submits what it recorded as an event of `kind`. */
static __always_inline int run_and_submit(struct vm *vm, struct scratch *s, __u32 hook, __u16 kind,
					  __s64 ret)
{
	struct tt_event *ev = (void *)s->buf;

	fill_header(ev, hook, kind);
	ev->ret = ret;
	vm->buf = s->buf;
	vm->off = sizeof(*ev);
	if (vm->prog->nops)
		bpf_loop(TT_MAX_OPS, vm_run_op, vm, 0);
	if (vm->drop)
		return 1;
	ev->ncaps = vm->ncaps;
	ev->size = vm->off & SCRATCH_MASK;
	submit(s->buf, ev->size, TT_STAT_LOST, (++s->hits & 15) == 0);
	return 0;
}

static __always_inline struct tstate *thread_state(__u32 tid)
{
	struct tstate *st = bpf_map_lookup_elem(&threads, &tid);
	struct tstate zero = {};

	if (st)
		return st;
	bpf_map_update_elem(&threads, &tid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&threads, &tid);
}

/* Remembers whether the tracked call at the top of this thread passed. */
static __always_inline void track_entry(const struct tt_hook_prog *hook, struct vm *vm, __u32 tid,
					struct tstate *st, bool dropped)
{
	__u32 d = st->depth;
	__u64 bit = 1ULL << (d & 63);

	st->depth = d + 1;
	if (d >= TT_MAX_DEPTH)
		return;
	if (dropped) {
		st->accepted &= ~bit;
		return;
	}
	st->accepted |= bit;
	if (hook->flags & TT_HOOKF_SAVE) {
		struct save_key key = {.tid = tid, .depth = d};
		struct saved_args args;

		__builtin_memcpy(args.regs, vm->regs, sizeof(args.regs));
		args.sp = vm->sp;
		bpf_map_update_elem(&saved, &key, &args, BPF_ANY);
	}
}

SEC("uprobe")
int tt_entry(struct pt_regs *ctx)
{
	__u32 hook = bpf_get_attach_cookie(ctx);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	const struct tt_hook_prog *h;
	struct tstate *st = NULL;
	__u32 zero = 0;
	struct scratch *s;
	struct vm vm = {};
	int dropped;

	h = bpf_map_lookup_elem(&probes, &hook);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!h || !s)
		return 0;
	if (h->flags & TT_HOOKF_TRACK) {
		st = thread_state(tid);
		if (!st)
			return 0;
	}
	vm.regs[0] = ctx->di;
	vm.regs[1] = ctx->si;
	vm.regs[2] = ctx->dx;
	vm.regs[3] = ctx->cx;
	vm.regs[4] = ctx->r8;
	vm.regs[5] = ctx->r9;
	vm.sp = ctx->sp;
	vm.prog = &h->entry;
	if (h->flags & TT_HOOKF_AT_RETURN)
		dropped = 0; /* only the return speaks; remember the call for it */
	else
		dropped = run_and_submit(&vm, s, hook, TT_EV_ENTRY, 0);
	if (st)
		track_entry(h, &vm, tid, st, dropped);
	return 0;
}

/* A tracked return, or one with captures: the interpreter's state is needed. */
static __always_inline int full_return(struct pt_regs *ctx, const struct tt_hook_prog *h,
				       __u32 hook, __u32 tid)
{
	struct tt_event ev;
	__u32 zero = 0;
	struct scratch *s;
	struct vm vm = {};

	if (h->flags & TT_HOOKF_TRACK) {
		struct tstate *st = bpf_map_lookup_elem(&threads, &tid);
		__u32 d;

		if (!st || st->depth == 0)
			return 0; /* its entry was not seen */
		d = --st->depth;
		if (d < TT_MAX_DEPTH && !(st->accepted & (1ULL << (d & 63))))
			return 0; /* its entry was filtered out */
		if ((h->flags & TT_HOOKF_SAVE) && d < TT_MAX_DEPTH) {
			struct save_key key = {.tid = tid, .depth = d};
			struct saved_args *args = bpf_map_lookup_elem(&saved, &key);

			if (args) {
				__builtin_memcpy(vm.regs, args->regs, sizeof(args->regs));
				vm.sp = args->sp;
			}
		}
	}
	if (h->ret.nops) {
		s = bpf_map_lookup_elem(&scratch, &zero);
		if (!s)
			return 0;
		vm.rc = ctx->ax;
		vm.prog = &h->ret;
		run_and_submit(&vm, s, hook, TT_EV_RETURN, ctx->ax);
		return 0;
	}
	fill_header(&ev, hook, TT_EV_RETURN);
	ev.ret = PT_REGS_RC(ctx);
	submit(&ev, sizeof(ev), TT_STAT_LOST, false);
	return 0;
}

SEC("uretprobe")
int tt_return(struct pt_regs *ctx)
{
	__u32 hook = bpf_get_attach_cookie(ctx);
	const struct tt_hook_prog *h = bpf_map_lookup_elem(&probes, &hook);
	struct tt_event ev;

	if (!h)
		return 0;
	if ((h->flags & TT_HOOKF_TRACK) || h->ret.nops)
		return full_return(ctx, h, hook, (__u32)bpf_get_current_pid_tgid());
	/* the common case: the return value and nothing else, nothing to clear */
	fill_header(&ev, hook, TT_EV_RETURN);
	ev.ret = PT_REGS_RC(ctx);
	submit(&ev, sizeof(ev), TT_STAT_LOST, false);
	return 0;
}

/* Reads `bytes` (1, 2, 4 or 8) bytes of user memory at addr into *v, zero-extended. */
static __always_inline int read_user_sized(__u64 *v, __u32 bytes, __u64 addr)
{
	*v = 0;
	switch (bytes) {
	case 1:
		return bpf_probe_read_user(v, 1, (void *)addr);
	case 2:
		return bpf_probe_read_user(v, 2, (void *)addr);
	case 4:
		return bpf_probe_read_user(v, 4, (void *)addr);
	default:
		return bpf_probe_read_user(v, 8, (void *)addr);
	}
}

/*
 * Argument `a` of a USDT site hit with registers ctx: a constant, a
 * register, or memory at a register plus a displacement; then cut to its
 * size and sign-extended when signed. Returns 0, or -1 when a read failed.
 */
static __always_inline int usdt_arg(struct pt_regs *ctx, const struct tt_usdt_arg *a, __u64 *out)
{
	__u32 bytes = a->size < 0 ? -a->size : a->size;
	__u32 shift = 64 - 8 * (bytes & 15);
	__u64 v = 0;

	if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)
		return -1;
	if (a->kind == TT_USDT_ARG_CONST) {
		v = a->val;
	} else {
		if (a->reg_off > sizeof(struct pt_regs) - sizeof(__u64))
			return -1;
		if (bpf_probe_read_kernel(&v, sizeof(v), (void *)ctx + a->reg_off))
			return -1;
		if (a->kind == TT_USDT_ARG_DEREF && read_user_sized(&v, bytes, v + a->val))
			return -1;
	}
	if (shift) {
		v <<= shift;
		v = a->size < 0 ? (__u64)((__s64)v >> shift) : v >> shift;
	}
	*out = v;
	return 0;
}

/*
 * A USDT probe site: a plain uprobe on the probe's nop. Its cookie names
 * the hook (low bits) and the site, whose argument locations the agent
 * stored in `usdt_sites`; the arguments become the VM's argument slots.
 */
SEC("uprobe")
int tt_usdt_site(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 hook = cookie & TT_USDT_HOOK_MASK;
	const struct tt_usdt_site *site;
	const struct tt_hook_prog *h;
	__u32 zero = 0;
	struct scratch *s;
	struct vm vm = {};

	h = bpf_map_lookup_elem(&probes, &hook);
	site = bpf_map_lookup_elem(&usdt_sites, &cookie);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!h || !site || !s)
		return 0;
	vm.usdt = true;
	vm.nregs = site->nargs < TT_MAX_USDT_ARGS ? site->nargs : TT_MAX_USDT_ARGS;
	for (__u32 i = 0; i < TT_MAX_USDT_ARGS; i++) {
		if (i >= vm.nregs)
			break;
		if (usdt_arg(ctx, &site->args[i], &vm.regs[i]))
			vm.argfault |= 1u << i;
	}
	vm.prog = &h->entry;
	run_and_submit(&vm, s, hook, TT_EV_ENTRY, 0);
	return 0;
}

/* exec, exit and fork: they use the rings and submit() above */
#include "procs.bpf.h"

/* Python functions: they use the maps and the capture interpreter above */
#include "python.bpf.h"
