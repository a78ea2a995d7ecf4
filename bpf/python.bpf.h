/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Python function probes (include/tasktap/pyhook.h), part of
 * tasktap.bpf.c: included at its end, they use its maps and helpers.
 *
 * The hooks on one interpreter file (in one process, or in every one)
 * share one group (py_groups, the attachment cookie's low bits): one
 * uprobe per site, one program run per call whatever the number of hooks.
 * tt_py_entry runs at the start of every Python function of a process
 * the group is attached in; it finds the thread state, the frame and the
 * code object once, and matches the code object against every member's
 * names once (the verdict, a bit per member slot, cached per code object).
 * A call some member keeps is pushed on the thread's stack of frames with
 * the members whose entry event it wrote. tt_py_return runs at every
 * frame's end, and writes those members' return events when the ending
 * frame is the one at the top of that stack: a frame that matches nothing
 * costs one run per site and no ring access. Every CPython offset comes
 * from the hook's py_hooks entry (user/python/interp.c, from the
 * interpreter's version): nothing here is one version's.
 */
#include "tasktap/pyhook.h"
#include "tasktap/python.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_PROBES + 1);
	__type(key, __u32);
	__type(value, struct tt_py_hook);
} py_hooks SEC(".maps");

/* The hooks sharing a group's uprobes (user/loader_python.c keeps it). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_PROBES + 1);
	__type(key, __u32);
	__type(value, struct tt_py_group);
} py_groups SEC(".maps");

/*
 * Which members of a group a code object is, by its address in one
 * process, for one membership of the group (its generation). The value
 * keeps the code object's file and qualified name pointers, read again at
 * each call: a code object freed and another made at the same address
 * (for another function) does not inherit the verdict.
 */
struct py_code_key {
	__u32 group;
	__u32 tgid;
	__u64 code;
	__u32 gen;
	__u32 pad;
};

struct py_code_val {
	__u64 filename;
	__u64 qualname;
	__u32 match; /* a bit per member slot */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct py_code_key);
	__type(value, struct py_code_val);
} py_codes SEC(".maps");

/*
 * The frames of a thread's open calls some member of a group matched, and
 * for each the members whose entry event was written (a bit per slot).
 */
struct py_stack_key {
	__u32 tid;
	__u32 group;
};

struct py_stack {
	__u32 n;
	__u32 gens; /* generators and coroutines started on the thread, open (py_gens) */
	__u64 frames[TT_PY_MAX_DEPTH];
	__u32 members[TT_PY_MAX_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct py_stack_key);
	__type(value, struct py_stack);
} py_stacks SEC(".maps");

/*
 * The generators and coroutines of a group that started and have not
 * ended, by process and frame (a generator's frame lies in its object,
 * from its first start to its end, whichever thread resumes it): the
 * members whose entry events were written, and the thread whose stack
 * counts it. Coroutines interleave on one thread, so a stack cannot hold
 * them; their events carry the frame (TT_EVF_PY_GEN) for the agent to pair.
 */
struct py_gen_key {
	__u64 frame;
	__u32 tgid;
	__u32 group;
};

struct py_gen_val {
	__u32 members;
	__u32 tid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct py_gen_key);
	__type(value, struct py_gen_val);
} py_gens SEC(".maps");

/* In an entry's mask: the frame is a generator's (the members' bits lie below). */
#define PY_GEN_BIT (1U << 31)

/* A thread's first stack, all zero, never written: 200 bytes the entry's stack cannot spare. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_stack);
} py_stack_empty SEC(".maps");

/* The thread state of each thread, by pid_tgid: checked at each use (py_tstate()). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} py_tstates SEC(".maps");

/* Thread states walked to find a thread's. */
#define PY_MAX_THREADS 64

static __always_inline __u64 py_read_ptr(__u64 addr)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		return 0;
	return v;
}

/* addr + a signed 16-bit offset (the managed dict lies before the object). */
static __always_inline __u64 py_neg(__u64 addr, __u16 off)
{
	return addr + (__u64)(__s64)(__s16)off;
}

