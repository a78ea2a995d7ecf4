// SPDX-License-Identifier: MIT
/* Spans → ExportTraceServiceRequest, decoded back with protobuf-c field by field; OTLP/JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "export/otlp_encode.h"
#include "export/otlp_http.h"
#include "rpc_status.pb-c.h"
#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

static struct tt_attr attrs[1] = {{.name = "task.name", .literal = "CreateZip"}};
static struct tt_probe probe = {.id = 1, .symbol = "run_task", .nattrs = 1};

static struct tt_resource *res_a, *res_b;
static struct tt_xspan xs[3];

static struct tt_resource *make_res(uint32_t pid, const char *svc)
{
	struct tt_resource *r = calloc(1, sizeof(*r));

	r->pid = pid;
	r->strings = NULL;
	r->at[0] = (struct tt_res_attr){.key = "service.name", .str = svc};
	r->at[1] = (struct tt_res_attr){.key = "process.pid", .i = pid};
	r->n = 2;
	return r;
}

static void fill(struct tt_xspan *x, uint8_t id, const struct tt_resource *r, bool error, bool root)
{
	struct tt_span *s = &x->span;

	memset(x, 0, sizeof(*x));
	memset(s->trace_id, 0xa0, 16);
	s->trace_id[15] = 1;
	memset(s->span_id, id, 8);
	if (!root)
		memset(s->parent_id, 0x11, 8);
	s->start_ns = 1000;
	s->end_ns = 5000;
	s->probe = &probe;
	s->pid = r->pid;
	s->tid = 77;
	s->kind = TT_KIND_INTERNAL;
	s->status = error ? TT_STATUS_ERROR : TT_STATUS_UNSET;
	snprintf(s->name, sizeof(s->name), "span-%u", id);
	if (error)
		snprintf(s->status_msg, sizeof(s->status_msg), "returned -1");
	memcpy(s->key, "1001", 4);
	s->key_len = 4;
	x->res = r;
}

static int setup(void **state)
{
	probe.attrs[0] = attrs[0];
	res_a = make_res(100, "svc-a");
	res_b = make_res(200, "svc-b");
	fill(&xs[0], 0x22, res_a, false, true);
	fill(&xs[1], 0x33, res_b, true, false);
	fill(&xs[2], 0x44, res_a, false, false);
	return 0;
}

static int teardown(void **state)
{
	free(res_a);
	free(res_b);
	return 0;
}

static const KeyValue *find(KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(kv[i]->key, key))
			return kv[i];
	}
	return NULL;
}

static void test_encode_decodes_field_by_field(void **state)
{
	const struct tt_xspan *in[3] = {&xs[0], &xs[1], &xs[2]};
	uint8_t *pb;
	size_t len;
	Request *req;
	Span *sp;
	const KeyValue *kv;

	assert_int_equal(tt_otlp__encode_traces(in, 3, 1000000, &pb, &len), 0);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, pb);
	assert_non_null(req);
	/* grouped per process, in order of first appearance */
	assert_int_equal(req->n_resource_spans, 2);
	kv = find(req->resource_spans[0]->resource->attributes,
		  req->resource_spans[0]->resource->n_attributes, "service.name");
	assert_string_equal(kv->value->string_value, "svc-a");
	kv = find(req->resource_spans[1]->resource->attributes,
		  req->resource_spans[1]->resource->n_attributes, "process.pid");
	assert_int_equal(kv->value->int_value, 200);
	assert_int_equal(req->resource_spans[0]->n_scope_spans, 1);
	assert_string_equal(req->resource_spans[0]->scope_spans[0]->scope->name, "tasktap");
	assert_string_equal(req->resource_spans[0]->scope_spans[0]->scope->version,
			    TASKTAP_VERSION);
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 2);
	assert_int_equal(req->resource_spans[1]->scope_spans[0]->n_spans, 1);

	sp = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_int_equal(sp->trace_id.len, 16);
	assert_memory_equal(sp->trace_id.data, xs[0].span.trace_id, 16);
	assert_int_equal(sp->span_id.len, 8);
	assert_memory_equal(sp->span_id.data, xs[0].span.span_id, 8);
	assert_int_equal(sp->parent_span_id.len, 0); /* a root */
	assert_string_equal(sp->name, "span-34");
	assert_int_equal(sp->kind, 1);
	assert_int_equal(sp->start_time_unix_nano, 1001000);
	assert_int_equal(sp->end_time_unix_nano, 1005000);
	assert_int_equal(sp->flags, 1);
	assert_int_equal(sp->status->code, 0); /* UNSET unless an error */
	assert_int_equal(sp->n_events, 0);
	assert_null(find(sp->attributes, sp->n_attributes, "error.type"));
	kv = find(sp->attributes, sp->n_attributes, "task.name");
	assert_string_equal(kv->value->string_value, "CreateZip");
	kv = find(sp->attributes, sp->n_attributes, "task.id");
	assert_string_equal(kv->value->string_value, "1001");
	assert_null(find(sp->attributes, sp->n_attributes, "thread.id"));
	kv = find(sp->attributes, sp->n_attributes, "tasktap.thread.tid");
	assert_int_equal(kv->value->value_case,
			 OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
	assert_int_equal(kv->value->int_value, 77);
	kv = find(sp->attributes, sp->n_attributes, "code.function.name");
	assert_string_equal(kv->value->string_value, "run_task");

	sp = req->resource_spans[1]->scope_spans[0]->spans[0];
	assert_int_equal(sp->parent_span_id.len, 8);
	assert_memory_equal(sp->parent_span_id.data, xs[1].span.parent_id, 8);
	assert_int_equal(sp->status->code, 2);
	assert_string_equal(sp->status->message, "returned -1");
	assert_int_equal(sp->n_events, 1);
	assert_string_equal(sp->events[0]->name, "exception");
	assert_int_equal(sp->events[0]->time_unix_nano, 1005000);
	assert_string_equal(sp->events[0]->attributes[0]->key, "exception.message");
	assert_string_equal(sp->events[0]->attributes[0]->value->string_value, "returned -1");

	assert_int_equal(tt_otlp__count_spans(pb, len), 3);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
	free(pb);
}

