// SPDX-License-Identifier: MIT
/*
 * Metrics from synthetic spans: no BPF, no assembler. Spans are made here
 * from hand-built probes whose attributes are constants, so each test says
 * exactly which labels a span carries.
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_spans.h"
#include "assemble.h"
#include "export/metrics.h"
#include "spec.h"

#define NS 1000000000ULL

/* ---- a visitor that finds one series ------------------------------------- */

struct find {
	enum tt_metric_id id;
	const char *want[TT_METRIC_MAX_LABELS]; /* NULL: any value */
	struct tt_series_view got;
	uint64_t buckets[TT_METRIC_MAX_BOUNDS + 1];
	char values[TT_METRIC_MAX_LABELS][TT_LABEL_VALUE_MAX];
	int matches;
	size_t nseries; /* of the metric */
};

static int find_metric(enum tt_metric_id id, const struct tt_metric_desc *d, size_t n, void *ctx)
{
	struct find *f = ctx;

	if (id == f->id)
		f->nseries = n;
	return 0;
}

static int find_series(const struct tt_series_view *s, void *ctx)
{
	struct find *f = ctx;

	if (s->id != f->id)
		return 0;
	for (int i = 0; i < s->desc->nlabels; i++) {
		if (f->want[i] && strcmp(f->want[i], s->values[i]) != 0)
			return 0;
	}
	f->matches++;
	f->got = *s;
	for (int i = 0; i < s->desc->nlabels; i++) {
		snprintf(f->values[i], sizeof(f->values[i]), "%s", s->values[i]);
		f->got.values[i] = f->values[i];
	}
	if (s->buckets) {
		memcpy(f->buckets, s->buckets, (s->desc->nbounds + 1) * sizeof(uint64_t));
		f->got.buckets = f->buckets;
	}
	return 0;
}

/* The one series of `id` with labels l0..l3 (NULL: any); fails unless exactly one matches. */
static struct find lookup(const struct tt_metrics *m, enum tt_metric_id id, const char *l0,
			  const char *l1, const char *l2, const char *l3)
{
	struct find f = {.id = id, .want = {l0, l1, l2, l3}};
	struct tt_metrics_visitor v = {.metric = find_metric, .series = find_series, .ctx = &f};

	assert_int_equal(tt_metrics__visit(m, &v), 0);
	if (f.matches != 1)
		fail_msg("%d series of %s match, expected 1", f.matches, tt_metric__desc(id)->name);
	return f;
}

static int count_series(const struct tt_metrics *m, enum tt_metric_id id)
{
	struct find f = {.id = id};
	struct tt_metrics_visitor v = {.series = find_series, .ctx = &f};

	assert_int_equal(tt_metrics__visit(m, &v), 0);
	return f.matches;
}

/* ---- fixtures ------------------------------------------------------------ */

struct fixture {
	struct tt_metrics *m;
	struct fake_probe task, task_plain, step, comp, publish;
};

static int setup_with(void **state, uint32_t max_series)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_metrics_opts o = {.max_series = max_series, .start_unix_ns = 42};

	assert_non_null(f);
	f->m = tt_metrics__new(&o);
	assert_non_null(f->m);
	fake_probe__init(&f->task, TT_ROLE_TASK, "run_task");
	fake_probe__attr(&f->task, "task.name", "Zip");
	fake_probe__init(&f->task_plain, TT_ROLE_TASK, "plain_task");
	fake_probe__init(&f->step, TT_ROLE_STEP, "execute_step");
	fake_probe__attr(&f->step, "step.name", "Upload");
	fake_probe__init(&f->comp, TT_ROLE_COMPENSATION, "undo_step");
	fake_probe__attr(&f->comp, "step.name", "Upload");
	fake_probe__init(&f->publish, TT_ROLE_PUBLISH, "amqp_basic_publish");
	fake_probe__attr(&f->publish, "messaging.system", "rabbitmq");
	fake_probe__attr(&f->publish, "messaging.destination.name", "images");
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0);
}

