// SPDX-License-Identifier: MIT
/* The agent's spec files: --spec in order, then --spec-dir's *.yaml by name; digests. */
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "specs.h"

static char dir[64];

static void touch(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tt-specs-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[96];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_files_then_dir_by_name(void **state)
{
	const char *files[] = {"/etc/one.yaml", "/etc/two.yaml"};
	struct tt_spec_files f;
	char err[256], want[128];

	(void)state;
	touch("b.yaml", "x");
	touch("a.yml", "x");
	touch("notes.txt", "x");
	touch("..data.yaml", "x"); /* a ConfigMap volume's own entries */
	assert_int_equal(tt_spec_files__collect(files, 2, dir, &f, err, sizeof(err)), 0);
	assert_int_equal(f.n, 4);
	assert_string_equal(f.paths[0], "/etc/one.yaml");
	assert_string_equal(f.paths[1], "/etc/two.yaml");
	snprintf(want, sizeof(want), "%s/a.yml", dir);
	assert_string_equal(f.paths[2], want);
	snprintf(want, sizeof(want), "%s/b.yaml", dir);
	assert_string_equal(f.paths[3], want);
	tt_spec_files__release(&f);
	assert_int_equal(tt_spec_files__collect(NULL, 0, "/nonexistent-dir", &f, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "cannot read spec directory '/nonexistent-dir'"));
}

static void test_digest_follows_the_bytes(void **state)
{
	char path[128];
	uint64_t a, b;

	(void)state;
	snprintf(path, sizeof(path), "%s/s.yaml", dir);
	touch("s.yaml", "service: a\n");
	a = tt_spec_file__digest(path);
	touch("s.yaml", "service: a\n");
	assert_int_equal(tt_spec_file__digest(path), a);
	touch("s.yaml", "service: b\n");
	b = tt_spec_file__digest(path);
	assert_int_not_equal(a, b);
	assert_int_equal(tt_spec_file__digest("/nonexistent"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_files_then_dir_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_follows_the_bytes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
