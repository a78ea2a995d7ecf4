// SPDX-License-Identifier: MIT
/* Step transitions as OTLP log records, protobuf or OTLP/JSON (see otlp_logs.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "logs_service.pb-c.h"
#include "otlp_encode.h"
#include "otlp_logs.h"
#include "otlp_pb.h"

typedef Opentelemetry__Proto__Logs__V1__LogRecord LogRecord;

#define COMPENSATE_SUFFIX ".Compensate"
#define LOG_ATTRS	  5

/* ---- transitions ---------------------------------------------------------- */

const char *tt_transition__name(enum tt_transition t)
{
	static const char *const names[] = {
		[TT_TR_STARTED] = "started",
		[TT_TR_COMPLETED] = "completed",
		[TT_TR_FAILED] = "failed",
		[TT_TR_COMPENSATING] = "compensating",
		[TT_TR_COMPENSATED] = "compensated",
		[TT_TR_COMPENSATION_FAILED] = "compensation failed",
	};

	return (size_t)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

int tt_transition__severity(enum tt_transition t)
{
	if (t == TT_TR_FAILED || t == TT_TR_COMPENSATION_FAILED)
		return TT_SEVERITY_ERROR;
	if (t == TT_TR_COMPENSATING)
		return TT_SEVERITY_WARN;
	return TT_SEVERITY_INFO;
}

const char *tt_transition__severity_text(enum tt_transition t)
{
	int s = tt_transition__severity(t);

	return s == TT_SEVERITY_ERROR ? "ERROR" : s == TT_SEVERITY_WARN ? "WARN" : "INFO";
}

static void copy(char *dst, const char *src, size_t len)
{
	if (len > TT_STEP_LOG_STR - 1)
		len = TT_STEP_LOG_STR - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void copy_kv(char *dst, const struct tt_kv *kv)
{
	char num[24];

	if (kv->type == TT_KV_STR) {
		copy(dst, kv->str, strnlen(kv->str, kv->len));
		return;
	}
	snprintf(num, sizeof(num), "%" PRId64, kv->i);
	copy(dst, num, strlen(num));
}

/*
 * A step span names its task only in its own name, "<task>.<step>" (with
 * ".Compensate" after a compensation): the task is what precedes the step.
 */
static void task_of_step(const struct tt_span *span, const char *step, char *dst)
{
	size_t len = strnlen(span->name, sizeof(span->name));
	size_t slen = strlen(step), clen = strlen(COMPENSATE_SUFFIX);

	if (span->probe->role == TT_ROLE_COMPENSATION && len > clen &&
	    !strcmp(span->name + len - clen, COMPENSATE_SUFFIX))
		len -= clen;
	if (len <= slen + 1 || memcmp(span->name + len - slen, step, slen) ||
	    span->name[len - slen - 1] != '.')
		return;
	copy(dst, span->name, len - slen - 1);
}

int tt_step_logs(const struct tt_span *span, struct tt_step_log out[2])
{
	struct tt_kv kv[TT_SPAN_MAX_KV];
	bool comp, failed;
	int n;

	if (!span->probe || span->cut == TT_CUT_SHUTDOWN || span->cut == TT_CUT_EVICTED)
		return 0;
	if (span->probe->role != TT_ROLE_STEP && span->probe->role != TT_ROLE_COMPENSATION)
		return 0;
	comp = span->probe->role == TT_ROLE_COMPENSATION;
	failed = span->status == TT_STATUS_ERROR;
	memset(out, 0, 2 * sizeof(*out));
	memcpy(out[0].trace_id, span->trace_id, sizeof(span->trace_id));
	memcpy(out[0].span_id, span->span_id, sizeof(span->span_id));
	out[0].pid = span->pid;
	out[0].attempt = span->attempt;
	copy(out[0].step, span->probe->symbol, strlen(span->probe->symbol));
	n = tt_span__attrs(span, kv);
	for (int i = 0; i < n; i++) {
		if (!strcmp(kv[i].key, "step.name"))
			copy_kv(out[0].step, &kv[i]);
		else if (!strcmp(kv[i].key, "task.name"))
			copy_kv(out[0].task, &kv[i]);
		else if (!strcmp(kv[i].key, "task.id"))
			copy_kv(out[0].id, &kv[i]);
	}
	if (!out[0].task[0])
		task_of_step(span, out[0].step, out[0].task);
	out[1] = out[0];
	out[0].time_ns = span->start_ns;
	out[0].transition = comp ? TT_TR_COMPENSATING : TT_TR_STARTED;
	out[1].time_ns = span->end_ns;
	out[1].duration_ns = span->end_ns > span->start_ns ? span->end_ns - span->start_ns : 0;
	if (comp)
		out[1].transition = failed ? TT_TR_COMPENSATION_FAILED : TT_TR_COMPENSATED;
	else
		out[1].transition = failed ? TT_TR_FAILED : TT_TR_COMPLETED;
	if (failed)
		snprintf(out[1].message, sizeof(out[1].message), "%s", span->status_msg);
	return 2;
}

void tt_step_log__body(const struct tt_step_log *l, char *buf, size_t len)
{
	char attempt[24] = "", took[32] = "";
	size_t o;

	if (l->attempt)
		snprintf(attempt, sizeof(attempt), ", attempt %u", l->attempt);
	if (l->transition != TT_TR_STARTED && l->transition != TT_TR_COMPENSATING)
		snprintf(took, sizeof(took), ", %.1f ms", (double)l->duration_ns / 1e6);
	o = (size_t)snprintf(buf, len, "step %s %s (task %s%s%s%s%s)", l->step,
			     tt_transition__name(l->transition), l->task[0] ? l->task : "?",
			     l->id[0] ? " " : "", l->id, attempt, took);
	if (l->message[0] && o < len)
		snprintf(buf + o, len - o, ": %s", l->message);
}

/* OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT and _VALUE_LENGTH_LIMIT (tt_otlp__set_limits). */
static void apply_limits(LogRecord *r)
{
	const struct tt_sdk_config *lim = tt_otlp__limits();

	if (!lim)
		return;
	if (r->n_attributes > lim->log.count) {
		r->dropped_attributes_count = (uint32_t)(r->n_attributes - lim->log.count);
		r->n_attributes = lim->log.count;
	}
	for (size_t i = 0; i < r->n_attributes; i++) {
		Opentelemetry__Proto__Common__V1__AnyValue *v = r->attributes[i]->value;

		if (v->value_case !=
		    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
			continue;
		v->string_value[tt_attr_limit__cut(v->string_value, strlen(v->string_value),
						   lim->log.value_length)] = '\0';
	}
}

/* ---- protobuf ------------------------------------------------------------- */

static LogRecord *build_record(struct tt_arena *a, const struct tt_step_log *l, int64_t off,
			       uint64_t observed)
{
	LogRecord *r = tt_arena__alloc(a, sizeof(*r));
	AnyValue *body = tt_arena__alloc(a, sizeof(*body));
	char text[TT_STATUS_MSG_MAX + 4 * TT_STEP_LOG_STR + 64], event[48];
	KeyValue **kv = tt_arena__alloc(a, sizeof(*kv) * LOG_ATTRS);
	const char *tr = tt_transition__name(l->transition);
	size_t n = 0;

	if (!r || !body || !kv)
		return NULL;
	opentelemetry__proto__logs__v1__log_record__init(r);
	opentelemetry__proto__common__v1__any_value__init(body);
	r->time_unix_nano = l->time_ns + (uint64_t)off;
	r->observed_time_unix_nano = observed;
	r->severity_number =
		(Opentelemetry__Proto__Logs__V1__SeverityNumber)tt_transition__severity(
			l->transition);
	r->severity_text = (char *)tt_transition__severity_text(l->transition);
	tt_step_log__body(l, text, sizeof(text));
	body->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	body->string_value = tt_arena__str(a, text, strlen(text));
	r->body = body;
	snprintf(event, sizeof(event), "step.%s", tr);
	for (char *p = event; *p; p++)
		*p = *p == ' ' ? '_' : *p;
	r->event_name = tt_arena__str(a, event, strlen(event));
	if (!body->string_value || !r->event_name ||
	    tt_arena__bytes(a, &r->trace_id, l->trace_id, 16) ||
	    tt_arena__bytes(a, &r->span_id, l->span_id, 8))
		return NULL;
	r->flags = 0x01; /* W3C trace flags: sampled */
	if (l->task[0])
		kv[n++] = tt_pb__kv_str(a, "task.name", l->task, strlen(l->task));
	kv[n++] = tt_pb__kv_str(a, "step.name", l->step, strlen(l->step));
	if (l->attempt)
		kv[n++] = tt_pb__kv_int(a, "step.attempt", l->attempt);
	if (l->id[0])
		kv[n++] = tt_pb__kv_str(a, "task.id", l->id, strlen(l->id));
	kv[n++] = tt_pb__kv_str(a, "step.transition", tr, strlen(tr));
	for (size_t i = 0; i < n; i++) {
		if (!kv[i])
			return NULL;
	}
	r->attributes = kv;
	r->n_attributes = n;
	apply_limits(r);
	return r;
}

/* ---- OTLP/JSON ------------------------------------------------------------ */

static void json_record(FILE *f, const void *item)
{
	const LogRecord *r = item;

	fprintf(f,
		"{\"timeUnixNano\":\"%" PRIu64 "\",\"observedTimeUnixNano\":\"%" PRIu64
		"\",\"severityNumber\":%d,\"severityText\":",
		r->time_unix_nano, r->observed_time_unix_nano, r->severity_number);
	tt_json__str(f, r->severity_text, strlen(r->severity_text));
	fputs(",\"body\":", f);
	tt_pb__json_value(f, r->body);
	fputc(',', f);
	tt_pb__json_attrs(f, r->attributes, r->n_attributes);
	fprintf(f, ",\"flags\":%u,\"traceId\":", r->flags);
	tt_json__hex(f, r->trace_id.data, r->trace_id.len);
	fputs(",\"spanId\":", f);
	tt_json__hex(f, r->span_id.data, r->span_id.len);
	fputs(",\"eventName\":", f);
	tt_json__str(f, r->event_name, strlen(r->event_name));
	fputc('}', f);
}

/* request.resource_logs[].scope_logs[].log_records[] */
static const struct tt_pb_envelope logs_envelope = {
	&opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor,
	"resource_logs",
	"scope_logs",
	"log_records",
	json_record,
	NULL};

struct batch {
	const struct tt_step_log *const *logs;
	int64_t mono_to_unix_ns;
	uint64_t observed_unix_ns;
};

/* The i-th record of a batch, as tt_pb__encode() asks for it. */
static void *record_item(struct tt_arena *a, size_t i, void *ctx, const struct tt_resource **res)
{
	const struct batch *b = ctx;

	*res = b->logs[i]->res;
	return build_record(a, b->logs[i], b->mono_to_unix_ns, b->observed_unix_ns);
}

int tt_otlp__encode_logs(const struct tt_step_log *const *logs, size_t n, int64_t mono_to_unix_ns,
			 uint64_t observed_unix_ns, uint8_t **out, size_t *out_len)
{
	struct batch b = {logs, mono_to_unix_ns, observed_unix_ns};

	return tt_pb__encode(&logs_envelope, n, record_item, &b, out, out_len);
}

int tt_otlp__logs_json(const uint8_t *pb, size_t len, char **out, size_t *out_len)
{
	return tt_pb__json(&logs_envelope, pb, len, out, out_len);
}

int64_t tt_otlp__count_logs(const uint8_t *pb, size_t len)
{
	return tt_pb__count(&logs_envelope, pb, len);
}
