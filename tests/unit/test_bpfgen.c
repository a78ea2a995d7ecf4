/* SPDX-License-Identifier: MIT */
/*
 * Tests for user/bpfgen.c: the programs emitted from capture programs
 * compiled by user/expr.c are well formed (every jump forward and inside,
 * the last instruction an exit, only the maps given, the hook id in the
 * header), each comparison becomes its jump, USDT arguments are read where
 * their site says, what cannot be compiled is refused with a reason, and
 * the printer names maps and helpers. What the programs capture is
 * compared with the interpreter on real processes by tests/e2e/test_bpfgen.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bpfgen.h"
#include "expr.h"
#include "tasktap/event.h"
#include "usdt.h"

static const struct tt_bpfgen_maps maps = {.threads = 11,
					   .saved = 12,
					   .scratch = 13,
					   .stats = 14,
					   .rings = 15,
					   .hook_lost = 16,
					   .calls = 17,
					   .frames = 18,
					   .retired = 19};

static struct tt_bpfgen g;

/* A hook whose entry captures `caps` (NULL-ended), filtered by `when` (or NULL). */
static struct tt_hook_prog hook_of(const char *when, const char *const *caps)
{
	struct tt_hook_prog h = {0};
	enum tt_cap_type type;
	char err[256];
	int col;

	if (when && tt_expr__compile_filter(when, false, &h.entry, err, sizeof(err), &col))
		fail_msg("'%s': %s", when, err);
	for (int i = 0; caps && caps[i]; i++) {
		if (tt_expr__compile(caps[i], false, &h.entry, &type, err, sizeof(err), &col))
			fail_msg("'%s': %s", caps[i], err);
	}
	if (when)
		h.flags |= TT_HOOKF_TRACK;
	return h;
}

static int emit(enum tt_bpfgen_kind kind, const struct tt_hook_prog *h,
		const struct tt_usdt_site *site, char *err, size_t errlen)
{
	struct tt_bpfgen_in in = {.kind = kind,
				  .hook = 42,
				  .prog = h,
				  .site = site,
				  .maps = maps,
				  .kfuncs = {.session_cookie = 901, .session_is_return = 902}};

	return tt_bpfgen__emit(&in, &g, err, errlen);
}

/* Checks what every program must be: jumps forward and inside, an exit last, the maps given. */
static void assert_well_formed(void)
{
	bool probe_id = false;

	assert_true(g.n > 2);
	assert_int_equal(g.insns[g.n - 1].code, BPF_JMP | BPF_EXIT);
	for (size_t n = 0; n < g.n; n++) {
		const struct bpf_insn *i = &g.insns[n];
		uint8_t op = BPF_OP(i->code);

		if (i->code == (BPF_LD | BPF_DW | BPF_IMM)) {
			if (i->src_reg == BPF_PSEUDO_MAP_FD)
				assert_true(i->imm >= 11 && i->imm <= 19);
			n++;
			continue;
		}
		if (BPF_CLASS(i->code) == BPF_JMP && op != BPF_CALL && op != BPF_EXIT) {
			assert_true(i->off >= 0);
			assert_true(n + 1 + i->off < g.n);
		}
		/* the header's probe field: *(u32 *)(r7 + 16) = hook */
		if (i->code == (BPF_ST | BPF_MEM | BPF_W) && i->dst_reg == BPF_REG_7 &&
		    i->off == 16 && i->imm == 42)
			probe_id = true;
	}
	assert_true(probe_id);
}

/* Checks that every instruction is reached from the first (the kernel refuses one that is not). */
static void assert_all_reached(void)
{
	static bool seen[TT_BPFGEN_MAX_INSNS];
	static size_t stack[TT_BPFGEN_MAX_INSNS];
	size_t top = 0;

	memset(seen, 0, sizeof(seen));
	stack[top++] = 0;
	while (top) {
		size_t n = stack[--top];
		const struct bpf_insn *i;
		uint8_t op;

		if (n >= g.n || seen[n])
			continue;
		seen[n] = true;
		i = &g.insns[n];
		op = BPF_OP(i->code);
		if (i->code == (BPF_LD | BPF_DW | BPF_IMM)) {
			seen[n + 1] = true;
			stack[top++] = n + 2;
			continue;
		}
		if (BPF_CLASS(i->code) == BPF_JMP && op == BPF_EXIT)
			continue;
		if (BPF_CLASS(i->code) == BPF_JMP && op != BPF_CALL)
			stack[top++] = n + 1 + (size_t)i->off;
		if (!(BPF_CLASS(i->code) == BPF_JMP && op == BPF_JA))
			stack[top++] = n + 1;
	}
	for (size_t n = 0; n < g.n; n++) {
		if (!seen[n])
			print_error("instruction %zu is not reached\n", n);
		assert_true(seen[n]);
	}
}

