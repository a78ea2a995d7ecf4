// SPDX-License-Identifier: MIT
/*
 * Metrics → ExportMetricsServiceRequest, decoded back with protobuf-c field
 * by field: sums, gauges and explicit-bucket histograms, cumulative, with
 * the series' labels as attributes; and the OTLP/JSON form.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_spans.h"
#include "export/metrics.h"
#include "export/otlp_metrics.h"
#include "metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest Request;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramPoint;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

#define START 1700000000000000000ULL
#define NOW   1700000060000000000ULL

static struct fake_probe task_probe, step_probe;
static struct tt_metrics *m;
static struct tt_resource res = {.pid = 7, .n = 1, .at = {{.key = "service.name", .str = "svc"}}};

static int setup(void **state)
{
	struct tt_metrics_opts o = {.start_unix_ns = START};
	struct tt_agent_stats st = {.events_received = 40, .probes_attached = 2};
	struct tt_metric_labels l = {.task_name = "CreateZip"};

	m = tt_metrics__new(&o);
	assert_non_null(m);
	fake_probe__one(&task_probe, TT_ROLE_TASK, "run_task", "task.name", "CreateZip");
	fake_probe__one(&step_probe, TT_ROLE_STEP, "execute_step", "step.name", "Archive");
	fake_feed(m, &task_probe, "CreateZip", 0.3, false, 0);
	fake_feed(m, &task_probe, "CreateZip", 2.0, true, 0);
	fake_feed(m, &step_probe, "CreateZip.Archive", 0.004, true, 1);
	fake_feed(m, &step_probe, "CreateZip.Archive", 0.2, false, 2);
	tt_metrics__set_in_flight(m, &l, 3);
	tt_metrics__set_agent(m, &st);
	return 0;
}

static int teardown(void **state)
{
	tt_metrics__free(m);
	return 0;
}

static Request *encode_decode(uint32_t *points)
{
	uint8_t *pb = NULL;
	size_t len = 0;
	Request *req;

	assert_int_equal(tt_otlp__encode_metrics(m, &res, NOW, &pb, &len, points), 0);
	assert_int_equal(tt_otlp__count_points(pb, len), *points);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, pb);
	free(pb);
	assert_non_null(req);
	return req;
}

static const Metric *find(const Request *req, const char *name)
{
	const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm =
		req->resource_metrics[0]->scope_metrics[0];

	for (size_t i = 0; i < sm->n_metrics; i++) {
		if (!strcmp(sm->metrics[i]->name, name))
			return sm->metrics[i];
	}
	fail_msg("no metric %s", name);
	return NULL;
}

/* The attribute `key` of a data point as a string, or NULL when absent. */
static const char *attr(KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(kv[i]->key, key))
			return kv[i]->value->string_value;
	}
	return NULL;
}

static void test_resource_scope_and_counts(void **state)
{
	uint32_t points = 0;
	Request *req = encode_decode(&points);
	const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm;
	size_t total = 0;

	assert_int_equal(req->n_resource_metrics, 1);
	rm = req->resource_metrics[0];
	assert_int_equal(rm->resource->n_attributes, 1);
	assert_string_equal(rm->resource->attributes[0]->key, "service.name");
	assert_string_equal(rm->resource->attributes[0]->value->string_value, "svc");
	assert_int_equal(rm->n_scope_metrics, 1);
	assert_string_equal(rm->scope_metrics[0]->scope->name, "tasktap");
	assert_string_equal(rm->scope_metrics[0]->scope->version, TASKTAP_VERSION);
	for (size_t i = 0; i < rm->scope_metrics[0]->n_metrics; i++) {
		const Metric *x = rm->scope_metrics[0]->metrics[i];

		total += x->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM
				 ? x->sum->n_data_points
			 : x->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE
				 ? x->gauge->n_data_points
				 : x->histogram->n_data_points;
	}
	assert_int_equal(total, points);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
}

