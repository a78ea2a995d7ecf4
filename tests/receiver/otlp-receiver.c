// SPDX-License-Identifier: MIT
/*
 * otlp-receiver: a small OTLP/HTTP collector for the tests. A real HTTP
 * server (libmicrohttpd) that decodes ExportTraceServiceRequest,
 * ExportMetricsServiceRequest and ExportLogsServiceRequest with the
 * project's generated protobuf-c code (gzip too), keeps every span, data
 * point and log record it accepted, and answers as it is told, to exercise
 * the exporter's retries.
 *
 * usage: otlp-receiver --port N [--mode MODE] [--fail N] [--retry-after V]
 *                      [--rejected N] [--fail-signals LIST]
 *   MODE  ok (default) | 503 | 429 | 400 | 502 | hang | partial
 *   --fail N         answer MODE to the first N requests, then ok (0: always MODE)
 *   --retry-after V  the Retry-After header sent with 503 and 429
 *   --rejected N     partial: how many spans to report rejected (default 1)
 *   --fail-signals L which signals MODE applies to: a comma-separated list of
 *                    traces, metrics, logs (default traces); the others get ok
 *   --delay MS       wait MS before answering each traces request (a slow collector
 *                    that keeps what it received, whatever the client does meanwhile)
 *   --count-only     decode protobuf traces requests and count their spans, keep
 *                    nothing (make bench: the receiver must not be the bottleneck)
 *
 * Endpoints:
 *   POST /v1/traces   OTLP/HTTP (application/x-protobuf or application/json)
 *   POST /v1/metrics  OTLP/HTTP metrics (protobuf, or JSON kept as a body)
 *   POST /v1/logs     OTLP/HTTP logs (protobuf, or JSON kept as a body)
 *   GET  /spans       one JSON object per accepted span (protobuf requests)
 *   GET  /points      one JSON object per accepted metric data point
 *   GET  /logs        one JSON object per accepted log record
 *   GET  /bodies      one line per accepted JSON request body
 *   GET  /stats       {"requests":..,"accepted":..,"refused":..,"spans":..,"gzip":..,
 *                      "metrics_requests":..,"metrics_refused":..,"points":..,
 *                      "logs_requests":..,"logs_refused":..,"log_records":..}
 *                     (requests, accepted and refused count traces requests)
 *   POST /control?mode=M&fail=N&retry_after=V&rejected=N&signals=L   change the answers
 *
 * Prints "listening on PORT" on stdout once ready. Stops on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "logs_service.pb-c.h"
#include "metrics_service.pb-c.h"
#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

#define MAX_BODY (64u << 20)

struct buf {
	char *data;
	size_t len, cap;
};

static struct {
	pthread_mutex_t mu;
	char mode[16];
	long fail; /* requests still to fail; 0 with mode != ok: always */
	bool fail_all;
	char retry_after[64];
	long rejected;
	uint64_t requests, accepted, refused, spans, gzip, json;
	uint64_t metrics_requests, metrics_refused, points;
	uint64_t logs_requests, logs_refused, log_records;
	char fail_signals[64];
	long delay_ms;
	bool count_only;
	struct buf spans_out, points_out, logs_out, bodies;
	volatile sig_atomic_t stop;
} st = {.mu = PTHREAD_MUTEX_INITIALIZER, .mode = "ok", .rejected = 1, .fail_signals = "traces"};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap + n + 1) * 2;
		char *g = realloc(b->data, cap);

		if (!g)
			return;
		b->data = g;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_fmt(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void json_str(struct buf *b, const char *s)
{
	buf_str(b, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_fmt(b, "\\%c", c);
		else if (c < 0x20)
			buf_fmt(b, "\\u%04x", c);
		else
			buf_add(b, s, 1);
	}
	buf_str(b, "\"");
}

static void json_hex(struct buf *b, const ProtobufCBinaryData *d)
{
	buf_str(b, "\"");
	for (size_t i = 0; i < d->len; i++)
		buf_fmt(b, "%02x", d->data[i]);
	buf_str(b, "\"");
}

static void json_attrs(struct buf *b, KeyValue **kv, size_t n)
{
	buf_str(b, "{");
	for (size_t i = 0; i < n; i++) {
		Opentelemetry__Proto__Common__V1__AnyValue *v = kv[i]->value;

		if (i)
			buf_str(b, ",");
		json_str(b, kv[i]->key);
		buf_str(b, ":");
		if (v &&
		    v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE)
			buf_fmt(b, "%" PRId64, v->int_value);
		else if (v &&
			 v->value_case ==
				 OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
			json_str(b, v->string_value);
		else
			buf_str(b, "null");
	}
	buf_str(b, "}");
}

/* One line per span: what the tests check. Returns the span count. */
static uint64_t record(Request *req, struct buf *out)
{
	uint64_t n = 0;

	for (size_t r = 0; r < req->n_resource_spans; r++) {
		Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[r];

		for (size_t s = 0; s < rs->n_scope_spans; s++) {
			Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[s];

			for (size_t i = 0; i < ss->n_spans; i++) {
				Opentelemetry__Proto__Trace__V1__Span *sp = ss->spans[i];

				buf_str(out, "{\"traceId\":");
				json_hex(out, &sp->trace_id);
				buf_str(out, ",\"spanId\":");
				json_hex(out, &sp->span_id);
				if (sp->parent_span_id.len) {
					buf_str(out, ",\"parentSpanId\":");
					json_hex(out, &sp->parent_span_id);
				}
				buf_str(out, ",\"name\":");
				json_str(out, sp->name);
				buf_fmt(out,
					",\"kind\":%d,\"flags\":%u,\"startTimeUnixNano\":\"%" PRIu64
					"\",\"endTimeUnixNano\":\"%" PRIu64 "\",\"attributes\":",
					sp->kind, sp->flags, sp->start_time_unix_nano,
					sp->end_time_unix_nano);
				json_attrs(out, sp->attributes, sp->n_attributes);
				buf_fmt(out, ",\"status\":{\"code\":%d,\"message\":",
					sp->status ? sp->status->code : 0);
				json_str(out, sp->status ? sp->status->message : "");
				buf_str(out, "},\"events\":[");
				for (size_t e = 0; e < sp->n_events; e++) {
					if (e)
						buf_str(out, ",");
					buf_str(out, "{\"name\":");
					json_str(out, sp->events[e]->name);
					buf_str(out, ",\"attributes\":");
					json_attrs(out, sp->events[e]->attributes,
						   sp->events[e]->n_attributes);
					buf_str(out, "}");
				}
				buf_str(out, "],\"scope\":{\"name\":");
				json_str(out, ss->scope ? ss->scope->name : "");
				buf_str(out, ",\"version\":");
				json_str(out, ss->scope ? ss->scope->version : "");
				buf_str(out, "},\"resource\":");
				if (rs->resource)
					json_attrs(out, rs->resource->attributes,
						   rs->resource->n_attributes);
				else
					buf_str(out, "{}");
				buf_str(out, "}\n");
				n++;
			}
		}
	}
	return n;
}

static int gunzip(const char *in, size_t len, struct buf *out)
{
	z_stream z = {0};
	char chunk[65536];
	int rc;

	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -1;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	do {
		z.next_out = (Bytef *)chunk;
		z.avail_out = sizeof(chunk);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END)
			break;
		buf_add(out, chunk, sizeof(chunk) - z.avail_out);
	} while (rc != Z_STREAM_END && out->len < MAX_BODY);
	inflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
			     const void *body, size_t len, const char *retry_after)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	if (retry_after && *retry_after)
		MHD_add_response_header(r, "Retry-After", retry_after);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* The answer the current mode gives; "ok" when the failures ran out. Lock held. */
static void current_mode(char *mode, size_t len)
{
	if (!strcmp(st.mode, "ok") || (!st.fail_all && st.fail <= 0)) {
		snprintf(mode, len, "ok");
		return;
	}
	snprintf(mode, len, "%s", st.mode);
	if (!st.fail_all)
		st.fail--;
}

static enum MHD_Result on_traces(struct MHD_Connection *c, struct buf *body)
{
	const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	bool json = type && strstr(type, "json");
	struct buf plain = {0};
	char mode[16], retry_after[64];
	const char *data = body->data ? body->data : "";
	size_t len = body->len;
	Request *req = NULL;
	uint64_t n = 0;

	pthread_mutex_lock(&st.mu);
	st.requests++;
	if (strstr(st.fail_signals, "traces"))
		current_mode(mode, sizeof(mode));
	else
		snprintf(mode, sizeof(mode), "ok");
	snprintf(retry_after, sizeof(retry_after), "%s", st.retry_after);
	pthread_mutex_unlock(&st.mu);

	if (!strcmp(mode, "hang")) {
		for (int i = 0; i < 300 && !st.stop; i++)
			usleep(100000);
		snprintf(mode, sizeof(mode), "503");
	}
	for (long waited = 0; waited < st.delay_ms && !st.stop; waited += 10)
		usleep(10000);
	if (strcmp(mode, "ok") && strcmp(mode, "partial")) {
		unsigned code = (unsigned)strtoul(mode, NULL, 10);

		pthread_mutex_lock(&st.mu);
		st.refused++;
		pthread_mutex_unlock(&st.mu);
		return reply(c, code ? code : 500, "text/plain", "refused\n", 8,
			     code == 503 || code == 429 ? retry_after : NULL);
	}
	if (enc && !strcmp(enc, "gzip")) {
		if (gunzip(data, len, &plain)) {
			free(plain.data);
			return reply(c, 400, "text/plain", "bad gzip\n", 9, NULL);
		}
		data = plain.data ? plain.data : "";
		len = plain.len;
	}
	if (!json) {
		req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
			NULL, len, (const uint8_t *)data);
		if (!req) {
			free(plain.data);
			return reply(c, 400, "text/plain", "bad protobuf\n", 13, NULL);
		}
	}
	pthread_mutex_lock(&st.mu);
	if (enc && !strcmp(enc, "gzip"))
		st.gzip++;
	if (json) {
		st.json++;
		/* one span object per "spanId" key outside of links and parents */
		for (const char *p = data; (p = strstr(p, "\"spanId\":")); p++)
			n++;
		buf_add(&st.bodies, data, len);
		buf_str(&st.bodies, "\n");
	} else if (st.count_only) {
		for (size_t r = 0; r < req->n_resource_spans; r++) {
			for (size_t s = 0; s < req->resource_spans[r]->n_scope_spans; s++)
				n += req->resource_spans[r]->scope_spans[s]->n_spans;
		}
	} else {
		n = record(req, &st.spans_out);
	}
	st.accepted++;
	st.spans += n;
	pthread_mutex_unlock(&st.mu);
	if (req)
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
			req, NULL);
	free(plain.data);
	if (!strcmp(mode, "partial")) {
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
			OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
		Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
			OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
		uint8_t out[256];
		size_t olen;
		char js[256];

		ps.rejected_spans = st.rejected;
		ps.error_message = "test receiver rejects some";
		resp.partial_success = &ps;
		if (json) {
			snprintf(js, sizeof(js),
				 "{\"partialSuccess\":{\"rejectedSpans\":\"%ld\",\"errorMessage\":"
				 "\"%s\"}}",
				 st.rejected, ps.error_message);
			return reply(c, 200, "application/json", js, strlen(js), NULL);
		}
		olen = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(
			&resp, out);
		return reply(c, 200, "application/x-protobuf", out, olen, NULL);
	}
	if (json)
		return reply(c, 200, "application/json", "{}", 2, NULL);
	return reply(c, 200, "application/x-protobuf", "", 0, NULL);
}

