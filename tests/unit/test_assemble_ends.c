// SPDX-License-Identifier: MIT
/*
 * The assembler's spans ended from outside (assemble_ends.c), on synthetic
 * event streams: thread and process exits, lost events, processes gone
 * unseen, expiry, shutdown, a reload (respec) and open spans handed to a
 * new assembler.
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
#include <xxhash.h>

#include "assemble.h"
#include "spec.h"

#include "assemble_fixture.h"

static void test_thread_exit_ends_its_spans_as_errors(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_stats st;

	entry(f, TASK, 100, 10, 10, 1, "T");
	entry(f, STEP, 200, 10, 10, 1, "S");
	entry(f, STEP, 250, 10, 11, 1, "P"); /* another thread of the same process */
	thread_exit(f, 300, 10, 11, 0, false);
	assert_int_equal(f->n, 1);
	assert_string_equal(f->out[0].name, "T.P");
	assert_string_equal(f->out[0].status_msg, "exited with status 0");

	thread_exit(f, 400, 10, 10, 9, true); /* SIGKILL, whole process */
	assert_int_equal(f->n, 3);
	assert_string_equal(f->out[1].name, "T.S"); /* innermost first */
	assert_string_equal(f->out[2].name, "T");
	for (int i = 1; i < 3; i++) {
		assert_int_equal(f->out[i].status, TT_STATUS_ERROR);
		assert_int_equal(f->out[i].cut, TT_CUT_EXIT);
		assert_int_equal(f->out[i].end_ns, 400);
		assert_string_equal(f->out[i].status_msg, "killed by signal 9 (KILL)");
		assert_kv_str(f, i, "error.type", "exit");
		assert_kv_str(f, i, "tasktap.cut", "exit");
	}
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.open_spans, 0);
	assert_int_equal(st.cut_by_exit, 3);
}

static void test_exit_after_lost_events_ends_open_spans_as_lost(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_stats st;

	entry(f, TASK, 100, 10, 10, 1, "T");
	entry(f, TASK, 400, 20, 20, 2, "U"); /* starts after the loss */
	/* the ring was full some time up to 300: T's return may be what was lost */
	tt_asm__note_loss(f->a, 300);
	thread_exit(f, 500, 10, 10, 0, true);
	assert_int_equal(f->n, 1);
	assert_string_equal(f->out[0].name, "T");
	assert_int_equal(f->out[0].status, TT_STATUS_UNSET);
	assert_int_equal(f->out[0].cut, TT_CUT_LOST);
	assert_kv_str(f, 0, "tasktap.cut", "lost");
	/* open only after the loss: its process's exit ended it */
	thread_exit(f, 600, 20, 20, 0, true);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->out[1].status, TT_STATUS_ERROR);
	assert_int_equal(f->out[1].cut, TT_CUT_EXIT);
	assert_string_equal(f->out[1].status_msg, "exited with status 0");
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.cut_by_loss, 1);
	assert_int_equal(st.cut_by_exit, 1);
}

static void test_losses_long_ago_are_blurred_not_forgotten(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, "T");
	tt_asm__note_loss(f->a, 150); /* the oldest window: [0, 150] */
	for (uint64_t t = 1000; t < 1000 + 20 * 100; t += 100)
		tt_asm__note_loss(f->a, t); /* more windows than are kept */
	entry(f, TASK, 5000, 20, 20, 2, "U");
	thread_exit(f, 6000, 10, 10, 0, true);
	thread_exit(f, 7000, 20, 20, 0, true);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->out[0].cut, TT_CUT_LOST); /* T was open at the first loss */
	assert_int_equal(f->out[1].cut, TT_CUT_EXIT); /* U started after the last */
}

static void test_exit_not_seen_ends_spans_as_lost(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, "T");
	tt_asm__end_process(f->a, 10, 500, -1);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->out[0].status, TT_STATUS_UNSET);
	assert_int_equal(f->out[0].cut, TT_CUT_LOST);
}

static bool only_20_alive(uint32_t pid)
{
	return pid == 20;
}

