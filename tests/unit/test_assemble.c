// SPDX-License-Identifier: MIT
/*
 * The assembler on synthetic event streams: no BPF, no processes. Each test
 * feeds events built here and checks the spans that come out.
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

/* ---- tests --------------------------------------------------------------- */

static void test_task_with_nested_steps(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 1000, 10, 10, 7, "Zip");
	entry(f, STEP, 1100, 10, 10, 7, "Upload");
	ret(f, STEP, 1500, 10, 10, 0);
	entry(f, STEP, 1600, 10, 10, 7, "Store");
	ret(f, STEP, 1900, 10, 10, 0);
	ret(f, TASK, 2000, 10, 10, 0);

	assert_int_equal(f->n, 3);
	/* steps finish first, then the task */
	assert_string_equal(f->out[0].name, "Zip.Upload");
	assert_string_equal(f->out[1].name, "Zip.Store");
	assert_string_equal(f->out[2].name, "Zip");
	assert_memory_equal(f->out[2].parent_id, zero8, 8);
	for (int i = 0; i < 2; i++) {
		assert_memory_equal(f->out[i].parent_id, f->out[2].span_id, 8);
		assert_memory_equal(f->out[i].trace_id, f->out[2].trace_id, 16);
		/* no error: UNSET, as instrumentation leaves it */
		assert_int_equal(f->out[i].status, TT_STATUS_UNSET);
		assert_int_equal(f->out[i].attempt, 1);
		assert_kv_str(f, i, "task.id", "7");
		assert_kv_int(f, i, "step.attempt", 1);
		assert_null(kv(f, i, "step.status"));
		assert_null(kv(f, i, "error.type"));
		assert_null(kv(f, i, "messaging.operation.name"));
		assert_kv_str(f, i, "code.function.name", "execute_step");
	}
	assert_int_equal(f->out[0].start_ns, 1100);
	assert_int_equal(f->out[0].end_ns, 1500);
	assert_int_equal(f->out[2].start_ns, 1000);
	assert_int_equal(f->out[2].end_ns, 2000);
	assert_int_equal(f->out[2].status, TT_STATUS_UNSET);
	assert_int_equal(f->out[2].kind, TT_KIND_INTERNAL);
	assert_kv_str(f, 2, "task.name", "Zip");
	assert_kv_int(f, 2, "tasktap.thread.tid", 10);
	assert_null(kv(f, 2, "thread.id"));
	assert_null(kv(f, 2, "step.attempt"));
	assert_memory_not_equal(f->out[0].span_id, f->out[1].span_id, 8);
}

static void test_error_predicate_on_task(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 7, "Zip");
	ret(f, TASK, 200, 10, 10, 3);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_string_equal(f->out[0].status_msg, "returned 3 (error: ret != 0)");
}

static void test_parallel_steps_on_other_threads_join_task_by_key(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 1000, 10, 10, 7, "Thumb");
	entry(f, STEP, 1100, 10, 11, 7, "Small");
	entry(f, STEP, 1105, 10, 12, 7, "Large");
	ret(f, STEP, 1300, 10, 11, 0);
	ret(f, STEP, 1500, 10, 12, 0);
	entry(f, STEP, 1600, 10, 12, 8, "Other"); /* no open task has key 8 */
	ret(f, STEP, 1700, 10, 12, 0);
	ret(f, TASK, 2000, 10, 10, 0);

	assert_int_equal(f->n, 4);
	assert_string_equal(f->out[0].name, "Thumb.Small");
	assert_string_equal(f->out[1].name, "Thumb.Large");
	assert_memory_equal(f->out[0].parent_id, f->out[3].span_id, 8);
	assert_memory_equal(f->out[1].parent_id, f->out[3].span_id, 8);
	assert_int_equal(f->out[0].tid, 11);
	assert_int_equal(f->out[1].tid, 12);
	/* a step with no task becomes a root of its key's trace */
	assert_string_equal(f->out[2].name, "Other");
	assert_memory_equal(f->out[2].parent_id, zero8, 8);
	assert_memory_not_equal(f->out[2].trace_id, f->out[3].trace_id, 16);
}