/* ---- metrics and logs ------------------------------------------------------ */

typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramPoint;

static void point_head(struct buf *b, const Metric *m, const char *type, KeyValue **attrs,
		       size_t nattrs, uint64_t start, uint64_t t, KeyValue **res, size_t nres)
{
	buf_str(b, "{\"name\":");
	json_str(b, m->name);
	buf_str(b, ",\"unit\":");
	json_str(b, m->unit);
	buf_fmt(b, ",\"type\":\"%s\",\"attributes\":", type);
	json_attrs(b, attrs, nattrs);
	buf_fmt(b, ",\"start\":\"%" PRIu64 "\",\"time\":\"%" PRIu64 "\",\"resource\":", start, t);
	json_attrs(b, res, nres);
}

/* One line per number data point. */
static uint64_t record_numbers(const Metric *m, const char *type, NumberPoint **p, size_t n,
			       int temporality, bool monotonic, KeyValue **res, size_t nres)
{
	for (size_t i = 0; i < n; i++) {
		point_head(&st.points_out, m, type, p[i]->attributes, p[i]->n_attributes,
			   p[i]->start_time_unix_nano, p[i]->time_unix_nano, res, nres);
		buf_fmt(&st.points_out,
			",\"temporality\":%d,\"monotonic\":%s,\"value\":%" PRId64 "}\n",
			temporality, monotonic ? "true" : "false",
			p[i]->value_case ==
					OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT
				? p[i]->as_int
				: (int64_t)p[i]->as_double);
	}
	return n;
}