/* Whether thread state ts is thread `tid`'s (the kernel's id, as CPython keeps it). */
static __always_inline bool py_tstate_is(const struct tt_py_hook *ph, __u64 ts, __u32 tid)
{
	__u32 native = 0;

	return ts &&
	       !bpf_probe_read_user(&native, sizeof(native),
				    (void *)(ts + ph->tstate_native_thread_id)) &&
	       native == tid;
}

/*
 * The thread state of thread tid, found in the interpreter's list from
 * _PyRuntime (at `runtime` in this process), or 0. From 3.12 on, the
 * current one is a thread-local no probe can read; a walk works the same
 * for every version.
 */
static __noinline __u64 py_find_tstate(const struct tt_py_hook *ph, __u64 runtime, __u32 tid)
{
	__u64 interp, ts;

	if (!ph)
		return 0;
	interp = py_read_ptr(runtime + ph->runtime_interpreters_head);
	ts = interp ? py_read_ptr(interp + ph->interp_threads_head) : 0;
	for (int i = 0; i < PY_MAX_THREADS && ts; i++) {
		if (py_tstate_is(ph, ts, tid))
			return ts;
		ts = py_read_ptr(ts + ph->tstate_next);
	}
	return 0;
}

/*
 * The running thread's state: this thread's, for it holds the GIL while it
 * runs bytecode. Cached per thread, and checked against the thread's id at
 * each use (a thread state freed and reused is not taken for another's).
 */
static __always_inline __u64 py_tstate(const struct tt_py_hook *ph, __u64 runtime, __u64 id)
{
	__u64 *cached = bpf_map_lookup_elem(&py_tstates, &id);
	__u64 ts;

	if (cached && py_tstate_is(ph, *cached, (__u32)id))
		return *cached;
	ts = py_find_tstate(ph, runtime, (__u32)id);
	if (ts)
		bpf_map_update_elem(&py_tstates, &id, &ts, BPF_ANY);
	return ts;
}

/* Where the pointer to the frame the thread runs is kept, or 0. */
static __always_inline __u64 py_frame_holder(const struct tt_py_hook *ph, __u64 ts)
{
	__u64 cf;

	if (!ts)
		return 0;
	if (ph->tstate_current_frame != TT_PY_NONE) /* 3.13 */
		return ts + ph->tstate_current_frame;
	cf = py_read_ptr(ts + ph->tstate_cframe);
	return cf ? cf + ph->cframe_current_frame : 0;
}

/*
 * Where an entry site finds the running frame without the thread state.
 * On 3.11 and 3.12 the frame's pointer is kept in the `cframe` that the
 * interpreter loop holds on its own stack (tstate->cframe points at it
 * while the loop runs): at one instruction of the loop it lies at a fixed
 * distance from the stack pointer, for the loop's stack frame has one
 * layout (no alloca). Each entry site of a group learns that distance the
 * long way (thread state, cframe); once it has been the same PY_LEARN
 * times the site reads the frame at sp + distance, one read instead of the
 * thread state's lookup, its check and two reads. A distance that changes
 * marks the site unstable for good: it keeps the long way. 3.13 keeps the
 * frame in the thread state, on no stack: it always takes the long way.
 */
struct py_site {
	__u64 site; /* the site's link-time address the distance was learned at */
	__s64 off;  /* the frame pointer's holder less the stack pointer */
	__u32 seen; /* times the same distance was found */
	__u32 unstable;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (TT_MAX_PROBES + 1) * TT_PY_SITES);
	__type(key, __u32);
	__type(value, struct py_site);
} py_sites SEC(".maps");

#define PY_LEARN 16
/* the loop's stack frame is a few KiB: a holder further off is not in it */
#define PY_STACK_FAR (1 << 16)

/* What the site a run with attach cookie `cookie` is at (its group, its index) learned. */
static __always_inline struct py_site *py_site_of(__u64 cookie)
{
	__u32 k = (__u32)cookie * TT_PY_SITES + ((cookie >> 32) & (TT_PY_SITES - 1));

	return bpf_map_lookup_elem(&py_sites, &k);
}

/* Whether site s has learned where the frame is, for the hook's file. */
static __always_inline bool py_site_learned(const struct py_site *s, __u64 site)
{
	return s && s->seen >= PY_LEARN && !s->unstable && s->site == site;
}

