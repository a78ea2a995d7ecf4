// SPDX-License-Identifier: MIT
/*
 * Predicates (expr_bool.c): golden programs for each form, message and
 * column for bad ones, names, and what the programs decide, run by a model
 * of the capture machine (capture.h) over a fake memory that counts its
 * reads, so that short-circuit evaluation is seen: the right side of a
 * false && is never read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "expr.h"

#define OP(c, a, f, l, i)                                                                          \
	{                                                                                          \
		.code = (c), .aux = (a), .flags = (f), .len = (l), .imm = (i)                      \
	}
#define ARG(n)		OP(TT_OP_ARG, 0, 0, 0, n)
#define LOAD(w)		OP(TT_OP_LOAD, w, 0, 0, 0)
#define ADD(n)		OP(TT_OP_ADD, 0, 0, 0, n)
#define CONST(n)	OP(TT_OP_CONST, 0, 0, 0, n)
#define SAVE()		OP(TT_OP_SAVE, 0, 0, 0, 0)
#define CMP(o, n)	OP(TT_OP_CMP, TT_CMP_##o, TT_OPF_SIGNED, 0, n)
#define CMPC(o, n)	OP(TT_OP_CMP, TT_CMP_##o, TT_OPF_SIGNED | TT_OPF_COND, 0, n)
#define CMPR(o)		OP(TT_OP_CMPR, TT_CMP_##o, TT_OPF_SIGNED, 0, 0)
#define JMP_T(to)	OP(TT_OP_JMP, 0, TT_OPF_IFTRUE, 0, to)
#define JMP_F(to)	OP(TT_OP_JMP, 0, TT_OPF_IFFALSE, 0, to)
#define JMP(to)		OP(TT_OP_JMP, 0, 0, 0, to)
#define DROP()		OP(TT_OP_DROP, 0, 0, 0, 0)
#define EMIT_INT()	OP(TT_OP_EMIT_INT, 0, 0, 0, 0)
#define RET_INT()	OP(TT_OP_RET, 0, TT_OPF_INTRET, 0, 0)
#define STRCMP(m, f, n) OP(TT_OP_STRCMP, TT_STRCMP_##m, f, n, 0)
#define LIT(s)		OP(TT_OP_NOP, 0, 0, 0, lit(s))

/* The first 8 bytes of s as the imm of a literal word (little-endian, NUL-padded). */
static int64_t lit(const char *s)
{
	int64_t v = 0;
	size_t n = strlen(s);

	memcpy(&v, s, n < 8 ? n : 8);
	return v;
}

#define MAX_GOLDEN 16

struct golden {
	const char *text;
	bool at_return;
	struct tt_op ops[MAX_GOLDEN];
	int n;
};

static void assert_ops(const char *text, const struct tt_probe_prog *prog, const struct tt_op *want,
		       int n)
{
	if ((int)prog->nops != n)
		print_error("'%s': %u operations, want %d\n", text, prog->nops, n);
	assert_int_equal(prog->nops, n);
	for (int i = 0; i < n; i++) {
		const struct tt_op *g = &prog->ops[i], *w = &want[i];

		if (g->code != w->code || g->aux != w->aux || g->flags != w->flags ||
		    g->len != w->len || g->imm != w->imm || g->pad != w->pad)
			print_error(
				"'%s': op %d is {%u %u %#x %u %lld}, want {%u %u %#x %u %lld}\n",
				text, i, g->code, g->aux, g->flags, g->len, (long long)g->imm,
				w->code, w->aux, w->flags, w->len, (long long)w->imm);
		assert_memory_equal(g, w, sizeof(*g));
	}
}

