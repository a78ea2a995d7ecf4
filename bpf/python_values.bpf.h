/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Python values, py(NAME.attr…), part of python.bpf.h: the capture
 * program of a Python hook (user/python/value.c compiles it) run for a
 * frame, and its event submitted.
 */
/* ---- Python values: py(NAME.attr…) ------------------------------------- */

#define PY_MAX_NAME 31 /* bytes of a local or attribute name */
#define PY_MAX_SCAN 64 /* locals, or dict entries, looked through */

static __always_inline __u64 py_word(__u64 addr, bool *fault)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		*fault = true;
	return v;
}

/*
 * A search of a name among up to PY_MAX_SCAN str pointers (a tuple's items,
 * a dict's keys), one bpf_loop callback a candidate: the verifier checks
 * the callback once, whatever the number of candidates.
 */
struct py_scan {
	__u64 first;			  /* address of candidate 0's pointer */
	__u64 stride;			  /* bytes from one candidate's pointer to the next */
	__u64 n;			  /* candidates */
	__u64 lit[(PY_MAX_NAME + 1) / 8]; /* the name, NUL-padded */
	__u64 tmp[(PY_MAX_NAME + 1) / 8];
	__u32 len;
	__u16 state_off, length_off, data_off;
	__s32 found; /* the candidate that matched, or -1 */
};

/* bpf_loop's context must be on the stack: it points at the scan in the scratch map. */
struct py_scan_ctx {
	struct py_scan *sc;
};

static long py_scan_one(__u64 k, void *data)
{
	struct py_scan *sc = ((struct py_scan_ctx *)data)->sc;
	__u64 str = 0, slen = 0;
	__u32 state = 0;
	__u32 n = sc->len + 1; /* with the NUL */

	if (k >= sc->n)
		return 1;
	if (bpf_probe_read_user(&str, sizeof(str), (void *)(sc->first + sc->stride * k)) || !str)
		return 0;
	if (bpf_probe_read_user(&state, sizeof(state), (void *)(str + sc->state_off)) ||
	    (state & TT_PY_ASCII_COMPACT) != TT_PY_ASCII_COMPACT)
		return 0;
	if (bpf_probe_read_user(&slen, sizeof(slen), (void *)(str + sc->length_off)) ||
	    slen != sc->len)
		return 0;
	if (bpf_probe_read_user_str(sc->tmp, sizeof(sc->tmp), (void *)(str + sc->data_off)) < 0)
		return 0;
	for (__u32 w = 0; w < (PY_MAX_NAME + 1) / 8; w++) {
		__u64 mask;

		if (8 * w >= n)
			break;
		mask = n - 8 * w >= 8 ? ~0ULL : (1ULL << (8 * (n - 8 * w))) - 1;
		if ((sc->tmp[w] ^ sc->lit[w]) & mask)
			return 0;
	}
	sc->found = (__s32)k;
	return 1;
}

/*
 * The scan's state lives in the scratch map past the event being built
 * (whose writes reach at most SCRATCH_MASK + 1 + TT_MAX_STR + 4 bytes in):
 * the stack has no room left for it.
 */
#define SCRATCH_PY 1536
_Static_assert(SCRATCH_MASK + 1 + TT_MAX_STR + 4 <= SCRATCH_PY &&
		       SCRATCH_PY + sizeof(struct py_scan) <= SCRATCH_TMP,
	       "python scan state overlaps the event");

static __always_inline struct py_scan *py_scan_area(struct vm *vm)
{
	return (struct py_scan *)(vm->buf + SCRATCH_PY);
}

/*
 * A `when:` under way: kept in the scratch map, not in struct vm on the
 * stack, where the verifier would follow each of their values through
 * every instruction of the program (it gave up).
 */
struct py_filter {
	__u32 skip; /* instructions before this one are jumped over (JMP) */
	__u32 cond; /* a test's outcome (TT_OPF_COND) */
	__u32 drop; /* the call is filtered out */
};