static void test_processes_gone_unseen_end_as_lost(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, "T");
	entry(f, TASK, 110, 20, 20, 2, "Alive");
	entry(f, STEP, 150, 10, 11, 1, "P");
	entry(f, TASK, 160, 30, 30, 3, "U");
	tt_asm__end_gone(f->a, 500, only_20_alive);
	assert_int_equal(f->n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_not_equal(f->out[i].pid, 20);
		assert_int_equal(f->out[i].cut, TT_CUT_LOST);
		assert_int_equal(f->out[i].status, TT_STATUS_UNSET);
	}
	ret(f, TASK, 600, 20, 20, 0); /* the live process's span was left open */
	assert_int_equal(f->n, 4);
	assert_int_equal(f->out[3].cut, TT_CUT_NONE);
}

static void test_exit_status_is_decoded(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, "T");
	thread_exit(f, 200, 10, 10, 3 << 8, true);
	assert_int_equal(f->n, 1);
	assert_string_equal(f->out[0].status_msg, "exited with status 3");
}

static void test_end_process_closes_every_thread(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, "T");
	entry(f, STEP, 150, 10, 11, 1, "P");
	entry(f, TASK, 160, 20, 20, 2, "Other"); /* another process: stays open */
	tt_asm__end_process(f->a, 10, 500, 6);
	assert_int_equal(f->n, 2);
	assert_string_equal(f->out[0].status_msg, "killed by signal 6 (ABRT)");
	ret(f, TASK, 600, 20, 20, 0);
	assert_int_equal(f->n, 3);
	assert_int_equal(f->out[2].status, TT_STATUS_UNSET);
}

static void test_end_all_at_shutdown(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, "T");
	entry(f, STEP, 200, 10, 10, 1, "S");
	tt_asm__end_all(f->a, 900);
	assert_int_equal(f->n, 2);
	assert_string_equal(f->out[0].name, "T.S");
	assert_int_equal(f->out[0].cut, TT_CUT_SHUTDOWN);
	assert_int_equal(f->out[1].end_ns, 900);
	assert_kv_str(f, 1, "tasktap.cut", "shutdown");
}

static void test_begin_without_end_expires(void **state)
{
	struct fixture *f = *state; /* async TTL 1000 ns */
	struct tt_asm_stats st;

	sentry(f, SBEGIN, TT_EV_ENTRY, 100, 10, 11, "t3", "S", 0);
	tt_asm__expire(f->a, 900);
	assert_int_equal(f->n, 0);
	tt_asm__expire(f->a, 1200);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->out[0].cut, TT_CUT_EXPIRED);
	assert_kv_str(f, 0, "tasktap.cut", "expired");
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.open_spans, 0);
}

/* spec2 reloaded: the first publish probe removed (ids shift), the step's begin/end kept */
static const char spec2_reloaded[] =
	"service: t2\n"
	"keyspace: jobs\n"
	"targets:\n"
	"  - binary: /bin/true\n"
	"    probes:\n"
	"      - role: consume\n" /* hook 1 */
	"        symbol: consume\n"
	"        key: arg0\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"      - role: task\n" /* hook 2 */
	"        symbol: run\n"
	"        key: arg0\n"
	"        attributes: { task.name: str(arg1) }\n"
	"      - role: step\n" /* hooks 3 and 4 */
	"        begin: { symbol: step_begin, key: arg0, attributes: { step.name: str(arg1) } }\n"
	"        end: { symbol: step_end, key: arg0, attributes: { step.name: str(arg1) } }\n";