static void test_golden_programs(void **state)
{
	const struct golden goldens[] = {
		/* the forms that were there before compile as they did */
		{"arg0 >= 5", false, {ARG(0), CMP(GE, 5)}, 2},
		{"str(arg1) == \"exact\"", false, {ARG(1), STRCMP(EXACT, 0, 5), LIT("exact")}, 3},
		{"str(arg1) != \"perf*\"",
		 false,
		 {ARG(1), STRCMP(PREFIX, TT_OPF_NEGATE, 4), LIT("perf")},
		 3},
		/* && of drops: no jumps at all */
		{"arg0 > 1 && arg1 < 2", false, {ARG(0), CMP(GT, 1), ARG(1), CMP(LT, 2)}, 4},
		/* ||: the first sets the condition and jumps past the second when true */
		{"arg0 == 1 || arg1 == 2",
		 false,
		 {ARG(0), CMPC(EQ, 1), JMP_T(5), ARG(1), CMP(EQ, 2)},
		 5},
		/* !: a test that jumps to the drop when true */
		{"!(arg0 == 1)", false, {ARG(0), CMPC(EQ, 1), JMP_T(4), JMP(5), DROP()}, 5},
		{"(arg0 == 1 || arg0 == 2) && arg1 != 0",
		 false,
		 {ARG(0), CMPC(EQ, 1), JMP_T(5), ARG(0), CMP(EQ, 2), ARG(1), CMP(NE, 0)},
		 7},
		/* a constant on the left is moved right, the operator turned */
		{"3 < arg0", false, {ARG(0), CMP(GT, 3)}, 2},
		{"arg0 >= -2", false, {ARG(0), CMP(GE, -2)}, 2},
		/* two expressions */
		{"*arg0 == arg1 + 8",
		 false,
		 {ARG(0), LOAD(8), SAVE(), ARG(1), ADD(8), CMPR(EQ)},
		 6},
		/* parentheses of a value are the value's */
		{"(arg0 + 8) > 3", false, {ARG(0), ADD(8), CMP(GT, 3)}, 3},
		/* ret alone is read as a C int when it is one */
		{"ret < 0", true, {RET_INT(), CMP(LT, 0)}, 2},
		/* string functions, bounded reads, two strings */
		{"starts_with(str(arg1), \"ab\")",
		 false,
		 {ARG(1), STRCMP(PREFIX, 0, 2), LIT("ab")},
		 3},
		{"ends_with(str(arg1), \"ab\")",
		 false,
		 {ARG(1), STRCMP(SUFFIX, 0, 2), LIT("ab")},
		 3},
		{"contains(str(arg1), \"a*\")",
		 false,
		 {ARG(1), STRCMP(CONTAINS, 0, 2), LIT("a*")},
		 3},
		{"\"x\" == str(arg2)", false, {ARG(2), STRCMP(EXACT, 0, 1), LIT("x")}, 3},
		{"str(arg1) != str(*arg2)",
		 false,
		 {ARG(1), SAVE(), ARG(2), LOAD(8), OP(TT_OP_STRCMPR, 0, TT_OPF_NEGATE, 0, 0)},
		 5},
	};

	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		struct tt_probe_prog prog = {.nops = 0};
		char err[256] = "";
		int col = -1;
		int ret;

		ret = tt_expr__compile_filter(g->text, g->at_return, &prog, err, sizeof(err), &col);
		if (ret)
			print_error("'%s': %s (column %d)\n", g->text, err, col);
		assert_int_equal(ret, 0);
		assert_int_equal(prog.ncaps, 0);
		assert_ops(g->text, &prog, g->ops, g->n);
	}
}

/* A verdict is an integer capture: 1 when the predicate holds, 0 when not. */
static void test_verdict_is_a_capture(void **state)
{
	const struct tt_op want[] = {ARG(0), CMPC(EQ, 1), JMP_F(5),  CONST(1),
				     JMP(6), CONST(0),	  EMIT_INT()};
	struct tt_probe_prog prog = {.nops = 2, .ncaps = 1}; /* a capture before it */
	char err[256] = "";
	int col = -1;

	prog.ops[0] = (struct tt_op)ARG(3);
	prog.ops[1] = (struct tt_op)EMIT_INT();
	assert_int_equal(tt_expr__compile_pred("arg0 == 1", TT_PRED_VERDICT, false, NULL, &prog,
					       err, sizeof(err), &col),
			 0);
	assert_int_equal(prog.ncaps, 2);
	/* jumps go to instructions of the whole program: 2 more than written here */
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct tt_op w = want[i];

		if (w.code == TT_OP_JMP)
			w.imm += 2;
		assert_memory_equal(&prog.ops[2 + i], &w, sizeof(w));
	}
}