/*
 * Every form of predicate compiles into a program whose jumps stay inside
 * and which has no code nothing reaches, as a filter at entry and as an
 * `error:` verdict at return (an entry that tracks the call but has no
 * filter: it used to keep a dropped-call path nothing jumped to).
 */
static void test_predicates_compile_well_formed(void **state)
{
	static const char *const preds[] = {
		"arg0 == 1 && arg1 != 2",
		"arg0 == 1 || arg1 == 2",
		"!(arg0 == 1 || arg1 == 2) && arg2 > 0",
		"*arg0 < arg1 + 8",
		"str(arg1) == \"exact\" || str(arg1) != \"perf*\"",
		"starts_with(str(arg1), \"ab\") && ends_with(str(arg1), \"abcdefghi\")",
		"contains(str(arg1, 16), \"x\") || contains(str(arg1), \"0123456789abcdef012\")",
		"str(arg1) == str(*arg2) && str(arg1, 8) != str(arg3, 9)",
	};
	const char *const caps[] = {"str(arg1)", NULL};
	char err[256] = "";
	int col;

	for (size_t k = 0; k < sizeof(preds) / sizeof(preds[0]); k++) {
		struct tt_hook_prog h = hook_of(preds[k], caps);

		assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), 0);
		assert_well_formed();
		assert_all_reached();

		memset(&h, 0, sizeof(h));
		h.flags = TT_HOOKF_TRACK | TT_HOOKF_SAVE;
		assert_int_equal(tt_expr__compile_pred(preds[k], TT_PRED_VERDICT, true, NULL,
						       &h.ret, err, sizeof(err), &col),
				 0);
		assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), 0);
		assert_all_reached();
		assert_int_equal(emit(TT_BPFGEN_RETURN, &h, NULL, err, sizeof(err)), 0);
		assert_all_reached();
	}
}

/* What only compiled programs run is named; the forms the interpreter knows are not. */
static void test_compiled_only_forms_are_named(void **state)
{
	static const struct {
		const char *when;
		const char *needs; /* NULL: the interpreter runs it */
	} cases[] = {
		{"arg0 >= 5", NULL},
		{"str(arg1) == \"exact\"", NULL},
		{"str(arg1) != \"perf*\"", NULL},
		{"arg0 > 1 && arg1 < 2", NULL},
		{"arg0 == 1 || arg1 == 2", "a compound predicate (&&, ||, !)"},
		{"*arg0 == arg1", "a comparison of two expressions"},
		{"str(arg1) == str(arg2)", "a comparison of two strings"},
		{"ends_with(str(arg1), \"x\")", "ends_with()"},
		{"contains(str(arg1), \"x\")", "contains()"},
		{"str(arg1, 5) == \"x\"", "a bounded str(EXPR, N) in a predicate"},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct tt_hook_prog h = hook_of(cases[k].when, NULL);
		const char *got = tt_bpfgen__compiled_only(&h);

		if (!cases[k].needs)
			assert_null(got);
		else
			assert_string_equal(got, cases[k].needs);
	}
}

/* Atomic compare-and-swap instructions in the program. */
static size_t count_cmpxchg(void)
{
	size_t n = 0;

	for (size_t k = 0; k < g.n; k++)
		n += g.insns[k].code == (BPF_STX | BPF_DW | BPF_ATOMIC) &&
		     g.insns[k].imm == BPF_CMPXCHG;
	return n;
}

static size_t count_calls(int32_t helper)
{
	size_t n = 0;

	for (size_t k = 0; k < g.n; k++)
		n += g.insns[k].code == (BPF_JMP | BPF_CALL) && g.insns[k].imm == helper;
	return n;
}

