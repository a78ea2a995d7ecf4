// SPDX-License-Identifier: MIT
/*
 * Capture expressions: golden programs for good expressions, message and
 * column for bad ones, the program limits, and `ret OP INT` predicates.
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
#define ARG(n)	      OP(TT_OP_ARG, 0, 0, 0, n)
#define RET()	      OP(TT_OP_RET, 0, 0, 0, 0)
#define CONST(n)      OP(TT_OP_CONST, 0, 0, 0, n)
#define ADD(n)	      OP(TT_OP_ADD, 0, 0, 0, n)
#define LOAD(w)	      OP(TT_OP_LOAD, w, 0, 0, 0)
#define SLOAD(w)      OP(TT_OP_LOAD, w, TT_OPF_SIGNED, 0, 0)
#define SAVE()	      OP(TT_OP_SAVE, 0, 0, 0, 0)
#define EMIT_INT()    OP(TT_OP_EMIT_INT, 0, 0, 0, 0)
#define EMIT_STR(l)   OP(TT_OP_EMIT_STR, 0, 0, l, 0)
#define EMIT_BYTES(l) OP(TT_OP_EMIT_BYTES, 0, 0, l, 0)

#define MAX_GOLDEN_OPS 12

struct golden {
	const char *text;
	bool at_return;
	enum tt_cap_type type;
	struct tt_op ops[MAX_GOLDEN_OPS];
};

static const struct golden goldens[] = {
	{"arg0", false, TT_CAP_INT, {ARG(0), EMIT_INT()}},
	{"arg5", false, TT_CAP_INT, {ARG(5), EMIT_INT()}},
	{"arg7", false, TT_CAP_INT, {ARG(7), EMIT_INT()}},
	{"arg15", false, TT_CAP_INT, {ARG(15), EMIT_INT()}},
	{"ret", true, TT_CAP_INT, {RET(), EMIT_INT()}},
	{"42", false, TT_CAP_INT, {CONST(42), EMIT_INT()}},
	{"*arg0", false, TT_CAP_INT, {ARG(0), LOAD(8), EMIT_INT()}},
	{"*(arg0 + 8)", false, TT_CAP_INT, {ARG(0), ADD(8), LOAD(8), EMIT_INT()}},
	{"*arg0 + 8", false, TT_CAP_INT, {ARG(0), LOAD(8), ADD(8), EMIT_INT()}},
	{"**arg1", false, TT_CAP_INT, {ARG(1), LOAD(8), LOAD(8), EMIT_INT()}},
	{"u32(arg1 + 16)", false, TT_CAP_INT, {ARG(1), ADD(16), LOAD(4), EMIT_INT()}},
	{"u8(arg0)", false, TT_CAP_INT, {ARG(0), LOAD(1), EMIT_INT()}},
	{"u16(arg0)", false, TT_CAP_INT, {ARG(0), LOAD(2), EMIT_INT()}},
	{"u64(arg0)", false, TT_CAP_INT, {ARG(0), LOAD(8), EMIT_INT()}},
	{"s8(arg2)", false, TT_CAP_INT, {ARG(2), SLOAD(1), EMIT_INT()}},
	{"s16(arg2)", false, TT_CAP_INT, {ARG(2), SLOAD(2), EMIT_INT()}},
	{"s32(arg2)", false, TT_CAP_INT, {ARG(2), SLOAD(4), EMIT_INT()}},
	{"s64(arg2)", false, TT_CAP_INT, {ARG(2), SLOAD(8), EMIT_INT()}},
	{"arg0 - 4", false, TT_CAP_INT, {ARG(0), ADD(-4), EMIT_INT()}},
	{"arg0 + 4 + 0x10", false, TT_CAP_INT, {ARG(0), ADD(20), EMIT_INT()}},
	{"arg0 + 8 - 8", false, TT_CAP_INT, {ARG(0), EMIT_INT()}},
	{"(arg3 + 1) - 3", false, TT_CAP_INT, {ARG(3), ADD(-2), EMIT_INT()}},
	{"16 - 20", false, TT_CAP_INT, {CONST(-4), EMIT_INT()}},
	{"((arg2))", false, TT_CAP_INT, {ARG(2), EMIT_INT()}},
	{"  s64( * arg1 )  ", false, TT_CAP_INT, {ARG(1), LOAD(8), SLOAD(8), EMIT_INT()}},
	{"u16(*(arg0 + 0x10) + 2)",
	 false,
	 TT_CAP_INT,
	 {ARG(0), ADD(16), LOAD(8), ADD(2), LOAD(2), EMIT_INT()}},
	{"u8(arg0) - 1", false, TT_CAP_INT, {ARG(0), LOAD(1), ADD(-1), EMIT_INT()}},
	{"str(arg1)", false, TT_CAP_STR, {ARG(1), EMIT_STR(TT_MAX_STR)}},
	{"str(arg1, 32)", false, TT_CAP_STR, {ARG(1), EMIT_STR(32)}},
	{"str( arg1 ,1 )", false, TT_CAP_STR, {ARG(1), EMIT_STR(1)}},
	{"str(arg1, 64)", false, TT_CAP_STR, {ARG(1), EMIT_STR(64)}},
	{"str(*(arg0 + 8))", false, TT_CAP_STR, {ARG(0), ADD(8), LOAD(8), EMIT_STR(TT_MAX_STR)}},
	{"str(ret)", true, TT_CAP_STR, {RET(), EMIT_STR(TT_MAX_STR)}},
	{"bytes(arg7, arg6)",
	 false,
	 TT_CAP_BYTES,
	 {ARG(6), SAVE(), ARG(7), EMIT_BYTES(TT_MAX_BYTES)}},
	{"bytes(arg3, 16)",
	 false,
	 TT_CAP_BYTES,
	 {CONST(16), SAVE(), ARG(3), EMIT_BYTES(TT_MAX_BYTES)}},
	{"bytes(arg3, 64)",
	 false,
	 TT_CAP_BYTES,
	 {CONST(64), SAVE(), ARG(3), EMIT_BYTES(TT_MAX_BYTES)}},
	{"bytes(*(arg1 + 8), u32(arg1 + 16))",
	 false,
	 TT_CAP_BYTES,
	 {ARG(1), ADD(16), LOAD(4), SAVE(), ARG(1), ADD(8), LOAD(8), EMIT_BYTES(TT_MAX_BYTES)}},
	{"****arg0", false, TT_CAP_INT, {ARG(0), LOAD(8), LOAD(8), LOAD(8), LOAD(8), EMIT_INT()}},
};

static int count_ops(const struct golden *g)
{
	int n = 0;

	while (n < MAX_GOLDEN_OPS && g->ops[n].code != TT_OP_NOP)
		n++;
	return n;
}

static void assert_op_equal(const char *text, int i, const struct tt_op *want,
			    const struct tt_op *got)
{
	if (want->code == got->code && want->aux == got->aux && want->flags == got->flags &&
	    want->len == got->len && want->imm == got->imm)
		return;
	print_error("'%s' op %d: want {%u, %u, %u, %u, %lld}, got {%u, %u, %u, %u, %lld}\n", text,
		    i, want->code, want->aux, want->flags, want->len, (long long)want->imm,
		    got->code, got->aux, got->flags, got->len, (long long)got->imm);
	fail();
}

static void test_golden_programs(void **state)
{
	size_t i;
	int j;

	for (i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		struct tt_probe_prog prog = {.nops = 0};
		enum tt_cap_type type = 0;
		char err[256] = "";
		int col = -1;
		int n = count_ops(g);
		int ret;

		ret = tt_expr__compile(g->text, g->at_return, &prog, &type, err, sizeof(err), &col);
		if (ret)
			print_error("'%s': %s (column %d)\n", g->text, err, col);
		assert_int_equal(ret, 0);
		assert_int_equal(type, g->type);
		assert_int_equal(prog.ncaps, 1);
		if ((int)prog.nops != n)
			print_error("'%s': want %d ops, got %u\n", g->text, n, prog.nops);
		assert_int_equal(prog.nops, n);
		for (j = 0; j < n; j++)
			assert_op_equal(g->text, j, &g->ops[j], &prog.ops[j]);
	}
}

/* Captures append: a second expression lands after the first, ncaps counts both. */
static void test_appends(void **state)
{
	struct tt_probe_prog prog = {.nops = 0};
	enum tt_cap_type type;
	char err[256];
	int col;

	assert_int_equal(tt_expr__compile("arg0", false, &prog, &type, err, sizeof(err), &col), 0);
	assert_int_equal(tt_expr__compile("str(arg1)", false, &prog, &type, err, sizeof(err), &col),
			 0);
	assert_int_equal(type, TT_CAP_STR);
	assert_int_equal(prog.ncaps, 2);
	assert_int_equal(prog.nops, 4);
	assert_int_equal(prog.ops[2].code, TT_OP_ARG);
	assert_int_equal(prog.ops[2].imm, 1);
	assert_int_equal(prog.ops[3].code, TT_OP_EMIT_STR);
}

