// SPDX-License-Identifier: MIT
/*
 * The assembler's late binding on synthetic event streams: annotate probes
 * (late keys, attributes, outcomes, error_unless), several probes ending at
 * one return, and publish identity.
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

static const char spec3_text[] =
	"service: t3\n"
	"keyspace: q\n"
	"targets:\n"
	"  - binary: /bin/true\n"
	"    probes:\n"
	"      - role: publish\n" /* hook 1 */
	"        symbol: publish\n"
	"        key: str(arg0)\n"
	"      - role: consume\n" /* hook 2: the delivery frame, no key yet */
	"        symbol: deliver\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"        error_unless: ack\n"
	"      - role: annotate\n" /* hook 3: the header frame brings the key */
	"        of: consume\n"
	"        symbol: header\n"
	"        key: str(arg0)\n"
	"        attributes: { app.header: str(arg1) }\n"
	"      - role: annotate\n" /* hook 4 */
	"        of: consume\n"
	"        symbol: ack\n"
	"        name: ack\n"
	"      - role: annotate\n" /* hook 5 */
	"        of: consume\n"
	"        symbol: nack\n"
	"        status: error\n"
	"        message: nacked by the worker\n"
	"      - role: task\n" /* hook 6 */
	"        symbol: run\n"
	"        key: str(arg0)\n"
	"      - role: annotate\n" /* hook 7: ends at run's return too */
	"        of: consume\n"
	"        symbol: run\n"
	"        attributes: { job.name: str(arg0) }\n"
	"      - role: annotate\n" /* hook 8: a USDT point */
	"        of: task\n"
	"        usdt: app:done\n"
	"        status: ok\n"
	"      - role: annotate\n" /* hook 9: by key, from any thread */
	"        of: task\n"
	"        symbol: cancel\n"
	"        key: str(arg0)\n"
	"        status: error\n"
	"        message: cancelled\n";

enum { Q_PUB = 1, Q_DELIVER, Q_HEADER, Q_ACK, Q_NACK, Q_RUN, Q_RUN_RC, Q_DONE, Q_CANCEL };

static int setup3(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {0};
	char err[256];

	assert_non_null(f);
	assert_int_equal(tt_spec__parse("t3.yaml", spec3_text, strlen(spec3_text), &f->spec, err,
					sizeof(err)),
			 0);
	o.spec = f->spec;
	o.seed = 3;
	o.on_span = collect;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	*state = f;
	return 0;
}

/* A call of `hook` on thread (pid, pid) from ts to ts + 10, with a key and an attribute. */
static void call(struct fixture *f, uint32_t hook, uint64_t ts, uint32_t pid, const char *key,
		 const char *attr)
{
	sentry(f, hook, TT_EV_ENTRY, ts, pid, pid, key, attr, 0);
	sentry(f, hook, TT_EV_RETURN, ts + 10, pid, pid, NULL, NULL, 0);
}

static void test_annotate_gives_a_consume_its_key_later(void **state)
{
	struct fixture *f = *state;
	uint8_t trace[16], producer[8];
	struct tt_asm_stats st;
	int pub, cons, task;

	call(f, Q_PUB, 100, 1, "m1", NULL);
	sentry(f, Q_DELIVER, TT_EV_ENTRY, 1000, 2, 2, NULL, "orders", 0);
	call(f, Q_HEADER, 1100, 2, "m1", "h1"); /* the key arrives */
	call(f, Q_RUN, 1200, 2, "m1", NULL);
	call(f, Q_ACK, 1300, 2, NULL, NULL);
	sentry(f, Q_DELIVER, TT_EV_RETURN, 1400, 2, 2, NULL, NULL, 0);

	assert_int_equal(f->n, 3); /* annotate probes make no span */
	pub = by_name_index(f, "publish publish");
	cons = by_name_index(f, "process orders");
	task = by_name_index(f, "run");
	tt_ids__trace(TT_DEFAULT_SALT, "q", "m1", 2, trace);
	tt_ids__producer(TT_DEFAULT_SALT, "q", "m1", 2, "", 0, producer);
	assert_memory_equal(f->out[pub].span_id, producer, 8);
	/* settled as if the key had come at its start */
	assert_memory_equal(f->out[cons].trace_id, trace, 16);
	assert_memory_equal(f->out[cons].parent_id, producer, 8);
	assert_kv_str(f, cons, "task.id", "m1");
	assert_kv_str(f, cons, "app.header", "h1");
	assert_kv_int(f, cons, "task.attempt", 1);
	assert_int_equal(f->out[cons].start_ns, 1000);
	/* acked: error_unless is satisfied */
	assert_int_equal(f->out[cons].status, TT_STATUS_UNSET);
	/* the task, started after the key, is its child in the same trace */
	assert_memory_equal(f->out[task].trace_id, trace, 16);
	assert_memory_equal(f->out[task].parent_id, f->out[cons].span_id, 8);
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.annotated, 2);
	assert_int_equal(st.unannotated, 0);
	assert_int_equal(st.late_keys, 1);
	assert_int_equal(st.spans_started, 3);
	assert_int_equal(st.spans_finished, 3);
	assert_int_equal(st.open_spans, 0);
}