/* ---- names ----------------------------------------------------------------- */

static const char *lookup(void *ctx, const char *name, size_t len)
{
	static const char *const names[][2] = {
		{"exit_status", "u32(arg2 + 4)"},
		{"code.function", "str(*(arg1 + 8))"},
		{"blob", "bytes(arg1, 8)"},
		{"broken", "u32(arg99)"},
	};

	(void)ctx;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i][0]) == len && strncmp(name, names[i][0], len) == 0)
			return names[i][1];
	}
	return NULL;
}

static const struct tt_expr_names names = {.lookup = lookup};

static void test_names_stand_for_their_expressions(void **state)
{
	const struct tt_op want[] = {ARG(2),	ADD(4), LOAD(4), CMP(NE, 0),
				     ARG(1),	ADD(8), LOAD(8), STRCMP(SUFFIX, 0, 3),
				     LIT("job")};
	struct tt_probe_prog prog = {.nops = 0};
	char err[256] = "";
	int col = -1;

	assert_int_equal(
		tt_expr__compile_pred("exit_status != 0 && ends_with(code.function, \"job\")",
				      TT_PRED_FILTER, false, &names, &prog, err, sizeof(err), &col),
		0);
	assert_ops("names", &prog, want, sizeof(want) / sizeof(want[0]));
}

/* ---- bad predicates --------------------------------------------------------- */

struct bad {
	const char *text;
	const char *msg; /* a substring of the message */
	int col;
};

static const struct bad bads[] = {
	{"", "empty predicate", 0},
	{"arg1", "expected a comparison: EXPR OP INT or str(EXPR) OP \"literal\"", 4},
	{"arg1 = 2", "expected a comparison (==, !=, <, <=, >, >=), found '='", 5},
	{"!= 0", "nothing to compare before '!='", 0},
	{"arg1 == \"perform\"", "only str(EXPR) compares with a string literal", 0},
	{"str(arg1) < \"p\"", "strings compare with == or != only", 10},
	{"str(arg1) == 5", "a string compares with a quoted literal, not an integer", 0},
	{"str(arg1) == arg2", "a string compares with a string (str(EXPR) or a quoted literal)",
	 13},
	{"1 == 2", "both sides are constants", 0},
	{"str(arg1) == \"unterminated", "unterminated string literal", 13},
	{"arg0 == 1 &&", "expected an expression, but the expression ends here", 12},
	{"arg0 == 1 & arg1 == 2", "expected '&&', '||' or the end of the predicate, found '&'", 10},
	{"arg0 == 1 || ", "expected an expression", 13},
	{"(arg0 == 1", "unbalanced parentheses: '(' at column 0 is not closed", 10},
	{"arg0 == 1)", "unbalanced parentheses: ')' without '('", 9},
	{"(arg0 == 1))", "unbalanced parentheses: ')' without '('", 11},
	{"!arg0", "expected a comparison", 5},
	{"starts_with(arg1, \"a\")", "starts_with() tests a string", 12},
	{"ends_with(str(arg1), arg2)", "expected a quoted literal, found 'a'", 21},
	{"contains(str(arg1), \"\")", "contains() of an empty string holds for every string", 20},
	{"contains(str(arg1) \"x\")", "expected ',' and a quoted literal", 19},
	{"str(arg1) == \"*\"", "an empty prefix", 13},
	{"str(arg1, 65) == \"a\"", "string limit 65 is more than 64", 10},
	{"str(arg1, 0) == \"a\"", "string limit must be at least 1", 10},
	{"str(arg1, arg2) == \"a\"",
	 "the limit of str(EXPR, N) is a number of bytes; for a length "
	 "read at run time, capture bytes(ptr, len)",
	 10},
	{"bytes(arg1, 4) == \"a\"", "bytes() cannot be compared", 0},
	{"str(arg1) == "
	 "\"01234567890123456789012345678901234567890123456789012345\"",
	 "string literal longer than 55 bytes (the limit)", 13},
	{"*********arg0 == 1", "more than 8 dereferences in one expression (the limit)", 0},
	{"********arg0 == ********arg1", NULL, 0}, /* 8 on each side: fine */
	{"ret == 0", "'ret' is not available at function entry", 0},
	{"foo == 1", "unknown name 'foo'", 0},
	{"exit_status == \"x\"", "only str(EXPR) compares with a string literal", 0},
	{"blob == 1", "in 'blob' (bytes(arg1, 8)): bytes() cannot be compared", 0},
	{"arg0 == 1 && broken > 2", "in 'broken' (u32(arg99)): argument slot 99 out of range", 13},
	{"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!arg0 == 1", "nested too deeply", 32},
};

