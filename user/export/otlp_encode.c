// SPDX-License-Identifier: MIT
/* Finished spans as an OTLP ExportTraceServiceRequest, protobuf or OTLP/JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "otlp_encode.h"
#include "otlp_pb.h"
#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse Response;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Trace__V1__Status Status;

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i])
			return false;
	}
	return true;
}

static Event *exception_event(struct tt_arena *a, const struct tt_span *s, uint64_t t)
{
	Event *ev = tt_arena__alloc(a, sizeof(*ev));
	const char *type;

	if (!ev)
		return NULL;
	opentelemetry__proto__trace__v1__span__event__init(ev);
	ev->time_unix_nano = t;
	ev->name = "exception";
	ev->attributes = tt_arena__alloc(a, 2 * sizeof(KeyValue *));
	if (!ev->attributes)
		return NULL;
	ev->attributes[0] =
		tt_pb__kv_str(a, "exception.message", s->status_msg, strlen(s->status_msg));
	type = tt_span__error_type(s);
	ev->attributes[1] = tt_pb__kv_str(a, "exception.type", type, strlen(type));
	if (!ev->attributes[0] || !ev->attributes[1])
		return NULL;
	ev->n_attributes = 2;
	return ev;
}

/* A compensation span starts with the event "Compensating" (DESIGN §4). */
static Event *compensating_event(struct tt_arena *a, uint64_t t)
{
	Event *ev = tt_arena__alloc(a, sizeof(*ev));

	if (!ev)
		return NULL;
	opentelemetry__proto__trace__v1__span__event__init(ev);
	ev->time_unix_nano = t;
	ev->name = "Compensating";
	return ev;
}

/* The span that made a publish, in another trace. */
static Link *build_link(struct tt_arena *a, const struct tt_span *s)
{
	Link *l = tt_arena__alloc(a, sizeof(*l));

	if (!l)
		return NULL;
	opentelemetry__proto__trace__v1__span__link__init(l);
	if (tt_arena__bytes(a, &l->trace_id, s->link_trace_id, 16) ||
	    tt_arena__bytes(a, &l->span_id, s->link_span_id, 8))
		return NULL;
	return l;
}

static struct tt_sdk_config limits;
static bool limits_set;

void tt_otlp__set_limits(const struct tt_sdk_config *c)
{
	limits_set = c != NULL;
	if (c)
		limits = *c;
}

const struct tt_sdk_config *tt_otlp__limits(void)
{
	return limits_set ? &limits : NULL;
}

/* Events (Compensating, exception) and the link of a span. Returns 0 or -ENOMEM. */
static int add_events_and_links(struct tt_arena *a, Span *sp, const struct tt_span *s)
{
	bool comp = s->probe->role == TT_ROLE_COMPENSATION;
	bool err = s->status == TT_STATUS_ERROR;

	if (comp || err) {
		sp->events = tt_arena__alloc(a, 2 * sizeof(Event *));
		if (!sp->events)
			return -ENOMEM;
	}
	if (comp) {
		sp->events[sp->n_events] = compensating_event(a, sp->start_time_unix_nano);
		if (!sp->events[sp->n_events++])
			return -ENOMEM;
	}
	if (err) {
		sp->events[sp->n_events] = exception_event(a, s, sp->end_time_unix_nano);
		if (!sp->events[sp->n_events++])
			return -ENOMEM;
	}
	if (limits_set && sp->n_events > limits.span_events) {
		sp->dropped_events_count = (uint32_t)sp->n_events - limits.span_events;
		sp->n_events = limits.span_events;
	}
	if (!all_zero(s->link_trace_id, 16) && limits_set && limits.span_links == 0) {
		sp->dropped_links_count = 1;
	} else if (!all_zero(s->link_trace_id, 16)) {
		sp->links = tt_arena__alloc(a, sizeof(Link *));
		if (!sp->links)
			return -ENOMEM;
		sp->links[0] = build_link(a, s);
		if (!sp->links[0])
			return -ENOMEM;
		sp->n_links = 1;
	}
	return 0;
}

