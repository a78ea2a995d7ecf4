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

static const char spec_text[] = "service: test\n"
				"keyspace: demo\n"
				"targets:\n"
				"  - binary: /bin/true\n"
				"    probes:\n"
				"      - role: task\n"
				"        symbol: run_task\n"
				"        key: arg0\n"
				"        attributes: { task.name: str(arg1) }\n"
				"        error: ret != 0\n"
				"      - role: step\n"
				"        symbol: execute_step\n"
				"        key: arg0\n"
				"        attributes: { step.name: str(arg1) }\n"
				"        error: ret < 0\n";

enum { TASK = 1, STEP = 2 };

static int make_fixture(void **state, uint32_t max_open, uint64_t window)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {0};
	char err[256];

	assert_non_null(f);
	assert_int_equal(
		tt_spec__parse("t.yaml", spec_text, strlen(spec_text), &f->spec, err, sizeof(err)),
		0);
	o.spec = f->spec;
	o.seed = 42;
	o.max_open_spans = max_open;
	o.retry_window_ns = window;
	o.max_tries = 1000;
	o.on_span = collect;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return make_fixture(state, 0, 0);
}

static int setup_small(void **state)
{
	return make_fixture(state, 2, 0);
}

static int setup_short_window(void **state)
{
	return make_fixture(state, 0, 500);
}

/* ---- event builders ------------------------------------------------------ */

/* An entry of `probe` with key (u64) and one string attribute. */
static void entry(struct fixture *f, uint32_t probe, uint64_t ts, uint32_t pid, uint32_t tid,
		  uint64_t key, const char *name)
{
	struct ev e = {0};
	size_t off = 0;

	off = put_rec(e.payload, off, TT_CAP_INT, 0, &key, sizeof(key));
	if (name)
		off = put_rec(e.payload, off, TT_CAP_STR, 0, name, strlen(name));
	else
		off = put_rec(e.payload, off, TT_CAP_STR, TT_CAPF_FAULT, "", 0);
	e.h = (struct tt_event){.ts_ns = ts,
				.pid = pid,
				.tid = tid,
				.probe = probe,
				.kind = TT_EV_ENTRY,
				.size = sizeof(e.h) + off,
				.ncaps = 2};
	assert_int_equal(tt_asm__push(f->a, &e.h, e.h.size), 0);
}

static void ret(struct fixture *f, uint32_t probe, uint64_t ts, uint32_t pid, uint32_t tid,
		uint64_t rax)
{
	struct tt_event e = {.ts_ns = ts,
			     .pid = pid,
			     .tid = tid,
			     .probe = probe,
			     .kind = TT_EV_RETURN,
			     .ret = (int64_t)rax,
			     .size = sizeof(e)};

	assert_int_equal(tt_asm__push(f->a, &e, sizeof(e)), 0);
}

static void thread_exit(struct fixture *f, uint64_t ts, uint32_t pid, uint32_t tid, int64_t status,
			bool group_dead)
{
	struct tt_event e = {.ts_ns = ts,
			     .pid = pid,
			     .tid = tid,
			     .kind = TT_EV_EXIT,
			     .ret = status,
			     .size = sizeof(e),
			     .flags = group_dead ? TT_EXITF_GROUP_DEAD : 0};

	assert_int_equal(tt_asm__push(f->a, &e, sizeof(e)), 0);
}

static const uint8_t zero8[8];

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

static void test_retries_count_attempts_and_errors(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 1000, 10, 10, 7, "Zip");
	entry(f, STEP, 1100, 10, 10, 7, "Archive");
	ret(f, STEP, 1200, 10, 10, 0xffffffffULL); /* int -1, zero-extended in rax */
	entry(f, STEP, 1300, 10, 10, 7, "Archive");
	ret(f, STEP, 1400, 10, 10, 0xfffffffeULL);
	entry(f, STEP, 1500, 10, 10, 7, "Archive");
	ret(f, STEP, 1600, 10, 10, 0);
	ret(f, TASK, 2000, 10, 10, 0);

	assert_int_equal(f->n, 4);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(f->out[i].name, "Zip.Archive");
		assert_int_equal(f->out[i].attempt, i + 1);
		assert_kv_int(f, i, "step.attempt", i + 1);
	}
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_int_equal(f->out[0].ret, -1);
	assert_string_equal(f->out[0].status_msg, "returned -1 (error: ret < 0)");
	assert_kv_str(f, 0, "error.type", "-1"); /* the error code the predicate read */
	assert_string_equal(tt_span__error_type(&f->out[0]), "-1");
	assert_null(kv(f, 0, "step.status"));
	assert_int_equal(f->out[1].status, TT_STATUS_ERROR);
	assert_int_equal(f->out[1].ret, -2);
	assert_int_equal(f->out[2].status, TT_STATUS_UNSET);
	assert_null(tt_span__error_type(&f->out[2]));
	assert_string_equal(f->out[2].status_msg, "");
}