#define SCRATCH_PY_FILTER 1984
_Static_assert(SCRATCH_PY + sizeof(struct py_scan) <= SCRATCH_PY_FILTER &&
		       SCRATCH_PY_FILTER + sizeof(struct py_filter) <= SCRATCH_TMP,
	       "python filter state overlaps the scan or the filter strings");

static __always_inline struct py_filter *py_filter_of(struct vm *vm)
{
	return (struct py_filter *)(vm->buf + SCRATCH_PY_FILTER);
}

/* Fills sc's name from the literal after instruction i, and the str offsets. */
static __always_inline bool py_scan_init(struct py_scan *sc, struct vm *vm,
					 const struct tt_py_hook *ph, __u32 i, __u32 len)
{
	if (len > PY_MAX_NAME)
		return false;
	sc->len = len;
	sc->found = -1;
	sc->first = 0;
	sc->stride = 0;
	sc->state_off = ph->unicode_state;
	sc->length_off = ph->unicode_length;
	sc->data_off = ph->unicode_ascii_data;
	for (__u32 w = 0; w < (PY_MAX_NAME + 1) / 8; w++) {
		__u64 idx = (__u64)i + 1 + w;

		asm volatile("" : "+r"(idx));
		if (idx >= TT_MAX_OPS)
			return false;
		sc->lit[w] = vm->prog->ops[idx].imm;
	}
	return true;
}

/* acc = the local of frame acc named by the literal after instruction i. */
static __noinline void py_local(struct vm *vm, const struct tt_py_hook *ph, __u32 i, __u32 len)
{
	struct py_scan *sc = py_scan_area(vm);
	struct py_scan_ctx ctx = {.sc = sc};
	bool fault = false;
	__u64 code = py_word(vm->acc + ph->frame_code, &fault);
	__u64 names = fault ? 0 : py_word(code + ph->code_localsplusnames, &fault);

	sc->n = fault ? 0 : py_word(names + ph->var_size, &fault);
	if (fault || !py_scan_init(sc, vm, ph, i, len)) {
		vm->fault = true;
		return;
	}
	sc->first = names + ph->tuple_items;
	sc->stride = 8;
	bpf_loop(PY_MAX_SCAN, py_scan_one, &ctx, 0);
	if (sc->found < 0 || sc->found >= PY_MAX_SCAN) {
		vm->fault = true;
		return;
	}
	vm->acc = py_word(vm->acc + ph->frame_localsplus + 8 * (__u64)sc->found, &fault);
	vm->fault = fault || !vm->acc; /* NULL: not set yet */
}

/*
 * acc = the value of the str key named by the literal after instruction
 * `at` >> 32 (`at` & 0xffff bytes long) in a dict's keys and values (NULL
 * values: a combined table, whose entries hold them).
 */
static __noinline void py_lookup(struct vm *vm, const struct tt_py_hook *ph, __u64 at, __u64 keys,
				 __u64 vals)
{
	struct py_scan *sc = py_scan_area(vm);
	struct py_scan_ctx ctx = {.sc = sc};
	bool fault = false;
	__u8 log2 = 0, kind = 0;
	__u64 esz, voff;

	if (!keys || bpf_probe_read_user(&log2, 1, (void *)(keys + ph->keys_log2_index_bytes)) ||
	    bpf_probe_read_user(&kind, 1, (void *)(keys + ph->keys_kind)))
		goto bad;
	sc->n = py_word(keys + ph->keys_nentries, &fault);
	if (fault || !py_scan_init(sc, vm, ph, at >> 32, at & 0xffff))
		goto bad;
	/* unicode keys: (key, value); general: (hash, key, value) */
	esz = kind ? 16 : 24;
	voff = kind ? 8 : 16;
	sc->first = keys + ph->keys_indices + (1ULL << (log2 & 31)) + (kind ? 0 : 8);
	sc->stride = esz;
	bpf_loop(PY_MAX_SCAN, py_scan_one, &ctx, 0);
	if (sc->found < 0 || sc->found >= PY_MAX_SCAN)
		goto bad;
	if (vals)
		vm->acc = py_word(vals + 8 * (__u64)sc->found, &fault);
	else
		vm->acc =
			py_word(sc->first - (kind ? 0 : 8) + esz * (__u64)sc->found + voff, &fault);
	vm->fault = fault || !vm->acc;
	return;
bad:
	vm->fault = true;
}