static void test_entry_with_every_capture_form(void **state)
{
	static const char *const caps[] = {
		"arg0",		  "str(arg1)", "bytes(arg2, arg3)", "s16(arg0 + 12)",
		"*(*(arg4 + 8))", "arg7",      "str(arg1, 5)",	    NULL};
	struct tt_hook_prog h = hook_of(NULL, caps);
	char err[256] = "";

	assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), 0);
	assert_well_formed();
	assert_int_equal(count_calls(BPF_FUNC_probe_read_user_str), 2);
	/* s16, two derefs, the stack slot, bytes */
	assert_int_equal(count_calls(BPF_FUNC_probe_read_user), 5);
	assert_int_equal(count_calls(BPF_FUNC_ringbuf_output), 1);
	/* not tracked: the threads map is not used */
	for (size_t k = 0; k < g.n; k++)
		assert_false(g.insns[k].src_reg == BPF_PSEUDO_MAP_FD && g.insns[k].imm == 11);
}

static void test_tracked_entry_and_return(void **state)
{
	static const char *const caps[] = {"arg0", NULL};
	struct tt_hook_prog h = hook_of("arg0 >= 5", caps);
	enum tt_cap_type type;
	char err[256] = "";
	bool threads = false, saved = false;
	int col;

	assert_int_equal(tt_expr__compile("str(arg1)", true, &h.ret, &type, err, sizeof(err), &col),
			 0);
	h.flags |= TT_HOOKF_SAVE;
	assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), 0);
	assert_well_formed();
	for (size_t k = 0; k < g.n; k++) {
		threads |= g.insns[k].src_reg == BPF_PSEUDO_MAP_FD && g.insns[k].imm == 11;
		saved |= g.insns[k].src_reg == BPF_PSEUDO_MAP_FD && g.insns[k].imm == 12;
	}
	assert_true(threads);
	assert_true(saved);
	assert_int_equal(emit(TT_BPFGEN_RETURN, &h, NULL, err, sizeof(err)), 0);
	assert_well_formed();
	assert_int_equal(count_calls(BPF_FUNC_probe_read_user_str), 1);
}

static void test_return_without_captures_is_short(void **state)
{
	struct tt_hook_prog h = {0};
	char err[256] = "";

	assert_int_equal(emit(TT_BPFGEN_RETURN, &h, NULL, err, sizeof(err)), 0);
	assert_true(g.n < 60);
	/* the header written straight into the ring: no buffer copied by bpf_ringbuf_output */
	assert_int_equal(count_calls(BPF_FUNC_ringbuf_output), 0);
	assert_int_equal(count_calls(BPF_FUNC_ringbuf_reserve), 1);
	assert_int_equal(count_calls(BPF_FUNC_ringbuf_submit), 1);
	assert_int_equal(count_calls(BPF_FUNC_probe_read_user), 0);
	/* the ring; when it is full, the stats and the hook's own count */
	assert_int_equal(count_calls(BPF_FUNC_map_lookup_elem), 3);
}

/* Calls of kernel function `btf_id`. */
static size_t count_kfuncs(int32_t btf_id)
{
	size_t n = 0;

	for (size_t k = 0; k < g.n; k++)
		n += g.insns[k].code == (BPF_JMP | BPF_CALL) &&
		     g.insns[k].src_reg == BPF_PSEUDO_KFUNC_CALL && g.insns[k].imm == btf_id;
	return n;
}

/*
 * A session program: the entry's captures kept in `calls` (the arguments
 * with them for the return's captures) under the cookie, one event written
 * at the return, the call taken out of the map first.
 */
