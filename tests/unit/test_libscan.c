// SPDX-License-Identifier: MIT
/*
 * Tests for user/libscan.c: this test process maps a copy of the fixture
 * library executable, and the scan of its own mappings finds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "elf.h"
#include "fixtures.h"
#include "libscan.h"
#include "tmpdir.h"

/* A copy of libfix.so under another name, mapped executable by this process. */
struct copy {
	char dir[64];
	char path[PATH_MAX];
	void *map;
	size_t size;
};

static int setup(void **state)
{
	struct copy *c = calloc(1, sizeof(*c));
	char lib[PATH_MAX], cmd[2 * PATH_MAX + 16];
	struct stat st;
	int fd;

	assert_non_null(c);
	assert_int_equal(fixture__path("libfix.so", lib), 0);
	assert_int_equal(tmpdir__make(c->dir, sizeof(c->dir), "libscan"), 0);
	snprintf(c->path, sizeof(c->path), "%s/libcopy.so", c->dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", lib, c->path);
	assert_int_equal(system(cmd), 0);
	fd = open(c->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	c->size = (size_t)st.st_size;
	c->map = mmap(NULL, c->size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(c->map != MAP_FAILED);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct copy *c = *state;

	munmap(c->map, c->size);
	tmpdir__remove(c->dir);
	free(c);
	return 0;
}

/* What the callback saw, and what it does to the copy before opening it. */
struct seen {
	const struct copy *copy;
	int calls;
	bool remove; /* unlink the copy first, as an exiting process takes its files with it */
};

/* Opens the copy as attaching to it would; fails as that would once the copy is gone. */
static int open_copy(const char *path, void *ctx)
{
	struct seen *s = ctx;
	struct tt_elf *elf;

	s->calls++;
	if (!strstr(path, "/libcopy.so"))
		return 0;
	if (s->remove)
		unlink(s->copy->path);
	elf = tt_elf__open(path);
	if (!elf)
		return -errno;
	tt_elf__free(elf);
	return -EEXIST; /* found: stop here */
}

static const char *const symbols[] = {"fix_publish", "fix_consume"};

/* The copy is found through /proc/PID/root, in this process's mappings. */
static void test_finds_a_mapped_copy(void **state)
{
	struct seen s = {.copy = *state};

	assert_int_equal(tt_libscan__find(symbols, 2, NULL, getpid(), open_copy, &s), -EEXIST);
	assert_int_equal(s.calls, 1);
}

/*
 * A copy that goes between the scan finding it and the callback opening it
 * is skipped: before, its -ENOENT stopped the scan and failed the agent's
 * start when a scanned process exited.
 */
static void test_a_copy_gone_meanwhile_is_skipped(void **state)
{
	struct seen s = {.copy = *state, .remove = true};

	assert_int_equal(tt_libscan__find(symbols, 2, NULL, getpid(), open_copy, &s), 0);
	assert_int_equal(s.calls, 1);
}

/* A failure for a copy still there is the callback's answer, as before. */
static int refuse(const char *path, void *ctx)
{
	(void)path;
	(*(int *)ctx)++;
	return -EACCES;
}

static void test_a_failure_for_a_copy_still_there_stops_the_scan(void **state)
{
	int calls = 0;

	(void)state;
	assert_int_equal(tt_libscan__find(symbols, 2, NULL, getpid(), refuse, &calls), -EACCES);
	assert_int_equal(calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_finds_a_mapped_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_copy_gone_meanwhile_is_skipped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_a_failure_for_a_copy_still_there_stops_the_scan, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