static int setup_small(void **state)
{
	return setup_with(state, 4);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tt_metrics__free(f->m);
	free(f);
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_descriptions_are_complete(void **state)
{
	for (int id = 0; id < TT_M__COUNT; id++) {
		const struct tt_metric_desc *d = tt_metric__desc(id);

		assert_non_null(d);
		assert_non_null(d->name);
		assert_non_null(d->unit);
		assert_non_null(d->help);
		assert_true(d->nlabels <= TT_METRIC_MAX_LABELS);
		if (d->type == TT_METRIC_HISTOGRAM) {
			assert_true(d->nbounds > 0 && d->nbounds <= TT_METRIC_MAX_BOUNDS);
			for (int b = 1; b < d->nbounds; b++)
				assert_true(d->bounds[b - 1] < d->bounds[b]);
		}
	}
	assert_null(tt_metric__desc(TT_M__COUNT));
	assert_string_equal(tt_label__name(TT_L_DEST), "messaging.destination.name");
	assert_string_equal(tt_drop_reason__name(TT_DROP_SPOOL_FULL), "spool_full");
}

static void test_tasks_by_status(void **state)
{
	struct fixture *f = *state;
	struct find r;

	fake_feed(f->m, &f->task, "Zip", 0.2, false, 0);
	fake_feed(f->m, &f->task, "Zip", 0.3, false, 0);
	fake_feed(f->m, &f->task, "Zip", 1.5, true, 0);

	r = lookup(f->m, TT_M_TASK_COMPLETED, "Zip", "", NULL, NULL);
	assert_int_equal(r.got.value, 2);
	assert_int_equal(r.got.start_unix_ns, 42);
	r = lookup(f->m, TT_M_TASK_FAILED, "Zip", "", NULL, NULL);
	assert_int_equal(r.got.value, 1);
	r = lookup(f->m, TT_M_TASK_DURATION, "Zip", "ok", "", NULL);
	assert_int_equal(r.got.count, 2);
	assert_true(r.got.sum > 0.4999 && r.got.sum < 0.5001);
	r = lookup(f->m, TT_M_TASK_DURATION, "Zip", "error", "", NULL);
	assert_int_equal(r.got.count, 1);
	assert_true(r.got.sum > 1.4999 && r.got.sum < 1.5001);
	/* spans from steps, publishes: nothing else counted */
	assert_int_equal(count_series(f->m, TT_M_STEP_DURATION), 0);
	assert_int_equal(count_series(f->m, TT_M_TASK_SUBMITTED), 0);
	assert_int_equal(tt_metrics__series(f->m), 4);
}

/*
 * Spans that alternate between series each land in their own (a span is
 * first compared with the series the last span of that metric fed).
 */
static void test_alternating_series_each_count_their_own(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {"Zip", "Mail", "Zip", "Zip", "Mail", "Zi", "Zip"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(f->task.val[0], sizeof(f->task.val[0]), "%s", names[i]);
		fake_feed(f->m, &f->task, names[i], 0.1, i == 4, 0);
	}
	assert_int_equal(lookup(f->m, TT_M_TASK_COMPLETED, "Zip", "", NULL, NULL).got.value, 4);
	assert_int_equal(lookup(f->m, TT_M_TASK_COMPLETED, "Mail", "", NULL, NULL).got.value, 1);
	assert_int_equal(lookup(f->m, TT_M_TASK_FAILED, "Mail", "", NULL, NULL).got.value, 1);
	assert_int_equal(lookup(f->m, TT_M_TASK_COMPLETED, "Zi", "", NULL, NULL).got.value, 1);
	assert_int_equal(lookup(f->m, TT_M_TASK_DURATION, "Zip", "ok", "", NULL).got.count, 4);
	assert_int_equal(lookup(f->m, TT_M_TASK_DURATION, "Mail", "error", "", NULL).got.count, 1);
	assert_int_equal(count_series(f->m, TT_M_TASK_DURATION),
			 4); /* Zip, Mail ok and error, Zi */
}

static void test_task_without_name_uses_span_name(void **state)
{
	struct fixture *f = *state;
	struct find r;

	fake_feed(f->m, &f->task_plain, "plain_task", 0.01, false, 0);
	r = lookup(f->m, TT_M_TASK_COMPLETED, "plain_task", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 1);
}

static void test_steps_attempts_and_retries(void **state)
{
	struct fixture *f = *state;
	struct find r;

	fake_feed(f->m, &f->step, "Zip.Upload", 0.040, true, 1);
	fake_feed(f->m, &f->step, "Zip.Upload", 0.041, true, 2);
	fake_feed(f->m, &f->step, "Zip.Upload", 0.240, false, 3);

	/* task.name comes from the span's name, "<task.name>.<step.name>" */
	r = lookup(f->m, TT_M_STEP_DURATION, "Zip", "Upload", "error", NULL);
	assert_int_equal(r.got.count, 2);
	r = lookup(f->m, TT_M_STEP_DURATION, "Zip", "Upload", "ok", NULL);
	assert_int_equal(r.got.count, 1);
	r = lookup(f->m, TT_M_STEP_ATTEMPTS, "Zip", "Upload", NULL, NULL);
	assert_int_equal(r.got.count, 3);
	assert_true(r.got.sum == 6.0);
	/* bounds 1, 2, 3, 4, 5, 10: one attempt each in the first three buckets */
	assert_int_equal(r.got.buckets[0], 1);
	assert_int_equal(r.got.buckets[1], 1);
	assert_int_equal(r.got.buckets[2], 1);
	assert_int_equal(r.got.buckets[3], 0);
	r = lookup(f->m, TT_M_STEP_RETRIES, "Zip", "Upload", NULL, NULL);
	assert_int_equal(r.got.value, 2);
}

static void test_step_task_name_from_attribute_wins(void **state)
{
	struct fixture *f = *state;
	struct find r;

	fake_probe__attr(&f->step, "task.name", "Thumb");
	fake_feed(f->m, &f->step, "whatever", 0.01, false, 1);
	r = lookup(f->m, TT_M_STEP_DURATION, "Thumb", "Upload", "ok", NULL);
	assert_int_equal(r.got.count, 1);
}

static void test_step_without_task_has_no_task_label(void **state)
{
	struct fixture *f = *state;
	struct find r;

	/* a step with no open task is named by its step alone */
	fake_feed(f->m, &f->step, "Upload", 0.01, false, 1);
	/* a name that does not end in ".<step.name>" gives no task either */
	fake_feed(f->m, &f->step, "Zip.Uploads", 0.01, false, 1);
	r = lookup(f->m, TT_M_STEP_DURATION, "", "Upload", "ok", NULL);
	assert_int_equal(r.got.count, 2);
	/* no step.name attribute: the symbol names the step */
	f->step.p.nattrs = 0;
	fake_feed(f->m, &f->step, "Zip.execute_step", 0.01, false, 1);
	r = lookup(f->m, TT_M_STEP_DURATION, "Zip", "execute_step", "ok", NULL);
	assert_int_equal(r.got.count, 1);
}

static void test_compensations(void **state)
{
	struct fixture *f = *state;
	struct find r;

	fake_feed(f->m, &f->comp, "Zip.Upload.Compensate", 0.01, false, 1);
	fake_feed(f->m, &f->comp, "Zip.Upload", 0.01, true, 1);
	r = lookup(f->m, TT_M_COMPENSATIONS, "Zip", "Upload", "ok", NULL);
	assert_int_equal(r.got.value, 1);
	r = lookup(f->m, TT_M_COMPENSATIONS, "Zip", "Upload", "error", NULL);
	assert_int_equal(r.got.value, 1);
	/* compensations are not step attempts */
	assert_int_equal(count_series(f->m, TT_M_STEP_DURATION), 0);
}

static void test_publish_counts_submitted_by_destination(void **state)
{
	struct fixture *f = *state;
	struct find r;

	fake_feed(f->m, &f->publish, "publish images", 0.001, false, 0);
	fake_feed(f->m, &f->publish, "publish images", 0.001, false, 0);
	snprintf(f->publish.val[1], sizeof(f->publish.val[1]), "videos");
	fake_feed(f->m, &f->publish, "publish videos", 0.001, false, 0);
	r = lookup(f->m, TT_M_TASK_SUBMITTED, "", "images", NULL, NULL);
	assert_int_equal(r.got.value, 2);
	r = lookup(f->m, TT_M_TASK_SUBMITTED, "", "videos", NULL, NULL);
	assert_int_equal(r.got.value, 1);
}

static void test_cut_spans(void **state)
{
	struct fixture *f = *state;
	static struct tt_span s;
	struct find r;

	fake_span(&s, &f->task, "Zip", NS, true, 0);
	s.cut = TT_CUT_SHUTDOWN;
	tt_metrics__span(&s, f->m);
	s.cut = TT_CUT_EVICTED;
	tt_metrics__span(&s, f->m);
	assert_int_equal(tt_metrics__series(f->m), 0);
	/* a task whose process died failed */
	s.cut = TT_CUT_EXIT;
	tt_metrics__span(&s, f->m);
	r = lookup(f->m, TT_M_TASK_FAILED, "Zip", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 1);
}

/* Bucket i holds bounds[i-1] < v <= bounds[i]: a value on a bound is in that bound's bucket. */
static void test_histogram_boundaries(void **state)
{
	struct fixture *f = *state;
	const struct tt_metric_desc *d = tt_metric__desc(TT_M_TASK_DURATION);
	struct find r;

	assert_true(d->bounds[0] == 0.001);
	assert_true(d->bounds[1] == 0.005);
	assert_true(d->bounds[d->nbounds - 1] == 3600);
	fake_feed(f->m, &f->task, "Zip", 0, false, 0);		 /* bucket 0 */
	fake_feed(f->m, &f->task, "Zip", 0.001, false, 0);	 /* on the first bound: bucket 0 */
	fake_feed(f->m, &f->task, "Zip", 0.001000001, false, 0); /* just above: bucket 1 */
	fake_feed(f->m, &f->task, "Zip", 0.005, false, 0);	 /* on the second: bucket 1 */
	fake_feed(f->m, &f->task, "Zip", 3600, false, 0);	 /* on the last: the last finite */
	fake_feed(f->m, &f->task, "Zip", 3600.000001, false, 0); /* above every bound: +Inf */
	r = lookup(f->m, TT_M_TASK_DURATION, "Zip", "ok", NULL, NULL);
	assert_int_equal(r.got.count, 6);
	assert_int_equal(r.got.buckets[0], 2);
	assert_int_equal(r.got.buckets[1], 2);
	for (int b = 2; b < d->nbounds - 1; b++)
		assert_int_equal(r.got.buckets[b], 0);
	assert_int_equal(r.got.buckets[d->nbounds - 1], 1);
	assert_int_equal(r.got.buckets[d->nbounds], 1);
}

static void test_label_overflow_folds_into_other(void **state)
{
	struct fixture *f = *state;
	struct find r;
	char name[16];

	/* max_series is 4: two tasks of two series each fill it */
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "T%d", i);
		snprintf(f->task.val[0], sizeof(f->task.val[0]), "%s", name);
		fake_feed(f->m, &f->task, name, 0.1, false, 0);
	}
	assert_int_equal(tt_metrics__series(f->m), 4);
	/* T2, T3, T4: each folded into two metrics */
	assert_int_equal(tt_metrics__overflowed(f->m), 6);
	r = lookup(f->m, TT_M_TASK_COMPLETED, "other", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 3);
	assert_true(r.got.overflow);
	r = lookup(f->m, TT_M_TASK_DURATION, "other", "ok", NULL, NULL);
	assert_int_equal(r.got.count, 3);
	r = lookup(f->m, TT_M_TASK_COMPLETED, "T1", NULL, NULL, NULL);
	assert_false(r.got.overflow);
	r = lookup(f->m, TT_M_SERIES_OVERFLOW, NULL, NULL, NULL, NULL);
	assert_int_equal(r.got.value, 6);
	/* known series still count */
	snprintf(f->task.val[0], sizeof(f->task.val[0]), "T0");
	fake_feed(f->m, &f->task, "T0", 0.1, false, 0);
	r = lookup(f->m, TT_M_TASK_COMPLETED, "T0", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 2);
	/* the status label is kept in the overflow series */
	snprintf(f->task.val[0], sizeof(f->task.val[0]), "T9");
	fake_feed(f->m, &f->task, "T9", 0.1, true, 0);
	r = lookup(f->m, TT_M_TASK_DURATION, "other", "error", NULL, NULL);
	assert_int_equal(r.got.count, 1);
}