static void test_invalid_utf8_is_replaced(void **state)
{
	const struct tt_xspan *in[1] = {&xs[0]};
	uint8_t *pb;
	size_t len;
	Request *req;

	memcpy(xs[0].span.name, "bad\xff\xfe!", 7);
	assert_int_equal(tt_otlp__encode_traces(in, 1, 0, &pb, &len), 0);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, pb);
	assert_string_equal(req->resource_spans[0]->scope_spans[0]->spans[0]->name, "bad?"
										    "?!");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
	free(pb);
	/* a surrogate and an overlong form are not UTF-8 either: protobuf strings must be */
	memcpy(xs[0].span.name, "x\xed\xa0\x80\xe0\x80\xafy", 9); /* with its NUL */
	assert_int_equal(tt_otlp__encode_traces(in, 1, 0, &pb, &len), 0);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, pb);
	assert_string_equal(req->resource_spans[0]->scope_spans[0]->spans[0]->name, "x??????y");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
	free(pb);
	fill(&xs[0], 0x22, res_a, false, true);
}

static void test_json_form(void **state)
{
	const struct tt_xspan *in[1] = {&xs[1]};
	uint8_t *pb;
	size_t len, jlen;
	char *json;

	xs[1].span.trace_id[0] = 0x0f;
	assert_int_equal(tt_otlp__encode_traces(in, 1, 0, &pb, &len), 0);
	assert_int_equal(tt_otlp__traces_json(pb, len, &json, &jlen), 0);
	assert_int_equal(strlen(json), jlen);
	assert_string_equal(
		json,
		"{\"resourceSpans\":[{\"resource\":{\"attributes\":["
		"{\"key\":\"service.name\",\"value\":{\"stringValue\":\"svc-b\"}},"
		"{\"key\":\"process.pid\",\"value\":{\"intValue\":\"200\"}}]},"
		"\"scopeSpans\":[{\"scope\":{\"name\":\"tasktap\",\"version\":\"" TASKTAP_VERSION
		"\"},\"spans\":[{\"traceId\":\"0fa0a0a0a0a0a0a0a0a0a0a0a0a0a001\","
		"\"spanId\":\"3333333333333333\",\"parentSpanId\":\"1111111111111111\","
		"\"flags\":1,\"name\":\"span-51\",\"kind\":1,\"startTimeUnixNano\":\"1000\","
		"\"endTimeUnixNano\":\"5000\",\"attributes\":["
		"{\"key\":\"task.name\",\"value\":{\"stringValue\":\"CreateZip\"}},"
		"{\"key\":\"task.id\",\"value\":{\"stringValue\":\"1001\"}},"
		"{\"key\":\"code.function.name\",\"value\":{\"stringValue\":\"run_task\"}},"
		"{\"key\":\"tasktap.thread.tid\",\"value\":{\"intValue\":\"77\"}},"
		"{\"key\":\"error.type\",\"value\":{\"stringValue\":\"_OTHER\"}}],"
		"\"events\":[{\"timeUnixNano\":\"5000\",\"name\":\"exception\",\"attributes\":["
		"{\"key\":\"exception.message\",\"value\":{\"stringValue\":\"returned -1\"}},"
		"{\"key\":\"exception.type\",\"value\":{\"stringValue\":\"_OTHER\"}}]}],"
		"\"status\":{\"code\":2,\"message\":\"returned -1\"}}]}]}]}");
	free(json);
	free(pb);
	assert_int_equal(tt_otlp__traces_json((const uint8_t *)"\xff\xff", 2, &json, &jlen),
			 -EBADMSG);
}

