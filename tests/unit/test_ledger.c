// SPDX-License-Identifier: MIT
/*
 * Tests for user/ledger.c: the span ledger pinned on bpffs (needs root and
 * /sys/fs/bpf, as the agent's --pin does). An agent "killed" is one whose
 * ledger is unmapped without the clean flag.
 */
#include <errno.h>
#include <limits.h>
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

#include <bpf/bpf.h>

#include "ledger.h"

struct pin {
	char dir[PATH_MAX];
	char err[512];
};

static int setup(void **state)
{
	struct pin *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	snprintf(p->dir, sizeof(p->dir), "/sys/fs/bpf/tt-ledger-test-%d", (int)getpid());
	if (mkdir(p->dir, 0700) && errno != EEXIST)
		fail_msg("cannot create '%s': %s (the tests need root and bpffs)", p->dir,
			 strerror(errno));
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pin *p = *state;
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/ledger", p->dir);
	unlink(path);
	rmdir(p->dir);
	free(p);
	return 0;
}

static struct tt_ledger *open_ledger(struct pin *p, struct tt_ledger_prev *prev)
{
	struct tt_ledger *lg = tt_ledger__open(p->dir, prev, p->err, sizeof(p->err));

	if (!lg)
		fail_msg("%s", p->err);
	return lg;
}

/*
 * A killed agent's queued and unsettled spans, the span ends it had read and
 * not assembled, and its own lost count, reach the next.
 */
static void test_a_killed_agent_leaves_its_losses_to_the_next(void **state)
{
	struct pin *p = *state;
	struct tt_ledger_prev prev;
	struct tt_ledger *lg = open_ledger(p, &prev);
	struct tt_ledger_page *page = tt_ledger__page(lg);

	assert_false(prev.found); /* a new ledger */
	page->spans.queued = 300;
	page->spans.settled = 288;
	page->counted_lost = 2;
	page->ends_unread = 3;	    /* read from the rings, not yet spans */
	tt_ledger__free(lg, false); /* SIGKILL: no clean stop */
	lg = open_ledger(p, &prev);
	assert_true(prev.found);
	assert_true(prev.killed);
	assert_int_equal(prev.pid, getpid());
	assert_int_equal(prev.unsent, 12 + 3);
	assert_int_equal(prev.counted_lost, 2);
	/* the new agent starts from zero */
	page = tt_ledger__page(lg);
	assert_int_equal(page->spans.queued, 0);
	assert_int_equal(page->counted_lost, 0);
	page->spans.queued = page->spans.settled = 40;
	page->counted_lost = 1;
	page->ends_unread = 5;	   /* a clean stop assembled them all the same */
	tt_ledger__free(lg, true); /* a clean stop: its summary said it all */
	lg = open_ledger(p, &prev);
	assert_true(prev.found);
	assert_false(prev.killed);
	assert_int_equal(prev.unsent, 0);
	assert_int_equal(prev.counted_lost, 0);
	tt_ledger__free(lg, true);
}

/* Something else pinned as the ledger (another version's) is replaced, not trusted. */
static void test_another_map_where_the_ledger_goes_is_replaced(void **state)
{
	struct pin *p = *state;
	struct tt_ledger_prev prev;
	char path[PATH_MAX + 16];
	struct tt_ledger *lg;
	int fd;

	snprintf(path, sizeof(path), "%s/ledger", p->dir);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "not_a_ledger", 4, 8, 1, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	lg = open_ledger(p, &prev);
	assert_false(prev.found);
	tt_ledger__page(lg)->spans.queued = 7;
	tt_ledger__free(lg, false);
	lg = open_ledger(p, &prev);
	assert_int_equal(prev.unsent, 7);
	tt_ledger__free(lg, true);
	tt_ledger__free(NULL, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_killed_agent_leaves_its_losses_to_the_next,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_another_map_where_the_ledger_goes_is_replaced,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