/*
 * Register `field` of the uprobe's context (ip, sp), read at its fixed
 * place rather than through PT_REGS_*(): py_entry_frame() is a subprogram,
 * whose CO-RE relocations libbpf resolves at every start (a scan of the
 * kernel's BTF, ~1 ms) whether or not a Python program loads.
 */
#define PY_REG(ctx, field)                                                                         \
	(*(const __u64 *)((const char *)(ctx) + __builtin_offsetof(struct pt_regs, field)))

/* Learns from a frame pointer's holder found the long way (0: none found). */
static __always_inline void py_site_learn(struct pt_regs *ctx, const struct tt_py_hook *ph,
					  struct py_site *s, __u64 site, __u64 holder)
{
	__s64 off = (__s64)(holder - PY_REG(ctx, sp));

	if (!s || !holder || ph->tstate_current_frame != TT_PY_NONE)
		return;
	if (s->site != site || !s->seen) { /* a new group at this slot, or the first run */
		s->site = site;
		s->off = off;
		s->unstable = off < 0 || off >= PY_STACK_FAR;
		s->seen = 1;
	} else if (s->off != off) {
		s->unstable = 1;
	} else if (s->seen < PY_LEARN) {
		s->seen++;
	}
}

/* Bytes at the start of a thread state read at once (py_thread()). */
#define PY_TSTATE_HEAD 176

/* The running thread's state, where its frame's pointer is kept, its frame and exception. */
struct py_thread {
	__u64 ts;
	__u64 holder;
	__u64 frame;
	__u64 exc; /* what tstate_exc holds */
};

/* Whether `len` bytes at offset off lie in a thread state's head. */
static __always_inline bool py_in_tstate_head(__u32 off, __u32 len)
{
	return off <= PY_TSTATE_HEAD - len;
}

/* py_thread() where a version's offsets lie past the head: a read each. */
static __always_inline int py_thread_apart(const struct tt_py_hook *ph, __u64 runtime, __u64 id,
					   struct py_thread *t)
{
	t->ts = py_tstate(ph, runtime, id);
	t->holder = py_frame_holder(ph, t->ts);
	t->frame = t->holder ? py_read_ptr(t->holder) : 0;
	t->exc = t->ts ? py_read_ptr(t->ts + ph->tstate_exc) : 0;
	return t->ts ? 0 : -1;
}

/*
 * The running thread's state (the thread's cached one, checked against its
 * id, else found in _PyRuntime at `runtime` and cached), its frame and its
 * exception, in t: the thread state's id, frame (3.13) or cframe (3.11,
 * 3.12) and exception lie in its first PY_TSTATE_HEAD bytes in every version
 * tasktap knows, read at once. Returns 0, or -1 with no thread state found.
 */
static __noinline int py_thread(const struct tt_py_hook *ph, __u64 runtime, __u64 id,
				struct py_thread *t)
{
	__u8 head[PY_TSTATE_HEAD];
	__u32 native = 0, nid, exc, cur;
	__u64 *cached, ts, cf = 0;

	if (!ph || !t)
		return -1;
	nid = ph->tstate_native_thread_id;
	exc = ph->tstate_exc;
	cur = ph->tstate_current_frame != TT_PY_NONE ? ph->tstate_current_frame : ph->tstate_cframe;
	if (!py_in_tstate_head(nid, 4) || !py_in_tstate_head(exc, 8) || !py_in_tstate_head(cur, 8))
		return py_thread_apart(ph, runtime, id, t);
	cached = bpf_map_lookup_elem(&py_tstates, &id);
	ts = cached ? *cached : 0;
	if (ts && !bpf_probe_read_user(head, sizeof(head), (void *)ts))
		__builtin_memcpy(&native, head + nid, sizeof(native));
	if (!ts || native != (__u32)id) {
		ts = py_find_tstate(ph, runtime, (__u32)id);
		if (!ts || bpf_probe_read_user(head, sizeof(head), (void *)ts))
			return -1;
		bpf_map_update_elem(&py_tstates, &id, &ts, BPF_ANY);
	}
	t->ts = ts;
	__builtin_memcpy(&t->exc, head + exc, sizeof(t->exc));
	if (ph->tstate_current_frame != TT_PY_NONE) { /* 3.13 */
		t->holder = ts + cur;
		__builtin_memcpy(&t->frame, head + cur, sizeof(t->frame));
		return 0;
	}
	__builtin_memcpy(&cf, head + cur, sizeof(cf));
	t->holder = cf ? cf + ph->cframe_current_frame : 0;
	t->frame = t->holder ? py_read_ptr(t->holder) : 0;
	return 0;
}