static void test_session_program_pairs_entry_and_return(void **state)
{
	static const char *const caps[] = {"arg0", "str(arg1)", NULL};
	struct tt_hook_prog h = hook_of(NULL, caps);
	enum tt_cap_type type;
	char err[256] = "";
	int col;

	assert_int_equal(tt_expr__compile("str(arg2)", true, &h.ret, &type, err, sizeof(err), &col),
			 0);
	h.flags |= TT_HOOKF_TRACK | TT_HOOKF_SAVE | TT_HOOKF_SESSION;
	assert_null(tt_bpfgen__session_refusal(&h));
	assert_int_equal(emit(TT_BPFGEN_SESSION, &h, NULL, err, sizeof(err)), 0);
	assert_well_formed();
	assert_all_reached();
	assert_int_equal(count_kfuncs(902), 1); /* is it the return? */
	assert_int_equal(count_kfuncs(901), 2); /* the cookie: set at entry, read at return */
	/* the call kept in the thread's frames, not in the hash `calls` */
	assert_int_equal(count_calls(BPF_FUNC_task_storage_get), 2);
	assert_int_equal(count_calls(BPF_FUNC_map_update_elem), 0);
	assert_int_equal(count_calls(BPF_FUNC_map_delete_elem), 0);
	/* into the frame and out by loads and stores: no bpf_probe_read_kernel() call */
	assert_int_equal(count_calls(BPF_FUNC_probe_read_kernel), 0);
	assert_int_equal(count_cmpxchg(), 1); /* the return owns the call only if it closes it */
	for (size_t k = 0; k < g.n; k++)
		assert_false(g.insns[k].src_reg == BPF_PSEUDO_MAP_FD && g.insns[k].imm == 17);
	/* `retired` read once, at the entry (a link a reload retired takes no new call) */
	for (size_t k = 0, n = 0; k < g.n; k++) {
		n += g.insns[k].src_reg == BPF_PSEUDO_MAP_FD && g.insns[k].imm == 19;
		assert_true(n <= 1);
		if (k + 1 == g.n)
			assert_int_equal(n, 1);
	}
	assert_int_equal(count_calls(BPF_FUNC_ringbuf_output), 1);
	assert_int_equal(count_calls(BPF_FUNC_probe_read_user_str), 2);
	/* the per-thread tracking of the two-event path is not needed */
	for (size_t k = 0; k < g.n; k++) {
		assert_false(g.insns[k].src_reg == BPF_PSEUDO_MAP_FD && g.insns[k].imm == 11);
		assert_false(g.insns[k].src_reg == BPF_PSEUDO_MAP_FD && g.insns[k].imm == 12);
	}
	/* the largest call: header, 12 + 68 at entry, 68 at return, aligned, tail */
	assert_int_equal(tt_bpfgen__session_size(&h), ((40 + 12 + 68 + 68 + 7) & ~7) + 16);
	/* a hook id from the attach cookie is read at the entry only: the return has the entry's
	 */
	struct tt_bpfgen_in in = {.kind = TT_BPFGEN_SESSION,
				  .hook = 42,
				  .hook_from_cookie = true,
				  .prog = &h,
				  .maps = maps,
				  .kfuncs = {.session_cookie = 901, .session_is_return = 902}};
	assert_int_equal(tt_bpfgen__emit(&in, &g, err, sizeof(err)), 0);
	assert_all_reached();
	assert_int_equal(count_calls(BPF_FUNC_get_attach_cookie), 1);
}