/*
 * The instance attributes of object obj of type tp (type flags `flags`):
 * their keys (the class's shared keys, or the instance dict's), returned,
 * and the array of their values in vm->r1 (0: a combined dict, whose
 * entries hold them). 0 when they cannot be read. (The stack has no room
 * for more: the values go through the interpreter's state.)
 */
static __noinline __u64 py_instance_dict(const struct tt_py_hook *ph, __u64 obj, __u64 tp,
					 __u64 flags, struct vm *vm)
{
	bool fault = false;
	__u64 dict = 0, dv = 0, word, basic, keys = 0;
	__u8 valid = 0;

	if (!ph || !vm)
		return 0;
	if (ph->dict_layout == TT_PY_DICT_VALUES_PTR) { /* 3.11 */
		dv = py_word(py_neg(obj, ph->obj_managed_values), &fault);
		if (!dv)
			dict = py_word(py_neg(obj, ph->obj_managed_dict), &fault);
	} else if (ph->dict_layout == TT_PY_DICT_TAGGED) { /* 3.12 */
		word = py_word(py_neg(obj, ph->obj_managed_dict), &fault);
		if (word & 1)
			dv = word + 1; /* stored as values - 1 */
		else
			dict = word;
	} else { /* 3.13: a dict once made, else the values inline after the object */
		dict = py_word(py_neg(obj, ph->obj_managed_dict), &fault);
		if (!dict && (flags & TT_PY_TPFLAGS_INLINE_VALUES)) {
			basic = py_word(tp + ph->type_basicsize, &fault);
			if (!fault &&
			    !bpf_probe_read_user(&valid, 1,
						 (void *)(obj + basic + ph->dictvalues_valid)) &&
			    valid)
				dv = obj + basic;
		}
	}
	vm->r1 = 0;
	if (dv) {
		keys = py_word(tp + ph->heaptype_cached_keys, &fault); /* shared by the instances */
		vm->r1 = dv + ph->dictvalues_values;
	} else if (dict) {
		keys = py_word(dict + ph->dict_keys, &fault);
		dv = py_word(dict + ph->dict_values, &fault);
		vm->r1 = dv ? dv + ph->dictvalues_values : 0; /* 0: combined */
	}
	return fault ? 0 : keys;
}

/* acc = the attribute of object acc named by the literal after instruction i. */
static __always_inline void py_attr(struct vm *vm, const struct tt_py_hook *ph, __u32 i, __u32 len)
{
	bool fault = false;
	__u64 obj = vm->acc, tp, flags, keys;

	tp = py_word(obj + ph->obj_type, &fault);
	flags = fault ? 0 : py_word(tp + ph->type_flags, &fault);
	keys = fault || !(flags & TT_PY_TPFLAGS_MANAGED_DICT)
		       ? 0
		       : py_instance_dict(ph, obj, tp, flags, vm);
	if (!keys) {
		vm->fault = true;
		return;
	}
	py_lookup(vm, ph, (__u64)i << 32 | len, keys, vm->r1);
}