static void test_innermost_task_on_thread_wins_over_key(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 1000, 10, 10, 7, "Outer");
	entry(f, TASK, 1100, 10, 10, 8, "Inner");
	entry(f, STEP, 1200, 10, 10, 7, "S"); /* key 7, but Inner is innermost */
	ret(f, STEP, 1300, 10, 10, 0);
	ret(f, TASK, 1400, 10, 10, 0);
	ret(f, TASK, 1500, 10, 10, 0);

	assert_int_equal(f->n, 3);
	assert_string_equal(f->out[0].name, "Inner.S");
	assert_memory_equal(f->out[0].parent_id, f->out[1].span_id, 8);
}

static void test_recursion_pairs_innermost_first(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, "T");
	entry(f, TASK, 200, 10, 10, 2, "T");
	entry(f, TASK, 300, 10, 10, 3, "T");
	ret(f, TASK, 400, 10, 10, 0);
	ret(f, TASK, 500, 10, 10, 0);
	ret(f, TASK, 600, 10, 10, 0);

	assert_int_equal(f->n, 3);
	assert_int_equal(f->out[0].start_ns, 300);
	assert_int_equal(f->out[0].end_ns, 400);
	assert_kv_str(f, 0, "task.id", "3");
	assert_int_equal(f->out[1].start_ns, 200);
	assert_int_equal(f->out[2].start_ns, 100);
	assert_int_equal(f->out[2].end_ns, 600);
}

static void test_return_without_entry_is_counted(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_stats st;

	ret(f, STEP, 100, 10, 10, 0);
	tt_asm__stats(f->a, &st);
	assert_int_equal(f->n, 0);
	assert_int_equal(st.orphan_returns, 1);
	assert_int_equal(st.open_spans, 0);
}

static void test_lost_return_unwinds_inner_spans(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, "T");
	entry(f, STEP, 200, 10, 10, 1, "S");
	/* the step's return was lost; the task returns */
	ret(f, TASK, 500, 10, 10, 0);

	assert_int_equal(f->n, 2);
	assert_string_equal(f->out[0].name, "T.S");
	/* its end was lost: not a failure of the worker */
	assert_int_equal(f->out[0].status, TT_STATUS_UNSET);
	assert_int_equal(f->out[0].cut, TT_CUT_UNWOUND);
	assert_kv_str(f, 0, "tasktap.cut", "unwound");
	assert_int_equal(f->out[0].end_ns, 500);
	assert_int_equal(f->out[1].status, TT_STATUS_UNSET);
}

static void test_eviction_at_bound(void **state)
{
	struct fixture *f = *state; /* max_open_spans = 2 */
	struct tt_asm_stats st;

	entry(f, TASK, 100, 10, 10, 1, "A");
	entry(f, TASK, 200, 20, 20, 2, "B");
	entry(f, TASK, 300, 30, 30, 3, "C"); /* evicts A, the oldest */
	assert_int_equal(f->n, 1);
	assert_string_equal(f->out[0].name, "A");
	assert_int_equal(f->out[0].cut, TT_CUT_EVICTED);
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	ret(f, TASK, 400, 30, 30, 0);
	ret(f, TASK, 500, 20, 20, 0);
	ret(f, TASK, 600, 10, 10, 0); /* A's return finds nothing */
	tt_asm__stats(f->a, &st);
	assert_int_equal(f->n, 3);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.orphan_returns, 1);
	assert_int_equal(st.open_spans, 0);
}

static void test_eviction_from_middle_of_stack_keeps_pairing(void **state)
{
	struct fixture *f = *state; /* max_open_spans = 2 */

	entry(f, TASK, 100, 10, 10, 1, "A");
	entry(f, STEP, 200, 10, 10, 1, "S");
	entry(f, STEP, 300, 10, 10, 1, "S2"); /* evicts A from below S */
	ret(f, STEP, 400, 10, 10, 0);
	ret(f, STEP, 500, 10, 10, 0);
	assert_int_equal(f->n, 3);
	assert_string_equal(f->out[0].name, "A");
	assert_int_equal(f->out[1].start_ns, 300);
	assert_int_equal(f->out[2].start_ns, 200);
	assert_int_equal(f->out[2].status, TT_STATUS_UNSET);
}