struct bad {
	const char *text;
	bool at_return;
	const char *msg; /* a substring of the message */
	int col;
};

static const struct bad bads[] = {
	{"arg99", false, "argument slot 99 out of range (arg0..arg15)", 0},
	{"arg16", false, "argument slot 16 out of range", 0},
	{"u32(arg99 + 1)", false, "argument slot 99 out of range", 4},
	{"ret", false, "'ret' is not available at function entry", 0},
	{"u32(ret)", false, "'ret' is not available at function entry", 4},
	{"str(str(arg1))", false, "str() is only allowed as a whole capture", 4},
	{"*str(arg1)", false, "str() is only allowed as a whole capture", 1},
	{"(bytes(arg0, 4))", false, "bytes() is only allowed as a whole capture", 1},
	{"bytes(arg0, str(arg1))", false, "str() is only allowed as a whole capture", 12},
	{"*********arg0", false, "more than 8 dereferences in one expression (the limit)", 0},
	{"u8(u8(u8(u8(u8(u8(u8(u8(u8(arg0)))))))))", false, "more than 8 dereferences", 0},
	{"bytes(****arg0, *****arg1)", false, "more than 8 dereferences", 16},
	{"str(arg1, 65)", false, "string limit 65 is more than 64, the longest string read", 10},
	{"str(arg1, 0)", false, "string limit must be at least 1", 10},
	{"str(arg1, arg2)", false, "for a length read at run time, capture bytes(ptr, len)", 10},
	{"bytes(arg0, 65)", false, "bytes length 65 is more than 64, the most bytes read", 12},
	{"bytes(arg0, 60 + 8)", false, "bytes length 68 is more than 64", 12},
	{"bytes(arg0, 0)", false, "bytes length must be at least 1", 12},
	{"bytes(arg0)", false, "bytes() needs two arguments", 10},
	{"bytes(arg0, 8", false, "expected ')' to close bytes()", 13},
	{"bytes(arg0, 8, 9)", false, "expected ')' to close bytes()", 13},
	{"u32(arg1", false, "unbalanced parentheses", 8},
	{"(arg0", false, "unbalanced parentheses: '(' at column 0 is not closed", 5},
	{"*(arg0 + 8", false, "unbalanced parentheses", 10},
	{"arg0)", false, "expected the end of the expression, found ')'", 4},
	{"arg0 arg1", false, "expected the end of the expression, found 'a'", 5},
	{"str(arg1) + 1", false, "expected the end of the expression, found '+'", 10},
	{"arg0 * 2", false, "found '*'", 5},
	{"", false, "empty expression", 0},
	{"   ", false, "empty expression", 0},
	{"foo(arg0)", false, "unknown function 'foo'", 0},
	{"u32(strlen(arg0))", false, "unknown function 'strlen'", 4},
	{"foo", false, "unknown name 'foo'", 0},
	{"argx", false, "unknown name 'argx'", 0},
	{"arg", false, "unknown name 'arg'", 0},
	{"str arg1", false, "expected '(' after str", 4},
	{"str", false, "expected '(' after str, but the expression ends here", 3},
	{"u32 arg0", false, "u32() needs an argument", 0},
	{"arg0 + arg1", false, "only an integer can follow '+'", 7},
	{"arg0 - ", false, "only an integer can follow '-'", 7},
	{"\"hello\"", false, "a quoted literal is not a capture expression", 0},
	{"str('name')", false, "a quoted literal is not a capture expression", 4},
	{"0x", false, "expected hex digits after '0x'", 0},
	{"arg0 + 12ab", false, "invalid integer", 7},
	{"99999999999999999999", false, "integer out of range", 0},
	{"arg0 + $", false, "only an integer can follow '+'", 7},
	{"#", false, "expected an expression, found '#'", 0},
	{"arg0 \x01", false, "found byte 0x01", 5},
	{"((((((((((((((((((((((((((((((((((arg0))))))))))))))))))))))))))))))))))", false,
	 "nested too deeply", 32},
};