/* acc = the value of dict acc at the str key named by the literal after instruction i. */
static __always_inline void py_item(struct vm *vm, const struct tt_py_hook *ph, __u32 i, __u32 len)
{
	bool fault = false;
	__u64 dict = vm->acc, tp, keys, vals;

	tp = py_word(dict + ph->obj_type, &fault);
	if (fault || !(py_word(tp + ph->type_flags, &fault) & TT_PY_TPFLAGS_DICT_SUBCLASS)) {
		vm->fault = true;
		return;
	}
	keys = py_word(dict + ph->dict_keys, &fault);
	vals = py_word(dict + ph->dict_values, &fault);
	if (fault) {
		vm->fault = true;
		return;
	}
	py_lookup(vm, ph, (__u64)i << 32 | len, keys, vals ? vals + ph->dictvalues_values : 0);
}

/*
 * The digit count of the int at obj, negative for a negative int: 3.11
 * keeps it as ob_size, 3.12+ in lv_tag (sign in its low 2 bits, count
 * above bit 3).
 */
static __always_inline __s64 py_int_size(const struct tt_py_hook *ph, __u64 obj, bool *fault)
{
	__u64 tag = py_word(obj + ph->long_tag, fault);
	__s64 n;

	if (ph->long_layout == TT_PY_LONG_OB_SIZE)
		return (__s64)tag;
	n = (__s64)(tag >> 3);
	return (tag & 3) == 2 ? -n : (tag & 3) == 1 ? 0 : n;
}

/* acc = the int at `obj` (at most two 30-bit digits; a larger one is a fault). */
static __always_inline void py_int_value(struct vm *vm, const struct tt_py_hook *ph, __u64 obj)
{
	bool fault = false;
	__s64 size = py_int_size(ph, obj, &fault);
	__u32 d[2] = {0, 0};
	__u64 v;

	if (size < -2 || size > 2 ||
	    (size && bpf_probe_read_user(d, sizeof(d), (void *)(obj + ph->long_digits))))
		fault = true;
	if (size == 1 || size == -1)
		d[1] = 0; /* one digit: the next word is not the int's */
	v = (__u64)(d[0] & 0x3fffffff) | ((__u64)(d[1] & 0x3fffffff) << 30);
	vm->acc = size < 0 ? (__u64)(-(__s64)v) : v;
	vm->fault = fault;
}

/* Records the int at `obj` as an integer record. */
static __always_inline void py_emit_int(struct vm *vm, const struct tt_py_hook *ph, __u64 obj)
{
	py_int_value(vm, ph, obj);
	emit_int(vm);
}

/*
 * Records the object at acc: a str's text or a bytes' bytes as a string,
 * an int as an integer; any other is unreadable.
 */
static __noinline void py_emit(struct vm *vm, const struct tt_py_hook *ph, __u32 max)
{
	bool fault = vm->fault;
	__u64 obj = vm->acc, tp, flags;

	max &= 2 * TT_MAX_STR - 1; /* a bound the verifier sees in this subprogram */
	if (max > TT_MAX_STR || max == 0)
		max = TT_MAX_STR;

	tp = fault ? 0 : py_word(obj + ph->obj_type, &fault);
	flags = fault ? 0 : py_word(tp + ph->type_flags, &fault);
	if (!fault && (flags & TT_PY_TPFLAGS_LONG_SUBCLASS)) {
		py_emit_int(vm, ph, obj);
		return;
	}
	if (!fault && (flags & TT_PY_TPFLAGS_UNICODE_SUBCLASS)) {
		__u32 state = 0;

		if (bpf_probe_read_user(&state, sizeof(state), (void *)(obj + ph->unicode_state)))
			fault = true;
		else if ((state & TT_PY_ASCII_COMPACT) == TT_PY_ASCII_COMPACT)
			vm->acc = obj + ph->unicode_ascii_data;
		else /* compact UTF-8, once something asked for it; else unreadable */
			vm->acc = py_word(obj + ph->unicode_compact_utf8, &fault);
		vm->fault = fault || !vm->acc;
		emit_str(vm, max);
		return;
	}
	if (!fault && (flags & TT_PY_TPFLAGS_BYTES_SUBCLASS)) {
		__u32 at = vm->off;

		vm->r1 = py_word(obj + ph->bytes_size, &fault);
		vm->acc = obj + ph->bytes_data;
		vm->fault = fault;
		emit_bytes(vm, max);
		/* a string capture, whatever the object was */
		((struct tt_cap_rec *)(vm->buf + (at & SCRATCH_MASK)))->type = TT_CAP_STR;
		return;
	}
	vm->fault = true;
	emit_str(vm, max);
}

