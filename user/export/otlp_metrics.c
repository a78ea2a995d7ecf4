// SPDX-License-Identifier: MIT
/* Metrics as an OTLP ExportMetricsServiceRequest, protobuf or OTLP/JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "metrics_service.pb-c.h"
#include "otlp_metrics.h"
#include "otlp_pb.h"

typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__Sum Sum;
typedef Opentelemetry__Proto__Metrics__V1__Gauge Gauge;
typedef Opentelemetry__Proto__Metrics__V1__Histogram Histogram;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramPoint;

static void json_metric(FILE *f, const void *item);
static size_t metric_points(const void *item);

/* request.resource_metrics[].scope_metrics[].metrics[] */
static const struct tt_pb_envelope metrics_envelope = {
	&opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor,
	"resource_metrics",
	"scope_metrics",
	"metrics",
	json_metric,
	metric_points};

#define CUMULATIVE                                                                                 \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define DELTA                                                                                      \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA

/* Services with a resource of their own in one request; more share the agent's. */
#define MAX_SERVICES 32

/* A service's resource (the agent's, with its service.name) and its Metric of the current metric.
 */
struct service_group {
	const char *name;
	const struct tt_resource *res;
	Metric *cur;
};

/* The request being built by the visitor. */
struct builder {
	struct tt_arena *a;
	struct tt_pb_request req;
	const struct tt_resource *res;
	const struct tt_metric_desc *desc; /* the metric whose series are being visited */
	size_t nseries;
	Metric *cur; /* its Metric under `res`; NULL until a series needs it */
	struct service_group svc[MAX_SERVICES];
	int nsvc;
	uint64_t now;	 /* Unix ns */
	uint32_t points; /* data points so far */
	bool delta;	 /* counters and histograms: DELTA from `start` */
	uint64_t start;
};

/* A new Metric of the current metric, under resource `res`; NULL when out of memory. */
static Metric *new_metric(struct builder *b, const struct tt_resource *res)
{
	const struct tt_metric_desc *d = b->desc;
	size_t nseries = b->nseries;
	Metric *m = tt_arena__alloc(b->a, sizeof(*m));
	void **points = tt_arena__alloc(b->a, sizeof(void *) * (nseries ? nseries : 1));

	if (!m || !points)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = (char *)d->name;
	m->description = (char *)d->help;
	m->unit = (char *)d->unit;
	if (d->type == TT_METRIC_COUNTER || d->type == TT_METRIC_UPDOWN) {
		Sum *s = tt_arena__alloc(b->a, sizeof(*s));

		if (!s)
			return NULL;
		opentelemetry__proto__metrics__v1__sum__init(s);
		s->aggregation_temporality =
			b->delta && d->type == TT_METRIC_COUNTER ? DELTA : CUMULATIVE;
		/* an UpDownCounter's sum: a count now, that goes down as well */
		s->is_monotonic = d->type == TT_METRIC_COUNTER;
		s->data_points = (NumberPoint **)points;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		m->sum = s;
	} else if (d->type == TT_METRIC_GAUGE) {
		Gauge *g = tt_arena__alloc(b->a, sizeof(*g));

		if (!g)
			return NULL;
		opentelemetry__proto__metrics__v1__gauge__init(g);
		g->data_points = (NumberPoint **)points;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
		m->gauge = g;
	} else {
		Histogram *h = tt_arena__alloc(b->a, sizeof(*h));

		if (!h)
			return NULL;
		opentelemetry__proto__metrics__v1__histogram__init(h);
		h->aggregation_temporality = b->delta ? DELTA : CUMULATIVE;
		h->data_points = (HistogramPoint **)points;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		m->histogram = h;
	}
	return tt_pb_request__add(&b->req, res, m) ? NULL : m;
}

static int add_metric(enum tt_metric_id id, const struct tt_metric_desc *d, size_t nseries,
		      void *ctx)
{
	struct builder *b = ctx;

	b->desc = d;
	b->nseries = nseries;
	b->cur = NULL;
	for (int i = 0; i < b->nsvc; i++)
		b->svc[i].cur = NULL;
	return 0;
}

/*
 * The resource of service `name`: the agent's with that service.name, made
 * once per request in the arena. NULL when out of memory.
 */
static const struct tt_resource *service_resource(struct builder *b, const char *name)
{
	struct tt_resource *r = tt_arena__alloc(b->a, sizeof(*r));
	size_t i;

	if (!r)
		return NULL;
	if (b->res)
		*r = *b->res;
	else
		memset(r, 0, sizeof(*r));
	for (i = 0; i < r->n && strcmp(r->at[i].key, "service.name"); i++)
		;
	if (i == r->n && r->n == TT_RES_MAX_ATTRS)
		return b->res;
	if (i == r->n)
		r->n++;
	r->at[i].key = "service.name";
	r->at[i].str = name;
	return r;
}

