/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Python function probes (include/tasktap/pyhook.h), part of
 * tasktap.bpf.c: included at its end, they use its maps and helpers.
 *
 * tt_py_entry runs at the start of every Python function of a process the
 * hook is attached in; a call it keeps is pushed on a per-thread,
 * per-hook stack of frames and written as an entry event. tt_py_return
 * runs at every frame's end, and writes the return event of the call at
 * the top of that stack when the ending frame is its frame.
 */
#include "tasktap/pyhook.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_PROBES + 1);
	__type(key, __u32);
	__type(value, struct tt_py_hook);
} py_hooks SEC(".maps");

/*
 * Whether a code object is the hook's, by its address in one process. The
 * value keeps the code object's file and qualified name pointers, read
 * again at each call: a code object freed and another made at the same
 * address (for another function) does not inherit the verdict.
 */
struct py_code_key {
	__u32 hook;
	__u32 tgid;
	__u64 code;
};

struct py_code_val {
	__u64 filename;
	__u64 qualname;
	__u32 match;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct py_code_key);
	__type(value, struct py_code_val);
} py_codes SEC(".maps");

/* The frames of a thread's open calls of one hook; bit 0 set: a call its filter dropped. */
struct py_stack_key {
	__u32 tid;
	__u32 hook;
};

struct py_stack {
	__u32 n;
	__u32 pad;
	__u64 frames[TT_PY_MAX_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct py_stack_key);
	__type(value, struct py_stack);
} py_stacks SEC(".maps");

static __always_inline __u64 py_read_ptr(__u64 addr)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		return 0;
	return v;
}

/* The running thread state: this thread's, for it holds the GIL while it runs bytecode. */
static __always_inline __u64 py_tstate(const struct tt_py_hook *ph)
{
	return py_read_ptr(ph->tstate_addr);
}

/* The frame the thread runs, or 0. */
static __always_inline __u64 py_frame(const struct tt_py_hook *ph, __u64 ts)
{
	__u64 cf;

	if (!ts)
		return 0;
	cf = py_read_ptr(ts + ph->tstate_cframe);
	if (!cf)
		return 0;
	return py_read_ptr(cf + ph->cframe_current_frame);
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

/* Runs the hook's entry captures (none read registers) and writes the entry event. */
static __always_inline int py_submit_entry(__u32 hook, __u64 fr, __u64 ts)
{
	const struct tt_hook_prog *h = bpf_map_lookup_elem(&probes, &hook);
	struct tt_event ev;
	__u32 zero = 0;
	struct scratch *s;
	struct vm vm = {};

	if (!h)
		return 1;
	if (!h->entry.nops) {
		fill_header(&ev, hook, TT_EV_ENTRY);
		submit(&ev, sizeof(ev), TT_STAT_LOST, false);
		return 0;
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 1;
	vm.prog = &h->entry;
	vm.py[0] = fr;
	vm.py[1] = ts;
	return run_and_submit(&vm, s, hook, TT_EV_ENTRY, 0);
}

SEC("uprobe")
int tt_py_entry(struct pt_regs *ctx)
{
	__u32 hook = bpf_get_attach_cookie(ctx);
	__u64 id = bpf_get_current_pid_tgid();
	const struct tt_py_hook *ph = bpf_map_lookup_elem(&py_hooks, &hook);
	struct py_code_key ck = {.hook = hook, .tgid = id >> 32};
	struct py_stack_key sk = {.tid = (__u32)id, .hook = hook};
	struct py_code_val *cv, fresh = {};
	struct py_stack *st;
	__u64 ts, fr, names[3];
	__u8 owner = 1;
	__u32 n;

	if (!ph)
		return 0;
	ts = py_tstate(ph);
	fr = py_frame(ph, ts);
	if (!fr)
		return 0;
	/* a generator's RESUME also runs when it is resumed: only plain calls count */
	if (bpf_probe_read_user(&owner, 1, (void *)(fr + ph->frame_owner)) || owner != 0)
		return 0;
	ck.code = py_read_ptr(fr + ph->frame_code);
	if (!ck.code)
		return 0;
	/* co_filename, co_name, co_qualname lie together: one read */
	if (bpf_probe_read_user(names, sizeof(names), (void *)(ck.code + ph->code_filename)))
		return 0;
	fresh.filename = names[0];
	fresh.qualname = names[2]; /* the agent checked co_qualname is co_filename + 16 */
	cv = bpf_map_lookup_elem(&py_codes, &ck);
	if (cv && cv->filename == fresh.filename && cv->qualname == fresh.qualname) {
		if (!cv->match)
			return 0;
	} else {
		fresh.match = py_matches(ph, fr, fresh.qualname);
		bpf_map_update_elem(&py_codes, &ck, &fresh, BPF_ANY);
		if (!fresh.match)
			return 0;
	}
	st = bpf_map_lookup_elem(&py_stacks, &sk);
	if (!st) {
		struct py_stack zero = {};

		bpf_map_update_elem(&py_stacks, &sk, &zero, BPF_ANY);
		st = bpf_map_lookup_elem(&py_stacks, &sk);
		if (!st)
			return 0;
	}
	n = st->n;
	if (n >= TT_PY_MAX_DEPTH)
		return 0; /* deeper than BPF remembers: neither its entry nor its return */
	st->frames[n & (TT_PY_MAX_DEPTH - 1)] = fr | (py_submit_entry(hook, fr, ts) ? 1 : 0);
	st->n = n + 1;
	return 0;
}

SEC("uprobe")
int tt_py_return(struct pt_regs *ctx)
{
	__u32 hook = bpf_get_attach_cookie(ctx);
	__u64 id = bpf_get_current_pid_tgid();
	struct py_stack_key sk = {.tid = (__u32)id, .hook = hook};
	struct py_stack *st = bpf_map_lookup_elem(&py_stacks, &sk);
	const struct tt_py_hook *ph;
	const struct tt_hook_prog *h;
	struct tt_event ev;
	__u64 ts, fr, top;
	__u32 n;

	if (!st || st->n == 0)
		return 0; /* the common case: no call of this hook open on this thread */
	ph = bpf_map_lookup_elem(&py_hooks, &hook);
	if (!ph)
		return 0;
	ts = py_tstate(ph);
	fr = py_frame(ph, ts);
	n = st->n - 1;
	if (n >= TT_PY_MAX_DEPTH)
		return 0;
	top = st->frames[n];
	if (!fr || (top & ~1ULL) != fr)
		return 0; /* another function's frame ends */
	st->n = n;
	if (top & 1)
		return 0; /* its entry was filtered out */
	h = bpf_map_lookup_elem(&probes, &hook);
	if (!h)
		return 0;
	fill_header(&ev, hook, TT_EV_RETURN);
	/* the frame ends by an exception while one is being raised */
	ev.ret = py_read_ptr(ts + ph->tstate_curexc_type) ? 1 : 0;
	/* its captures (exception.type) tell how it raised: a plain return has none */
	if (h->ret.nops && ev.ret) {
		__u32 zero = 0;
		struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
		struct vm vm = {};

		if (!s)
			return 0;
		vm.prog = &h->ret;
		vm.rc = ev.ret;
		vm.py[0] = fr;
		vm.py[1] = ts;
		run_and_submit(&vm, s, hook, TT_EV_RETURN, ev.ret);
		return 0;
	}
	submit(&ev, sizeof(ev), TT_STAT_LOST, false);
	return 0;
}