/*
 * acc = the value of object acc to compare (TT_OP_PY_VALUE): as_int, an
 * int's value; else where a str's (or bytes') text is. Another type is a
 * fault.
 */
static __noinline void py_value(struct vm *vm, const struct tt_py_hook *ph, bool as_int)
{
	bool fault = vm->fault;
	__u64 obj = vm->acc, tp, flags;
	__u32 state = 0;

	if (!vm || !ph)
		return;
	tp = fault ? 0 : py_word(obj + ph->obj_type, &fault);
	flags = fault ? 0 : py_word(tp + ph->type_flags, &fault);
	if (fault) {
		vm->fault = true;
		return;
	}
	if (as_int && (flags & TT_PY_TPFLAGS_LONG_SUBCLASS)) {
		py_int_value(vm, ph, obj);
		return;
	}
	if (!as_int && (flags & TT_PY_TPFLAGS_UNICODE_SUBCLASS)) {
		if (bpf_probe_read_user(&state, sizeof(state), (void *)(obj + ph->unicode_state)))
			fault = true;
		else if ((state & TT_PY_ASCII_COMPACT) == TT_PY_ASCII_COMPACT)
			vm->acc = obj + ph->unicode_ascii_data;
		else
			vm->acc = py_word(obj + ph->unicode_compact_utf8, &fault);
		vm->fault = fault || !vm->acc;
		return;
	}
	if (!as_int && (flags & TT_PY_TPFLAGS_BYTES_SUBCLASS)) {
		vm->acc = obj + ph->bytes_data; /* NUL-terminated, as CPython keeps them */
		return;
	}
	vm->fault = true;
}

/*
 * A `when:` test of a Python hook (CMP, STRCMP): a fault is a mismatch;
 * the outcome sets the condition (TT_OPF_COND) or, false, drops the call.
 */
static __always_inline void py_test(struct vm *vm, const struct tt_op *op, bool match)
{
	struct py_filter *f = py_filter_of(vm);
	bool pass = match != !!(op->flags & TT_OPF_NEGATE);

	if (op->flags & TT_OPF_COND)
		f->cond = pass;
	else if (!pass)
		f->drop = 1;
	vm->fault = false;
}

/*
 * acc = the value frame acc returned, at its end: on the value stack, the
 * first slot after the locals, for RETURN_VALUE (popped, not cleared);
 * co_consts[oparg] for 3.12+'s RETURN_CONST. The instruction the frame
 * ran last says which. A call that raised (py[1], its exception) returned
 * nothing: a fault, as any other instruction (an instrumented return).
 */
static __noinline void py_return_value(struct vm *vm, const struct tt_py_hook *ph)
{
	bool fault;
	__u64 fr, code = 0, instr = 0, consts;
	__u8 insn[2] = {0, 0};
	__s32 nlocals = 0;

	if (!vm || !ph)
		return;
	fault = vm->fault || vm->py[1] != 0;
	fr = vm->acc;
	code = fault ? 0 : py_word(fr + ph->frame_code, &fault);
	instr = fault ? 0 : py_word(fr + ph->frame_instr, &fault);
	if (!fault && bpf_probe_read_user(insn, sizeof(insn), (void *)instr))
		fault = true;
	if (!fault && ph->op_return_const && insn[0] == ph->op_return_const) {
		consts = py_word(code + ph->code_consts, &fault);
		/* past 256 constants the operand needs its EXTENDED_ARG: not read */
		if (!fault && py_word(consts + ph->var_size, &fault) > 256)
			fault = true;
		vm->acc =
			fault ? 0 : py_word(consts + ph->tuple_items + 8 * (__u64)insn[1], &fault);
	} else if (!fault && insn[0] == ph->op_return_value) {
		if (bpf_probe_read_user(&nlocals, sizeof(nlocals),
					(void *)(code + ph->code_nlocalsplus)) ||
		    nlocals < 0)
			fault = true;
		vm->acc = fault ? 0
				: py_word(fr + ph->frame_localsplus + 8 * (__u64)(nlocals & 0xffff),
					  &fault);
	} else {
		fault = true;
	}
	vm->fault = fault || !vm->acc;
}