/* The Metric a series of service `svc` ("" : none) goes into, made when first needed. */
static Metric *metric_for(struct builder *b, const char *svc)
{
	struct service_group *g;

	if (!svc[0] || !b->res) {
		if (!b->cur)
			b->cur = new_metric(b, b->res);
		return b->cur;
	}
	for (int i = 0; i < b->nsvc; i++) {
		g = &b->svc[i];
		if (!strcmp(g->name, svc)) {
			if (!g->cur)
				g->cur = new_metric(b, g->res);
			return g->cur;
		}
	}
	if (b->nsvc == MAX_SERVICES)
		return metric_for(b, "");
	g = &b->svc[b->nsvc];
	g->name = tt_arena__str(b->a, svc, strlen(svc));
	g->res = g->name ? service_resource(b, g->name) : NULL;
	if (!g->res)
		return NULL;
	b->nsvc++;
	g->cur = new_metric(b, g->res);
	return g->cur;
}

/* The series' labels as attributes; absent labels are left out. */
static KeyValue **point_attrs(struct builder *b, const struct tt_series_view *s, size_t *n)
{
	const struct tt_metric_desc *d = s->desc;
	KeyValue **kv = tt_arena__alloc(b->a, sizeof(*kv) * (d->nlabels ? d->nlabels : 1));

	*n = 0;
	if (!kv)
		return NULL;
	for (int i = 0; i < d->nlabels; i++) {
		const char *v = s->values[i];

		if (!v[0] || d->labels[i] == TT_L_SERVICE)
			continue; /* absent; the service is the resource's */
		kv[*n] = tt_pb__kv_str(b->a, tt_label__name(d->labels[i]), v, strlen(v));
		if (!kv[*n])
			return NULL;
		(*n)++;
	}
	return kv;
}

static int add_number(struct builder *b, const struct tt_series_view *s, size_t *np,
		      NumberPoint **points)
{
	NumberPoint *p = tt_arena__alloc(b->a, sizeof(*p));

	if (!p)
		return -ENOMEM;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	p->attributes = point_attrs(b, s, &p->n_attributes);
	if (!p->attributes)
		return -ENOMEM;
	p->start_time_unix_nano =
		b->delta && s->desc->type == TT_METRIC_COUNTER ? b->start : s->start_unix_ns;
	p->time_unix_nano = b->now;
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	p->as_int = s->value;
	points[(*np)++] = p;
	return 0;
}

static int add_histogram(struct builder *b, const struct tt_series_view *s, Histogram *h)
{
	const struct tt_metric_desc *d = s->desc;
	HistogramPoint *p = tt_arena__alloc(b->a, sizeof(*p));

	if (!p)
		return -ENOMEM;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	p->attributes = point_attrs(b, s, &p->n_attributes);
	p->bucket_counts = tt_arena__alloc(b->a, sizeof(uint64_t) * (size_t)(d->nbounds + 1));
	if (!p->attributes || !p->bucket_counts)
		return -ENOMEM;
	p->start_time_unix_nano = b->delta ? b->start : s->start_unix_ns;
	p->time_unix_nano = b->now;
	p->count = s->count;
	p->sum = s->sum;
	p->n_bucket_counts = (size_t)d->nbounds + 1;
	memcpy(p->bucket_counts, s->buckets, sizeof(uint64_t) * p->n_bucket_counts);
	p->n_explicit_bounds = (size_t)d->nbounds;
	p->explicit_bounds = (double *)d->bounds;
	h->data_points[h->n_data_points++] = p;
	return 0;
}

/* The series' service.name label: its resource, not an attribute. "" when none. */
static const char *series_service(const struct tt_series_view *s)
{
	for (int i = 0; i < s->desc->nlabels; i++) {
		if (s->desc->labels[i] == TT_L_SERVICE)
			return s->values[i];
	}
	return "";
}

static int add_series(const struct tt_series_view *s, void *ctx)
{
	struct builder *b = ctx;
	Metric *m = metric_for(b, series_service(s));
	int ret;

	if (!m)
		return -ENOMEM;
	if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM)
		ret = add_number(b, s, &m->sum->n_data_points, m->sum->data_points);
	else if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE)
		ret = add_number(b, s, &m->gauge->n_data_points, m->gauge->data_points);
	else
		ret = add_histogram(b, s, m->histogram);
	if (!ret)
		b->points++;
	return ret;
}

static int encode(struct builder *b, const struct tt_metrics *m, uint8_t **out, size_t *out_len,
		  uint32_t *points);

int tt_otlp__encode_metrics(const struct tt_metrics *m, const struct tt_resource *res,
			    uint64_t now_unix_ns, uint8_t **out, size_t *out_len, uint32_t *points)
{
	struct builder b = {.res = res, .now = now_unix_ns};

	return encode(&b, m, out, out_len, points);
}

int tt_otlp__encode_metrics_delta(const struct tt_metrics *m, const struct tt_resource *res,
				  uint64_t start_unix_ns, uint64_t now_unix_ns, uint8_t **out,
				  size_t *out_len, uint32_t *points)
{
	struct builder b = {.res = res, .now = now_unix_ns, .delta = true, .start = start_unix_ns};

	return encode(&b, m, out, out_len, points);
}