static void test_bad_predicates(void **state)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct tt_probe_prog prog = {.nops = 1, .ncaps = 1};
		struct tt_probe_prog before;
		char err[256] = "";
		int col = -1;
		int ret;

		prog.ops[0] = (struct tt_op)ARG(0);
		before = prog;
		ret = tt_expr__compile_pred(b->text, TT_PRED_FILTER, false, &names, &prog, err,
					    sizeof(err), &col);
		if (!b->msg) {
			if (ret)
				print_error("'%s': %s\n", b->text, err);
			assert_int_equal(ret, 0);
			continue;
		}
		if (ret != -EINVAL || !strstr(err, b->msg) || col != b->col)
			print_error("'%s': got %d '%s' at column %d; want '%s' at column %d\n",
				    b->text, ret, err, col, b->msg, b->col);
		assert_int_equal(ret, -EINVAL);
		assert_non_null(strstr(err, b->msg));
		assert_int_equal(col, b->col);
		assert_memory_equal(&prog, &before, sizeof(prog));
	}
}

/* A predicate that would pass the hook's budget is refused, naming it in the user's words. */
static void test_budget(void **state)
{
	struct tt_probe_prog prog = {.nops = TT_MAX_OPS - 3};
	char err[256] = "";
	int col = -1;

	assert_int_equal(tt_expr__compile_filter("arg0 == 1 && arg1 == 2", false, &prog, err,
						 sizeof(err), &col),
			 -EINVAL);
	assert_non_null(strstr(err, "the probe's filter and captures need 129 operations, more "
				    "than the 128 one hook runs"));
	assert_int_equal(prog.nops, TT_MAX_OPS - 3);
	assert_int_equal(tt_expr__compile_filter("arg0 == 1", false, &prog, err, sizeof(err), &col),
			 0);
	assert_int_equal(prog.nops, TT_MAX_OPS - 1);
}

/* ---- what the programs decide ------------------------------------------------- */

/*
 * A model of the capture machine for filters: arguments, loads from a fake
 * memory of 8-byte cells at addresses 0x1000 + 8k (anything else faults),
 * strings at 0x2000 + 64k. Returns whether the hit is kept; counts loads.
 */
struct model {
	uint64_t args[6];
	uint64_t cells[8];
	const char *strs[4];
	int loads;
};

static bool mem_load(struct model *m, uint64_t addr, uint64_t *v)
{
	m->loads++;
	if (addr < 0x1000 || addr >= 0x1000 + 8 * 8 || addr % 8)
		return false;
	*v = m->cells[(addr - 0x1000) / 8];
	return true;
}