/* The load bias of the interpreter's file: the probed address less the site's link-time one. */
static __always_inline __u64 py_bias(struct pt_regs *ctx, const struct tt_py_hook *ph, __u64 cookie)
{
	__u32 site = (cookie >> 32) & (TT_PY_SITES - 1);

	return PY_REG(ctx, ip) - ph->site[site];
}

/* Whether the str at `str` (compact ASCII only) matches pattern p. */
static __noinline bool py_name_matches(const struct tt_py_hook *ph, __u64 str,
				       const struct tt_py_pattern *p)
{
	char buf[TT_PY_NAME_MAX];
	__u32 state = 0;
	__u64 len = 0;
	__u32 plen;

	if (!str || !p)
		return false;
	plen = p->len;
	if (plen >= TT_PY_NAME_MAX)
		return false;
	if (bpf_probe_read_user(&state, sizeof(state), (void *)(str + ph->unicode_state)) ||
	    (state & TT_PY_ASCII_COMPACT) != TT_PY_ASCII_COMPACT)
		return false;
	if (bpf_probe_read_user(&len, sizeof(len), (void *)(str + ph->unicode_length)))
		return false;
	if (p->kind == TT_PY_MATCH_EXACT ? len != plen : len < plen)
		return false;
	if (plen == 0)
		return true;
	if (bpf_probe_read_user_str(buf, sizeof(buf), (void *)(str + ph->unicode_ascii_data)) < 0)
		return false;
	for (__u32 i = 0; i < TT_PY_NAME_MAX; i++) {
		if (i >= plen)
			break;
		if (buf[i] != p->text[i])
			return false;
	}
	return true;
}

/* Whether the function of frame `fr`, running code `code`, is the hook's. */
static __always_inline bool py_matches(const struct tt_py_hook *ph, __u64 fr, __u64 qualname)
{
	__u64 func = py_read_ptr(fr + ph->frame_func);

	if (!func || !py_name_matches(ph, qualname, &ph->qualname))
		return false;
	return py_name_matches(ph, py_read_ptr(func + ph->func_module), &ph->module);
}

#include "python_values.bpf.h"

/* Runs the hook's entry captures (none read registers) and writes the entry event (flags:
 * TT_EVF_*). */
static __always_inline int py_submit_entry(__u32 hook, __u64 fr, __u32 flags)
{
	const struct tt_hook_prog *h = bpf_map_lookup_elem(&probes, &hook);

	if (!h)
		return 1;
	return py_run_and_submit(&h->entry, hook | (TT_EV_ENTRY << 16) | (flags << 24), fr, 0, 0);
}

/*
 * A walk of a group's member slots, one bpf_loop callback a slot: the
 * verifier checks the callback once, not once per member.
 */
struct py_walk {
	__u32 group;
	__u32 mask; /* the members to visit; what the walk found or did */
	__u64 fr;
	__u64 aux; /* the qualified name's str, or the exception's type name */
	__u32 out;
	__u32 flags; /* the events' TT_EVF_* */
};

/* The walk under way on a CPU: bpf_loop's context (on the stack) points at it, the stack has no
 * room. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_walk);
} py_walks SEC(".maps");

struct py_walk_ctx {
	struct py_walk *w;
};

/*
 * Walks the slots of `group` in `mask` with callback fn (frame fr, aux):
 * what the callbacks set in `out`.
 */
static __always_inline __u32 py_walk(__u32 group, __u32 mask, __u64 fr, __u64 aux, void *fn,
				     __u32 flags)
{
	__u32 zero = 0;
	struct py_walk_ctx c = {.w = bpf_map_lookup_elem(&py_walks, &zero)};

	if (!c.w)
		return 0;
	c.w->group = group;
	c.w->mask = mask;
	c.w->fr = fr;
	c.w->aux = aux;
	c.w->out = 0;
	c.w->flags = flags;
	bpf_loop(TT_PY_GROUP_MAX, fn, &c, 0);
	return c.w->out;
}

