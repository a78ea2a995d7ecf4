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

/* The directory above dir, as the setup made it: the mkdtemp one and its "a". */
static void base_of(char *buf, size_t len, int up)
{
	snprintf(buf, len, "%.*s", (int)(strlen(dir) - (up == 2 ? 4 : 2)), dir);
}

/* Another user's directory where the spool goes: refused, its batches never read. */
static void test_planted_directory_refused(void **state)
{
	char err[256], want[256], path[160];
	struct tt_spool *s;

	if (geteuid() != 0) {
		print_message("skipped, because giving a directory to another user needs root\n");
		skip();
	}
	/* a batch left by the agent, then the directory taken over by uid 4321 */
	s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(tt_spool__push(s, "planted", 7, 1), 0);
	tt_spool__free(s);
	assert_int_equal(chown(dir, 4321, 4321), 0);
	errno = 0;
	assert_null(tt_spool__open(dir, 1 << 20, err, sizeof(err)));
	assert_int_equal(errno, EPERM);
	snprintf(want, sizeof(want), "refusing spool directory '%s': owned by uid 4321, not by uid 0",
		 dir);
	assert_string_equal(err, want);
	/* ours again, but writable by everyone */
	assert_int_equal(chown(dir, 0, 0), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_null(tt_spool__open(dir, 1 << 20, err, sizeof(err)));
	assert_non_null(strstr(err, "writable by users other than its owner (mode 777)"));
	assert_int_equal(chmod(dir, 0700), 0);
	/* /tmp/tasktap-UID made by someone else first: the spool inside it is refused */
	base_of(path, sizeof(path), 1);
	assert_int_equal(chown(path, 4321, 4321), 0);
	assert_null(tt_spool__open(dir, 1 << 20, err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "refusing spool directory '%s': '%s' above it is owned by uid 4321", dir, path);
	assert_string_equal(err, want);
	assert_int_equal(chown(path, 0, 0), 0);
	/* writable by all above it: only with the sticky bit, as /tmp */
	assert_int_equal(chmod(path, 0777), 0);
	assert_null(tt_spool__open(dir, 1 << 20, err, sizeof(err)));
	assert_non_null(strstr(err, "above it is writable by other users"));
	assert_int_equal(chmod(path, 01777), 0);
	s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	assert_non_null(s);
	expect(s, "planted", 1);
	tt_spool__free(s);
}

static void test_link_as_directory_refused(void **state)
{
	char err[256], want[256], link[160], target[160];

	base_of(target, sizeof(target), 2);
	snprintf(link, sizeof(link), "%s/link", target);
	snprintf(target + strlen(target), sizeof(target) - strlen(target), "/real");
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_null(tt_spool__open(link, 1 << 20, err, sizeof(err)));
	snprintf(want, sizeof(want), "refusing spool directory '%s': a symbolic link", link);
	assert_string_equal(err, want);
}

/* What is not a batch file is never waited on nor read whole: a FIFO, a link, a huge file. */
static void test_files_that_are_no_batches(void **state)
{
	char err[256], path[160];
	struct tt_spool *s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	struct tt_spool_stats st;
	int fd;

	assert_non_null(s);
	assert_int_equal(tt_spool__push(s, "kept", 4, 1), 0);
	tt_spool__free(s);
	path_of(1, path, sizeof(path));
	assert_int_equal(mkfifo(path, 0600), 0); /* opening it blocked the exporter */
	path_of(2, path, sizeof(path));
	assert_int_equal(symlink("/etc/passwd", path), 0);
	path_of(3, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(truncate(path, 2 << 20), 0); /* larger than the spool's bound */
	s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	assert_non_null(s);
	tt_spool__stats(s, &st);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.corrupt, 3);
	expect(s, "kept", 1);
	assert_int_equal(access("/etc/passwd", F_OK), 0); /* the link went, not its target */
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
		cmocka_unit_test_setup_teardown(test_planted_directory_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_as_directory_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_that_are_no_batches, setup, teardown),
		cmocka_unit_test(test_unusable_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
