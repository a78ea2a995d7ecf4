// SPDX-License-Identifier: MIT
/* Tests of python/value.c: py(NAME.attr…) compiled to capture instructions, and its refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>

#include "python/value.h"

/* The literal held in the imm of the `words` instructions after ops[i]. */
static void literal(const struct tt_probe_prog *p, uint32_t i, char *out, size_t words)
{
	for (size_t w = 0; w < words; w++)
		memcpy(out + 8 * w, &p->ops[i + 1 + w].imm, 8);
}

static void test_attribute_chain(void **state)
{
	struct tt_probe_prog p = {0};
	char err[256] = "", name[40] = "";
	int col = -1;

	(void)state;
	assert_true(tt_py_value__is("  py(job._id)"));
	assert_false(tt_py_value__is("str(arg0)"));
	assert_int_equal(tt_py_value__compile("py(job._id)", &p, err, sizeof(err), &col), 0);
	assert_int_equal(p.ncaps, 1);
	/* PY (the frame), PY_LOCAL "job" + 1 word, PY_ATTR "_id" + 1 word, PY_EMIT */
	assert_int_equal(p.nops, 6);
	assert_int_equal(p.ops[0].code, TT_OP_PY);
	assert_int_equal(p.ops[0].imm, 0);
	assert_int_equal(p.ops[1].code, TT_OP_PY_LOCAL);
	assert_int_equal(p.ops[1].len, 3);
	literal(&p, 1, name, 1);
	assert_string_equal(name, "job");
	assert_int_equal(p.ops[2].code, TT_OP_NOP);
	assert_int_equal(p.ops[3].code, TT_OP_PY_ATTR);
	memset(name, 0, sizeof(name));
	literal(&p, 3, name, 1);
	assert_string_equal(name, "_id");
	assert_int_equal(p.ops[5].code, TT_OP_PY_EMIT);
	assert_int_equal(p.ops[5].len, TT_MAX_STR);
}

static void test_operand_of_a_comparison(void **state)
{
	struct tt_op ops[TT_MAX_OPS];
	char err[256] = "";
	size_t len = 0;
	int n = 0, col = -1;

	(void)state;
	/* the py() at the start, up to its ')': the comparison after it is not its */
	assert_int_equal(tt_py_value__compile_operand("py(job.id) == \"x\"", &len, ops, TT_MAX_OPS,
						      &n, err, sizeof(err), &col),
			 0);
	assert_int_equal(len, strlen("py(job.id)"));
	/* PY, PY_LOCAL "job" + 1, PY_ATTR "id" + 1, PY_VALUE: a value, no record */
	assert_int_equal(n, 6);
	assert_int_equal(ops[0].code, TT_OP_PY);
	assert_int_equal(ops[5].code, TT_OP_PY_VALUE);
	/* no room: refused, not cut */
	assert_int_equal(tt_py_value__compile_operand("py(job.id)", &len, ops, 5, &n, err,
						      sizeof(err), &col),
			 -EINVAL);
	assert_non_null(strstr(err, "too many instructions"));
	assert_int_equal(tt_py_value__compile_operand("py(job.id", &len, ops, TT_MAX_OPS, &n, err,
						      sizeof(err), &col),
			 -EINVAL);
	assert_non_null(strstr(err, "expected ')'"));
}

static void test_return_value(void **state)
{
	struct tt_probe_prog p = {0};
	struct tt_op ops[TT_MAX_OPS];
	char err[256] = "";
	size_t len = 0;
	int n = 0, col = -1;

	(void)state;
	assert_true(tt_py_value__reads_return("py(return)"));
	assert_true(tt_py_value__reads_return(" py(return.status)"));
	assert_false(tt_py_value__reads_return("py(returned)"));
	assert_false(tt_py_value__reads_return("py(job.return_code)"));
	/* PY (the frame), PY_RETURN (no name to look up), PY_ATTR "status" + 1, PY_EMIT */
	assert_int_equal(tt_py_value__compile("py(return.status)", &p, err, sizeof(err), &col), 0);
	assert_int_equal(p.nops, 5);
	assert_int_equal(p.ops[1].code, TT_OP_PY_RETURN);
	assert_int_equal(p.ops[2].code, TT_OP_PY_ATTR);
	/* a filter runs at the call's start, before there is a value */
	assert_int_equal(tt_py_value__compile_operand("py(return) == 1", &len, ops, TT_MAX_OPS, &n,
						      err, sizeof(err), &col),
			 -EINVAL);
	assert_non_null(strstr(err, "py(return) is read where the call ends"));
}