static void test_label_values_are_cut_and_made_utf8(void **state)
{
	struct fixture *f = *state;
	char longname[90];
	struct find r;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(f->task.val[0], sizeof(f->task.val[0]), "%s", longname);
	fake_feed(f->m, &f->task, "long", 0.1, false, 0);
	r = lookup(f->m, TT_M_TASK_COMPLETED, NULL, NULL, NULL, NULL);
	assert_int_equal(strlen(r.got.values[0]), TT_LABEL_VALUE_MAX - 1);

	tt_metrics__free(f->m);
	f->m = tt_metrics__new(NULL);
	assert_non_null(f->m);
	snprintf(f->task.val[0], sizeof(f->task.val[0]),
		 "a\xff"
		 "b\xc3");
	fake_feed(f->m, &f->task, "bad", 0.1, false, 0);
	r = lookup(f->m, TT_M_TASK_COMPLETED, NULL, NULL, NULL, NULL);
	assert_string_equal(r.got.values[0], "a\xef\xbf\xbd"
					     "b\xef\xbf\xbd");
}

static void test_queue_wait_and_in_flight(void **state)
{
	struct fixture *f = *state;
	struct tt_metric_labels l = {.task_name = "Zip", .destination = "images"};
	struct tt_metric_labels l2 = {.task_name = "Thumb"};
	struct find r;

	tt_metrics__queue_wait(f->m, &l, 0.02);
	tt_metrics__queue_wait(f->m, &l, 0.03);
	r = lookup(f->m, TT_M_QUEUE_WAIT, "Zip", "images", NULL, NULL);
	assert_int_equal(r.got.count, 2);
	assert_true(r.got.sum > 0.0499 && r.got.sum < 0.0501);

	tt_metrics__set_in_flight(f->m, &l, 3);
	tt_metrics__set_in_flight(f->m, &l2, 1);
	r = lookup(f->m, TT_M_IN_FLIGHT, "Zip", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 3);
	tt_metrics__reset_in_flight(f->m);
	tt_metrics__set_in_flight(f->m, &l2, 2);
	r = lookup(f->m, TT_M_IN_FLIGHT, "Zip", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 0);
	r = lookup(f->m, TT_M_IN_FLIGHT, "Thumb", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 2);
	tt_metrics__reset_in_flight(f->m);
	tt_metrics__add_in_flight(f->m, &l2, 1);
	tt_metrics__add_in_flight(f->m, &l2, 1);
	tt_metrics__add_in_flight(f->m, &l, 1);
	r = lookup(f->m, TT_M_IN_FLIGHT, "Thumb", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 2);
	r = lookup(f->m, TT_M_IN_FLIGHT, "Zip", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 1);
	/* NULL labels: the unlabelled total */
	tt_metrics__set_in_flight(f->m, NULL, 5);
	r = lookup(f->m, TT_M_IN_FLIGHT, "", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 5);
}