static void test_compensation_event_and_link(void **state)
{
	static struct tt_probe comp = {
		.id = 2, .symbol = "compensate_step", .role = TT_ROLE_COMPENSATION};
	struct tt_xspan x;
	const struct tt_xspan *in[1] = {&x};
	uint8_t *pb, link_trace[16];
	size_t len, jlen;
	char *json;
	Request *req;
	Span *sp;

	fill(&x, 0x55, res_a, true, false);
	x.span.probe = &comp;
	memset(link_trace, 0xc7, 16);
	memcpy(x.span.link_trace_id, link_trace, 16);
	memset(x.span.link_span_id, 0x99, 8);
	assert_int_equal(tt_otlp__encode_traces(in, 1, 0, &pb, &len), 0);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, pb);
	assert_non_null(req);
	sp = req->resource_spans[0]->scope_spans[0]->spans[0];
	/* DESIGN §4: a compensation opens with "Compensating"; an error adds "exception" */
	assert_int_equal(sp->n_events, 2);
	assert_string_equal(sp->events[0]->name, "Compensating");
	assert_int_equal(sp->events[0]->time_unix_nano, 1000);
	assert_string_equal(sp->events[1]->name, "exception");
	assert_int_equal(sp->events[1]->time_unix_nano, 5000);
	assert_int_equal(sp->n_links, 1);
	assert_memory_equal(sp->links[0]->trace_id.data, link_trace, 16);
	assert_int_equal(sp->links[0]->span_id.len, 8);
	assert_int_equal(sp->links[0]->span_id.data[7], 0x99);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
	assert_int_equal(tt_otlp__traces_json(pb, len, &json, &jlen), 0);
	assert_non_null(strstr(json, "\"links\":[{\"traceId\":\"c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7\","
				     "\"spanId\":\"9999999999999999\"}]"));
	assert_non_null(strstr(json, "\"name\":\"Compensating\""));
	free(json);
	free(pb);
}