static void test_error_unless_without_its_marker_is_an_error(void **state)
{
	struct fixture *f = *state;

	sentry(f, Q_DELIVER, TT_EV_ENTRY, 1000, 2, 2, NULL, "orders", 0);
	call(f, Q_HEADER, 1100, 2, "m1", "h1");
	sentry(f, Q_DELIVER, TT_EV_RETURN, 1400, 2, 2, NULL, NULL, 0);
	/* the next delivery on the thread is acked: only the first fails */
	sentry(f, Q_DELIVER, TT_EV_ENTRY, 2000, 2, 2, NULL, "orders", 0);
	call(f, Q_ACK, 2100, 2, NULL, NULL);
	sentry(f, Q_DELIVER, TT_EV_RETURN, 2400, 2, 2, NULL, NULL, 0);

	assert_int_equal(f->n, 2);
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_string_equal(f->out[0].status_msg,
			    "no 'ack' before the span ended (error_unless: ack)");
	assert_kv_str(f, 0, "error.type", "error_unless");
	assert_int_equal(f->out[1].status, TT_STATUS_UNSET);
	assert_null(kv(f, 1, "task.id")); /* never learnt a key */
}

static void test_annotate_status_from_another_function(void **state)
{
	struct fixture *f = *state;

	sentry(f, Q_DELIVER, TT_EV_ENTRY, 1000, 2, 2, NULL, "orders", 0);
	call(f, Q_HEADER, 1100, 2, "m1", "h1");
	call(f, Q_NACK, 1200, 2, NULL, NULL);
	call(f, Q_ACK, 1300, 2, NULL, NULL); /* a marker does not undo an error */
	sentry(f, Q_DELIVER, TT_EV_RETURN, 1400, 2, 2, NULL, NULL, 0);

	/* nacked and never acked: the nack's error, not the missing ack's */
	sentry(f, Q_DELIVER, TT_EV_ENTRY, 2000, 2, 2, NULL, "orders", 0);
	call(f, Q_NACK, 2100, 2, NULL, NULL);
	sentry(f, Q_DELIVER, TT_EV_RETURN, 2400, 2, 2, NULL, NULL, 0);

	assert_int_equal(f->n, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(f->out[i].status, TT_STATUS_ERROR);
		assert_string_equal(f->out[i].status_msg, "nacked by the worker");
		assert_kv_str(f, i, "error.type", "nack");
	}
}

static void test_annotate_without_an_open_span_is_counted_per_hook(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_stats st;

	call(f, Q_ACK, 100, 2, NULL, NULL);
	call(f, Q_ACK, 200, 2, NULL, NULL);
	call(f, Q_HEADER, 300, 3, "m1", "h"); /* another thread, and no consume has key m1 */
	/* an open consume on thread 2 does not take an annotate fired on thread 3 */
	sentry(f, Q_DELIVER, TT_EV_ENTRY, 400, 2, 2, NULL, "orders", 0);
	call(f, Q_NACK, 500, 3, NULL, NULL);
	sentry(f, Q_DELIVER, TT_EV_RETURN, 600, 2, 2, NULL, NULL, 0);

	assert_int_equal(f->n, 1);
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.unannotated, 4);
	assert_int_equal(tt_asm__unannotated(f->a, Q_ACK), 2);
	assert_int_equal(tt_asm__unannotated(f->a, Q_HEADER), 1);
	assert_int_equal(tt_asm__unannotated(f->a, Q_NACK), 1);
	assert_int_equal(tt_asm__unannotated(f->a, Q_DELIVER), 0);
	assert_int_equal(st.spans_started, 1);
	assert_int_equal(st.open_spans, 0);
}