/* Whether walk w has no slot left to visit from slot i on: its callback then ends the loop. */
static __always_inline bool py_walk_done(const struct py_walk *w, __u64 i)
{
	return i >= TT_PY_GROUP_MAX || !(w->mask >> i);
}

/* The member hook in slot i of walk w's group, or 0. */
static __always_inline __u32 py_walk_member(struct py_walk *w, __u64 i)
{
	const struct tt_py_group *g = bpf_map_lookup_elem(&py_groups, &w->group);

	if (!g || i >= TT_PY_GROUP_MAX || !(w->mask & (1U << i)))
		return 0;
	return g->hook[i & (TT_PY_GROUP_MAX - 1)];
}

static long py_match_one(__u64 i, void *data)
{
	struct py_walk *w = ((struct py_walk_ctx *)data)->w;
	const struct tt_py_hook *ph;
	__u32 hook;

	if (py_walk_done(w, i))
		return 1;
	hook = py_walk_member(w, i);
	if (!hook)
		return 0;
	ph = bpf_map_lookup_elem(&py_hooks, &hook);
	if (ph && py_matches(ph, w->fr, w->aux))
		w->out |= 1U << (i & (TT_PY_GROUP_MAX - 1));
	return 0;
}

/* The members of group `group` whose names the function of frame fr (named `qualname`) has. */
static __always_inline __u32 py_members_matching(__u32 group, __u64 fr, __u64 qualname)
{
	return py_walk(group, ~0U, fr, qualname, py_match_one, 0);
}

/* Which members of group g code object ck->code, run by frame fr, is; the verdict cached. */
static __noinline __u32 py_code_matches(const struct tt_py_hook *ph, const struct tt_py_group *g,
					struct py_code_key *ck, __u64 fr)
{
	struct py_code_val *cv, fresh = {};
	__u64 names[3];

	if (!ph || !g || !ck)
		return 0;
	/* co_filename, co_name, co_qualname lie together: one read */
	if (bpf_probe_read_user(names, sizeof(names), (void *)(ck->code + ph->code_filename)))
		return 0;
	fresh.filename = names[0];
	fresh.qualname = names[2]; /* the agent checked co_qualname is co_filename + 16 */
	cv = bpf_map_lookup_elem(&py_codes, ck);
	if (cv && cv->filename == fresh.filename && cv->qualname == fresh.qualname)
		return cv->match;
	fresh.match = py_members_matching(ck->group, fr, fresh.qualname);
	bpf_map_update_elem(&py_codes, ck, &fresh, BPF_ANY);
	return fresh.match;
}

static long py_enter_one(__u64 i, void *data)
{
	struct py_walk *w = ((struct py_walk_ctx *)data)->w;
	__u32 hook;

	if (py_walk_done(w, i))
		return 1;
	hook = py_walk_member(w, i);
	if (hook && !py_submit_entry(hook, w->fr, w->flags))
		w->out |= 1U << (i & (TT_PY_GROUP_MAX - 1));
	return 0;
}

/* Writes the entry event of each member of `group` in `mask` (flags: TT_EVF_*): the members it
 * wrote. */
static __always_inline __u32 py_enter_members(__u32 group, __u32 mask, __u64 fr, __u32 flags)
{
	return py_walk(group, mask, fr, 0, py_enter_one, flags);
}

/* The thread's stack of open calls of the group, made empty when it has none. */
static __always_inline struct py_stack *py_stack_of(struct py_stack_key *sk)
{
	struct py_stack *st = bpf_map_lookup_elem(&py_stacks, sk);
	const struct py_stack *empty;
	__u32 zero = 0;

	if (st)
		return st;
	empty = bpf_map_lookup_elem(&py_stack_empty, &zero);
	if (!empty)
		return NULL;
	bpf_map_update_elem(&py_stacks, sk, empty, BPF_ANY);
	return bpf_map_lookup_elem(&py_stacks, sk);
}

/* Bytes at the start of a frame read at once: its code object and owner lie there. */
#define PY_FRAME_HEAD 72