/* One line per histogram data point: count, sum, bucket counts and bounds. */
static uint64_t record_histograms(const Metric *m, HistogramPoint **p, size_t n, int temporality,
				  KeyValue **res, size_t nres)
{
	for (size_t i = 0; i < n; i++) {
		point_head(&st.points_out, m, "histogram", p[i]->attributes, p[i]->n_attributes,
			   p[i]->start_time_unix_nano, p[i]->time_unix_nano, res, nres);
		buf_fmt(&st.points_out,
			",\"temporality\":%d,\"count\":%" PRIu64 ",\"sum\":%.17g,\"buckets\":[",
			temporality, p[i]->count, p[i]->sum);
		for (size_t k = 0; k < p[i]->n_bucket_counts; k++)
			buf_fmt(&st.points_out, "%s%" PRIu64, k ? "," : "", p[i]->bucket_counts[k]);
		buf_str(&st.points_out, "],\"bounds\":[");
		for (size_t k = 0; k < p[i]->n_explicit_bounds; k++)
			buf_fmt(&st.points_out, "%s%.17g", k ? "," : "", p[i]->explicit_bounds[k]);
		buf_str(&st.points_out, "]}\n");
	}
	return n;
}

static uint64_t record_metrics(const uint8_t *data, size_t len, bool *ok)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req;
	uint64_t n = 0;

	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, data);
	*ok = req != NULL;
	if (!req)
		return 0;
	for (size_t r = 0; r < req->n_resource_metrics; r++) {
		Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[r];
		KeyValue **res = rm->resource ? rm->resource->attributes : NULL;
		size_t nres = rm->resource ? rm->resource->n_attributes : 0;

		for (size_t s = 0; s < rm->n_scope_metrics; s++) {
			for (size_t i = 0; i < rm->scope_metrics[s]->n_metrics; i++) {
				const Metric *m = rm->scope_metrics[s]->metrics[i];

				if (m->data_case ==
				    OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM)
					n += record_numbers(m, "sum", m->sum->data_points,
							    m->sum->n_data_points,
							    m->sum->aggregation_temporality,
							    m->sum->is_monotonic, res, nres);
				else if (m->data_case ==
					 OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE)
					n += record_numbers(m, "gauge", m->gauge->data_points,
							    m->gauge->n_data_points, 0, false, res,
							    nres);
				else if (m->data_case ==
					 OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM)
					n += record_histograms(
						m, m->histogram->data_points,
						m->histogram->n_data_points,
						m->histogram->aggregation_temporality, res, nres);
			}
		}
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	return n;
}

