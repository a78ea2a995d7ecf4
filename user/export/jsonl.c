// SPDX-License-Identifier: MIT
/* The JSON-lines span sink: one JSON object per finished span (see export.h). */
#include <inttypes.h>
#include <string.h>

#include "export.h"
#include "jsonw.h"

static const uint8_t zero_id[8];
static const uint8_t zero_trace[16];

static void write_attr(FILE *out, const struct tt_kv *kv)
{
	fputs("{\"key\":", out);
	tt_json__str(out, kv->key, strlen(kv->key));
	if (kv->type == TT_KV_INT) {
		fprintf(out, ",\"value\":{\"intValue\":\"%" PRId64 "\"}}", kv->i);
	} else {
		fputs(",\"value\":{\"stringValue\":", out);
		tt_json__str(out, kv->str, kv->len);
		fputs("}}", out);
	}
}

/* As the OTLP exporter does: "Compensating" and "exception" events, and the link. */
static void write_events_and_links(FILE *out, const struct tt_span *s, int64_t off)
{
	bool comp = s->probe->role == TT_ROLE_COMPENSATION;
	bool err = s->status == TT_STATUS_ERROR;

	if (comp || err) {
		fputs(",\"events\":[", out);
		if (comp)
			fprintf(out, "{\"timeUnixNano\":\"%" PRIu64 "\",\"name\":\"Compensating\"}",
				s->start_ns + off);
		if (err) {
			const char *type = tt_span__error_type(s);

			fprintf(out,
				"%s{\"timeUnixNano\":\"%" PRIu64 "\",\"name\":\"exception\","
				"\"attributes\":[{\"key\":\"exception.message\",\"value\":"
				"{\"stringValue\":",
				comp ? "," : "", s->end_ns + off);
			tt_json__str(out, s->status_msg, strlen(s->status_msg));
			fputs("}},{\"key\":\"exception.type\",\"value\":{\"stringValue\":", out);
			tt_json__str(out, type, strlen(type));
			fputs("}}]}", out);
		}
		fputc(']', out);
	}
	if (memcmp(s->link_trace_id, zero_trace, sizeof(zero_trace)) != 0) {
		fputs(",\"links\":[{\"traceId\":", out);
		tt_json__hex(out, s->link_trace_id, 16);
		fputs(",\"spanId\":", out);
		tt_json__hex(out, s->link_span_id, 8);
		fputs("}]", out);
	}
}

void tt_jsonl__span(const struct tt_span *s, void *ctx)
{
	struct tt_jsonl *j = ctx;
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(s, kv);
	FILE *out = j->out;

	fputs("{\"traceId\":", out);
	tt_json__hex(out, s->trace_id, sizeof(s->trace_id));
	fputs(",\"spanId\":", out);
	tt_json__hex(out, s->span_id, sizeof(s->span_id));
	if (memcmp(s->parent_id, zero_id, sizeof(zero_id)) != 0) {
		fputs(",\"parentSpanId\":", out);
		tt_json__hex(out, s->parent_id, sizeof(s->parent_id));
	}
	fputs(",\"name\":", out);
	tt_json__str(out, s->name, strlen(s->name));
	fprintf(out,
		",\"kind\":%d,\"startTimeUnixNano\":\"%" PRIu64 "\",\"endTimeUnixNano\":\"%" PRIu64
		"\"",
		s->kind, s->start_ns + j->mono_to_unix_ns, s->end_ns + j->mono_to_unix_ns);
	fputs(",\"attributes\":[", out);
	for (int i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		write_attr(out, &kv[i]);
	}
	fputc(']', out);
	write_events_and_links(out, s, j->mono_to_unix_ns);
	fprintf(out, ",\"status\":{\"code\":%d", s->status);
	if (s->status_msg[0]) {
		fputs(",\"message\":", out);
		tt_json__str(out, s->status_msg, strlen(s->status_msg));
	}
	fputs("},\"resource\":{\"service.name\":", out);
	tt_json__str(out, j->service, strlen(j->service));
	fprintf(out, ",\"process.pid\":%u}}\n", s->pid);
}