static void test_attempts_are_per_key_and_step(void **state)
{
	struct fixture *f = *state;

	entry(f, STEP, 100, 10, 10, 1, "A");
	ret(f, STEP, 200, 10, 10, 0);
	entry(f, STEP, 300, 10, 10, 2, "A"); /* another key */
	ret(f, STEP, 400, 10, 10, 0);
	entry(f, STEP, 500, 10, 10, 1, "B"); /* another step */
	ret(f, STEP, 600, 10, 10, 0);
	entry(f, STEP, 700, 11, 11, 1, "A"); /* another process, same key: a retry */
	ret(f, STEP, 800, 11, 11, 0);

	assert_int_equal(f->n, 4);
	assert_int_equal(f->out[0].attempt, 1);
	assert_int_equal(f->out[1].attempt, 1);
	assert_int_equal(f->out[2].attempt, 1);
	assert_int_equal(f->out[3].attempt, 2);
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

static void test_trace_id_vectors(void **state)
{
	/* computed independently: printf the length-prefixed fields | xxhsum -H2 */
	static const uint8_t v1[16] = {0x7b, 0x5f, 0x9a, 0x72, 0x6c, 0x64, 0x86, 0xef,
				       0x8e, 0x1c, 0x19, 0x16, 0xa4, 0x80, 0xab, 0x85};
	static const uint8_t v2[16] = {0xcd, 0xee, 0x4f, 0x0d, 0x01, 0xf2, 0xc2, 0x84,
				       0x72, 0xd3, 0xae, 0xe2, 0xf4, 0x6b, 0xa6, 0x6d};
	uint8_t out[16];

	(void)state;
	tt_ids__trace("tasktap", "demo", "1001", 4, out);
	assert_memory_equal(out, v1, 16);
	tt_ids__trace("fleet-a", "jobs", "order-42", 8, out);
	assert_memory_equal(out, v2, 16);
}

static void test_task_trace_id_derives_from_key(void **state)
{
	struct fixture *f = *state;
	uint8_t want[16];

	entry(f, TASK, 100, 10, 10, 1001, "T");
	ret(f, TASK, 200, 10, 10, 0);
	entry(f, TASK, 300, 11, 11, 1001, "T"); /* same key, another process */
	ret(f, TASK, 400, 11, 11, 0);
	tt_ids__trace(TT_DEFAULT_SALT, "demo", "1001", 4, want);
	assert_memory_equal(f->out[0].trace_id, want, 16);
	assert_memory_equal(f->out[1].trace_id, want, 16);
	assert_memory_not_equal(f->out[0].span_id, f->out[1].span_id, 8);
}

static void test_attempt_memory_is_bounded(void **state)
{
	struct fixture *f = *state; /* max_tries 1000, retry window 1 h */
	struct tt_asm_stats st;

	for (uint64_t k = 0; k < 5000; k++) {
		entry(f, STEP, 100 + k, 10, 10, k, "S");
		ret(f, STEP, 100 + k, 10, 10, 0);
		f->n = 0;
		tt_asm__stats(f->a, &st);
		assert_true(st.tries <= 1000);
	}
	assert_true(st.tries_forgotten >= 4);
}

static void test_attempts_outside_window_are_forgotten(void **state)
{
	struct fixture *f = *state; /* retry window 500 ns */
	struct tt_asm_stats st;

	entry(f, STEP, 100, 10, 10, 1, "S");
	ret(f, STEP, 200, 10, 10, 0);
	entry(f, STEP, 400, 10, 10, 1, "S"); /* within the window: attempt 2 */
	ret(f, STEP, 450, 10, 10, 0);
	entry(f, STEP, 2000, 10, 10, 1, "S"); /* later: a new run, attempt 1 */
	ret(f, STEP, 2100, 10, 10, 0);
	assert_int_equal(f->out[1].attempt, 2);
	assert_int_equal(f->out[2].attempt, 1);
	/* at the bound, old entries are swept rather than everything forgotten */
	for (uint64_t k = 0; k < 3000; k++) {
		entry(f, STEP, 10000 + k * 1000, 10, 10, 100 + k, "S");
		ret(f, STEP, 10000 + k * 1000, 10, 10, 0);
		f->n = 0;
	}
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.tries_forgotten, 0);
	assert_true(st.tries <= 1000);
}