/*
 * Whether acc passes CMP op (a fault: no). A subprogram of its own, as
 * py_str_matches().
 */
static __noinline bool py_compare(struct vm *vm, const struct tt_op *op)
{
	if (!vm || !op || vm->fault)
		return false;
	return compare(op->aux, op->flags & TT_OPF_SIGNED, vm->acc, op->imm);
}

/*
 * The comparison of a string with a STRCMP's literal, a word a bpf_loop
 * callback: string_matches()'s unrolled words, inside py_run_op, gave the
 * verifier more paths than it takes.
 */
struct py_cmp_ctx {
	struct vm *vm;
	__u32 i; /* the STRCMP: its literal's words follow it */
	__u32 n; /* bytes to compare */
	__u32 same;
};

static long py_cmp_word(__u64 w, void *data)
{
	struct py_cmp_ctx *c = data;
	__u64 *tmp = (__u64 *)(c->vm->buf + SCRATCH_TMP);
	__u64 idx = (__u64)c->i + 1 + w, mask, n = c->n;

	if (8 * w >= n)
		return 1;
	asm volatile("" : "+r"(idx));
	if (idx >= TT_MAX_OPS || w >= 7) {
		c->same = 0;
		return 1;
	}
	mask = n - 8 * w >= 8 ? ~0ULL : (1ULL << ((8 * (n - 8 * w)) & 63)) - 1;
	if ((tmp[w] ^ c->vm->prog->ops[idx].imm) & mask) {
		c->same = 0;
		return 1;
	}
	return 0;
}

/* Whether the string at acc matches the literal of STRCMP op, instruction i (exact or prefix). */
static __noinline bool py_str_matches(struct vm *vm, __u32 i, const struct tt_op *op)
{
	struct py_cmp_ctx c = {.vm = vm, .i = i, .same = 1};

	if (!vm || !op || vm->fault || op->len > TT_MAX_LITERAL)
		return false;
	c.n = op->len + (op->aux == TT_STRCMP_EXACT ? 1 : 0); /* the NUL, for exact */
	if (bpf_probe_read_user_str(vm->buf + SCRATCH_TMP, 64, (void *)vm->acc) < 0)
		return false;
	bpf_loop(7, py_cmp_word, &c, 0);
	return c.same;
}

/*
 * Runs instruction i of a Python hook's capture program: the few opcodes
 * py() and `raised` compile to (user/python/value.c, user/spec_python.c).
 * A bpf_loop callback of its own, so that the verifier checks it apart
 * from the generic interpreter's. Another opcode ends the program.
 */
