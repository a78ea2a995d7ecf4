// SPDX-License-Identifier: MIT
/* The diagnostics path: tt_warn and tt_info write "tasktap: MESSAGE" lines to stderr, not stdout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

/* Runs say() with stderr and stdout sent to files; returns what each got. */
static void capture(void (*say)(void), char *err, char *out, size_t len)
{
	FILE *ferr = tmpfile(), *fout = tmpfile();
	int saved_err = dup(2), saved_out = dup(1);
	size_t n;

	assert_non_null(ferr);
	assert_non_null(fout);
	fflush(stderr);
	fflush(stdout);
	dup2(fileno(ferr), 2);
	dup2(fileno(fout), 1);
	say();
	fflush(stderr);
	fflush(stdout);
	dup2(saved_err, 2);
	dup2(saved_out, 1);
	close(saved_err);
	close(saved_out);
	rewind(ferr);
	n = fread(err, 1, len - 1, ferr);
	err[n] = '\0';
	rewind(fout);
	n = fread(out, 1, len - 1, fout);
	out[n] = '\0';
	fclose(ferr);
	fclose(fout);
}

static void warn_one(void)
{
	tt_warn("cannot open spec '%s': %s", "w.yaml", "no such file");
}

static void info_one(void)
{
	tt_info("attached %d probes", 2);
}

static void test_warn_and_info_go_to_stderr(void **state)
{
	char err[256], out[256];

	capture(warn_one, err, out, sizeof(err));
	assert_string_equal(err, "tasktap: cannot open spec 'w.yaml': no such file\n");
	assert_string_equal(out, "");
	capture(info_one, err, out, sizeof(err));
	assert_string_equal(err, "tasktap: attached 2 probes\n");
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warn_and_info_go_to_stderr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