static void test_late_key_after_a_child_was_exported_keeps_the_trace(void **state)
{
	struct fixture *f = *state;
	uint8_t trace[16], producer[8];
	struct tt_asm_stats st;

	sentry(f, Q_DELIVER, TT_EV_ENTRY, 1000, 2, 2, NULL, "orders", 0);
	call(f, Q_RUN, 1100, 2, "m2", NULL); /* exported under the delivery's first trace */
	call(f, Q_HEADER, 1200, 2, "m2", "h");
	call(f, Q_ACK, 1300, 2, NULL, NULL);
	sentry(f, Q_DELIVER, TT_EV_RETURN, 1400, 2, 2, NULL, NULL, 0);

	assert_int_equal(f->n, 2);
	tt_ids__trace(TT_DEFAULT_SALT, "q", "m2", 2, trace);
	tt_ids__producer(TT_DEFAULT_SALT, "q", "m2", 2, "", 0, producer);
	/* nothing exported changes: the consume stays in its child's trace, linked */
	assert_memory_equal(f->out[1].trace_id, f->out[0].trace_id, 16);
	assert_memory_equal(f->out[0].parent_id, f->out[1].span_id, 8);
	assert_memory_not_equal(f->out[1].trace_id, trace, 16);
	assert_memory_equal(f->out[1].link_trace_id, trace, 16);
	assert_memory_equal(f->out[1].link_span_id, producer, 8);
	assert_kv_str(f, 1, "task.id", "m2");
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.late_keys_kept, 1);
}

static void test_late_key_moves_open_children(void **state)
{
	struct fixture *f = *state;
	uint8_t trace[16];

	sentry(f, Q_DELIVER, TT_EV_ENTRY, 1000, 2, 2, NULL, "orders", 0);
	sentry(f, Q_RUN, TT_EV_ENTRY, 1100, 2, 2, "m3", NULL, 0); /* open while the key comes */
	call(f, Q_HEADER, 1200, 2, "m3", "h");
	sentry(f, Q_RUN, TT_EV_RETURN, 1300, 2, 2, NULL, NULL, 0);
	call(f, Q_ACK, 1350, 2, NULL, NULL);
	sentry(f, Q_DELIVER, TT_EV_RETURN, 1400, 2, 2, NULL, NULL, 0);

	assert_int_equal(f->n, 2);
	tt_ids__trace(TT_DEFAULT_SALT, "q", "m3", 2, trace);
	assert_memory_equal(f->out[0].trace_id, trace, 16);
	assert_memory_equal(f->out[1].trace_id, trace, 16);
	assert_memory_equal(f->out[0].parent_id, f->out[1].span_id, 8);
}

static void test_a_second_publish_of_a_key_has_its_own_span_id(void **state)
{
	struct fixture *node_a = *state, *node_b;
	uint8_t producer[8];

	assert_int_equal(setup3((void **)&node_b), 0);
	call(node_a, Q_PUB, 100, 1, "k", NULL);
	call(node_a, Q_PUB, 200, 1, "k", NULL); /* a re-push after a failure */
	call(node_a, Q_PUB, 300, 1, "other", NULL);
	call(node_a, Q_RUN, 400, 5, "k", NULL);
	/* a consume on this node: the newest publish of its key */
	sentry(node_a, Q_DELIVER, TT_EV_ENTRY, 500, 2, 2, NULL, "orders", 0);
	call(node_a, Q_HEADER, 600, 2, "k", "h");
	call(node_a, Q_ACK, 700, 2, NULL, NULL);
	sentry(node_a, Q_DELIVER, TT_EV_RETURN, 800, 2, 2, NULL, NULL, 0);
	/* on another node: the derived first publish, the one id it can know */
	sentry(node_b, Q_DELIVER, TT_EV_ENTRY, 500, 2, 2, NULL, "orders", 0);
	call(node_b, Q_HEADER, 600, 2, "k", "h");
	call(node_b, Q_ACK, 700, 2, NULL, NULL);
	sentry(node_b, Q_DELIVER, TT_EV_RETURN, 800, 2, 2, NULL, NULL, 0);

	tt_ids__producer(TT_DEFAULT_SALT, "q", "k", 1, "", 0, producer);
	assert_int_equal(node_a->n, 5);
	assert_memory_equal(node_a->out[0].span_id, producer, 8);
	assert_memory_not_equal(node_a->out[1].span_id, producer, 8);
	assert_memory_equal(node_a->out[1].trace_id, node_a->out[0].trace_id, 16);
	/* no two spans of the trace share an id */
	for (int i = 0; i < node_a->n; i++) {
		for (int j = i + 1; j < node_a->n; j++)
			assert_memory_not_equal(node_a->out[i].span_id, node_a->out[j].span_id, 8);
	}
	assert_memory_equal(node_a->out[4].parent_id, node_a->out[1].span_id, 8);
	assert_int_equal(node_b->n, 1);
	assert_memory_equal(node_b->out[0].parent_id, producer, 8);
	assert_memory_equal(node_b->out[0].trace_id, node_a->out[0].trace_id, 16);
	teardown((void **)&node_b);
}