static uint64_t record_logs(const uint8_t *data, size_t len, bool *ok)
{
	Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *req;
	struct buf *b = &st.logs_out;
	uint64_t n = 0;

	req = opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
		NULL, len, data);
	*ok = req != NULL;
	if (!req)
		return 0;
	for (size_t r = 0; r < req->n_resource_logs; r++) {
		Opentelemetry__Proto__Logs__V1__ResourceLogs *rl = req->resource_logs[r];

		for (size_t s = 0; s < rl->n_scope_logs; s++) {
			Opentelemetry__Proto__Logs__V1__ScopeLogs *sl = rl->scope_logs[s];

			for (size_t i = 0; i < sl->n_log_records; i++) {
				Opentelemetry__Proto__Logs__V1__LogRecord *lr = sl->log_records[i];

				buf_fmt(b,
					"{\"time\":\"%" PRIu64 "\",\"observed\":\"%" PRIu64
					"\",\"severity\":%d,\"severityText\":",
					lr->time_unix_nano, lr->observed_time_unix_nano,
					lr->severity_number);
				json_str(b, lr->severity_text);
				buf_str(b, ",\"body\":");
				json_str(
					b,
					lr->body && lr->body->value_case ==
								OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
						? lr->body->string_value
						: "");
				buf_str(b, ",\"attributes\":");
				json_attrs(b, lr->attributes, lr->n_attributes);
				buf_str(b, ",\"traceId\":");
				json_hex(b, &lr->trace_id);
				buf_str(b, ",\"spanId\":");
				json_hex(b, &lr->span_id);
				buf_fmt(b, ",\"flags\":%u,\"eventName\":", lr->flags);
				json_str(b, lr->event_name);
				buf_str(b, ",\"scope\":");
				json_str(b, sl->scope ? sl->scope->name : "");
				buf_str(b, ",\"resource\":");
				if (rl->resource)
					json_attrs(b, rl->resource->attributes,
						   rl->resource->n_attributes);
				else
					buf_str(b, "{}");
				buf_str(b, "}\n");
				n++;
			}
		}
	}
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(req,
											      NULL);
	return n;
}