/* What a session program cannot run is refused with a reason, and keeps two events. */
static void test_session_refusals(void **state)
{
	static const char *const caps[] = {"arg0", NULL};
	static const char *const big[] = {"str(arg0)", "str(arg1)", "str(arg2)",
					  "str(arg3)", "str(arg4)", "str(arg5)",
					  "str(arg6)", "str(arg7)", NULL};
	struct tt_hook_prog h = hook_of(NULL, caps);
	enum tt_cap_type type;
	char err[256] = "";
	int col;

	/* not marked by the spec (a span with children, say) */
	assert_non_null(tt_bpfgen__session_refusal(&h));
	assert_int_equal(emit(TT_BPFGEN_SESSION, &h, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "not a synchronous call without children");
	/* a filter at the return */
	h.flags |= TT_HOOKF_SESSION;
	assert_int_equal(tt_expr__compile_filter("ret == 0", true, &h.ret, err, sizeof(err), &col),
			 0);
	assert_string_equal(tt_bpfgen__session_refusal(&h), "its return has a filter");
	/* calls larger than the event can be */
	h = hook_of(NULL, big);
	for (int i = 0; big[i]; i++)
		assert_int_equal(
			tt_expr__compile(big[i], true, &h.ret, &type, err, sizeof(err), &col), 0);
	h.flags |= TT_HOOKF_SESSION;
	assert_true(tt_bpfgen__session_size(&h) >= TT_MAX_CALL_EVENT);
	assert_string_equal(tt_bpfgen__session_refusal(&h),
			    "its captures can exceed TT_MAX_CALL_EVENT bytes");
}

/* Each comparison of a filter, signed (as the spec's are) or not, is one jump of its own kind. */
static void test_each_comparison_is_its_jump(void **state)
{
	static const struct {
		enum tt_cmp_op op;
		uint8_t flags;
		uint8_t jmp;
	} cases[] = {
		{TT_CMPOP_EQ, TT_OPF_SIGNED, BPF_JEQ},
		{TT_CMPOP_NE, TT_OPF_SIGNED, BPF_JNE},
		{TT_CMPOP_LT, TT_OPF_SIGNED, BPF_JSLT},
		{TT_CMPOP_LE, TT_OPF_SIGNED, BPF_JSLE},
		{TT_CMPOP_GT, TT_OPF_SIGNED, BPF_JSGT},
		{TT_CMPOP_GE, TT_OPF_SIGNED, BPF_JSGE},
		{TT_CMPOP_LT, 0, BPF_JLT},
		{TT_CMPOP_LE, 0, BPF_JLE},
		{TT_CMPOP_GT, 0, BPF_JGT},
		{TT_CMPOP_GE, 0, BPF_JGE},
	};
	char err[256];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct tt_hook_prog h = {.flags = TT_HOOKF_TRACK};
		bool found = false;

		h.entry.nops = 2;
		h.entry.ops[0] = (struct tt_op){.code = TT_OP_ARG, .imm = 0};
		h.entry.ops[1] = (struct tt_op){
			.code = TT_OP_CMP, .aux = cases[c].op, .flags = cases[c].flags, .imm = -7};
		assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), 0);
		assert_well_formed();
		for (size_t k = 0; k < g.n; k++)
			found |= g.insns[k].code == (BPF_JMP | cases[c].jmp | BPF_X) &&
				 g.insns[k].dst_reg == BPF_REG_8;
		if (!found)
			fail_msg("case %zu: no jump 0x%x on acc", c, cases[c].jmp);
	}
	/* what the spec compiles: signed */
	{
		struct tt_hook_prog h = hook_of("arg0 < 7", NULL);
		bool found = false;

		assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), 0);
		for (size_t k = 0; k < g.n; k++)
			found |= g.insns[k].code == (BPF_JMP | BPF_JSLT | BPF_X);
		assert_true(found);
	}
}

static void test_string_filter_compares_the_literal_words(void **state)
{
	struct tt_hook_prog h = hook_of("str(arg1) == \"exactly-nine\"", NULL);
	char err[256];
	uint64_t w0 = 0;
	bool found = false;

	memcpy(&w0, "exactly-", 8);
	assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), 0);
	assert_well_formed();
	for (size_t k = 0; k + 1 < g.n; k++) {
		if (g.insns[k].code == (BPF_LD | BPF_DW | BPF_IMM) && !g.insns[k].src_reg &&
		    (uint32_t)g.insns[k].imm == (uint32_t)w0 &&
		    (uint32_t)g.insns[k + 1].imm == (uint32_t)(w0 >> 32))
			found = true;
	}
	assert_true(found);
	assert_int_equal(count_calls(BPF_FUNC_probe_read_user_str), 1);
}

static void test_usdt_arguments_where_the_site_says(void **state)
{
	static const char *const caps[] = {"arg0", "arg1", "arg2", "arg3", NULL};
	struct tt_hook_prog h = hook_of(NULL, caps);
	struct tt_usdt_site site;
	char err[256] = "";
	bool konst = false, reg = false;

	assert_int_equal(tt_usdt__decode("-4@$-7 8@%rdi -2@8(%rbx)", &site, err, sizeof(err)), 0);
	assert_int_equal(emit(TT_BPFGEN_USDT, &h, &site, err, sizeof(err)), 0);
	assert_well_formed();
	for (size_t k = 0; k < g.n; k++) {
		const struct bpf_insn *i = &g.insns[k];

		konst |= i->code == (BPF_ALU64 | BPF_MOV | BPF_K) && i->dst_reg == BPF_REG_8 &&
			 i->imm == -7;
		reg |= i->code == (BPF_LDX | BPF_MEM | BPF_DW) && i->dst_reg == BPF_REG_8 &&
		       i->src_reg == BPF_REG_6 && i->off == site.args[1].reg_off;
	}
	assert_true(konst);
	assert_true(reg);
	/* the memory operand is read; arg3 does not exist: a fault, no read */
	assert_int_equal(count_calls(BPF_FUNC_probe_read_user), 1);
}