static Span *build_span(struct tt_arena *a, const struct tt_span *s, int64_t off)
{
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(s, kv);
	Span *sp = tt_arena__alloc(a, sizeof(*sp));
	Status *st = tt_arena__alloc(a, sizeof(*st));

	if (!sp || !st)
		return NULL;
	opentelemetry__proto__trace__v1__span__init(sp);
	opentelemetry__proto__trace__v1__status__init(st);
	if (tt_arena__bytes(a, &sp->trace_id, s->trace_id, 16) ||
	    tt_arena__bytes(a, &sp->span_id, s->span_id, 8))
		return NULL;
	if (!all_zero(s->parent_id, 8) && tt_arena__bytes(a, &sp->parent_span_id, s->parent_id, 8))
		return NULL;
	sp->flags = 0x01; /* W3C trace flags: sampled */
	sp->name = tt_arena__str(a, s->name, strnlen(s->name, sizeof(s->name)));
	sp->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
	sp->start_time_unix_nano = s->start_ns + (uint64_t)off;
	sp->end_time_unix_nano = s->end_ns + (uint64_t)off;
	sp->attributes = tt_arena__alloc(a, sizeof(KeyValue *) * (n ? (size_t)n : 1));
	if (!sp->name || !sp->attributes)
		return NULL;
	for (int i = 0; i < n; i++) {
		size_t len = kv[i].len;
		KeyValue *one;

		if (limits_set && sp->n_attributes >= limits.span.count) {
			sp->dropped_attributes_count++;
			continue;
		}
		if (limits_set && kv[i].type != TT_KV_INT)
			len = tt_attr_limit__cut(kv[i].str, len, limits.span.value_length);
		one = kv[i].type == TT_KV_INT ? tt_pb__kv_int(a, kv[i].key, kv[i].i)
					      : tt_pb__kv_str(a, kv[i].key, kv[i].str, len);
		if (!one)
			return NULL;
		sp->attributes[sp->n_attributes++] = one;
	}
	st->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)s->status;
	st->message =
		tt_arena__str(a, s->status_msg, strnlen(s->status_msg, sizeof(s->status_msg)));
	if (!st->message)
		return NULL;
	sp->status = st;
	if (add_events_and_links(a, sp, s))
		return NULL;
	return sp;
}

/* OTLP/JSON writers over the decoded request. */

static void json_span(FILE *f, const void *item)
{
	const Span *s = item;

	fputs("{\"traceId\":", f);
	tt_json__hex(f, s->trace_id.data, s->trace_id.len);
	fputs(",\"spanId\":", f);
	tt_json__hex(f, s->span_id.data, s->span_id.len);
	if (s->parent_span_id.len) {
		fputs(",\"parentSpanId\":", f);
		tt_json__hex(f, s->parent_span_id.data, s->parent_span_id.len);
	}
	fprintf(f, ",\"flags\":%u,\"name\":", s->flags);
	tt_json__str(f, s->name, strlen(s->name));
	fprintf(f,
		",\"kind\":%d,\"startTimeUnixNano\":\"%" PRIu64 "\",\"endTimeUnixNano\":\"%" PRIu64
		"\",",
		s->kind, s->start_time_unix_nano, s->end_time_unix_nano);
	tt_pb__json_attrs(f, s->attributes, s->n_attributes);
	if (s->n_events) {
		fputs(",\"events\":[", f);
		for (size_t i = 0; i < s->n_events; i++) {
			const Event *ev = s->events[i];

			if (i)
				fputc(',', f);
			fprintf(f,
				"{\"timeUnixNano\":\"%" PRIu64 "\",\"name\":", ev->time_unix_nano);
			tt_json__str(f, ev->name, strlen(ev->name));
			fputc(',', f);
			tt_pb__json_attrs(f, ev->attributes, ev->n_attributes);
			fputc('}', f);
		}
		fputc(']', f);
	}
	if (s->n_links) {
		fputs(",\"links\":[", f);
		for (size_t i = 0; i < s->n_links; i++) {
			if (i)
				fputc(',', f);
			fputs("{\"traceId\":", f);
			tt_json__hex(f, s->links[i]->trace_id.data, s->links[i]->trace_id.len);
			fputs(",\"spanId\":", f);
			tt_json__hex(f, s->links[i]->span_id.data, s->links[i]->span_id.len);
			fputc('}', f);
		}
		fputc(']', f);
	}
	fputs(",\"status\":{", f);
	if (s->status) {
		fprintf(f, "\"code\":%d", s->status->code);
		if (s->status->message && s->status->message[0]) {
			fputs(",\"message\":", f);
			tt_json__str(f, s->status->message, strlen(s->status->message));
		}
	}
	fputs("}}", f);
}