/* POST /v1/metrics and /v1/logs: counted apart from traces; MODE only when listed. */
static enum MHD_Result on_metrics_or_logs(struct MHD_Connection *c, struct buf *body, bool metrics)
{
	const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	bool json = type && strstr(type, "json"), ok = true;
	struct buf plain = {0};
	char mode[16], retry_after[64];
	const char *data = body->data ? body->data : "";
	size_t len = body->len;
	uint64_t n = 0;

	pthread_mutex_lock(&st.mu);
	if (metrics)
		st.metrics_requests++;
	else
		st.logs_requests++;
	if (strstr(st.fail_signals, metrics ? "metrics" : "logs"))
		current_mode(mode, sizeof(mode));
	else
		snprintf(mode, sizeof(mode), "ok");
	snprintf(retry_after, sizeof(retry_after), "%s", st.retry_after);
	pthread_mutex_unlock(&st.mu);
	if (strcmp(mode, "ok") && strcmp(mode, "partial")) {
		unsigned code = (unsigned)strtoul(mode, NULL, 10);

		pthread_mutex_lock(&st.mu);
		if (metrics)
			st.metrics_refused++;
		else
			st.logs_refused++;
		pthread_mutex_unlock(&st.mu);
		return reply(c, code ? code : 503, "text/plain", "refused\n", 8,
			     code == 503 || code == 429 ? retry_after : NULL);
	}
	if (enc && !strcmp(enc, "gzip")) {
		if (gunzip(data, len, &plain)) {
			free(plain.data);
			return reply(c, 400, "text/plain", "bad gzip\n", 9, NULL);
		}
		data = plain.data ? plain.data : "";
		len = plain.len;
	}
	pthread_mutex_lock(&st.mu);
	if (json) {
		buf_add(&st.bodies, data, len);
		buf_str(&st.bodies, "\n");
	} else if (metrics) {
		n = record_metrics((const uint8_t *)data, len, &ok);
		st.points += n;
	} else {
		n = record_logs((const uint8_t *)data, len, &ok);
		st.log_records += n;
	}
	pthread_mutex_unlock(&st.mu);
	free(plain.data);
	if (!ok)
		return reply(c, 400, "text/plain", "bad protobuf\n", 13, NULL);
	if (json)
		return reply(c, 200, "application/json", "{}", 2, NULL);
	return reply(c, 200, "application/x-protobuf", "", 0, NULL);
}