/* Several USDT hooks of one site: one program, each hook's filter and event in turn. */
static void test_one_program_for_a_shared_site(void **state)
{
	static const char *const caps[] = {"arg0", NULL};
	struct tt_hook_prog a = hook_of("arg0 < 0", caps), b = hook_of("arg0 > 5", caps);
	struct tt_usdt_site site;
	struct tt_bpfgen_in in[2] = {
		{.kind = TT_BPFGEN_USDT, .hook = 42, .prog = &a, .site = &site, .maps = maps},
		{.kind = TT_BPFGEN_USDT, .hook = 43, .prog = &b, .site = &site, .maps = maps},
	};
	char err[256] = "";
	size_t exits = 0, ids = 0;

	assert_int_equal(tt_usdt__decode("-8@%rdi", &site, err, sizeof(err)), 0);
	assert_int_equal(tt_bpfgen__emit_site(in, 2, &g, err, sizeof(err)), 0);
	assert_well_formed();
	for (size_t k = 0; k < g.n; k++) {
		exits += g.insns[k].code == (BPF_JMP | BPF_EXIT);
		ids += g.insns[k].code == (BPF_ST | BPF_MEM | BPF_W) && g.insns[k].off == 16 &&
		       (g.insns[k].imm == 42 || g.insns[k].imm == 43);
	}
	assert_int_equal(exits, 1); /* a hook that drops the hit goes on to the next */
	assert_int_equal(ids, 2);
	assert_int_equal(count_calls(BPF_FUNC_ringbuf_output), 2);

	in[1].kind = TT_BPFGEN_ENTRY;
	assert_int_equal(tt_bpfgen__emit_site(in, 2, &g, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "programs of one kind"));

	tt_bpfgen__dispatcher(17, 5, &g);
	assert_int_equal(count_calls(BPF_FUNC_tail_call), 1);
	assert_int_equal(g.insns[0].src_reg, BPF_PSEUDO_MAP_FD);
	assert_int_equal(g.insns[0].imm, 17);
	assert_int_equal(g.insns[2].imm, 5); /* r3 = the slot */
	assert_int_equal(g.insns[g.n - 1].code, BPF_JMP | BPF_EXIT);
}

/* The hook ids written by the program's header stores, in order (at most `max`). */
static size_t ids_in_order(int32_t *ids, size_t max)
{
	size_t n = 0;

	for (size_t k = 0; k < g.n && n < max; k++) {
		if (g.insns[k].code == (BPF_ST | BPF_MEM | BPF_W) && g.insns[k].off == 16 &&
		    g.insns[k].imm >= 42 && g.insns[k].imm <= 44)
			ids[n++] = g.insns[k].imm;
	}
	return n;
}

/*
 * Three hooks on one function: one entry program and one return program,
 * each hook's filter in turn, the last member first (as the kernel runs
 * the uprobes of one place, the newest first).
 */