static void test_counters_are_cumulative_monotonic_sums(void **state)
{
	uint32_t points;
	Request *req = encode_decode(&points);
	const Metric *c = find(req, "task.completed"), *f = find(req, "task.failed");
	const Metric *r = find(req, "task.step.retries");
	const NumberPoint *p;

	assert_int_equal(c->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
	assert_string_equal(c->unit, "{task}");
	assert_string_equal(c->description, tt_metric__desc(TT_M_TASK_COMPLETED)->help);
	assert_true(c->sum->is_monotonic);
	assert_int_equal(
		c->sum->aggregation_temporality,
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_int_equal(c->sum->n_data_points, 1);
	p = c->sum->data_points[0];
	assert_int_equal(p->value_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
	assert_int_equal(p->as_int, 1);
	assert_int_equal(p->start_time_unix_nano, START);
	assert_int_equal(p->time_unix_nano, NOW);
	/* labels: task.name only; messaging.destination.name is absent, so left out */
	assert_int_equal(p->n_attributes, 1);
	assert_string_equal(attr(p->attributes, p->n_attributes, "task.name"), "CreateZip");
	assert_int_equal(f->sum->data_points[0]->as_int, 1);
	assert_int_equal(r->sum->n_data_points, 1);
	assert_int_equal(r->sum->data_points[0]->as_int, 1);
	assert_string_equal(attr(r->sum->data_points[0]->attributes,
				 r->sum->data_points[0]->n_attributes, "step.name"),
			    "Archive");
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
}

static void test_gauges_and_agent_metrics(void **state)
{
	uint32_t points;
	Request *req = encode_decode(&points);
	const Metric *g = find(req, "task.in_flight"), *a = find(req, "tasktap.probe.attached");
	const Metric *ev = find(req, "tasktap.event.received"),
		     *lost = find(req, "tasktap.event.lost");

	/* counts now are UpDownCounters: cumulative sums that are not monotonic */
	assert_int_equal(g->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
	assert_false(g->sum->is_monotonic);
	assert_int_equal(
		g->sum->aggregation_temporality,
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_int_equal(g->sum->n_data_points, 1);
	assert_int_equal(g->sum->data_points[0]->as_int, 3);
	assert_int_equal(a->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
	assert_false(a->sum->is_monotonic);
	assert_int_equal(a->sum->data_points[0]->as_int, 2);
	assert_int_equal(a->sum->data_points[0]->n_attributes, 0);
	assert_int_equal(ev->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
	assert_true(ev->sum->is_monotonic);
	assert_int_equal(ev->sum->data_points[0]->as_int, 40);
	assert_int_equal(lost->sum->n_data_points, 2); /* kind: probe, exit */
	assert_string_equal(attr(lost->sum->data_points[0]->attributes,
				 lost->sum->data_points[0]->n_attributes, "kind"),
			    "probe");
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
}

static void test_histograms_have_explicit_buckets(void **state)
{
	uint32_t points;
	Request *req = encode_decode(&points);
	const Metric *d = find(req, "task.duration"), *at = find(req, "task.step.attempts");
	const struct tt_metric_desc *dd = tt_metric__desc(TT_M_TASK_DURATION);
	const HistogramPoint *ok = NULL, *err = NULL, *p;

	assert_int_equal(d->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
	assert_string_equal(d->unit, "s");
	assert_int_equal(
		d->histogram->aggregation_temporality,
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_int_equal(d->histogram->n_data_points, 2); /* status ok and error */
	for (size_t i = 0; i < 2; i++) {
		p = d->histogram->data_points[i];
		if (!strcmp(attr(p->attributes, p->n_attributes, "status"), "ok"))
			ok = p;
		else
			err = p;
	}
	assert_non_null(ok);
	assert_non_null(err);
	assert_int_equal(ok->count, 1);
	assert_true(ok->sum > 0.299 && ok->sum < 0.301);
	assert_int_equal(ok->n_explicit_bounds, (size_t)dd->nbounds);
	assert_int_equal(ok->n_bucket_counts, (size_t)dd->nbounds + 1);
	for (int i = 0; i < dd->nbounds; i++)
		assert_true(ok->explicit_bounds[i] == dd->bounds[i]);
	/* 0.3 s lies in (0.25, 0.5], the 8th bucket; not cumulative */
	for (size_t i = 0; i < ok->n_bucket_counts; i++)
		assert_int_equal(ok->bucket_counts[i], i == 7 ? 1 : 0);
	/* 2 s in (1, 2.5] */
	assert_int_equal(err->bucket_counts[9], 1);
	assert_int_equal(err->start_time_unix_nano, START);
	assert_int_equal(err->time_unix_nano, NOW);

	assert_int_equal(at->histogram->n_data_points, 1);
	p = at->histogram->data_points[0];
	assert_int_equal(p->count, 2);
	assert_true(p->sum == 3.0);
	assert_int_equal(p->n_explicit_bounds, 6);
	assert_int_equal(p->bucket_counts[0], 1); /* attempt 1 */
	assert_int_equal(p->bucket_counts[1], 1); /* attempt 2 */
	assert_string_equal(attr(p->attributes, p->n_attributes, "task.name"), "CreateZip");
	assert_string_equal(attr(p->attributes, p->n_attributes, "step.name"), "Archive");
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
}

static void test_json_form(void **state)
{
	uint8_t *pb = NULL;
	size_t len = 0, jlen = 0;
	uint32_t points;
	char *json = NULL;

	assert_int_equal(tt_otlp__encode_metrics(m, &res, NOW, &pb, &len, &points), 0);
	assert_int_equal(tt_otlp__metrics_json(pb, len, &json, &jlen), 0);
	assert_int_equal(strlen(json), jlen);
	assert_non_null(strstr(json, "{\"resourceMetrics\":[{\"resource\":{\"attributes\":"));
	assert_non_null(strstr(json, "\"scopeMetrics\":[{\"scope\":{\"name\":\"tasktap\""));
	assert_non_null(strstr(json, "\"name\":\"task.completed\""));
	assert_non_null(strstr(json, "\"aggregationTemporality\":2,\"isMonotonic\":true"));
	assert_non_null(strstr(json, "\"asInt\":\"1\""));
	assert_non_null(strstr(json, "\"startTimeUnixNano\":\"1700000000000000000\""));
	assert_non_null(strstr(json, "\"explicitBounds\":[1,2,3,4,5,10]"));
	assert_non_null(strstr(json, "\"bucketCounts\":[\"1\",\"1\",\"0\""));
	free(json);
	assert_int_equal(tt_otlp__metrics_json((const uint8_t *)"\xff\xff", 2, &json, &jlen),
			 -EBADMSG);
	free(pb);
}

static void test_snapshot_encodes_alike(void **state)
{
	struct tt_metrics *copy = tt_metrics__new(NULL);
	uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;
	uint32_t pa, pb;

	assert_non_null(copy);
	assert_int_equal(tt_metrics__snapshot(m, copy), 0);
	assert_int_equal(tt_otlp__encode_metrics(m, &res, NOW, &a, &alen, &pa), 0);
	assert_int_equal(tt_otlp__encode_metrics(copy, &res, NOW, &b, &blen, &pb), 0);
	assert_int_equal(pa, pb);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	tt_metrics__free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resource_scope_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters_are_cumulative_monotonic_sums, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gauges_and_agent_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histograms_have_explicit_buckets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_json_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_encodes_alike, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