static long py_run_op(__u64 i, void *data)
{
	struct vm *vm = data;
	__u32 idx = i, hook = vm->py_hook;
	const struct tt_py_hook *ph;
	const struct tt_op *op;
	struct py_filter *f;

	if (idx >= vm->prog->nops)
		return 1;
	f = py_filter_of(vm);
	if (idx < f->skip)
		return 0; /* jumped over */
	asm volatile("" : "+r"(idx));
	if (idx >= TT_MAX_OPS)
		return 1;
	op = &vm->prog->ops[idx];
	ph = bpf_map_lookup_elem(&py_hooks, &hook);
	if (!ph)
		return 1;
	switch (op->code) {
	case TT_OP_NOP: /* a name's literal */
		break;
	case TT_OP_PY_VALUE:
		if (!vm->fault)
			py_value(vm, ph, op->imm == 1);
		break;
	case TT_OP_CMP:
		py_test(vm, op, py_compare(vm, op));
		break;
	case TT_OP_STRCMP:
		py_test(vm, op, py_str_matches(vm, idx, op));
		break;
	case TT_OP_JMP:
		if (!(op->flags & (TT_OPF_IFTRUE | TT_OPF_IFFALSE)) ||
		    ((op->flags & TT_OPF_IFTRUE) && f->cond) ||
		    ((op->flags & TT_OPF_IFFALSE) && !f->cond))
			f->skip = op->imm;
		break;
	case TT_OP_DROP:
		f->drop = 1;
		break;
	case TT_OP_PY:
		/* a return by no exception: its type's record, the program's last, left out */
		if ((op->imm & 1) && !vm->py[1])
			return 1;
		vm->acc = vm->py[op->imm & 1];
		break;
	case TT_OP_PY_RETURN:
		if (!vm->fault)
			py_return_value(vm, ph);
		break;
	case TT_OP_ADD:
		vm->acc += op->imm;
		break;
	case TT_OP_LOAD:
		vm->acc = vm->fault ? 0 : py_word(vm->acc, (bool *)&vm->fault);
		break;
	case TT_OP_EMIT_STR:
		emit_str(vm, op->len);
		break;
	case TT_OP_PY_LOCAL:
		if (!vm->fault)
			py_local(vm, ph, i, op->len);
		break;
	case TT_OP_PY_ATTR:
		if (!vm->fault)
			py_attr(vm, ph, i, op->len);
		break;
	case TT_OP_PY_ITEM:
		if (!vm->fault)
			py_item(vm, ph, idx, op->len);
		break;
	case TT_OP_PY_EMIT:
		py_emit(vm, ph, op->len);
		break;
	default:
		return 1;
	}
	return f->drop ? 1 : 0;
}

/*
 * Runs `prog`, a Python hook's capture program, for frame fr (and `aux`:
 * at a return, where the name of the exception's type is), and submits
 * the event it recorded: 0, or 1 when its `when:` dropped the call (or
 * nothing could run). A subprogram of its own: its interpreter state
 * stays off its callers' stacks.
 */
static __noinline int py_run_and_submit(const struct tt_probe_prog *prog, __u32 hook_kind, __u64 fr,
					__u64 aux, __s64 ret)
{
	__u32 hook = hook_kind & 0xffff; /* five arguments at most: kind and flags ride above */
	__u16 kind = (hook_kind >> 16) & 0xff;
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	struct tt_event *ev;
	struct py_filter *f;
	struct vm vm = {};

	if (!s || !prog)
		return 1;
	ev = (void *)s->buf;
	vm.prog = prog;
	vm.rc = ret;
	vm.py[0] = fr;
	vm.py[1] = aux;
	vm.py_hook = hook;
	fill_header(ev, hook, kind);
	ev->ret = ret;
	if (hook_kind >> 24) { /* a generator's: paired by its frame (TT_EVF_PY_GEN) */
		ev->flags = hook_kind >> 24;
		ev->ret = (__s64)fr;
	}
	vm.buf = s->buf;
	vm.off = sizeof(*ev);
	f = py_filter_of(&vm);
	f->skip = 0;
	f->cond = 0;
	f->drop = 0;
	if (prog->nops)
		bpf_loop(TT_MAX_OPS, py_run_op, &vm, 0);
	if (f->drop)
		return 1; /* `when:` said no */
	ev->ncaps = vm.ncaps;
	ev->size = vm.off & SCRATCH_MASK;
	submit(s->buf, ev->size, TT_STAT_LOST, (++s->hits & 15) == 0);
	return 0;
}
