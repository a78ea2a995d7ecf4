// SPDX-License-Identifier: MIT
/*
 * The console waterfall on synthetic spans: one tree per trace across
 * processes, attempts and errors marked, and what holding spans costs,
 * counted in operations (tt_console__ops()), not timed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "export/export.h"

struct fixture {
	char *text;
	size_t len;
	FILE *out;
	struct tt_console *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->out = open_memstream(&f->text, &f->len);
	assert_non_null(f->out);
	f->c = tt_console__new(f->out, false);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tt_console__free(f->c);
	fclose(f->out);
	free(f->text);
	free(f);
	return 0;
}

/* What the console printed so far. */
static const char *printed(struct fixture *f)
{
	fflush(f->out);
	return f->len ? f->text : "";
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The n-th line (0-based) of s, copied into buf. */
static const char *line(const char *s, int n, char *buf, size_t len)
{
	for (; n > 0 && *s; s++)
		n -= *s == '\n';
	snprintf(buf, len, "%.*s", (int)strcspn(s, "\n"), s);
	return buf;
}

static void id8(uint8_t out[8], uint32_t v)
{
	memset(out, 0, 8);
	memcpy(out, &v, sizeof(v));
	out[7] = 0x5a; /* never all zero */
}

static struct tt_span span(uint32_t trace, uint32_t id, uint32_t parent, const char *name,
			   uint64_t start, uint64_t end, enum tt_span_kind kind)
{
	struct tt_span s;

	memset(&s, 0, sizeof(s));
	memset(s.trace_id, 0, 16);
	memcpy(s.trace_id, &trace, sizeof(trace));
	s.trace_id[15] = 1;
	id8(s.span_id, id);
	if (parent)
		id8(s.parent_id, parent);
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.start_ns = start;
	s.end_ns = end;
	s.kind = (uint8_t)kind;
	return s;
}

static void give(struct fixture *f, struct tt_span s)
{
	tt_console__span(&s, f->c);
}

static void test_one_tree_per_trace_across_processes(void **state)
{
	struct fixture *f = *state;
	char buf[256];
	const char *out;

	give(f, span(7, 1, 0, "publish jobs", 0, 10, TT_KIND_PRODUCER));
	assert_string_equal(printed(f), ""); /* the publish waits for its consume */
	give(f, span(7, 4, 3, "Zip.Upload", 200, 300, TT_KIND_INTERNAL));
	give(f, span(7, 3, 2, "Zip", 150, 400, TT_KIND_INTERNAL));
	assert_string_equal(printed(f), ""); /* the task waits for the consume it ran in */
	give(f, span(7, 2, 1, "process jobs", 100, 500, TT_KIND_CONSUMER));
	out = printed(f);
	assert_int_equal(count_lines(out), 4);
	assert_non_null(strstr(line(out, 0, buf, sizeof(buf)), "publish jobs 07000000"));
	/* bars scale to the whole tree: the publish is a sliver of it, at its start */
	assert_non_null(strstr(line(out, 0, buf, sizeof(buf)), " [=]   "));
	assert_int_equal(strncmp(line(out, 1, buf, sizeof(buf)), "  └── process jobs ", 23), 0);
	assert_non_null(strstr(line(out, 2, buf, sizeof(buf)), "      └── Zip "));
	assert_non_null(strstr(line(out, 3, buf, sizeof(buf)), "          └── Zip.Upload "));
}

static void test_attempts_and_errors_are_marked(void **state)
{
	struct fixture *f = *state;
	struct tt_span s1 = span(8, 2, 1, "Zip.Archive", 10, 20, TT_KIND_INTERNAL);
	struct tt_span s2 = span(8, 3, 1, "Zip.Archive", 30, 40, TT_KIND_INTERNAL);
	struct tt_span t = span(8, 1, 0, "Zip", 0, 50, TT_KIND_INTERNAL);
	char buf[256];
	const char *out;

	s1.attempt = 1;
	s1.status = TT_STATUS_ERROR;
	s2.attempt = 2;
	t.attempt = 2; /* the job run again */
	give(f, s1);
	give(f, s2);
	give(f, t);
	out = printed(f);
	assert_int_equal(count_lines(out), 3);
	assert_non_null(strstr(line(out, 0, buf, sizeof(buf)), "Zip #2 08000000"));
	assert_non_null(strstr(line(out, 1, buf, sizeof(buf)), "├── Zip.Archive #1 ERROR "));
	assert_non_null(strstr(line(out, 2, buf, sizeof(buf)), "└── Zip.Archive #2 "));
}

static void test_a_tree_whose_top_does_not_come_prints_later(void **state)
{
	struct fixture *f = *state;
	char buf[256];
	const char *out;

	give(f, span(9, 1, 0, "publish jobs", 0, 10, TT_KIND_PRODUCER));
	give(f, span(10, 5, 0, "other", 20, 30, TT_KIND_INTERNAL));
	assert_int_equal(count_lines(printed(f)), 1); /* "other" only */
	/* ten seconds later by the spans' clock: the publish's consume ran elsewhere */
	give(f, span(11, 6, 0, "later", 10000000000ULL, 10000000010ULL, TT_KIND_INTERNAL));
	out = printed(f);
	assert_int_equal(count_lines(out), 3);
	assert_non_null(strstr(line(out, 1, buf, sizeof(buf)), "later"));
	assert_non_null(strstr(line(out, 2, buf, sizeof(buf)), "publish jobs"));
}

/*
 * 10,000 open tasks each with a finished step: every step is held (its task
 * never finishes) and the held set stays full. Holding and printing must
 * cost a bounded number of operations per span, not the held count.
 */
static void test_many_held_spans_cost_linear_operations(void **state)
{
	struct fixture *f = *state;
	const uint32_t n = 10000;

	for (uint32_t i = 0; i < n; i++)
		give(f, span(100 + i, 2 * i + 2, 2 * i + 1, "T.step", i, i + 1, TT_KIND_INTERNAL));
	tt_console__flush(f->c);
	assert_int_equal(count_lines(printed(f)), n);
	assert_true(tt_console__ops(f->c) <= 8ULL * n);
}

/* One long task with 10,000 finished steps: siblings do not cost each other. */
static void test_many_siblings_cost_linear_operations(void **state)
{
	struct fixture *f = *state;
	const uint32_t n = 10000;

	for (uint32_t i = 0; i < n; i++)
		give(f, span(5, i + 2, 1, "T.step", i, i + 1, TT_KIND_INTERNAL));
	give(f, span(5, 1, 0, "T", 0, n + 1, TT_KIND_INTERNAL));
	tt_console__flush(f->c);
	assert_int_equal(count_lines(printed(f)), n + 1);
	assert_true(tt_console__ops(f->c) <= 8ULL * n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_tree_per_trace_across_processes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_attempts_and_errors_are_marked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_tree_whose_top_does_not_come_prints_later,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_held_spans_cost_linear_operations, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_siblings_cost_linear_operations, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("console", tests, NULL, NULL);
}