static void test_dict_key(void **state)
{
	struct tt_probe_prog p = {0};
	char err[256] = "", name[40] = "";
	int col = -1;

	(void)state;
	assert_int_equal(
		tt_py_value__compile("py(job.meta['trace id'])", &p, err, sizeof(err), &col), 0);
	/* PY, PY_LOCAL "job" + 1, PY_ATTR "meta" + 1, PY_ITEM "trace id" + 2, PY_EMIT */
	assert_int_equal(p.nops, 9);
	assert_int_equal(p.ops[5].code, TT_OP_PY_ITEM);
	assert_int_equal(p.ops[5].len, 8);
	literal(&p, 5, name, 2);
	assert_string_equal(name, "trace id");
	assert_int_equal(p.ops[8].code, TT_OP_PY_EMIT);
}

static void test_long_name_takes_its_words(void **state)
{
	struct tt_probe_prog p = {0};
	char err[256] = "", name[40] = "";
	const char *n31 = "abcdefghijklmnopqrstuvwxyz01234";
	char text[64];
	int col = -1;

	(void)state;
	snprintf(text, sizeof(text), "py(%s)", n31);
	assert_int_equal(tt_py_value__compile(text, &p, err, sizeof(err), &col), 0);
	/* 31 bytes and the NUL: 4 words */
	assert_int_equal(p.nops, 1 + 1 + 4 + 1);
	literal(&p, 1, name, 4);
	assert_string_equal(name, n31);
}

static void refused(const char *text, const char *message, int at)
{
	struct tt_probe_prog p = {0};
	char err[256] = "";
	int col = -1;

	assert_int_equal(tt_py_value__compile(text, &p, err, sizeof(err), &col), -EINVAL);
	if (!strstr(err, message))
		fail_msg("'%s': got '%s', want '%s'", text, err, message);
	assert_int_equal(col, at);
	assert_int_equal(p.nops, 0); /* left as it was */
	assert_int_equal(p.ncaps, 0);
}

static void test_refusals(void **state)
{
	(void)state;
	refused("py()", "expected a name in py()", 3);
	refused("py(job..id)", "expected a name in py()", 7);
	refused("py(job.)", "expected a name after '.'", 7);
	refused("py(job[0])", "expected a quoted key", 7);
	refused("py(job[\"k)", "expected [\"key\"]", 6);
	refused("py(job[\"\"])", "1 to 31 characters", 8);
	refused("py(job-1)", "expected '.attr', '[\"key\"]' or ')'", 6);
	refused("py(1job)", "expected a name in py()", 3);
	refused("py(job", "with one closing ')'", 3);
	refused("py(job) + 1", "with one closing ')'", 3);
	refused("py(abcdefghijklmnopqrstuvwxyz012345)", "longer than 31", 3);
}

static void test_too_long_for_the_program(void **state)
{
	struct tt_probe_prog p = {0};
	char err[256] = "";
	int col = -1;

	(void)state;
	p.nops = TT_MAX_OPS - 3;
	assert_int_equal(tt_py_value__compile("py(job.id)", &p, err, sizeof(err), &col), -EINVAL);
	assert_non_null(strstr(err, "too many instructions"));
	assert_int_equal(p.nops, TT_MAX_OPS - 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attribute_chain),
		cmocka_unit_test(test_dict_key),
		cmocka_unit_test(test_operand_of_a_comparison),
		cmocka_unit_test(test_return_value),
		cmocka_unit_test(test_long_name_takes_its_words),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_too_long_for_the_program),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