static enum MHD_Result on_control(struct MHD_Connection *c)
{
	const char *mode = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mode");
	const char *fail = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fail");
	const char *ra = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "retry_after");
	const char *rej = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "rejected");
	const char *sig = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "signals");

	pthread_mutex_lock(&st.mu);
	if (mode)
		snprintf(st.mode, sizeof(st.mode), "%s", mode);
	if (fail) {
		st.fail = strtol(fail, NULL, 10);
		st.fail_all = st.fail == 0;
	}
	if (ra)
		snprintf(st.retry_after, sizeof(st.retry_after), "%s", ra);
	if (rej)
		st.rejected = strtol(rej, NULL, 10);
	if (sig)
		snprintf(st.fail_signals, sizeof(st.fail_signals), "%s", sig);
	pthread_mutex_unlock(&st.mu);
	return reply(c, 200, "text/plain", "ok\n", 3, NULL);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct buf *body = *con_cls;
	char stats[1024];
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (!strcmp(method, "POST")) {
		if (!body) {
			body = calloc(1, sizeof(*body));
			*con_cls = body;
			return body ? MHD_YES : MHD_NO;
		}
		if (*upload_size) {
			if (body->len + *upload_size <= MAX_BODY)
				buf_add(body, upload, *upload_size);
			*upload_size = 0;
			return MHD_YES;
		}
		if (!strcmp(url, "/v1/traces"))
			return on_traces(c, body);
		if (!strcmp(url, "/v1/metrics"))
			return on_metrics_or_logs(c, body, true);
		if (!strcmp(url, "/v1/logs"))
			return on_metrics_or_logs(c, body, false);
		if (!strcmp(url, "/control"))
			return on_control(c);
		return reply(c, 404, "text/plain", "not found\n", 10, NULL);
	}
	if (!strcmp(url, "/stats")) {
		pthread_mutex_lock(&st.mu);
		snprintf(stats, sizeof(stats),
			 "{\"requests\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"refused\":%" PRIu64
			 ",\"spans\":%" PRIu64 ",\"gzip\":%" PRIu64 ",\"json\":%" PRIu64
			 ",\"metrics_requests\":%" PRIu64 ",\"metrics_refused\":%" PRIu64
			 ",\"points\":%" PRIu64 ",\"logs_requests\":%" PRIu64
			 ",\"logs_refused\":%" PRIu64 ",\"log_records\":%" PRIu64 "}\n",
			 st.requests, st.accepted, st.refused, st.spans, st.gzip, st.json,
			 st.metrics_requests, st.metrics_refused, st.points, st.logs_requests,
			 st.logs_refused, st.log_records);
		pthread_mutex_unlock(&st.mu);
		return reply(c, 200, "application/json", stats, strlen(stats), NULL);
	}
	if (!strcmp(url, "/spans") || !strcmp(url, "/bodies") || !strcmp(url, "/points") ||
	    !strcmp(url, "/logs")) {
		struct buf *b = !strcmp(url, "/spans")	  ? &st.spans_out
				: !strcmp(url, "/points") ? &st.points_out
				: !strcmp(url, "/logs")	  ? &st.logs_out
							  : &st.bodies;

		pthread_mutex_lock(&st.mu);
		ret = reply(c, 200, "application/x-ndjson", b->data ? b->data : "", b->len, NULL);
		pthread_mutex_unlock(&st.mu);
		return ret;
	}
	return reply(c, 404, "text/plain", "not found\n", 10, NULL);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct buf *body = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (body) {
		free(body->data);
		free(body);
	}
	*con_cls = NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct MHD_Daemon *d;
	sigset_t stops;
	long port = 0;
	int sig;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--port") && v)
			port = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--mode") && v)
			snprintf(st.mode, sizeof(st.mode), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--fail") && v)
			st.fail = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--retry-after") && v)
			snprintf(st.retry_after, sizeof(st.retry_after), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--rejected") && v)
			st.rejected = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--delay") && v)
			st.delay_ms = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--count-only"))
			st.count_only = true;
		else if (!strcmp(argv[i], "--fail-signals") && v)
			snprintf(st.fail_signals, sizeof(st.fail_signals), "%s", argv[++i]);
		else {
			fprintf(stderr, "otlp-receiver: bad argument '%s'\n", argv[i]);
			return 2;
		}
	}
	st.fail_all = st.fail == 0;
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "otlp-receiver: --port N is required\n");
		return 2;
	}
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* tests stay on loopback */
	/* blocked in every thread (MHD's inherit the mask) and taken by sigwait()
	 * below: a handler may run on any thread, and pause() in this one then
	 * never returns */
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stops, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
			     (uint16_t)port, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
			     (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
			     MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U, MHD_OPTION_CONNECTION_TIMEOUT,
			     120U, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "otlp-receiver: cannot listen on port %ld\n", port);
		return 1;
	}
	printf("listening on %ld\n", port);
	fflush(stdout);
	while (sigwait(&stops, &sig) != 0)
		;
	st.stop = 1;
	MHD_stop_daemon(d);
	return 0;
}
