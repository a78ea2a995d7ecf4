// SPDX-License-Identifier: MIT
/*
 * Usage texts: --help's layout (wrapped summary, option column, examples),
 * the short form for a bad command line, and the manual page's roff
 * (escapes, sections, one tagged paragraph per option and example).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "usage.h"

static const struct tt_usage_item options[] = {
	{"-p, --pid PID", "this process only"},
	{"--a-very-long-option-name VALUE", "goes on a line of its own"},
	{NULL},
};

static const struct tt_usage_item examples[] = {
	{"tasktap frob .hidden 'a\\b'", "frobs it"},
	{NULL},
};

static const struct tt_usage frob = {
	.name = "frob",
	.args = "FILE [--pid PID]",
	.summary = "Frob a file: words words words words words words words words words words words "
		   "words words words",
	.options = options,
	.examples = examples,
};

static const struct tt_usage bare = {.name = "bare", .args = "", .summary = "Nothing else"};

/* What write() printed, as a string the caller frees. */
static char *printed(void (*write)(const struct tt_usage *u, FILE *out), const struct tt_usage *u)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	write(u, out);
	assert_int_equal(fclose(out), 0);
	return buf;
}

static void test_help_layout(void **state)
{
	char *text = printed(tt_usage__print, &frob);

	assert_string_equal(
		text, "usage: tasktap frob FILE [--pid PID]\n"
		      "\n"
		      "Frob a file: words words words words words words words words words words "
		      "words\n" /* 78 columns: the next word would pass 80 */
		      "words words words.\n"
		      "\n"
		      "options:\n"
		      "  -p, --pid PID             this process only\n"
		      "  --a-very-long-option-name VALUE\n"
		      "                            goes on a line of its own\n"
		      "\n"
		      "examples:\n"
		      "  tasktap frob .hidden 'a\\b'\n"
		      "      frobs it\n");
	free(text);
	text = printed(tt_usage__print, &bare);
	assert_string_equal(text, "usage: tasktap bare\n\nNothing else.\n");
	free(text);
}

static void test_short_form(void **state)
{
	char *text = printed(tt_usage__short, &frob);

	assert_string_equal(text, "usage: tasktap frob FILE [--pid PID]\n"
				  "Run 'tasktap frob --help' for its options and examples.\n");
	free(text);
}

static void test_man_page(void **state)
{
	const struct tt_usage *cmds[] = {&frob, &bare};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	tt_usage__man(cmds, 2, "Line one.\n.starts with a dot", out);
	assert_int_equal(fclose(out), 0);
	assert_true(strncmp(buf, ".TH TASKTAP 8 ", 14) == 0);
	/* minus signs are \-, a backslash is \e, no text line starts with a control character */
	assert_non_null(strstr(buf, ".SH SYNOPSIS\n.B tasktap frob\nFILE [\\-\\-pid PID]\n.br\n"
				    ".B tasktap bare\n.br\n"));
	assert_non_null(strstr(buf, ".SH DESCRIPTION\nLine one.\n\\&.starts with a dot\n"));
	assert_non_null(strstr(buf, ".SS \"frob\"\n.B tasktap frob\nFILE [\\-\\-pid PID]\n.PP\n"));
	assert_non_null(strstr(buf, ".TP\n.B \\-p, \\-\\-pid PID\nthis process only.\n"));
	assert_non_null(strstr(buf, ".PP\nExamples:\n.TP\n.B tasktap frob .hidden 'a\\eb'\n"
				    "frobs it.\n"));
	assert_non_null(
		strstr(buf, ".SS \"bare\"\n.B tasktap bare\n.PP\nNothing else.\n.SS") ||
		strstr(buf, ".SS \"bare\"\n.B tasktap bare\n.PP\nNothing else.\n.SH SEE ALSO"));
	assert_null(strstr(buf, "\n.starts"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_layout),
		cmocka_unit_test(test_short_form),
		cmocka_unit_test(test_man_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
