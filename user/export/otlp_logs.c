// SPDX-License-Identifier: MIT
/* Step transitions as OTLP log records, protobuf or OTLP/JSON (see otlp_logs.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "logs_service.pb-c.h"
#include "otlp_logs.h"
#include "otlp_pb.h"

typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest Request;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs ResourceLogs;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs ScopeLogs;
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
	r->trace_id.data = tt_arena__alloc(a, 16);
	r->span_id.data = tt_arena__alloc(a, 8);
	snprintf(event, sizeof(event), "step.%s", tr);
	for (char *p = event; *p; p++)
		*p = *p == ' ' ? '_' : *p;
	r->event_name = tt_arena__str(a, event, strlen(event));
	if (!body->string_value || !r->trace_id.data || !r->span_id.data || !r->event_name)
		return NULL;
	memcpy(r->trace_id.data, l->trace_id, 16);
	r->trace_id.len = 16;
	memcpy(r->span_id.data, l->span_id, 8);
	r->span_id.len = 8;
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
	return r;
}

static ResourceLogs *new_group(struct tt_arena *a, const struct tt_resource *res, size_t cap)
{
	ResourceLogs *rl = tt_arena__alloc(a, sizeof(*rl));
	ScopeLogs *sl = tt_arena__alloc(a, sizeof(*sl));

	if (!rl || !sl)
		return NULL;
	opentelemetry__proto__logs__v1__resource_logs__init(rl);
	opentelemetry__proto__logs__v1__scope_logs__init(sl);
	sl->scope = tt_pb__scope(a);
	sl->log_records = tt_arena__alloc(a, sizeof(LogRecord *) * cap);
	rl->scope_logs = tt_arena__alloc(a, sizeof(ScopeLogs *));
	rl->resource = tt_pb__resource(a, res);
	if (!sl->scope || !sl->log_records || !rl->scope_logs || !rl->resource)
		return NULL;
	rl->scope_logs[0] = sl;
	rl->n_scope_logs = 1;
	return rl;
}

int tt_otlp__encode_logs(const struct tt_step_log *const *logs, size_t n, int64_t mono_to_unix_ns,
			 uint64_t observed_unix_ns, uint8_t **out, size_t *out_len)
{
	struct tt_arena a = {0};
	const struct tt_resource **keys;
	Request req;
	uint8_t *buf;
	size_t size;
	int ret = -ENOMEM;

	opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&req);
	keys = tt_arena__alloc(&a, sizeof(*keys) * (n ? n : 1));
	req.resource_logs = tt_arena__alloc(&a, sizeof(ResourceLogs *) * (n ? n : 1));
	if (!keys || !req.resource_logs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		ResourceLogs *rl = NULL;
		ScopeLogs *sl;
		LogRecord *r;

		/* batches hold few processes: a linear search is the cheapest */
		for (size_t g = 0; g < req.n_resource_logs; g++) {
			if (keys[g] == logs[i]->res) {
				rl = req.resource_logs[g];
				break;
			}
		}
		if (!rl) {
			rl = new_group(&a, logs[i]->res, n - i);
			if (!rl)
				goto out;
			keys[req.n_resource_logs] = logs[i]->res;
			req.resource_logs[req.n_resource_logs++] = rl;
		}
		sl = rl->scope_logs[0];
		r = build_record(&a, logs[i], mono_to_unix_ns, observed_unix_ns);
		if (!r)
			goto out;
		sl->log_records[sl->n_log_records++] = r;
	}
	size = opentelemetry__proto__collector__logs__v1__export_logs_service_request__get_packed_size(
		&req);
	buf = malloc(size ? size : 1);
	if (!buf)
		goto out;
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__pack(&req, buf);
	*out = buf;
	*out_len = size;
	ret = 0;
out:
	tt_arena__release(&a);
	return ret;
}

/* ---- OTLP/JSON ------------------------------------------------------------ */

static void json_record(FILE *f, const LogRecord *r)
{
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

static void json_request(FILE *f, const Request *req)
{
	fputs("{\"resourceLogs\":[", f);
	for (size_t r = 0; r < req->n_resource_logs; r++) {
		const ResourceLogs *rl = req->resource_logs[r];

		for (size_t s = 0; s < rl->n_scope_logs; s++) {
			const ScopeLogs *sl = rl->scope_logs[s];

			if (r || s)
				fputc(',', f);
			tt_pb__json_resource_scope(f, rl->resource, sl->scope, "scopeLogs");
			fputs("\"logRecords\":[", f);
			for (size_t i = 0; i < sl->n_log_records; i++) {
				if (i)
					fputc(',', f);
				json_record(f, sl->log_records[i]);
			}
			fputs("]}]}", f);
		}
	}
	fputs("]}", f);
}

/* json_request with the signature tt_pb__json_text() calls. */
static void write_request(FILE *f, const void *req)
{
	json_request(f, req);
}

int tt_otlp__logs_json(const uint8_t *pb, size_t len, char **out, size_t *out_len)
{
	Request *req =
		opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
			NULL, len, pb);
	int ret;

	if (!req)
		return -EBADMSG;
	ret = tt_pb__json_text(write_request, req, out, out_len);
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(req,
											      NULL);
	return ret;
}

int64_t tt_otlp__count_logs(const uint8_t *pb, size_t len)
{
	Request *req;
	int64_t n = 0;

	req = opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
		NULL, len, pb);
	if (!req)
		return -EBADMSG;
	for (size_t r = 0; r < req->n_resource_logs; r++) {
		for (size_t s = 0; s < req->resource_logs[r]->n_scope_logs; s++)
			n += (int64_t)req->resource_logs[r]->scope_logs[s]->n_log_records;
	}
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(req,
											      NULL);
	return n;
}