static void test_agent_stats(void **state)
{
	struct fixture *f = *state;
	struct tt_agent_stats st = {
		.events_received = 100,
		.events_lost = 7,
		.exit_events_lost = 1,
		.spans_exported = 50,
		.spans_dropped = {[TT_DROP_QUEUE_FULL] = 3,
				  [TT_DROP_REJECTED] = 2,
				  [TT_DROP_SPOOL_FULL] = 6,
				  [TT_DROP_SPOOL_DISABLED] = 8,
				  [TT_DROP_SHUTDOWN] = 1},
		.spans_rejected = {[TT_REJECT_HTTP_404] = 2},
		.spans_processed = 60,
		.export_failures = 4,
		.queue_size = 10,
		.queue_capacity = 2048,
		.spool_bytes = 4096,
		.queue_bytes = 300,
		.queue_max_bytes = 32 << 20,
		.probes_attached = 2,
		.open_spans = 9,
		.spans_evicted = 5,
		.tasks_stuck = 1,
	};
	struct find r;

	/* the agent's series exist, at zero, from the start */
	r = lookup(f->m, TT_M_SPANS_EXPORTED, "spool_full", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 0);
	assert_string_equal(r.got.desc->name, "otel.sdk.exporter.span.exported");
	/* accepted (no error.type), spool_full; the rare reasons come when they count */
	assert_int_equal(count_series(f->m, TT_M_SPANS_EXPORTED), 2);
	assert_int_equal(count_series(f->m, TT_M_SPANS_PROCESSED), 2);
	assert_int_equal(tt_metric__desc(TT_M_QUEUE_SIZE)->type, TT_METRIC_UPDOWN);

	tt_metrics__set_agent(f->m, &st);
	assert_int_equal(lookup(f->m, TT_M_EVENTS_RECEIVED, NULL, NULL, NULL, NULL).got.value, 100);
	assert_int_equal(lookup(f->m, TT_M_EVENTS_LOST, "probe", NULL, NULL, NULL).got.value, 7);
	assert_int_equal(lookup(f->m, TT_M_EVENTS_LOST, "exit", NULL, NULL, NULL).got.value, 1);
	assert_int_equal(lookup(f->m, TT_M_SPANS_EXPORTED, "", NULL, NULL, NULL).got.value, 50);
	assert_int_equal(
		lookup(f->m, TT_M_SPANS_EXPORTED, "spool_full", NULL, NULL, NULL).got.value, 6);
	assert_int_equal(lookup(f->m, TT_M_SPANS_EXPORTED, "404", NULL, NULL, NULL).got.value, 2);
	assert_int_equal(
		lookup(f->m, TT_M_SPANS_EXPORTED, "spool_disabled", NULL, NULL, NULL).got.value, 8);
	assert_int_equal(count_series(f->m, TT_M_SPANS_EXPORTED), 4);
	assert_int_equal(lookup(f->m, TT_M_SPANS_PROCESSED, "shutdown", NULL, NULL, NULL).got.value,
			 1);
	assert_int_equal(lookup(f->m, TT_M_SPANS_PROCESSED, "", NULL, NULL, NULL).got.value, 60);
	assert_int_equal(
		lookup(f->m, TT_M_SPANS_PROCESSED, "queue_full", NULL, NULL, NULL).got.value, 3);
	assert_int_equal(lookup(f->m, TT_M_QUEUE_CAPACITY, NULL, NULL, NULL, NULL).got.value, 2048);
	assert_int_equal(lookup(f->m, TT_M_EXPORT_FAILURES, NULL, NULL, NULL, NULL).got.value, 4);
	assert_int_equal(lookup(f->m, TT_M_QUEUE_SIZE, NULL, NULL, NULL, NULL).got.value, 10);
	assert_int_equal(lookup(f->m, TT_M_SPOOL_SIZE, NULL, NULL, NULL, NULL).got.value, 4096);
	assert_int_equal(lookup(f->m, TT_M_QUEUE_BYTES, NULL, NULL, NULL, NULL).got.value, 300);
	assert_int_equal(lookup(f->m, TT_M_QUEUE_BYTES_CAPACITY, NULL, NULL, NULL, NULL).got.value,
			 32 << 20);
	assert_int_equal(lookup(f->m, TT_M_PROBES_ATTACHED, NULL, NULL, NULL, NULL).got.value, 2);
	assert_int_equal(lookup(f->m, TT_M_SPANS_OPEN, NULL, NULL, NULL, NULL).got.value, 9);
	assert_int_equal(lookup(f->m, TT_M_SPANS_EVICTED, NULL, NULL, NULL, NULL).got.value, 5);
	assert_int_equal(lookup(f->m, TT_M_TASKS_STUCK, NULL, NULL, NULL, NULL).got.value, 1);
	/* agent series do not count against max_series */
	assert_int_equal(tt_metrics__series(f->m), 0);
}