static const char *mem_str(struct model *m, uint64_t addr, unsigned limit, char *buf)
{
	m->loads++;
	if (addr < 0x2000 || addr >= 0x2000 + 64 * 4 || (addr - 0x2000) % 64 ||
	    !m->strs[(addr - 0x2000) / 64])
		return NULL;
	snprintf(buf, limit ? limit : TT_MAX_STR, "%s", m->strs[(addr - 0x2000) / 64]);
	return buf;
}

static bool str_match(const char *s, const char *lit, size_t n, uint8_t how)
{
	size_t len = strlen(s);

	switch (how) {
	case TT_STRCMP_EXACT:
		return len == n && memcmp(s, lit, n) == 0;
	case TT_STRCMP_PREFIX:
		return len >= n && memcmp(s, lit, n) == 0;
	case TT_STRCMP_SUFFIX:
		return len >= n && memcmp(s + len - n, lit, n) == 0;
	default:
		return memmem(s, len, lit, n) != NULL;
	}
}

static bool test_holds(struct model *m, const struct tt_probe_prog *p, uint32_t i, uint64_t acc,
		       uint64_t r1, bool fault)
{
	const struct tt_op *op = &p->ops[i];
	char a[TT_MAX_STR], b[TT_MAX_STR], lit[TT_MAX_LITERAL + 8];
	const char *s, *t;

	if (fault)
		return false;
	switch (op->code) {
	case TT_OP_CMP:
		return tt_cmp__eval(op->aux, (int64_t)acc, op->imm);
	case TT_OP_CMPR:
		return tt_cmp__eval(op->aux, (int64_t)r1, (int64_t)acc);
	case TT_OP_STRCMP:
		for (uint32_t w = 0; w < (op->len + 8) / 8; w++)
			memcpy(lit + 8 * w, &p->ops[i + 1 + w].imm, 8);
		s = mem_str(m, acc, op->pad, a);
		return s && str_match(s, lit, op->len, op->aux) != !!(op->flags & TT_OPF_NEGATE);
	case TT_OP_STRCMPR:
		s = mem_str(m, r1, op->len, a);
		t = mem_str(m, acc, op->pad, b);
		return s && t && (strcmp(s, t) == 0) != !!(op->flags & TT_OPF_NEGATE);
	}
	fail();
	return false;
}

static bool run(struct model *m, const struct tt_probe_prog *p)
{
	uint64_t acc = 0, r1 = 0, v;
	bool fault = false, cond = false, holds;

	m->loads = 0;
	for (uint32_t i = 0; i < p->nops; i++) {
		const struct tt_op *op = &p->ops[i];

		switch (op->code) {
		case TT_OP_ARG:
			acc = m->args[op->imm];
			break;
		case TT_OP_CONST:
			acc = (uint64_t)op->imm;
			break;
		case TT_OP_ADD:
			acc += (uint64_t)op->imm;
			break;
		case TT_OP_LOAD:
			if (!fault && mem_load(m, acc, &v))
				acc = v;
			else
				fault = true;
			break;
		case TT_OP_SAVE:
			r1 = acc;
			break;
		case TT_OP_JMP:
			if (!(op->flags & (TT_OPF_IFTRUE | TT_OPF_IFFALSE)) ||
			    cond == !!(op->flags & TT_OPF_IFTRUE)) {
				assert_true(op->imm > (int64_t)i);
				i = (uint32_t)op->imm - 1;
			}
			break;
		case TT_OP_DROP:
			return false;
		case TT_OP_CMP:
		case TT_OP_CMPR:
		case TT_OP_STRCMP:
		case TT_OP_STRCMPR:
			holds = test_holds(m, p, i, acc, r1, fault);
			fault = false;
			if (op->code == TT_OP_STRCMP)
				i += (op->len + 8) / 8;
			if (!(op->flags & TT_OPF_COND) && !holds)
				return false;
			cond = holds;
			break;
		default:
			fail();
		}
	}
	return true;
}

struct decision {
	const char *text;
	uint64_t args[3];
	bool kept;
	int loads; /* reads of memory, -1: not checked */
};

#define S(k) (0x2000 + 64 * (k))
#define C(k) (0x1000 + 8 * (k))