struct seen_tasks {
	char names[8][32];
	char steps[8][32];
	int n;
};

static void note_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	struct seen_tasks *t = ctx;

	snprintf(t->names[t->n], sizeof(t->names[0]), "%s", task->name);
	snprintf(t->steps[t->n], sizeof(t->steps[0]), "%s", step ? step->name : "-");
	t->n++;
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

/* ---- messages, identity, begin/end ------------------------------------- */

static const char spec2_text[] =
	"service: t2\n"
	"keyspace: jobs\n"
	"targets:\n"
	"  - binary: /bin/true\n"
	"    probes:\n"
	"      - role: publish\n" /* hook 1 */
	"        symbol: submit\n"
	"        key: arg0\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"      - role: consume\n" /* hook 2 */
	"        symbol: consume\n"
	"        key: arg0\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"      - role: task\n" /* hook 3 */
	"        symbol: run\n"
	"        key: arg0\n"
	"        attributes: { task.name: str(arg1) }\n"
	"      - role: step\n" /* hooks 4 and 5 */
	"        begin: { symbol: step_begin, key: arg0, attributes: { step.name: str(arg1) } }\n"
	"        end: { symbol: step_end, key: arg0, attributes: { step.name: str(arg1) } }\n"
	"      - role: consume\n" /* hooks 6 and 7 */
	"        begin: { symbol: grab, at: return, key: arg0,\n"
	"                 attributes: { messaging.destination.name: str(arg1) } }\n"
	"        end: { symbol: work, at: return }\n"
	"        error: ret != 0\n"
	"      - role: task\n" /* hook 8 */
	"        symbol: run_tp\n"
	"        key: arg0\n"
	"        traceparent: str(arg1)\n"
	"      - role: publish\n" /* hook 9: the call assigns the id it returns */
	"        symbol: submit_ret\n"
	"        key: str(ret) @return\n";

enum {
	PUB = 1,
	CONS = 2,
	RUN = 3,
	SBEGIN = 4,
	SEND = 5,
	GRAB = 6,
	WORK = 7,
	RUN_TP = 8,
	PUB_RET = 9
};

static int setup2(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {0};
	char err[256];

	assert_non_null(f);
	assert_int_equal(tt_spec__parse("t2.yaml", spec2_text, strlen(spec2_text), &f->spec, err,
					sizeof(err)),
			 0);
	assert_int_equal(f->spec->nhooks, 9);
	o.spec = f->spec;
	o.seed = 7;
	o.async_ttl_ns = 1000;
	o.on_span = collect;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	*state = f;
	return 0;
}

static void test_producer_and_consumer_on_two_nodes_join(void **state)
{
	struct fixture *node_a = *state, *node_b;
	uint8_t want_trace[16], want_producer[8];

	/* node B: another agent, sharing nothing but the spec and the default salt */
	assert_int_equal(setup2((void **)&node_b), 0);
	sentry(node_a, PUB, TT_EV_ENTRY, 100, 10, 10, "job-42", "resize", 0);
	sentry(node_a, PUB, TT_EV_RETURN, 150, 10, 10, NULL, NULL, 0);
	sentry(node_b, CONS, TT_EV_ENTRY, 5000, 77, 77, "job-42", "resize", 0);
	sentry(node_b, RUN, TT_EV_ENTRY, 5100, 77, 77, "job-42", "Resize", 0);
	sentry(node_b, RUN, TT_EV_RETURN, 5800, 77, 77, NULL, NULL, 0);
	sentry(node_b, CONS, TT_EV_RETURN, 5900, 77, 77, NULL, NULL, 0);

	tt_ids__trace(TT_DEFAULT_SALT, "jobs", "job-42", 6, want_trace);
	tt_ids__producer(TT_DEFAULT_SALT, "jobs", "job-42", 6, "", 0, want_producer);
	assert_int_equal(node_a->n, 1);
	assert_string_equal(node_a->out[0].name, "publish resize");
	assert_int_equal(node_a->out[0].kind, TT_KIND_PRODUCER);
	assert_memory_equal(node_a->out[0].trace_id, want_trace, 16);
	assert_memory_equal(node_a->out[0].span_id, want_producer, 8);
	assert_memory_equal(node_a->out[0].parent_id, zero8, 8);
	assert_kv_str(node_a, 0, "messaging.operation.name", "publish");
	assert_kv_str(node_a, 0, "messaging.operation.type", "send");

	assert_int_equal(node_b->n, 2);
	assert_string_equal(node_b->out[1].name, "process resize");
	assert_int_equal(node_b->out[1].kind, TT_KIND_CONSUMER);
	assert_kv_str(node_b, 1, "messaging.operation.name", "process");
	assert_kv_str(node_b, 1, "messaging.operation.type", "process");
	assert_memory_equal(node_b->out[1].trace_id, want_trace, 16);
	assert_memory_equal(node_b->out[1].parent_id, want_producer, 8);
	/* the task runs inside the consume span */
	assert_string_equal(node_b->out[0].name, "Resize");
	assert_memory_equal(node_b->out[0].parent_id, node_b->out[1].span_id, 8);
	assert_memory_equal(node_b->out[0].trace_id, want_trace, 16);
	teardown((void **)&node_b);
}

