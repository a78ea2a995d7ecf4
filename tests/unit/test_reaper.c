// SPDX-License-Identifier: MIT
/* test_reaper: descriptors handed to the reaper are closed, all of them, on its own thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
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

static void test_flush_waits_for_every_close(void **state)
{
	struct tt_reaper *r = tt_reaper__new();
	int ends[40][2];

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < 40; i++)
		assert_int_equal(pipe(ends[i]), 0);
	for (int i = 0; i < 40; i++)
		tt_reaper__close(r, ends[i][1]);
	tt_reaper__flush(r);
	assert_int_equal(tt_reaper__pending(r), 0);
	for (int i = 0; i < 40; i++) {
		char c;

		assert_false(is_open(ends[i][1]));
		assert_int_equal(read(ends[i][0], &c, 1), 0); /* its writer is gone */
		close(ends[i][0]);
	}
	tt_reaper__free(r);
}

/* A close that waits until `want` closes are under way together (or 10 s pass). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t change;
	int in_flight, most, want;
} slow = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static int slow_close(int fd)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&slow.lock);
	slow.in_flight++;
	if (slow.in_flight > slow.most)
		slow.most = slow.in_flight;
	pthread_cond_broadcast(&slow.change);
	while (slow.most < slow.want &&
	       pthread_cond_timedwait(&slow.change, &slow.lock, &until) == 0)
		;
	slow.in_flight--;
	pthread_mutex_unlock(&slow.lock);
	return close(fd);
}

static void test_slow_closes_wait_together(void **state)
{
	struct tt_reaper *r = tt_reaper__new();
	int ends[4][2];

	(void)state;
	assert_non_null(r);
	slow.want = 4;
	tt_reaper__set_close(r, slow_close);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pipe(ends[i]), 0);
	for (int i = 0; i < 4; i++)
		tt_reaper__close(r, ends[i][1]);
	tt_reaper__flush(r);
	/* each close waited for the others: one after the other, none would have seen them */
	assert_int_equal(slow.most, 4);
	for (int i = 0; i < 4; i++) {
		assert_false(is_open(ends[i][1]));
		close(ends[i][0]);
	}
	tt_reaper__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_descriptor_is_closed_by_free),
		cmocka_unit_test(test_closed_on_its_own_before_free),
		cmocka_unit_test(test_without_a_reaper_closes_at_once),
		cmocka_unit_test(test_free_without_use),
		cmocka_unit_test(test_flush_waits_for_every_close),
		cmocka_unit_test(test_slow_closes_wait_together),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