static void test_bad_expressions(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct tt_probe_prog prog = {.nops = 0};
		struct tt_probe_prog before;
		enum tt_cap_type type = TT_CAP_STR;
		char err[256] = "";
		int col = -1;
		int ret;

		/* A program that already holds one capture, to see that it stays as it was. */
		assert_int_equal(
			tt_expr__compile("arg0", false, &prog, &type, err, sizeof(err), &col), 0);
		before = prog;
		ret = tt_expr__compile(b->text, b->at_return, &prog, &type, err, sizeof(err), &col);
		if (ret != -EINVAL || !strstr(err, b->msg) || col != b->col)
			print_error("'%s': got %d '%s' at column %d; want '%s' at column %d\n",
				    b->text, ret, err, col, b->msg, b->col);
		assert_int_equal(ret, -EINVAL);
		assert_non_null(strstr(err, b->msg));
		assert_int_equal(col, b->col);
		assert_memory_equal(&prog, &before, sizeof(prog));
	}
}

static void test_too_many_captures(void **state)
{
	struct tt_probe_prog prog = {.nops = 0};
	struct tt_probe_prog before;
	enum tt_cap_type type;
	char err[256];
	int col = -1;
	int i;

	for (i = 0; i < TT_MAX_CAPTURES; i++)
		assert_int_equal(
			tt_expr__compile("arg0", false, &prog, &type, err, sizeof(err), &col), 0);
	assert_int_equal(prog.ncaps, TT_MAX_CAPTURES);
	before = prog;
	assert_int_equal(tt_expr__compile("arg1", false, &prog, &type, err, sizeof(err), &col),
			 -EINVAL);
	assert_non_null(strstr(err, "more than 8 captures in one probe (the limit)"));
	assert_int_equal(col, 0);
	assert_memory_equal(&prog, &before, sizeof(prog));
}