static void test_publish_inside_another_trace_links_to_it(void **state)
{
	struct fixture *f = *state;
	uint8_t sub[16];

	sentry(f, RUN, TT_EV_ENTRY, 100, 10, 10, "parent-1", "Parent", 0);
	sentry(f, PUB, TT_EV_ENTRY, 200, 10, 10, "child-9", "thumbs", 0);
	sentry(f, PUB, TT_EV_RETURN, 250, 10, 10, NULL, NULL, 0);
	sentry(f, RUN, TT_EV_RETURN, 300, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 2);
	tt_ids__trace(TT_DEFAULT_SALT, "jobs", "child-9", 7, sub);
	/* the publish belongs to the sub-task's trace and links to the task that made it */
	assert_memory_equal(f->out[0].trace_id, sub, 16);
	assert_memory_equal(f->out[0].parent_id, zero8, 8);
	assert_memory_equal(f->out[0].link_trace_id, f->out[1].trace_id, 16);
	assert_memory_equal(f->out[0].link_span_id, f->out[1].span_id, 8);
}

static void test_traceparent_wins(void **state)
{
	struct fixture *f = *state;
	const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	static const uint8_t trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
					  0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	static const uint8_t parent[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};

	sentry(f, RUN_TP, TT_EV_ENTRY, 100, 10, 10, "k", tp, 0);
	sentry(f, RUN_TP, TT_EV_RETURN, 200, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 1);
	assert_memory_equal(f->out[0].trace_id, trace, 16);
	assert_memory_equal(f->out[0].parent_id, parent, 8);
}