static void test_respec_keeps_the_spans_of_hooks_that_stayed(void **state)
{
	struct fixture *f = *state;
	int map[TT_MAX_PROBES + 1] = {0};
	struct tt_spec *now = NULL;
	struct tt_asm_stats st;
	char err[256];
	int task, step, pub;

	assert_int_equal(tt_spec__parse("t2.yaml", spec2_reloaded, strlen(spec2_reloaded), &now,
					err, sizeof(err)),
			 0);
	sentry(f, RUN, TT_EV_ENTRY, 100, 10, 10, "t1", "Thumb", 0);
	sentry(f, SBEGIN, TT_EV_ENTRY, 110, 10, 11, "t1", "Small", 0);
	sentry(f, PUB, TT_EV_ENTRY, 120, 10, 10, "t9", "jobs", 0);
	assert_int_equal(tt_spec__match(f->spec, now, map), 4);
	assert_int_equal(map[RUN], 2);
	assert_int_equal(map[SEND], 4);
	tt_asm__respec(f->a, now, map, f->spec->nhooks, 150);
	/* the publish's probe went: its span ended, said why */
	assert_int_equal(f->n, 1);
	assert_int_equal(f->out[0].end_ns, 150);
	assert_int_equal(f->out[0].cut, TT_CUT_REMOVED);
	assert_kv_str(f, 0, "tasktap.cut", "removed");
	/* the others pair with the new ids: the step by (key, step.name), the task per thread */
	sentry(f, 4, TT_EV_ENTRY, 300, 10, 12, "t1", "Small", 0);
	sentry(f, 2, TT_EV_RETURN, 400, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 3);
	step = by_name_index(f, "Thumb.Small");
	task = by_name_index(f, "Thumb");
	pub = by_name_index(f, "publish jobs");
	assert_int_equal(pub, 0);
	assert_int_equal(f->out[step].start_ns, 110);
	assert_int_equal(f->out[step].end_ns, 300);
	assert_int_equal(f->out[step].cut, TT_CUT_NONE);
	assert_memory_equal(f->out[step].parent_id, f->out[task].span_id, 8);
	assert_int_equal(f->out[task].cut, TT_CUT_NONE);
	assert_int_equal(f->out[task].status, TT_STATUS_UNSET);
	assert_ptr_equal(f->out[task].probe, tt_spec__probe(now, 2));
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.orphan_returns, 0);
	assert_int_equal(st.open_spans, 0);
	/* the sink's copies point at both specs: free them after the fixture's */
	tt_asm__free(f->a);
	f->a = NULL;
	tt_spec__free(f->spec);
	f->spec = now;
}

struct saved_spans {
	struct tt_span span[8];
	int n;
};

static void save_span(const struct tt_span *s, void *ctx)
{
	struct saved_spans *sv = ctx;

	assert_true(sv->n < 8);
	sv->span[sv->n++] = *s;
}

static void test_open_spans_cross_to_a_new_assembler(void **state)
{
	struct fixture *f = *state, *next;
	struct saved_spans sv = {0};
	struct tt_asm_stats st;

	entry(f, TASK, 1000, 10, 10, 7, "Zip");
	entry(f, STEP, 1100, 10, 10, 7, "Upload");
	ret(f, STEP, 1200, 10, 10, 0);
	entry(f, STEP, 1300, 10, 10, 7, "Store");
	entry(f, TASK, 1400, 10, 11, 8, "Other");
	assert_int_equal(f->n, 1);
	tt_asm__for_each_open(f->a, save_span, &sv);
	assert_int_equal(sv.n, 3);
	assert_int_equal(sv.span[0].start_ns, 1000); /* oldest first */

	/* the next agent's assembler: same spec, nothing seen yet */
	assert_int_equal(make_fixture((void **)&next, 0, 0), 0);
	for (int i = 0; i < sv.n; i++)
		assert_int_equal(tt_asm__restore(next->a, &sv.span[i],
						 tt_spec__hook(next->spec, sv.span[i].hook->id)),
				 0);
	f = next;
	ret(f, STEP, 1500, 10, 10, (uint64_t)-1);
	ret(f, TASK, 1600, 10, 10, 0);
	ret(f, TASK, 1700, 10, 11, 0);
	assert_int_equal(f->n, 3);
	assert_string_equal(f->out[0].name, "Zip.Store");
	assert_int_equal(f->out[0].start_ns, 1300);
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_int_equal(f->out[0].cut, TT_CUT_NONE);
	assert_kv_int(f, 0, "step.attempt", 1);
	assert_string_equal(f->out[1].name, "Zip");
	assert_memory_equal(f->out[1].span_id, sv.span[0].span_id, 8);
	assert_memory_equal(f->out[0].parent_id, f->out[1].span_id, 8);
	assert_memory_equal(f->out[0].trace_id, f->out[1].trace_id, 16);
	assert_int_equal(f->out[1].start_ns, 1000);
	assert_int_equal(f->out[1].end_ns, 1600);
	assert_string_equal(f->out[2].name, "Other");
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.orphan_returns, 0);
	assert_int_equal(st.open_spans, 0);
	teardown((void **)&next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exit_after_lost_events_ends_open_spans_as_lost,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_losses_long_ago_are_blurred_not_forgotten,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_not_seen_ends_spans_as_lost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_thread_exit_ends_its_spans_as_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exit_status_is_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_processes_gone_unseen_end_as_lost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_end_process_closes_every_thread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_end_all_at_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_begin_without_end_expires, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_respec_keeps_the_spans_of_hooks_that_stayed,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_open_spans_cross_to_a_new_assembler, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("assemble_ends", tests, NULL, NULL);
}