static int encode(struct builder *bp, const struct tt_metrics *m, uint8_t **out, size_t *out_len,
		  uint32_t *points)
{
	struct tt_arena a = {0};
	struct builder b = *bp;
	struct tt_metrics_visitor v = {.metric = add_metric, .series = add_series, .ctx = &b};
	int ret;

	b.a = &a;
	/* one resource and one scope even when there is no metric yet */
	ret = tt_pb_request__init(&b.req, &metrics_envelope, &a,
				  (size_t)TT_M__COUNT * (MAX_SERVICES + 1));
	if (!ret)
		ret = tt_pb_request__group(&b.req, b.res);
	if (!ret)
		ret = tt_metrics__visit(m, &v) ? -ENOMEM : 0;
	if (!ret)
		ret = tt_pb_request__pack(&b.req, out, out_len);
	if (!ret)
		*points = b.points;
	tt_arena__release(&a);
	return ret;
}

/* ---- OTLP/JSON ------------------------------------------------------------ */

static void json_times(FILE *f, uint64_t start, uint64_t t)
{
	fprintf(f, "\"startTimeUnixNano\":\"%" PRIu64 "\",\"timeUnixNano\":\"%" PRIu64 "\"", start,
		t);
}

static void json_numbers(FILE *f, NumberPoint **p, size_t n)
{
	fputs("\"dataPoints\":[", f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",{" : "{", f);
		tt_pb__json_attrs(f, p[i]->attributes, p[i]->n_attributes);
		fputc(',', f);
		json_times(f, p[i]->start_time_unix_nano, p[i]->time_unix_nano);
		fprintf(f, ",\"asInt\":\"%" PRId64 "\"}", p[i]->as_int);
	}
	fputc(']', f);
}

static void json_histograms(FILE *f, HistogramPoint **p, size_t n)
{
	char num[32];

	fputs("\"dataPoints\":[", f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",{" : "{", f);
		tt_pb__json_attrs(f, p[i]->attributes, p[i]->n_attributes);
		fputc(',', f);
		json_times(f, p[i]->start_time_unix_nano, p[i]->time_unix_nano);
		snprintf(num, sizeof(num), "%.17g", p[i]->sum);
		fprintf(f, ",\"count\":\"%" PRIu64 "\",\"sum\":%s,\"bucketCounts\":[", p[i]->count,
			num);
		for (size_t k = 0; k < p[i]->n_bucket_counts; k++)
			fprintf(f, "%s\"%" PRIu64 "\"", k ? "," : "", p[i]->bucket_counts[k]);
		fputs("],\"explicitBounds\":[", f);
		for (size_t k = 0; k < p[i]->n_explicit_bounds; k++) {
			snprintf(num, sizeof(num), "%.17g", p[i]->explicit_bounds[k]);
			fprintf(f, "%s%s", k ? "," : "", num);
		}
		fputs("]}", f);
	}
	fputc(']', f);
}

static void json_metric(FILE *f, const void *item)
{
	const Metric *m = item;

	fputs("{\"name\":", f);
	tt_json__str(f, m->name, strlen(m->name));
	fputs(",\"description\":", f);
	tt_json__str(f, m->description, strlen(m->description));
	fputs(",\"unit\":", f);
	tt_json__str(f, m->unit, strlen(m->unit));
	switch (m->data_case) {
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
		fputs(",\"sum\":{", f);
		json_numbers(f, m->sum->data_points, m->sum->n_data_points);
		fprintf(f, ",\"aggregationTemporality\":%d,\"isMonotonic\":%s}",
			m->sum->aggregation_temporality, m->sum->is_monotonic ? "true" : "false");
		break;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
		fputs(",\"gauge\":{", f);
		json_numbers(f, m->gauge->data_points, m->gauge->n_data_points);
		fputc('}', f);
		break;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
		fputs(",\"histogram\":{", f);
		json_histograms(f, m->histogram->data_points, m->histogram->n_data_points);
		fprintf(f, ",\"aggregationTemporality\":%d}",
			m->histogram->aggregation_temporality);
		break;
	default:
		break;
	}
	fputc('}', f);
}

int tt_otlp__metrics_json(const uint8_t *pb, size_t len, char **out, size_t *out_len)
{
	return tt_pb__json(&metrics_envelope, pb, len, out, out_len);
}

/* A metric counts its data points. */
static size_t metric_points(const void *item)
{
	const Metric *m = item;

	switch (m->data_case) {
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
		return m->sum->n_data_points;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
		return m->gauge->n_data_points;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
		return m->histogram->n_data_points;
	default:
		return 0;
	}
}

int64_t tt_otlp__count_points(const uint8_t *pb, size_t len)
{
	return tt_pb__count(&metrics_envelope, pb, len);
}