/*
 * Frame fr's code object and owner, in one read when both lie in its first
 * PY_FRAME_HEAD bytes (every version tasktap knows), else in two. Returns 0,
 * or -1 when the frame cannot be read.
 */
static __always_inline int py_frame_head(const struct tt_py_hook *ph, __u64 fr, __u64 *code,
					 __u8 *owner)
{
	__u8 head[PY_FRAME_HEAD];
	__u32 co = ph->frame_code, ow = ph->frame_owner;

	if (co > PY_FRAME_HEAD - 8 || ow >= PY_FRAME_HEAD) {
		*code = py_read_ptr(fr + co);
		return bpf_probe_read_user(owner, 1, (void *)(fr + ow)) ? -1 : 0;
	}
	if (bpf_probe_read_user(head, sizeof(head), (void *)fr))
		return -1;
	__builtin_memcpy(code, head + co, sizeof(*code));
	*owner = head[ow];
	return 0;
}

/*
 * Whether generator frame fr runs its RESUME to go on after a yield or an
 * await (its oparg is not 0), rather than its first start (3.11: only
 * there are generators followed). The frame's last instruction is the
 * RESUME, or the one before it when the handler's store comes after the
 * probed instruction: POP_TOP before a start's (after RETURN_GENERATOR),
 * YIELD_VALUE before a resume's. A generator started before the probes
 * were attached is thus never taken for a new one.
 */
static __always_inline bool py_gen_resumed(const struct tt_py_hook *ph, __u64 fr)
{
	__u64 at = py_read_ptr(fr + ph->frame_instr);
	__u8 w[2] = {};

	if (!at || bpf_probe_read_user(w, sizeof(w), (void *)at))
		return true; /* not known to be a start: no span */
	if (w[0] == ph->op_pop_top)
		return false;
	if (w[0] == ph->op_yield_value)
		return true;
	return w[1] != 0; /* the RESUME itself: its oparg */
}

/*
 * The frame starting in group `group`'s process, when some member matches
 * its function (those members in *mask), or 0. A subprogram of its own:
 * its state is off the stack the entry events are written from.
 */
static __noinline __u64 py_entry_frame(struct pt_regs *ctx, __u64 cookie, __u32 *mask)
{
	__u32 group = (__u32)cookie, lead;
	__u64 id = bpf_get_current_pid_tgid();
	const struct tt_py_group *g = bpf_map_lookup_elem(&py_groups, &group);
	const struct tt_py_hook *ph;
	struct py_code_key ck = {.group = group, .tgid = id >> 32};
	struct py_thread t = {};
	struct py_site *s;
	__u64 fr, site;
	__u8 owner = 1;

	if (!g || !mask)
		return 0;
	lead = g->lead; /* every member's offsets are the interpreter's: any one serves */
	ph = bpf_map_lookup_elem(&py_hooks, &lead);
	if (!ph)
		return 0;
	ck.gen = g->gen;
	site = ph->site[(cookie >> 32) & (TT_PY_SITES - 1)];
	s = py_site_of(cookie);
	if (py_site_learned(s, site)) {
		fr = py_read_ptr(PY_REG(ctx, sp) + s->off);
	} else {
		if (py_thread(ph, ph->runtime + py_bias(ctx, ph, cookie), id, &t))
			return 0;
		fr = t.frame;
		if (fr)
			py_site_learn(ctx, ph, s, site, t.holder);
	}
	if (!fr || py_frame_head(ph, fr, &ck.code, &owner))
		return 0;
	if (!ck.code)
		return 0;
	/* a generator's RESUME also runs when it is resumed: only its first start counts */
	if (owner == TT_PY_FRAME_OWNED_BY_GENERATOR) {
		*mask = py_code_matches(ph, g, &ck, fr);
		if (!*mask)
			return 0;
		if (ph->gen_frame_state != TT_PY_NONE) {
			*mask = py_gen_resumed(ph, fr) ? 0 : *mask | PY_GEN_BIT;
			return *mask ? fr : 0;
		}
		/* not followed across its yields on this interpreter: its runs counted, and the
		 * agent says so */
		stat_inc(TT_STAT_PY_GEN);
		*mask = 0;
		return 0;
	}
	if (owner != TT_PY_FRAME_OWNED_BY_THREAD)
		return 0;
	*mask = py_code_matches(ph, g, &ck, fr);
	return *mask ? fr : 0;
}

