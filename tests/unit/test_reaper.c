// SPDX-License-Identifier: MIT
/* test_reaper: descriptors handed to the reaper are closed, all of them, on its own thread. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "reaper.h"

/* Whether fd is an open descriptor of this process. */
static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static void test_every_descriptor_is_closed_by_free(void **state)
{
	struct tt_reaper *r = tt_reaper__new();
	int ends[64][2];

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < 64; i++)
		assert_int_equal(pipe(ends[i]), 0);
	for (int i = 0; i < 64; i++)
		tt_reaper__close(r, ends[i][1]);
	tt_reaper__free(r); /* closes what is left, then returns */
	for (int i = 0; i < 64; i++) {
		char c;

		assert_false(is_open(ends[i][1]));
		/* the reading end sees the end of the pipe: its writer was closed */
		assert_int_equal(read(ends[i][0], &c, 1), 0);
		close(ends[i][0]);
	}
}

static void test_closed_on_its_own_before_free(void **state)
{
	struct tt_reaper *r = tt_reaper__new();
	int ends[2];
	char c;

	(void)state;
	assert_int_equal(pipe(ends), 0);
	tt_reaper__close(r, ends[1]);
	/* blocks until the reaper's thread has closed the writing end */
	assert_int_equal(read(ends[0], &c, 1), 0);
	close(ends[0]);
	tt_reaper__free(r);
}

static void test_without_a_reaper_closes_at_once(void **state)
{
	int ends[2];

	(void)state;
	assert_int_equal(pipe(ends), 0);
	tt_reaper__close(NULL, ends[1]);
	assert_false(is_open(ends[1]));
	assert_int_equal(tt_reaper__pending(NULL), 0);
	tt_reaper__close(NULL, -1); /* ignored */
	tt_reaper__free(NULL);
	close(ends[0]);
}

static void test_free_without_use(void **state)
{
	struct tt_reaper *r = tt_reaper__new();

	(void)state;
	assert_non_null(r);
	tt_reaper__close(r, -1); /* ignored: no thread needed for it */
	assert_int_equal(tt_reaper__pending(r), 0);
	tt_reaper__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_descriptor_is_closed_by_free),
		cmocka_unit_test(test_closed_on_its_own_before_free),
		cmocka_unit_test(test_without_a_reaper_closes_at_once),
		cmocka_unit_test(test_free_without_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