static void test_one_entry_and_one_return_for_a_function_site(void **state)
{
	static const char *const caps[] = {"arg0", NULL};
	struct tt_hook_prog h[3] = {hook_of("arg0 < 0", caps), hook_of("arg0 > 5", caps),
				    hook_of("arg0 == 7", caps)};
	struct tt_bpfgen_in in[3];
	enum tt_cap_type type;
	char err[256] = "";
	int32_t ids[8];
	int col;

	for (int k = 0; k < 3; k++) {
		assert_int_equal(
			tt_expr__compile("ret", true, &h[k].ret, &type, err, sizeof(err), &col), 0);
		in[k] = (struct tt_bpfgen_in){
			.kind = TT_BPFGEN_ENTRY, .hook = 42 + k, .prog = &h[k], .maps = maps};
	}
	assert_int_equal(tt_bpfgen__emit_site(in, 3, &g, err, sizeof(err)), 0);
	assert_well_formed();
	assert_all_reached();
	assert_int_equal(ids_in_order(ids, 8), 3);
	assert_int_equal(ids[0], 44);
	assert_int_equal(ids[2], 42);
	assert_int_equal(count_calls(BPF_FUNC_ringbuf_output), 3);
	assert_int_equal(count_calls(BPF_FUNC_get_attach_cookie), 0); /* ids are immediates */

	for (int k = 0; k < 3; k++)
		in[k].kind = TT_BPFGEN_RETURN;
	assert_int_equal(tt_bpfgen__emit_site(in, 3, &g, err, sizeof(err)), 0);
	assert_well_formed();
	assert_all_reached();
	assert_int_equal(ids_in_order(ids, 8), 3);
	assert_int_equal(ids[0], 44);
	assert_int_equal(ids[2], 42);

	in[1].kind = TT_BPFGEN_SESSION;
	assert_int_equal(tt_bpfgen__emit_site(in, 3, &g, err, sizeof(err)), -EINVAL);
	in[1].kind = TT_BPFGEN_RETURN;
	in[1].hook_from_cookie = true;
	assert_int_equal(tt_bpfgen__emit_site(in, 3, &g, err, sizeof(err)), -EINVAL);
}

/*
 * A two-event hook in one session program: the entry's event at the entry
 * (a call the filter drops returns 1, so the kernel skips its return), the
 * return's at the return; nothing tracked per thread. A return that reads
 * the arguments saved at entry is refused.
 */
static void test_pair_program_writes_both_events_without_tracking(void **state)
{
	static const char *const caps[] = {"arg0", "str(arg1)", NULL};
	struct tt_hook_prog h = hook_of("arg0 >= 5", caps);
	enum tt_cap_type type;
	char err[256] = "";
	size_t exit_1 = 0;
	int col;

	assert_int_equal(tt_expr__compile("ret", true, &h.ret, &type, err, sizeof(err), &col), 0);
	assert_null(tt_bpfgen__pair_refusal(&h));
	assert_int_equal(emit(TT_BPFGEN_PAIR, &h, NULL, err, sizeof(err)), 0);
	assert_well_formed();
	assert_all_reached();
	assert_int_equal(count_kfuncs(902), 1); /* bpf_session_is_return */
	assert_int_equal(count_calls(BPF_FUNC_ringbuf_output), 2);
	for (size_t k = 0; k < g.n; k++) {
		assert_false(g.insns[k].src_reg == BPF_PSEUDO_MAP_FD &&
			     (g.insns[k].imm == 11 || g.insns[k].imm == 12)); /* threads, saved */
		exit_1 += k + 1 < g.n && g.insns[k].code == (BPF_ALU64 | BPF_MOV | BPF_K) &&
			  g.insns[k].dst_reg == BPF_REG_0 && g.insns[k].imm == 1 &&
			  g.insns[k + 1].code == (BPF_JMP | BPF_EXIT);
	}
	assert_int_equal(exit_1, 1);

	/* without a filter nothing is dropped: no `return 1` for the kernel to refuse unreached */
	h = hook_of(NULL, caps);
	assert_int_equal(emit(TT_BPFGEN_PAIR, &h, NULL, err, sizeof(err)), 0);
	assert_all_reached();

	h.flags |= TT_HOOKF_SAVE;
	assert_int_equal(tt_expr__compile("str(arg1)", true, &h.ret, &type, err, sizeof(err), &col),
			 0);
	assert_non_null(tt_bpfgen__pair_refusal(&h));
	assert_int_equal(emit(TT_BPFGEN_PAIR, &h, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "saved at its entry"));
}