static int stop_at_second(const struct tt_series_view *s, void *ctx)
{
	int *n = ctx;

	return ++*n == 2 ? 77 : 0;
}

/* Events the agent dropped without memory: a kind of lost event, its series from the first. */
static void test_events_dropped_in_the_agent(void **state)
{
	struct fixture *f = *state;
	struct tt_agent_stats st = {.events_lost = 7};

	tt_metrics__set_agent(f->m, &st);
	assert_int_equal(count_series(f->m, TT_M_EVENTS_LOST), 2); /* probe, exit */
	st.events_dropped = 5;
	tt_metrics__set_agent(f->m, &st);
	assert_int_equal(count_series(f->m, TT_M_EVENTS_LOST), 3);
	assert_int_equal(lookup(f->m, TT_M_EVENTS_LOST, "memory", NULL, NULL, NULL).got.value, 5);
	assert_int_equal(lookup(f->m, TT_M_EVENTS_LOST, "probe", NULL, NULL, NULL).got.value, 7);
}

static void test_events_lost_by_hook(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(count_series(f->m, TT_M_HOOK_EVENTS_LOST), 0); /* none until a loss */
	tt_metrics__set_hook_lost(f->m, "tick", "ring_full", 3);
	tt_metrics__set_hook_lost(f->m, "bench:hit", "ring_full", 2);
	tt_metrics__set_hook_lost(f->m, "tick", "ring_full", 9); /* a total: replaces */
	assert_int_equal(count_series(f->m, TT_M_HOOK_EVENTS_LOST), 2);
	assert_int_equal(
		lookup(f->m, TT_M_HOOK_EVENTS_LOST, "tick", "ring_full", NULL, NULL).got.value, 9);
	assert_int_equal(
		lookup(f->m, TT_M_HOOK_EVENTS_LOST, "bench:hit", NULL, NULL, NULL).got.value, 2);
}

