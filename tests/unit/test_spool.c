// SPDX-License-Identifier: MIT
/* The on-disk spool: order, restart, bound, truncated and corrupt files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "export/spool.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/tt-spool-XXXXXX");
	assert_non_null(mkdtemp(dir));
	strncat(dir, "/a/b", sizeof(dir) - strlen(dir) - 1); /* parents are created */
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 4), dir);
	return system(cmd);
}

static void expect(struct tt_spool *s, const char *text, uint32_t count)
{
	void *data;
	size_t len;
	uint32_t n;

	assert_int_equal(tt_spool__peek(s, &data, &len, &n), 0);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(data, text, len);
	assert_int_equal(n, count);
	free(data);
	assert_int_equal(tt_spool__pop(s), 0);
}

static void path_of(int nth, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016x.tts", dir, nth);
}

static void test_order_and_restart(void **state)
{
	char err[256];
	struct tt_spool *s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	struct tt_spool_stats st;
	struct stat sb;
	void *data;
	size_t len;
	uint32_t n;

	assert_non_null(s);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_true(tt_spool__empty(s));
	assert_int_equal(tt_spool__push(s, "first", 5, 1), 0);
	assert_int_equal(tt_spool__push(s, "second", 6, 2), 0);
	tt_spool__stats(s, &st);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.items, 3);
	assert_int_equal(st.bytes, 5 + 6 + 2 * TT_SPOOL_HEADER);
	tt_spool__free(s);

	/* a new agent finds them, oldest first, and appends after them */
	s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(tt_spool__push(s, "third", 5, 3), 0);
	expect(s, "first", 1);
	expect(s, "second", 2);
	expect(s, "third", 3);
	assert_int_equal(tt_spool__peek(s, &data, &len, &n), -ENOENT);
	assert_int_equal(tt_spool__pop(s), -ENOENT);
	tt_spool__stats(s, &st);
	assert_int_equal(st.files, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.removed, 3);
	tt_spool__free(s);
}

static void test_bound(void **state)
{
	char err[256];
	struct tt_spool *s = tt_spool__open(dir, 2 * TT_SPOOL_HEADER + 20, err, sizeof(err));
	struct tt_spool_stats st;

	assert_int_equal(tt_spool__push(s, "0123456789", 10, 1), 0);
	assert_int_equal(tt_spool__push(s, "0123456789", 10, 1), 0);
	assert_int_equal(tt_spool__push(s, "x", 1, 1), -ENOSPC);
	tt_spool__stats(s, &st);
	assert_int_equal(st.full, 1);
	assert_int_equal(st.files, 2);
	expect(s, "0123456789", 1);
	assert_int_equal(tt_spool__push(s, "x", 1, 1), 0); /* room again */
	tt_spool__free(s);
}

static void test_corrupt_and_truncated_files_are_skipped(void **state)
{
	char err[256], path[128];
	struct tt_spool *s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	struct tt_spool_stats st;
	int fd;

	assert_int_equal(tt_spool__push(s, "aaaa", 4, 1), 0);
	assert_int_equal(tt_spool__push(s, "bbbb", 4, 1), 0);
	assert_int_equal(tt_spool__push(s, "cccc", 4, 1), 0);
	assert_int_equal(tt_spool__push(s, "dddd", 4, 1), 0);
	/* #0: a payload byte flipped (the CRC catches it) */
	path_of(0, path, sizeof(path));
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "X", 1, TT_SPOOL_HEADER + 1), 1);
	close(fd);
	/* #2: cut short (the length catches it) */
	path_of(2, path, sizeof(path));
	assert_int_equal(truncate(path, TT_SPOOL_HEADER + 2), 0);
	expect(s, "bbbb", 1);
	expect(s, "dddd", 1);
	tt_spool__stats(s, &st);
	assert_int_equal(st.corrupt, 2);
	assert_true(tt_spool__empty(s));
	assert_int_equal(access(path, F_OK), -1); /* deleted */
	tt_spool__free(s);

	/* found at start: a bad header, and a write that never finished */
	s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	assert_int_equal(tt_spool__push(s, "eeee", 4, 1), 0);
	tt_spool__free(s);
	path_of(0, path, sizeof(path)); /* an empty spool numbers from 0 again */
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "NOTSPOOL", 8, 0), 8);
	close(fd);
	snprintf(path, sizeof(path), "%s/.0000000000000009.tmp", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	tt_spool__stats(s, &st);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(st.files, 0);
	assert_int_equal(access(path, F_OK), -1);
	tt_spool__free(s);
}

static void test_unusable_directory(void **state)
{
	char err[256];
	struct tt_spool *s = tt_spool__open("/proc/version/spool", 1 << 20, err, sizeof(err));

	assert_null(s);
	assert_non_null(strstr(err, "cannot use spool directory '/proc/version/spool'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_and_truncated_files_are_skipped, setup,
						teardown),
		cmocka_unit_test(test_unusable_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