/* 20 operations and 8 dereferences each: six and one of 8 fill TT_MAX_OPS (128) exactly. */
static void test_too_many_ops(void **state)
{
	const char *big = "bytes(*(*(*(*(arg1 + 8) + 8) + 8) + 8), "
			  "u32(*(*(*(arg1 + 16) + 4) + 4) + 4))";
	struct tt_probe_prog prog = {.nops = 0};
	struct tt_probe_prog before;
	enum tt_cap_type type;
	char err[256];
	int col = -1;
	int i;

	for (i = 0; i < 6; i++)
		assert_int_equal(tt_expr__compile(big, false, &prog, &type, err, sizeof(err), &col),
				 0);
	assert_int_equal(prog.nops, 120);
	assert_int_equal(tt_expr__compile("*(*(*(arg0 + 1) + 1) + 1)", false, &prog, &type, err,
					  sizeof(err), &col),
			 0);
	assert_int_equal(prog.nops, TT_MAX_OPS);
	before = prog;
	assert_int_equal(tt_expr__compile("arg0", false, &prog, &type, err, sizeof(err), &col),
			 -EINVAL);
	assert_non_null(strstr(err, "need 130 operations, more than the 128 one hook runs"));
	assert_memory_equal(&prog, &before, sizeof(prog));
}

/* A message longer than the buffer is cut and still NUL-terminated. */
static void test_small_error_buffer(void **state)
{
	struct tt_probe_prog prog = {.nops = 0};
	enum tt_cap_type type;
	char err[8];
	int col = -1;

	memset(err, 'x', sizeof(err));
	assert_int_equal(tt_expr__compile("arg99", false, &prog, &type, err, sizeof(err), &col),
			 -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(prog.nops, 0);
}

struct pred_good {
	const char *text;
	enum tt_cmp op;
	int64_t rhs;
};

static const struct pred_good pred_goods[] = {
	{"ret != 0", TT_CMP_NE, 0},
	{"ret == 0", TT_CMP_EQ, 0},
	{"ret<0", TT_CMP_LT, 0},
	{"ret <= 5", TT_CMP_LE, 5},
	{"ret > 1", TT_CMP_GT, 1},
	{"ret >= -1", TT_CMP_GE, -1},
	{"  ret  ==  0x10  ", TT_CMP_EQ, 16},
	{"ret == 9223372036854775807", TT_CMP_EQ, INT64_MAX},
	{"ret > -9223372036854775808", TT_CMP_GT, INT64_MIN},
	{"ret != -0x7fffffffffffffff", TT_CMP_NE, -INT64_MAX},
};

static void test_ret_pred_good(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(pred_goods) / sizeof(pred_goods[0]); i++) {
		const struct pred_good *g = &pred_goods[i];
		enum tt_cmp op = TT_CMP_GE;
		int64_t rhs = 12345;
		char err[256] = "";
		int col = -1;
		int ret;

		ret = tt_expr__parse_ret_pred(g->text, &op, &rhs, err, sizeof(err), &col);
		if (ret)
			print_error("'%s': %s (column %d)\n", g->text, err, col);
		assert_int_equal(ret, 0);
		assert_int_equal(op, g->op);
		assert_true(rhs == g->rhs);
	}
}