static void test_unreadable_attribute_is_named(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 100, 10, 10, 1, NULL); /* task.name's read faulted */
	ret(f, TASK, 200, 10, 10, 0);
	assert_int_equal(f->n, 1);
	assert_string_equal(f->out[0].name, "run_task"); /* falls back to the symbol */
	assert_null(kv(f, 0, "task.name"));
	assert_kv_str(f, 0, "tasktap.unreadable", "task.name");
}

static void test_malformed_events_are_refused(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_stats st;
	struct ev e = {0};

	e.h = (struct tt_event){.ts_ns = 1,
				.pid = 1,
				.tid = 1,
				.probe = TASK,
				.kind = TT_EV_ENTRY,
				.size = sizeof(e.h) + 8,
				.ncaps = 1};
	/* a record claiming more bytes than the event has */
	((struct tt_cap_rec *)e.payload)->len = 200;
	assert_int_equal(tt_asm__push(f->a, &e.h, e.h.size), -EINVAL);
	/* size field disagreeing with the size delivered */
	assert_int_equal(tt_asm__push(f->a, &e.h, sizeof(e.h)), -EINVAL);
	/* an unknown probe is counted, not fatal */
	e.h.probe = 99;
	e.h.size = sizeof(e.h);
	e.h.ncaps = 0;
	assert_int_equal(tt_asm__push(f->a, &e.h, sizeof(e.h)), 0);
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.malformed, 2);
	assert_int_equal(st.unknown_probes, 1);
	assert_int_equal(f->n, 0);
}

static void test_open_tasks_with_current_step(void **state)
{
	struct fixture *f = *state;
	struct seen_tasks t = {0};

	entry(f, TASK, 100, 10, 10, 1, "A");
	entry(f, STEP, 150, 10, 10, 1, "S1");
	ret(f, STEP, 160, 10, 10, 0);
	entry(f, STEP, 170, 10, 10, 1, "S2");
	entry(f, TASK, 200, 20, 20, 2, "B");
	tt_asm__for_each_task(f->a, 0, note_task, &t);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.names[0], "A");
	assert_string_equal(t.steps[0], "A.S2");
	assert_string_equal(t.names[1], "B");
	assert_string_equal(t.steps[1], "-");
	t.n = 0;
	tt_asm__for_each_task(f->a, 1, note_task, &t);
	assert_int_equal(t.n, 1);
}

static void test_begin_end_pair_by_key_and_step_across_threads(void **state)
{
	struct fixture *f = *state;
	int small, large;

	sentry(f, RUN, TT_EV_ENTRY, 100, 10, 10, "t1", "Thumb", 0);
	sentry(f, SBEGIN, TT_EV_ENTRY, 110, 10, 11, "t1", "Small", 0);
	sentry(f, SBEGIN, TT_EV_ENTRY, 120, 10, 12, "t1", "Large", 0);
	/* ends come from other threads, in the other order */
	sentry(f, SEND, TT_EV_ENTRY, 300, 10, 13, "t1", "Large", 0);
	sentry(f, SEND, TT_EV_ENTRY, 400, 10, 14, "t1", "Small", 0);
	sentry(f, SEND, TT_EV_ENTRY, 500, 10, 14, "t1", "Small", 0); /* no begin left */
	sentry(f, RUN, TT_EV_RETURN, 600, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 3);
	large = by_name_index(f, "Thumb.Large");
	small = by_name_index(f, "Thumb.Small");
	assert_int_equal(f->out[large].start_ns, 120);
	assert_int_equal(f->out[large].end_ns, 300);
	assert_int_equal(f->out[small].start_ns, 110);
	assert_int_equal(f->out[small].end_ns, 400);
	assert_memory_equal(f->out[small].parent_id, f->out[2].span_id, 8);
	/* the end's copy of step.name pairs, the begin's is exported, once */
	assert_kv_str(f, small, "step.name", "Small");
	{
		int names = 0;

		for (int i = 0; i < f->nkv[small]; i++)
			names += strcmp(f->kv[small][i].key, "step.name") == 0;
		assert_int_equal(names, 1);
	}
	{
		struct tt_asm_stats st;

		tt_asm__stats(f->a, &st);
		/* an end function called with no begin open is not a lost span */
		assert_int_equal(st.unpaired_ends, 1);
		assert_int_equal(st.orphan_returns, 0);
	}
}