/*
 * A generator's or coroutine's frame fr starts or resumes: at its first
 * start (it is not in py_gens) the members' entry events are written, and
 * it is kept until its end; a resume after a yield or an await does nothing.
 */
static __always_inline int py_gen_start(struct py_stack_key *sk, __u32 mask, __u64 fr)
{
	struct py_gen_key gk = {
		.frame = fr, .tgid = bpf_get_current_pid_tgid() >> 32, .group = sk->group};
	struct py_gen_val gv = {.tid = sk->tid};
	struct py_stack *st;

	if (bpf_map_lookup_elem(&py_gens, &gk))
		return 0; /* resumed */
	st = py_stack_of(sk);
	if (!st)
		return 0;
	gv.members = py_enter_members(sk->group, mask & ~PY_GEN_BIT, fr, TT_EVF_PY_GEN);
	if (!bpf_map_update_elem(&py_gens, &gk, &gv, BPF_NOEXIST))
		__sync_fetch_and_add(&st->gens, 1);
	return 0;
}

SEC("uprobe")
int tt_py_entry(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 group = (__u32)cookie;
	struct py_stack_key sk = {.tid = (__u32)bpf_get_current_pid_tgid(), .group = group};
	struct py_stack *st;
	__u32 mask = 0, n;
	__u64 fr = py_entry_frame(ctx, cookie, &mask);

	if (!fr)
		return 0;
	if (mask & PY_GEN_BIT)
		return py_gen_start(&sk, mask, fr);
	st = py_stack_of(&sk);
	if (!st)
		return 0;
	n = st->n;
	if (n >= TT_PY_MAX_DEPTH)
		return 0; /* deeper than BPF remembers: neither its entry nor its return */
	/*
	 * the same frame's start seen twice: a RESUME that instruments its code
	 * and runs again, or a quickened form that falls back to RESUME (3.13's
	 * RESUME_CHECK when the eval breaker is set)
	 */
	if (n > 0 && st->frames[(n - 1) & (TT_PY_MAX_DEPTH - 1)] == fr)
		return 0;
	st->members[n & (TT_PY_MAX_DEPTH - 1)] = py_enter_members(group, mask, fr, 0);
	st->frames[n & (TT_PY_MAX_DEPTH - 1)] = fr;
	st->n = n + 1;
	return 0;
}

/*
 * Where the name of the type of the exception a thread state is raising
 * is (a tp_name pointer), or 0 when it raises none, from what its tstate_exc
 * holds (exc): 3.11 keeps the type, 3.12+ the exception.
 */
static __always_inline __u64 py_raised(const struct tt_py_hook *ph, __u64 exc)
{
	__u64 tp;

	if (!exc)
		return 0;
	tp = ph->exc_is_type ? exc : py_read_ptr(exc + ph->obj_type);
	return tp ? tp + ph->type_name : 0;
}

/*
 * Writes hook's plain return event (exc: the frame ends raising; flags:
 * TT_EVF_*, then ret is the frame fr). Its own frame: the event's.
 */
static __noinline int py_submit_return(__u32 hook, __u64 exc, __u64 fr, __u32 flags)
{
	struct tt_event ev;

	fill_header(&ev, hook, TT_EV_RETURN);
	/* the frame ends by an exception while one is being raised */
	ev.ret = exc ? 1 : 0;
	if (flags) {
		ev.flags = flags;
		ev.ret = fr;
	}
	return submit(&ev, sizeof(ev), TT_STAT_LOST, false);
}

/* Writes the return event of member hook `hook` of a frame fr ending (exc: raising). */
static __always_inline void py_return_member(__u32 hook, __u64 fr, __u64 exc, __u32 flags)
{
	const struct tt_hook_prog *h = bpf_map_lookup_elem(&probes, &hook);

	if (!h)
		return;
	if (flags && exc)
		flags |= TT_EVF_PY_RAISED;
	/*
	 * its captures: py(return…), then exception.type (how it raised), which a
	 * plain return leaves out; with only the latter, a plain return has none
	 */
	if (h->ret.nops && (exc || h->ret.ops[0].code != TT_OP_PY || h->ret.ops[0].imm != 1))
		py_run_and_submit(&h->ret, hook | (TT_EV_RETURN << 16) | (flags << 24), fr, exc,
				  exc ? 1 : 0);
	else
		py_submit_return(hook, exc, fr, flags);
}