/*
 * Two probes end at run's return: the kernel runs their return handlers in
 * the order of their entries, not nested, so the lower one returns first.
 */
static void test_several_probes_end_at_one_return(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_stats st;

	for (int order = 0; order < 2; order++) {
		uint64_t t = 1000 * (uint64_t)(order + 1);
		uint32_t first = order ? Q_RUN_RC : Q_RUN, second = order ? Q_RUN : Q_RUN_RC;

		sentry(f, Q_DELIVER, TT_EV_ENTRY, t, 2, 2, NULL, "orders", 0);
		call(f, Q_HEADER, t + 10, 2, "m1", "h");
		sentry(f, first, TT_EV_ENTRY, t + 100, 2, 2, "m1", NULL, 0);
		sentry(f, second, TT_EV_ENTRY, t + 101, 2, 2, "m1", NULL, 0);
		sentry(f, first, TT_EV_RETURN, t + 200, 2, 2, NULL, NULL, 7);
		sentry(f, second, TT_EV_RETURN, t + 201, 2, 2, NULL, NULL, 7);
		call(f, Q_ACK, t + 300, 2, NULL, NULL);
		sentry(f, Q_DELIVER, TT_EV_RETURN, t + 400, 2, 2, NULL, NULL, 0);
	}
	assert_int_equal(f->n, 4);
	for (int k = 0; k < 2; k++) {
		int task = 2 * k, cons = 2 * k + 1;

		assert_string_equal(f->out[task].name, "run");
		assert_int_equal(f->out[task].cut, TT_CUT_NONE); /* not ended as unwound */
		assert_int_equal(f->out[task].end_ns, 1000 * (uint64_t)(k + 1) + (k ? 201 : 200));
		assert_memory_equal(f->out[task].parent_id, f->out[cons].span_id, 8);
		assert_string_equal(f->out[cons].name, "process orders");
		assert_kv_str(f, cons, "job.name", "m1");
		assert_int_equal(f->out[cons].status, TT_STATUS_UNSET);
	}
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.orphan_returns, 0);
	assert_int_equal(st.unannotated, 0);
}

static void test_annotate_ok_at_a_usdt_point_and_error_by_key(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_stats st;

	sentry(f, Q_RUN, TT_EV_ENTRY, 100, 2, 2, "m1", NULL, 0);
	sentry(f, Q_DONE, TT_EV_ENTRY, 150, 2, 2, NULL, NULL, 0); /* a point: no return */
	sentry(f, Q_RUN, TT_EV_RETURN, 200, 2, 2, NULL, NULL, 0);
	sentry(f, Q_RUN, TT_EV_ENTRY, 300, 2, 2, "m2", NULL, 0);
	call(f, Q_CANCEL, 350, 3, "m2", NULL); /* another thread, by the task's key */
	sentry(f, Q_DONE, TT_EV_ENTRY, 360, 2, 2, NULL, NULL, 0); /* ok does not undo it */
	sentry(f, Q_RUN, TT_EV_RETURN, 400, 2, 2, NULL, NULL, 0);
	call(f, Q_CANCEL, 500, 3, "m3", NULL); /* no task m3 is open */

	assert_int_equal(f->n, 2);
	assert_int_equal(f->out[0].status, TT_STATUS_OK);
	assert_int_equal(f->out[1].status, TT_STATUS_ERROR);
	assert_string_equal(f->out[1].status_msg, "cancelled");
	assert_kv_str(f, 1, "error.type", "cancel");
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.annotated, 3);
	assert_int_equal(tt_asm__unannotated(f->a, Q_CANCEL), 1);
}