static void test_visit_order_and_stop(void **state)
{
	struct fixture *f = *state;
	struct tt_metrics_visitor v = {.series = stop_at_second};
	int n = 0;

	v.ctx = &n;
	assert_int_equal(tt_metrics__visit(f->m, &v), 77);
	assert_int_equal(n, 2);
}

static void test_snapshot_is_a_copy(void **state)
{
	struct fixture *f = *state;
	struct tt_metrics *snap = tt_metrics__new(NULL);
	char name[16];
	struct find r;

	assert_non_null(snap);
	/* enough series that the source grows past the snapshot's capacity */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "T%d", i);
		snprintf(f->task.val[0], sizeof(f->task.val[0]), "%s", name);
		fake_feed(f->m, &f->task, name, 0.1, false, 0);
	}
	assert_int_equal(tt_metrics__snapshot(f->m, snap), 0);
	snprintf(f->task.val[0], sizeof(f->task.val[0]), "T7");
	fake_feed(f->m, &f->task, "T7", 0.1, false, 0);
	r = lookup(snap, TT_M_TASK_COMPLETED, "T7", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 1);
	assert_int_equal(r.got.start_unix_ns, 42);
	r = lookup(f->m, TT_M_TASK_COMPLETED, "T7", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 2);
	assert_int_equal(tt_metrics__series(snap), 200);
	/* a snapshot into an object that already has room reuses it */
	assert_int_equal(tt_metrics__snapshot(f->m, snap), 0);
	r = lookup(snap, TT_M_TASK_COMPLETED, "T7", NULL, NULL, NULL);
	assert_int_equal(r.got.value, 2);
	tt_metrics__free(snap);
}