static void test_what_cannot_be_compiled_is_refused_with_a_reason(void **state)
{
	struct tt_hook_prog h = {0};
	char err[256] = "", want[64];

	h.entry.nops = 1;
	h.entry.ops[0].code = TT_OP__COUNT + 3;
	assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "opcode %d at instruction 0 has no emitter", TT_OP__COUNT + 3);
	assert_non_null(strstr(err, want));

	memset(&h, 0, sizeof(h));
	assert_int_equal(emit(TT_BPFGEN_USDT, &h, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs its site's arguments"));

	h.entry.nops = TT_MAX_OPS + 1;
	assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than TT_MAX_OPS"));
}

static void test_print_names_maps_and_helpers(void **state)
{
	static const char *const caps[] = {"str(arg1)", NULL};
	struct tt_hook_prog h = hook_of(NULL, caps);
	char err[256], *text = NULL, name[16];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_int_equal(emit(TT_BPFGEN_ENTRY, &h, NULL, err, sizeof(err)), 0);
	tt_bpfgen__print(&g, &maps, f);
	fclose(f);
	assert_non_null(strstr(text, "     0: r6 = r1\n"));
	assert_non_null(strstr(text, "r1 = map[scratch]\n"));
	assert_non_null(strstr(text, "call bpf_probe_read_user_str\n"));
	assert_non_null(strstr(text, "*(u32 *)(r7 +16) = 42\n"));
	assert_non_null(strstr(text, ": exit\n"));
	free(text);
	tt_bpfgen__name(TT_BPFGEN_RETURN, 1024, name, sizeof(name));
	assert_string_equal(name, "tt_h1024_ret");
}

/* Emits `kind` for hook `id` with the id read from the attach cookie, into out. */
static void emit_cookie(enum tt_bpfgen_kind kind, const struct tt_hook_prog *h, uint32_t id,
			struct tt_bpfgen *out)
{
	struct tt_bpfgen_in in = {
		.kind = kind, .hook = id, .hook_from_cookie = true, .prog = h, .maps = maps};
	char err[256];

	assert_int_equal(tt_bpfgen__emit(&in, out, err, sizeof(err)), 0);
}

static void test_hooks_alike_share_one_program_with_the_id_from_the_cookie(void **state)
{
	static const char *const caps[] = {"arg0", "str(arg1)", NULL};
	static struct tt_bpfgen other;
	struct tt_hook_prog h = hook_of("arg0 > 3", caps);
	enum tt_bpfgen_kind kinds[] = {TT_BPFGEN_ENTRY, TT_BPFGEN_RETURN};

	(void)state;
	for (int k = 0; k < 2; k++) {
		bool cookie = false, probe_from_reg = false;

		emit_cookie(kinds[k], &h, 42, &g);
		emit_cookie(kinds[k], &h, 7, &other);
		/* no trace of the id: two hooks, one program */
		assert_int_equal(g.n, other.n);
		assert_memory_equal(g.insns, other.insns, g.n * sizeof(g.insns[0]));
		for (size_t n = 0; n < g.n; n++) {
			const struct bpf_insn *i = &g.insns[n];

			if (i->code == (BPF_JMP | BPF_CALL) && i->imm == BPF_FUNC_get_attach_cookie)
				cookie = true;
			/* the header's probe field from the id the cookie gave, kept on the stack
			 */
			if (n > 0 && i->code == (BPF_STX | BPF_MEM | BPF_W) &&
			    i->src_reg == BPF_REG_1 && i[-1].code == (BPF_LDX | BPF_MEM | BPF_W) &&
			    i[-1].dst_reg == BPF_REG_1 && i[-1].src_reg == BPF_REG_10)
				probe_from_reg = true;
			assert_false(i->code == (BPF_ST | BPF_MEM | BPF_W) && i->imm == 42);
		}
		assert_true(cookie);
		assert_true(probe_from_reg);
		assert_all_reached();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_with_every_capture_form),
		cmocka_unit_test(test_hooks_alike_share_one_program_with_the_id_from_the_cookie),
		cmocka_unit_test(test_tracked_entry_and_return),
		cmocka_unit_test(test_session_program_pairs_entry_and_return),
		cmocka_unit_test(test_session_refusals),
		cmocka_unit_test(test_return_without_captures_is_short),
		cmocka_unit_test(test_each_comparison_is_its_jump),
		cmocka_unit_test(test_string_filter_compares_the_literal_words),
		cmocka_unit_test(test_usdt_arguments_where_the_site_says),
		cmocka_unit_test(test_one_program_for_a_shared_site),
		cmocka_unit_test(test_one_entry_and_one_return_for_a_function_site),
		cmocka_unit_test(test_pair_program_writes_both_events_without_tracking),
		cmocka_unit_test(test_what_cannot_be_compiled_is_refused_with_a_reason),
		cmocka_unit_test(test_predicates_compile_well_formed),
		cmocka_unit_test(test_compiled_only_forms_are_named),
		cmocka_unit_test(test_print_names_maps_and_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