static const char spec4_text[] =
	"service: t4\n"
	"keyspace: w\n"
	"targets:\n"
	"  - binary: /bin/true\n"
	"    probes:\n"
	"      - role: task\n" /* hook 1 */
	"        symbol: work\n"
	"        key: str(arg0)\n"
	"        name: \"run {task.name}\"\n"
	"      - role: annotate\n" /* hook 2: the task's name, once the message is read */
	"        of: task\n"
	"        symbol: named\n"
	"        attributes: { task.name: str(arg0) }\n"
	"      - role: annotate\n" /* hook 3 */
	"        of: task\n"
	"        symbol: handle_failure\n"
	"        status: error\n"
	"      - role: annotate\n" /* hook 4: the exception's class, stored after the failure */
	"        of: task\n"
	"        symbol: store_result\n"
	"        attributes: { exception.type: str(arg0) }\n"
	"      - role: annotate\n" /* hook 5 */
	"        of: task\n"
	"        symbol: classify\n"
	"        attributes: { error.type: str(arg0) }\n";

enum { W_WORK = 1, W_NAMED, W_FAILURE, W_STORE, W_CLASSIFY };

static int setup4(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {0};
	char err[256];

	assert_non_null(f);
	assert_int_equal(tt_spec__parse("t4.yaml", spec4_text, strlen(spec4_text), &f->spec, err,
					sizeof(err)),
			 0);
	o.spec = f->spec;
	o.seed = 4;
	o.on_span = collect;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	*state = f;
	return 0;
}

/* How many attributes `key` span `span` has. */
static int count_kv(struct fixture *f, int span, const char *key)
{
	int n = 0;

	for (int i = 0; i < f->nkv[span]; i++)
		n += strcmp(f->kv[span][i].key, key) == 0;
	return n;
}

static void test_an_annotates_error_type_wins_over_the_default(void **state)
{
	struct fixture *f = *state;

	/* failed, its exception's class stored later: that is its error.type */
	sentry(f, W_WORK, TT_EV_ENTRY, 100, 2, 2, "k1", NULL, 0);
	call(f, W_FAILURE, 110, 2, NULL, NULL);
	call(f, W_STORE, 130, 2, NULL, "ValueError");
	sentry(f, W_WORK, TT_EV_RETURN, 200, 2, 2, NULL, NULL, 0);
	/* error.type given too: it wins over exception.type */
	sentry(f, W_WORK, TT_EV_ENTRY, 300, 2, 2, "k2", NULL, 0);
	call(f, W_FAILURE, 310, 2, NULL, NULL);
	call(f, W_STORE, 330, 2, NULL, "JobFailed");
	call(f, W_CLASSIFY, 350, 2, NULL, "app.Fatal");
	sentry(f, W_WORK, TT_EV_RETURN, 400, 2, 2, NULL, NULL, 0);
	/* none given: the annotate's function */
	sentry(f, W_WORK, TT_EV_ENTRY, 500, 2, 2, "k3", NULL, 0);
	call(f, W_FAILURE, 510, 2, NULL, NULL);
	sentry(f, W_WORK, TT_EV_RETURN, 600, 2, 2, NULL, NULL, 0);
	/* given, but no error: an attribute like any other */
	sentry(f, W_WORK, TT_EV_ENTRY, 700, 2, 2, "k4", NULL, 0);
	call(f, W_CLASSIFY, 710, 2, NULL, "none");
	sentry(f, W_WORK, TT_EV_RETURN, 800, 2, 2, NULL, NULL, 0);
	/* cut when its thread exits: still the exception's class (tasktap.cut says why) */
	sentry(f, W_WORK, TT_EV_ENTRY, 900, 3, 3, "k5", NULL, 0);
	call(f, W_FAILURE, 910, 3, NULL, NULL);
	call(f, W_STORE, 930, 3, NULL, "KeyError");
	thread_exit(f, 1000, 3, 3, 0, true);

	assert_int_equal(f->n, 5);
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_kv_str(f, 0, "error.type", "ValueError");
	assert_kv_str(f, 0, "exception.type", "ValueError");
	assert_string_equal(tt_span__error_type(&f->out[0]), "ValueError"); /* the event's */
	assert_int_equal(count_kv(f, 0, "error.type"), 1);

	assert_int_equal(f->out[1].status, TT_STATUS_ERROR);
	assert_kv_str(f, 1, "error.type", "app.Fatal");
	assert_kv_str(f, 1, "exception.type", "JobFailed");
	assert_string_equal(tt_span__error_type(&f->out[1]), "app.Fatal");
	assert_int_equal(count_kv(f, 1, "error.type"), 1);

	assert_int_equal(f->out[2].status, TT_STATUS_ERROR);
	assert_kv_str(f, 2, "error.type", "handle_failure");
	assert_null(kv(f, 2, "exception.type"));

	assert_int_equal(f->out[3].status, TT_STATUS_UNSET);
	assert_kv_str(f, 3, "error.type", "none");
	assert_int_equal(count_kv(f, 3, "error.type"), 1);
	assert_null(tt_span__error_type(&f->out[3]));

	assert_int_equal(f->out[4].status, TT_STATUS_ERROR);
	assert_kv_str(f, 4, "tasktap.cut", "exit");
	assert_kv_str(f, 4, "error.type", "KeyError");
	assert_string_equal(tt_span__error_type(&f->out[4]), "KeyError");
	assert_int_equal(count_kv(f, 4, "error.type"), 1);
}