/* request.resource_spans[].scope_spans[].spans[] */
static const struct tt_pb_envelope traces = {
	&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
	"resource_spans",
	"scope_spans",
	"spans",
	json_span,
	NULL};

struct batch {
	const struct tt_xspan *const *spans;
	int64_t mono_to_unix_ns;
};

/* The i-th span of a batch, as tt_pb__encode() asks for it. */
static void *span_item(struct tt_arena *a, size_t i, void *ctx, const struct tt_resource **res)
{
	const struct batch *b = ctx;

	*res = b->spans[i]->res;
	return build_span(a, &b->spans[i]->span, b->mono_to_unix_ns);
}

int tt_otlp__encode_traces(const struct tt_xspan *const *spans, size_t n, int64_t mono_to_unix_ns,
			   uint8_t **out, size_t *out_len)
{
	struct batch b = {spans, mono_to_unix_ns};

	return tt_pb__encode(&traces, n, span_item, &b, out, out_len);
}

int tt_otlp__traces_json(const uint8_t *pb, size_t len, char **out, size_t *out_len)
{
	return tt_pb__json(&traces, pb, len, out, out_len);
}

int64_t tt_otlp__count_spans(const uint8_t *pb, size_t len)
{
	return tt_pb__count(&traces, pb, len);
}

/* The value of "name": in a flat scan of JSON text; NULL when absent. */
static const char *json_find(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i + n + 2 < len; i++) {
		if (text[i] == '"' && !memcmp(text + i + 1, name, n) && text[i + 1 + n] == '"') {
			const char *p = text + i + n + 2;

			while (p < text + len && (*p == ' ' || *p == ':' || *p == '\t'))
				p++;
			return p < text + len ? p : NULL;
		}
	}
	return NULL;
}

/*
 * The count that starts at p (digits, quoted or not, as proto3 JSON writes
 * an int64), read no further than end: the body is not NUL-terminated.
 * 0 when there are no digits; INT64_MAX when they overflow.
 */
static int64_t json_count(const char *p, const char *end)
{
	int64_t v = 0;

	if (p < end && *p == '"')
		p++;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return INT64_MAX;
		v = v * 10 + (*p - '0');
	}
	return v;
}

static int parse_json_response(const char *text, size_t len, int64_t *rejected, char *msg,
			       size_t msg_len)
{
	const char *p = json_find(text, len, "rejectedSpans");
	size_t o = 0;

	/* the three signals' responses differ only in this name */
	if (!p)
		p = json_find(text, len, "rejectedDataPoints");
	if (!p)
		p = json_find(text, len, "rejectedLogRecords");
	if (p)
		*rejected = json_count(p, text + len);
	p = json_find(text, len, "errorMessage");
	if (p && *p == '"') {
		for (p++; p < text + len && *p != '"' && o + 1 < msg_len; p++) {
			if (*p == '\\' && p + 1 < text + len)
				p++;
			msg[o++] = *p;
		}
	}
	if (msg_len)
		msg[o] = '\0';
	return 0;
}

int tt_otlp__parse_response(const uint8_t *body, size_t len, bool json, int64_t *rejected,
			    char *msg, size_t msg_len)
{
	Response *resp;

	*rejected = 0;
	if (msg_len)
		msg[0] = '\0';
	if (json)
		return parse_json_response((const char *)body, len, rejected, msg, msg_len);
	resp = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
		NULL, len, body);
	if (!resp)
		return -EBADMSG;
	if (resp->partial_success) {
		*rejected = resp->partial_success->rejected_spans;
		if (resp->partial_success->error_message && msg_len)
			snprintf(msg, msg_len, "%s", resp->partial_success->error_message);
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
		resp, NULL);
	return 0;
}