static long py_return_one(__u64 i, void *data)
{
	struct py_walk *w = ((struct py_walk_ctx *)data)->w;
	__u32 hook;

	if (py_walk_done(w, i))
		return 1;
	hook = py_walk_member(w, i);
	if (hook)
		py_return_member(hook, w->fr, w->aux, w->flags);
	return 0;
}

/*
 * Frame fr ends in a process where generators of the group are open: when
 * it is one of them, and its generator is not suspended (a yield or an
 * await, which this site sees too), it is forgotten and the members whose
 * entry events were written are returned, with PY_GEN_BIT; else 0.
 */
static __noinline __u32 py_gen_end(const struct tt_py_hook *ph, __u32 group, __u64 fr)
{
	struct py_gen_key gk = {
		.frame = fr, .tgid = bpf_get_current_pid_tgid() >> 32, .group = group};
	struct py_stack_key sk = {.group = group};
	struct py_gen_val *gv = bpf_map_lookup_elem(&py_gens, &gk);
	struct py_stack *st;
	__s8 state = 0;
	__u32 members;

	if (!ph || !gv)
		return 0;
	if (bpf_probe_read_user(&state, sizeof(state), (void *)py_neg(fr, ph->gen_frame_state)) ||
	    state < 0)
		return 0; /* suspended: a yield or an await */
	members = gv->members;
	sk.tid = gv->tid;
	bpf_map_delete_elem(&py_gens, &gk);
	st = bpf_map_lookup_elem(&py_stacks, &sk);
	if (st && st->gens)
		__sync_fetch_and_add(&st->gens, -1);
	return members ? members | PY_GEN_BIT : 0;
}

SEC("uprobe")
int tt_py_return(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 group = (__u32)cookie;
	__u64 id = bpf_get_current_pid_tgid();
	struct py_stack_key sk = {.tid = (__u32)id, .group = group};
	struct py_stack *st = bpf_map_lookup_elem(&py_stacks, &sk);
	const struct tt_py_group *g;
	const struct tt_py_hook *ph;
	struct py_thread t = {};
	__u32 n, at, members = 0, lead;
	__u64 fr;

	if (!st || (st->n == 0 && st->gens == 0))
		return 0; /* the common case: no call of the group open on this thread */
	g = bpf_map_lookup_elem(&py_groups, &group);
	if (!g)
		return 0;
	lead = g->lead;
	ph = bpf_map_lookup_elem(&py_hooks, &lead);
	if (!ph)
		return 0;
	if (ph->ret_kind == TT_PY_RET_POPFRAME) {
		/* _PyThreadState_PopFrame(tstate, frame) */
		t.ts = PT_REGS_PARM1(ctx);
		t.frame = PT_REGS_PARM2(ctx);
	} else if (py_thread(ph, ph->runtime + py_bias(ctx, ph, cookie), id, &t)) {
		return 0;
	}
	fr = t.frame;
	if (!fr)
		return 0;
	n = st->n - 1;
	asm volatile("" : "+r"(n)); /* the mask below stays: the verifier bounds n by it */
	at = n & (TT_PY_MAX_DEPTH - 1);
	if (n < TT_PY_MAX_DEPTH && st->frames[at] == fr) {
		st->n = n;
		members = st->members[at];
	} else if (st->gens) { /* not the last plain call's: a generator's, maybe */
		members = py_gen_end(ph, group, fr); /* with PY_GEN_BIT */
	}
	if (!members)
		return 0; /* another function's frame, or no entry event written */
	if (ph->ret_kind == TT_PY_RET_POPFRAME) /* read only now: most frames are not ours */
		t.exc = py_read_ptr(t.ts + ph->tstate_exc);
	py_walk(group, members & ~PY_GEN_BIT, fr, py_raised(ph, t.exc), py_return_one,
		(members & PY_GEN_BIT) ? TT_EVF_PY_GEN : 0);
	return 0;
}