static void test_response_partial_success(void **state)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	uint8_t buf[128];
	size_t n;
	int64_t rejected;
	char msg[64];
	const char *js = "{\"partialSuccess\":{\"rejectedSpans\":\"7\",\"errorMessage\":\"too "
			 "\\\"old\\\"\"}}";

	ps.rejected_spans = 3;
	ps.error_message = "bad span";
	resp.partial_success = &ps;
	n = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&resp,
											    buf);
	assert_int_equal(tt_otlp__parse_response(buf, n, false, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 3);
	assert_string_equal(msg, "bad span");
	/* an empty response: full success */
	assert_int_equal(tt_otlp__parse_response(buf, 0, false, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 0);
	assert_string_equal(msg, "");
	assert_int_equal(tt_otlp__parse_response((const uint8_t *)js, strlen(js), true, &rejected,
						 msg, sizeof(msg)),
			 0);
	assert_int_equal(rejected, 7);
	assert_string_equal(msg, "too \"old\"");
}

/* The JSON body is not NUL-terminated: nothing past its length is read. */
static void test_response_json_read_within_length(void **state)
{
	/* what follows the body in memory continues its number and its message */
	static const char mem[] = "{\"rejectedSpans\":\"12\",\"errorMessage\":\"cut\"}345";
	const char *q = strchr(mem, '2');
	const char *m = strstr(mem, "cut");
	char msg[64];
	int64_t rejected;

	(void)state;
	/* a body that ends inside the count */
	assert_int_equal(tt_otlp__parse_response((const uint8_t *)mem, (size_t)(q - mem), true,
						 &rejected, msg, sizeof(msg)),
			 0);
	assert_int_equal(rejected, 1);
	/* a body that ends inside the message */
	assert_int_equal(tt_otlp__parse_response((const uint8_t *)mem, (size_t)(m + 2 - mem), true,
						 &rejected, msg, sizeof(msg)),
			 0);
	assert_int_equal(rejected, 12);
	assert_string_equal(msg, "cu");
	/* a body that ends right after the count's opening quote */
	assert_int_equal(tt_otlp__parse_response((const uint8_t *)mem, (size_t)(q - 1 - mem), true,
						 &rejected, msg, sizeof(msg)),
			 0);
	assert_int_equal(rejected, 0);
	/* digits that do not fit */
	assert_int_equal(tt_otlp__parse_response(
				 (const uint8_t *)"{\"rejectedSpans\":99999999999999999999999}", 41,
				 true, &rejected, msg, sizeof(msg)),
			 0);
	assert_int_equal(rejected, INT64_MAX);
}

static char *b64(const uint8_t *in, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = calloc(1, n * 2 + 8), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		if (i + 1 < n)
			*o++ = tab[v >> 6 & 63];
		if (i + 2 < n)
			*o++ = tab[v & 63];
	}
	return out; /* unpadded, as gRPC sends it */
}

static void test_grpc_retry_info(void **state)
{
	Tasktap__Rpc__Duration d = TASKTAP__RPC__DURATION__INIT;
	Tasktap__Rpc__RetryInfo ri = TASKTAP__RPC__RETRY_INFO__INIT;
	Tasktap__Rpc__Any any = TASKTAP__RPC__ANY__INIT, other = TASKTAP__RPC__ANY__INIT;
	Tasktap__Rpc__Any *details[2] = {&other, &any};
	Tasktap__Rpc__Status st = TASKTAP__RPC__STATUS__INIT;
	uint8_t inner[64], outer[256];
	char *text;

	d.seconds = 2;
	d.nanos = 500000000;
	ri.retry_delay = &d;
	any.type_url = "type.googleapis.com/google.rpc.RetryInfo";
	any.value.len = tasktap__rpc__retry_info__pack(&ri, inner);
	any.value.data = inner;
	other.type_url = "type.googleapis.com/google.rpc.DebugInfo";
	st.code = 14;
	st.message = "busy";
	st.details = details;
	st.n_details = 2;
	text = b64(outer, tasktap__rpc__status__pack(&st, outer));
	assert_int_equal(tt_grpc__retry_info_ms(text), 2500);
	free(text);
	st.n_details = 1; /* no RetryInfo */
	text = b64(outer, tasktap__rpc__status__pack(&st, outer));
	assert_int_equal(tt_grpc__retry_info_ms(text), -1);
	free(text);
	assert_int_equal(tt_grpc__retry_info_ms("!!!"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_decodes_field_by_field),
		cmocka_unit_test(test_invalid_utf8_is_replaced),
		cmocka_unit_test(test_json_form),
		cmocka_unit_test(test_compensation_event_and_link),
		cmocka_unit_test(test_response_partial_success),
		cmocka_unit_test(test_response_json_read_within_length),
		cmocka_unit_test(test_grpc_retry_info),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