static void test_out_of_order_rings_are_merged_before_pairing(void **state)
{
	struct fixture *f = *state;

	/* the reorder buffer sorts what two CPUs' rings deliver; here in time order */
	sentry(f, SBEGIN, TT_EV_ENTRY, 100, 10, 11, "t2", "S", 0);
	sentry(f, SEND, TT_EV_ENTRY, 90, 10, 12, "t2", "S", 0); /* an end older than its begin */
	assert_int_equal(f->n, 1);
	/* clock order broken: the span still ends, with no negative duration */
	assert_int_equal(f->out[0].end_ns, f->out[0].start_ns);
}

static void test_begin_and_end_at_return_pair_per_thread(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_stats st;

	/* a worker: work returns once with no job (no span open: not a lost span), then grab
	 * returns a job, work returns its status; twice on one thread */
	sentry(f, WORK, TT_EV_RETURN, 50, 20, 21, NULL, NULL, 0);
	sentry(f, GRAB, TT_EV_RETURN, 100, 20, 21, "job-7", "resize", 0);
	sentry(f, WORK, TT_EV_RETURN, 400, 20, 21, NULL, NULL, 0);
	sentry(f, GRAB, TT_EV_RETURN, 500, 20, 21, "job-8", "resize", 0);
	sentry(f, WORK, TT_EV_RETURN, 700, 20, 21, NULL, NULL, 24);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->out[0].start_ns, 100);
	assert_int_equal(f->out[0].end_ns, 400);
	assert_int_equal(f->out[0].status, TT_STATUS_UNSET);
	assert_kv_str(f, 0, "task.id", "job-7");
	assert_int_equal(f->out[1].status, TT_STATUS_ERROR);
	assert_string_equal(f->out[1].status_msg, "returned 24 (error: ret != 0)");
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.unpaired_ends, 1);
	assert_int_equal(st.orphan_returns, 0);
}

static void test_duplicate_keys_end_newest_first(void **state)
{
	struct fixture *f = *state;

	sentry(f, SBEGIN, TT_EV_ENTRY, 100, 10, 11, "t9", "S", 0);
	sentry(f, SBEGIN, TT_EV_ENTRY, 200, 10, 12, "t9", "S", 0); /* same key and step */
	sentry(f, SEND, TT_EV_ENTRY, 300, 10, 13, "t9", "S", 0);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->out[0].start_ns, 200);
	sentry(f, SEND, TT_EV_ENTRY, 400, 10, 13, "t9", "S", 0);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->out[1].start_ns, 100);
	assert_int_equal(f->out[1].end_ns, 400);
	/* same key, so attempts count up */
	assert_kv_int(f, 0, "step.attempt", 2);
	assert_kv_int(f, 1, "step.attempt", 1);
}

static void test_ret_value_rule(void **state)
{
	(void)state;
	assert_int_equal(tt_ret__value(0xffffffffULL), -1);
	assert_int_equal(tt_ret__value(5), 5);
	assert_int_equal(tt_ret__value(0xffffffffffffffffULL), -1);
	assert_int_equal(tt_ret__value(0x00007fff12345678ULL), 0x00007fff12345678LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_task_with_nested_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_predicate_on_task, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_parallel_steps_on_other_threads_join_task_by_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_innermost_task_on_thread_wins_over_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recursion_pairs_innermost_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_return_without_entry_is_counted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lost_return_unwinds_inner_spans, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_eviction_at_bound, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_eviction_from_middle_of_stack_keeps_pairing,
						setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_attribute_is_named, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_events_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_tasks_with_current_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_begin_end_pair_by_key_and_step_across_threads,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_rings_are_merged_before_pairing,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_begin_and_end_at_return_pair_per_thread,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_keys_end_newest_first, setup2,
						teardown),
		cmocka_unit_test(test_ret_value_rule),
	};

	return cmocka_run_group_tests_name("assemble", tests, NULL, NULL);
}