static void note_task_name(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	snprintf(ctx, TT_SPAN_NAME_MAX, "%s", task->name);
}

static void test_a_name_template_is_resolved_when_the_span_ends(void **state)
{
	struct fixture *f = *state;
	char open_name[TT_SPAN_NAME_MAX] = "unset";

	sentry(f, W_WORK, TT_EV_ENTRY, 100, 2, 2, "k1", NULL, 0);
	tt_asm__for_each_task(f->a, 0, note_task_name, open_name);
	assert_string_equal(open_name, "run "); /* /tasks: what is known so far */
	call(f, W_NAMED, 110, 2, NULL, "resize");
	tt_asm__for_each_task(f->a, 0, note_task_name, open_name);
	assert_string_equal(open_name, "run resize");
	sentry(f, W_WORK, TT_EV_RETURN, 200, 2, 2, NULL, NULL, 0);
	/* cut before its return: named all the same */
	sentry(f, W_WORK, TT_EV_ENTRY, 300, 3, 3, "k2", NULL, 0);
	call(f, W_NAMED, 310, 3, NULL, "thumbnail");
	thread_exit(f, 400, 3, 3, 0, true);

	assert_int_equal(f->n, 2);
	assert_string_equal(f->out[0].name, "run resize");
	assert_kv_str(f, 0, "task.name", "resize");
	assert_string_equal(f->out[1].name, "run thumbnail");
	assert_kv_str(f, 1, "tasktap.cut", "exit");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_annotate_gives_a_consume_its_key_later, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(test_error_unless_without_its_marker_is_an_error,
						setup3, teardown),
		cmocka_unit_test_setup_teardown(test_annotate_status_from_another_function, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_annotate_without_an_open_span_is_counted_per_hook, setup3, teardown),
		cmocka_unit_test_setup_teardown(
			test_late_key_after_a_child_was_exported_keeps_the_trace, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_late_key_moves_open_children, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_second_publish_of_a_key_has_its_own_span_id,
						setup3, teardown),
		cmocka_unit_test_setup_teardown(test_several_probes_end_at_one_return, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(test_annotate_ok_at_a_usdt_point_and_error_by_key,
						setup3, teardown),
		cmocka_unit_test_setup_teardown(test_an_annotates_error_type_wins_over_the_default,
						setup4, teardown),
		cmocka_unit_test_setup_teardown(test_a_name_template_is_resolved_when_the_span_ends,
						setup4, teardown),
	};

	return cmocka_run_group_tests_name("assemble_annotate", tests, NULL, NULL);
}