/* OTEL_PROPAGATORS=none: a captured traceparent is not joined; the key's trace is used. */
static void test_traceparent_ignored_without_tracecontext(void **state)
{
	struct fixture *f = *state;
	const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	static const uint8_t trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
					  0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	struct tt_asm_opts o = {
		.spec = f->spec, .seed = 7, .on_span = collect, .ctx = f, .no_traceparent = true};

	tt_asm__free(f->a);
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	sentry(f, RUN_TP, TT_EV_ENTRY, 100, 10, 10, "k", tp, 0);
	sentry(f, RUN_TP, TT_EV_RETURN, 200, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 1);
	assert_memory_not_equal(f->out[0].trace_id, trace, 16);
	assert_memory_equal(f->out[0].parent_id, zero8, 8);
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

static void test_job_rerun_after_worker_died_is_attempt_2(void **state)
{
	struct fixture *f = *state;

	sentry(f, GRAB, TT_EV_RETURN, 100, 20, 21, "job-9", "resize", 0);
	thread_exit(f, 200, 20, 21, 9, true); /* the worker is killed mid-job */
	sentry(f, GRAB, TT_EV_RETURN, 300, 30, 31, "job-9", "resize", 0); /* another worker */
	sentry(f, WORK, TT_EV_RETURN, 400, 30, 31, NULL, NULL, 0);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_string_equal(f->out[0].status_msg, "killed by signal 9 (KILL)");
	assert_kv_int(f, 0, "task.attempt", 1);
	assert_kv_int(f, 1, "task.attempt", 2);
	assert_memory_equal(f->out[0].trace_id, f->out[1].trace_id, 16);
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

static void test_key_captured_at_return_derives_ids_at_the_end(void **state)
{
	struct fixture *f = *state;
	uint8_t trace[16], producer[8];

	sentry(f, RUN, TT_EV_ENTRY, 100, 10, 10, "parent-2", "Parent", 0);
	sentry(f, PUB_RET, TT_EV_ENTRY, 200, 10, 10, NULL, NULL, 0);
	sentry(f, PUB_RET, TT_EV_RETURN, 250, 10, 10, "job-77", NULL, 0);
	sentry(f, RUN, TT_EV_RETURN, 300, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 2);
	tt_ids__trace(TT_DEFAULT_SALT, "jobs", "job-77", 6, trace);
	tt_ids__producer(TT_DEFAULT_SALT, "jobs", "job-77", 6, "", 0, producer);
	assert_kv_str(f, 0, "task.id", "job-77");
	assert_memory_equal(f->out[0].trace_id, trace, 16);
	assert_memory_equal(f->out[0].span_id, producer, 8);
	/* made inside Parent's trace: a link to it, not a child of it */
	assert_memory_equal(f->out[0].parent_id, zero8, 8);
	assert_memory_equal(f->out[0].link_trace_id, f->out[1].trace_id, 16);
	assert_memory_equal(f->out[0].link_span_id, f->out[1].span_id, 8);
}

static void test_salt_from_the_spec_changes_every_derived_id(void **state)
{
	static const char salted[] = "service: s\nkeyspace: jobs\nsalt: fleet-a\ntargets:\n"
				     "  - binary: /bin/true\n    probes:\n"
				     "      - { role: task, symbol: run, key: str(arg0) }\n";
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {0};
	uint8_t want[16];
	char err[256];

	(void)state;
	assert_int_equal(
		tt_spec__parse("s.yaml", salted, strlen(salted), &f->spec, err, sizeof(err)), 0);
	assert_string_equal(f->spec->salt, "fleet-a");
	o.spec = f->spec;
	o.on_span = collect;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	sentry(f, 1, TT_EV_ENTRY, 100, 10, 10, "order-42", NULL, 0);
	sentry(f, 1, TT_EV_RETURN, 200, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 1);
	tt_ids__trace("fleet-a", "jobs", "order-42", 8, want);
	assert_memory_equal(f->out[0].trace_id, want, 16);
	/* the independently computed vector of test_trace_id_vectors, for this salt */
	assert_int_equal(f->out[0].trace_id[0], 0xcd);
	teardown((void **)&f);
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

static void test_producer_id_vector(void **state)
{
	/* printf the length-prefixed fields (tasktap, P, jobs, job-42, "") | xxhsum -H3 */
	static const uint8_t want[8] = {0x3e, 0x7b, 0x02, 0x9d, 0x08, 0xe0, 0x90, 0xda};
	uint8_t out[8];

	(void)state;
	tt_ids__producer("tasktap", "jobs", "job-42", 6, "", 0, out);
	assert_memory_equal(out, want, 8);
}

static void test_ret_value_rule(void **state)
{
	(void)state;
	assert_int_equal(tt_ret__value(0xffffffffULL), -1);
	assert_int_equal(tt_ret__value(5), 5);
	assert_int_equal(tt_ret__value(0xffffffffffffffffULL), -1);
	assert_int_equal(tt_ret__value(0x00007fff12345678ULL), 0x00007fff12345678LL);
}

/* ---- redact: hashed wherever the value would show ---------------------- */

static const char redact_text[] = "service: r\n"
				  "keyspace: demo\n"
				  "targets:\n"
				  "  - binary: /bin/true\n"
				  "    probes:\n"
				  "      - role: task\n"
				  "        symbol: run_task\n"
				  "        key: arg0\n"
				  "        attributes: { task.name: str(arg1) }\n"
				  "        redact: [task.name]\n"
				  "      - role: step\n"
				  "        symbol: execute_step\n"
				  "        key: arg0\n"
				  "        attributes: { step.name: str(arg1) }\n"
				  "        redact: [step.name]\n"
				  "      - role: task\n"
				  "        symbol: run_named\n"
				  "        key: arg0\n"
				  "        name: \"job {task.id} for {who}\"\n"
				  "        attributes: { who: str(arg1) }\n"
				  "        redact: [who, task.id]\n";

enum { RTASK = 1, RSTEP = 2, RNAMED = 3 };

static int setup_redact(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {.seed = 1, .on_span = collect};
	char err[256];

	assert_non_null(f);
	assert_int_equal(tt_spec__parse("r.yaml", redact_text, strlen(redact_text), &f->spec, err,
					sizeof(err)),
			 0);
	o.spec = f->spec;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	*state = f;
	return 0;
}

/* "xxh3:<16 hex digits>" of text, as the agent writes a redacted value. */
static const char *hashed(const char *text, char *buf, size_t len)
{
	snprintf(buf, len, "xxh3:%016llx", (unsigned long long)XXH3_64bits(text, strlen(text)));
	return buf;
}

/*
 * A redacted task.name or step.name names the span: its hash does, in the
 * span's name, in the open tasks (/tasks, task_in_flight{task_name}) and
 * in a name template; the value never shows.
 */
static void test_redacted_values_never_name_a_span(void **state)
{
	struct fixture *f = *state;
	struct seen_tasks t = {0};
	char task[32], step[32], who[32], want[96];

	hashed("SecretCustomer", task, sizeof(task));
	hashed("ChargeCard", step, sizeof(step));
	hashed("alice@example.com", who, sizeof(who));
	entry(f, RTASK, 100, 10, 10, 1, "SecretCustomer");
	entry(f, RSTEP, 150, 10, 10, 1, "ChargeCard");
	entry(f, RNAMED, 200, 20, 20, 4242, "alice@example.com");
	/* while they are open */
	tt_asm__for_each_task(f->a, 0, note_task, &t);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.names[0], task);
	snprintf(want, sizeof(want), "%s.%s", task, step);
	assert_memory_equal(t.steps[0], want, sizeof(t.steps[0]) - 1); /* as note_task cut it */
	assert_int_equal(strncmp(t.names[1], "job xxh3:", 9), 0);
	assert_null(strstr(t.names[1], "4242"));
	/* and once ended */
	ret(f, RSTEP, 160, 10, 10, 0);
	ret(f, RTASK, 170, 10, 10, 0);
	ret(f, RNAMED, 210, 20, 20, 0);
	assert_int_equal(f->n, 3);
	assert_string_equal(f->out[0].name, want);
	assert_kv_str(f, 0, "step.name", step);
	assert_string_equal(f->out[1].name, task);
	assert_kv_str(f, 1, "task.name", task);
	assert_non_null(kv(f, 2, "task.id"));
	snprintf(want, sizeof(want), "job %.*s for %s", (int)kv(f, 2, "task.id")->len,
		 kv(f, 2, "task.id")->str, who);
	assert_string_equal(f->out[2].name, want);
	assert_null(strstr(f->out[2].name, "4242"));
	assert_kv_str(f, 2, "who", who);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_task_with_nested_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retries_count_attempts_and_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_attempts_are_per_key_and_step, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_error_predicate_on_task, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_parallel_steps_on_other_threads_join_task_by_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_innermost_task_on_thread_wins_over_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recursion_pairs_innermost_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_return_without_entry_is_counted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exit_after_lost_events_ends_open_spans_as_lost,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_losses_long_ago_are_blurred_not_forgotten,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_not_seen_ends_spans_as_lost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lost_return_unwinds_inner_spans, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_thread_exit_ends_its_spans_as_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exit_status_is_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_processes_gone_unseen_end_as_lost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_end_process_closes_every_thread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_eviction_at_bound, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_eviction_from_middle_of_stack_keeps_pairing,
						setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_end_all_at_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_attribute_is_named, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_events_are_refused, setup, teardown),
		cmocka_unit_test(test_trace_id_vectors),
		cmocka_unit_test_setup_teardown(test_task_trace_id_derives_from_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_attempt_memory_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempts_outside_window_are_forgotten,
						setup_short_window, teardown),
		cmocka_unit_test_setup_teardown(test_open_tasks_with_current_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_producer_and_consumer_on_two_nodes_join,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_publish_inside_another_trace_links_to_it,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_traceparent_wins, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_traceparent_ignored_without_tracecontext,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_begin_end_pair_by_key_and_step_across_threads,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_rings_are_merged_before_pairing,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_begin_and_end_at_return_pair_per_thread,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_job_rerun_after_worker_died_is_attempt_2,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_keys_end_newest_first, setup2,
						teardown),
		cmocka_unit_test_setup_teardown(test_begin_without_end_expires, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_key_captured_at_return_derives_ids_at_the_end,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_respec_keeps_the_spans_of_hooks_that_stayed,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_open_spans_cross_to_a_new_assembler, setup,
						teardown),
		cmocka_unit_test(test_salt_from_the_spec_changes_every_derived_id),
		cmocka_unit_test(test_producer_id_vector),
		cmocka_unit_test(test_ret_value_rule),
		cmocka_unit_test_setup_teardown(test_redacted_values_never_name_a_span,
						setup_redact, teardown),
	};

	return cmocka_run_group_tests_name("assemble", tests, NULL, NULL);
}