static void test_steady_state_allocates_nothing(void **state)
{
	struct fixture *f = *state;
	struct mallinfo2 before, after;

	fake_feed(f->m, &f->task, "Zip", 0.1, false, 0);
	fake_feed(f->m, &f->task, "Zip", 0.1, true, 0);
	fake_feed(f->m, &f->step, "Zip.Upload", 0.1, false, 2);
	before = mallinfo2();
	for (int i = 0; i < 10000; i++) {
		fake_feed(f->m, &f->task, "Zip", 0.1, i & 1, 0);
		fake_feed(f->m, &f->step, "Zip.Upload", 0.1, false, 2);
	}
	after = mallinfo2();
	assert_int_equal(after.uordblks, before.uordblks);
	assert_int_equal(lookup(f->m, TT_M_STEP_RETRIES, "Zip", NULL, NULL, NULL).got.value, 10001);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptions_are_complete),
		cmocka_unit_test_setup_teardown(test_tasks_by_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alternating_series_each_count_their_own, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_without_name_uses_span_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_steps_attempts_and_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_task_name_from_attribute_wins, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_step_without_task_has_no_task_label, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_compensations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_counts_submitted_by_destination, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cut_spans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_overflow_folds_into_other, setup_small,
						teardown),
		cmocka_unit_test_setup_teardown(test_label_values_are_cut_and_made_utf8, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_wait_and_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_dropped_in_the_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_lost_by_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_visit_order_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_is_a_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steady_state_allocates_nothing, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
