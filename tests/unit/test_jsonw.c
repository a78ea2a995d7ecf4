// SPDX-License-Identifier: MIT
/*
 * Tests for user/export/jsonw.c: the writer places commas and colons
 * itself (members, elements, nesting, a value after a name), escapes
 * names and strings, and writes numbers with the format asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "export/jsonw.h"

struct fixture {
	FILE *out;
	char *text;
	size_t len;
	struct tt_jsonw w;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->out = open_memstream(&f->text, &f->len);
	tt_jsonw__init(&f->w, f->out);
	*state = f;
	return f->out ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->out)
		fclose(f->out);
	free(f->text);
	free(f);
	return 0;
}

/* What was written so far. */
static const char *text(struct fixture *f)
{
	fflush(f->out);
	return f->text;
}

static void test_empty_containers(void **state)
{
	struct fixture *f = *state;

	tt_jsonw__start_object(&f->w);
	tt_jsonw__name(&f->w, "a");
	tt_jsonw__start_array(&f->w);
	tt_jsonw__end_array(&f->w);
	tt_jsonw__name(&f->w, "o");
	tt_jsonw__start_object(&f->w);
	tt_jsonw__end_object(&f->w);
	tt_jsonw__end_object(&f->w);
	assert_string_equal(text(f), "{\"a\":[],\"o\":{}}");
}

static void test_commas_between_members_and_elements(void **state)
{
	struct fixture *f = *state;

	tt_jsonw__start_object(&f->w);
	tt_jsonw__string_field(&f->w, "s", "x");
	tt_jsonw__uint_field(&f->w, "u", 18446744073709551615ULL);
	tt_jsonw__int_field(&f->w, "i", -1);
	tt_jsonw__bool_field(&f->w, "b", true);
	tt_jsonw__name(&f->w, "n");
	tt_jsonw__null(&f->w);
	tt_jsonw__name(&f->w, "list");
	tt_jsonw__start_array(&f->w);
	tt_jsonw__uint(&f->w, 1);
	tt_jsonw__start_object(&f->w);
	tt_jsonw__bool_field(&f->w, "deep", false);
	tt_jsonw__end_object(&f->w);
	tt_jsonw__string(&f->w, "z");
	tt_jsonw__end_array(&f->w);
	tt_jsonw__float_field_fmt(&f->w, "f", "%.1f", 2.25);
	tt_jsonw__end_object(&f->w);
	assert_string_equal(text(f), "{\"s\":\"x\",\"u\":18446744073709551615,\"i\":-1,"
				     "\"b\":true,\"n\":null,\"list\":[1,{\"deep\":false},\"z\"],"
				     "\"f\":2.2}");
}

/* Members written by two functions, neither knowing the other: one comma between. */
static void write_a(struct tt_jsonw *w)
{
	tt_jsonw__uint_field(w, "a", 1);
}

static void write_b(struct tt_jsonw *w)
{
	tt_jsonw__name(w, "b");
	tt_jsonw__start_array(w);
	tt_jsonw__end_array(w);
}

static void test_members_from_separate_writers(void **state)
{
	struct fixture *f = *state;

	tt_jsonw__start_object(&f->w);
	write_a(&f->w);
	write_b(&f->w);
	write_a(&f->w);
	tt_jsonw__end_object(&f->w);
	tt_jsonw__start_array(&f->w); /* a second document: no comma before it */
	tt_jsonw__end_array(&f->w);
	assert_string_equal(text(f), "{\"a\":1,\"b\":[],\"a\":1}[]");
}

static void test_escapes(void **state)
{
	struct fixture *f = *state;

	tt_jsonw__start_object(&f->w);
	tt_jsonw__string_field(&f->w, "q\"", "a\\b\n\x01");
	tt_jsonw__name(&f->w, "len");
	tt_jsonw__string_len(&f->w, "abcdef", 3);
	tt_jsonw__end_object(&f->w);
	assert_string_equal(text(f), "{\"q\\\"\":\"a\\\\b\\n\\u0001\",\"len\":\"abc\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_containers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commas_between_members_and_elements, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_members_from_separate_writers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