static const struct bad pred_bads[] = {
	{"", false, "expected 'ret OP INT'", 0},
	{"arg0 != 0", false, "expected 'ret OP INT'", 0},
	{"retval != 0", false, "expected 'ret OP INT'", 0},
	{"ret", false, "expected a comparison (==, !=, <, <=, >, >=)", 3},
	{"ret = 0", false, "expected a comparison", 4},
	{"ret ! 0", false, "expected a comparison", 4},
	{"ret != ", false, "expected an integer", 7},
	{"ret != abc", false, "expected an integer, found 'a'", 7},
	{"ret != -", false, "expected an integer", 8},
	{"ret != 0 x", false, "expected the end of the predicate, found 'x'", 9},
	{"ret != 0 && ret != 1", false, "expected the end of the predicate", 9},
	{"ret === 0", false, "expected an integer, found '='", 6},
	{"ret != 9223372036854775808", false, "out of range", 7},
	{"ret != -9223372036854775809", false, "out of range", 7},
	{"ret != 0x", false, "expected hex digits", 7},
	{"ret != 1x", false, "invalid integer", 7},
};

static void test_ret_pred_bad(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(pred_bads) / sizeof(pred_bads[0]); i++) {
		const struct bad *b = &pred_bads[i];
		enum tt_cmp op = TT_CMP_GE;
		int64_t rhs = 12345;
		char err[256] = "";
		int col = -1;
		int ret;

		ret = tt_expr__parse_ret_pred(b->text, &op, &rhs, err, sizeof(err), &col);
		if (ret != -EINVAL || !strstr(err, b->msg) || col != b->col)
			print_error("'%s': got %d '%s' at column %d; want '%s' at column %d\n",
				    b->text, ret, err, col, b->msg, b->col);
		assert_int_equal(ret, -EINVAL);
		assert_non_null(strstr(err, b->msg));
		assert_int_equal(col, b->col);
		assert_int_equal(op, TT_CMP_GE);
		assert_true(rhs == 12345);
	}
}

static void test_cmp_eval(void **state)
{
	assert_true(tt_cmp__eval(TT_CMP_EQ, 3, 3));
	assert_false(tt_cmp__eval(TT_CMP_EQ, 3, 4));
	assert_true(tt_cmp__eval(TT_CMP_NE, -1, 0));
	assert_false(tt_cmp__eval(TT_CMP_NE, 0, 0));
	assert_true(tt_cmp__eval(TT_CMP_LT, -1, 0));
	assert_false(tt_cmp__eval(TT_CMP_LT, 0, 0));
	assert_true(tt_cmp__eval(TT_CMP_LE, 0, 0));
	assert_false(tt_cmp__eval(TT_CMP_LE, 1, 0));
	assert_true(tt_cmp__eval(TT_CMP_GT, 1, 0));
	assert_false(tt_cmp__eval(TT_CMP_GT, INT64_MIN, 0));
	assert_true(tt_cmp__eval(TT_CMP_GE, 0, 0));
	assert_false(tt_cmp__eval(TT_CMP_GE, -1, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmp_eval),
		cmocka_unit_test(test_golden_programs),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_bad_expressions),
		cmocka_unit_test(test_too_many_captures),
		cmocka_unit_test(test_too_many_ops),
		cmocka_unit_test(test_small_error_buffer),
		cmocka_unit_test(test_ret_pred_good),
		cmocka_unit_test(test_ret_pred_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