static const struct decision decisions[] = {
	{"arg0 == 1 && arg1 == 2", {1, 2}, true, 0},
	{"arg0 == 1 && arg1 == 2", {1, 3}, false, 0},
	{"arg0 == 1 || arg1 == 2", {0, 2}, true, 0},
	{"arg0 == 1 || arg1 == 2", {0, 0}, false, 0},
	{"!(arg0 == 1 || arg1 == 2)", {0, 0}, true, 0},
	{"!(arg0 == 1 || arg1 == 2)", {1, 0}, false, 0},
	{"!!(arg0 == 1)", {1}, true, 0},
	{"arg0 == 1 || arg1 == 2 && arg2 == 3", {1, 0, 0}, true, 0}, /* && binds tighter */
	{"(arg0 == 1 || arg1 == 2) && arg2 == 3", {1, 0, 0}, false, 0},
	/* short circuit: a false && does not read its right side, a true || neither */
	{"arg0 != 0 && *arg0 == 7", {0}, false, 0},
	{"arg0 != 0 && *arg0 == 7", {C(1)}, true, 1},
	{"arg0 == 0 || *arg0 == 7", {0}, true, 0},
	/* an unreadable value makes its comparison false, and its negation true */
	{"*arg0 == 7", {0xdead}, false, 1},
	{"!(*arg0 == 7)", {0xdead}, true, 1},
	{"*arg0 != 7", {0xdead}, false, 1},
	{"*arg0 == *arg1", {C(1), C(2)}, true, 2},
	{"*arg0 < *arg1", {C(1), C(3)}, true, 2},
	{"*arg0 > arg1", {C(1), 9}, false, 1},
	{"str(arg0) == \"perform\"", {S(0)}, true, 1},
	{"str(arg0) == \"perf*\"", {S(0)}, true, 1},
	{"str(arg0) == \"perfor\"", {S(0)}, false, 1},
	{"starts_with(str(arg0), \"per\") && ends_with(str(arg0), \"orm\")", {S(0)}, true, 2},
	{"ends_with(str(arg0), \"perform!\")", {S(0)}, false, 1},
	{"contains(str(arg0), \"rfo\")", {S(0)}, true, 1},
	{"contains(str(arg0), \"rof\")", {S(0)}, false, 1},
	{"str(arg0, 5) == \"perf\"", {S(0)}, true, 1},
	{"str(arg0) == str(arg1)", {S(0), S(2)}, true, 2},
	{"str(arg0) == str(arg1)", {S(0), S(1)}, false, 2},
	{"str(arg0) != str(arg1)", {S(0), S(1)}, true, 2},
	{"str(arg0, 5) == str(arg1, 5)", {S(0), S(1)}, true, 2},
	{"str(arg0) == str(arg1)", {S(0), 0}, false, 2},
};

static void test_decisions(void **state)
{
	struct model m = {
		.cells = {0, 7, 7, 8},
		.strs = {"perform", "perfect", "perform"},
	};

	for (size_t i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++) {
		const struct decision *d = &decisions[i];
		struct tt_probe_prog prog = {.nops = 0};
		char err[256] = "";
		int col = -1;
		bool kept;

		memcpy(m.args, d->args, sizeof(d->args));
		assert_int_equal(
			tt_expr__compile_filter(d->text, false, &prog, err, sizeof(err), &col), 0);
		kept = run(&m, &prog);
		if (kept != d->kept || (d->loads >= 0 && m.loads != d->loads))
			print_error("'%s': kept %d after %d reads, want %d after %d\n", d->text,
				    kept, m.loads, d->kept, d->loads);
		assert_int_equal(kept, d->kept);
		if (d->loads >= 0)
			assert_int_equal(m.loads, d->loads);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_programs),
		cmocka_unit_test(test_verdict_is_a_capture),
		cmocka_unit_test(test_names_stand_for_their_expressions),
		cmocka_unit_test(test_bad_predicates),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_decisions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
