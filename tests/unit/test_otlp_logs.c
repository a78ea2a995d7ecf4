// SPDX-License-Identifier: MIT
/*
 * Step transitions: which records a span gives, their bodies, and their
 * encoding as an ExportLogsServiceRequest decoded back with protobuf-c
 * field by field; the OTLP/JSON form.
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
#include "export/otlp_logs.h"
#include "logs_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest Request;
typedef Opentelemetry__Proto__Logs__V1__LogRecord LogRecord;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

#define OFF 1700000000000000000LL

static struct fake_probe step, comp, task;
static struct tt_resource res_a = {.pid = 10, .n = 1, .at = {{.key = "service.name", .str = "a"}}};
static struct tt_resource res_b = {.pid = 20, .n = 1, .at = {{.key = "service.name", .str = "b"}}};

static void make_span(struct tt_span *s, const struct fake_probe *pr, const char *name, bool error,
		      uint32_t attempt)
{
	fake_span(s, pr, name, 41000000, error, attempt); /* 41 ms */
	memset(s->trace_id, 0xab, 16);
	memset(s->span_id, 0x5c, 8);
	s->pid = 10;
	if (error)
		snprintf(s->status_msg, sizeof(s->status_msg), "returned -1");
	memcpy(s->key, "1001", 4);
	s->key_len = 4;
}

static int setup(void **state)
{
	fake_probe__one(&step, TT_ROLE_STEP, "execute_step", "step.name", "Archive");
	fake_probe__one(&comp, TT_ROLE_COMPENSATION, "undo_step", "step.name", "Archive");
	fake_probe__one(&task, TT_ROLE_TASK, "run_task", "task.name", "CreateZip");
	/* the key is task.id */
	step.p.key.index = comp.p.key.index = task.p.key.index = 0;
	return 0;
}

static void test_a_step_gives_started_and_its_end(void **state)
{
	static struct tt_span s;
	struct tt_step_log l[2];

	make_span(&s, &step, "CreateZip.Archive", true, 1);
	assert_int_equal(tt_step_logs(&s, l), 2);
	assert_int_equal(l[0].transition, TT_TR_STARTED);
	assert_int_equal(l[0].time_ns, 1000);
	assert_int_equal(l[0].duration_ns, 0);
	assert_int_equal(l[1].transition, TT_TR_FAILED);
	assert_int_equal(l[1].time_ns, 41001000);
	assert_int_equal(l[1].duration_ns, 41000000);
	for (int i = 0; i < 2; i++) {
		assert_memory_equal(l[i].trace_id, s.trace_id, 16);
		assert_memory_equal(l[i].span_id, s.span_id, 8);
		assert_string_equal(l[i].task, "CreateZip"); /* from the span's name */
		assert_string_equal(l[i].step, "Archive");
		assert_string_equal(l[i].id, "1001");
		assert_int_equal(l[i].attempt, 1);
		assert_int_equal(l[i].pid, 10);
	}
	assert_string_equal(l[0].message, "");
	assert_string_equal(l[1].message, "returned -1");
	assert_int_equal(tt_transition__severity(TT_TR_STARTED), TT_SEVERITY_INFO);
	assert_int_equal(tt_transition__severity(TT_TR_FAILED), TT_SEVERITY_ERROR);
	assert_string_equal(tt_transition__severity_text(TT_TR_FAILED), "ERROR");

	make_span(&s, &step, "CreateZip.Archive", false, 2);
	assert_int_equal(tt_step_logs(&s, l), 2);
	assert_int_equal(l[1].transition, TT_TR_COMPLETED);
	assert_int_equal(tt_transition__severity(l[1].transition), TT_SEVERITY_INFO);
}

static void test_compensation_and_other_spans(void **state)
{
	static struct tt_span s;
	struct tt_step_log l[2];

	make_span(&s, &comp, "CreateZip.Archive.Compensate", false, 0);
	assert_int_equal(tt_step_logs(&s, l), 2);
	assert_int_equal(l[0].transition, TT_TR_COMPENSATING);
	assert_int_equal(tt_transition__severity(TT_TR_COMPENSATING), TT_SEVERITY_WARN);
	assert_string_equal(tt_transition__severity_text(TT_TR_COMPENSATING), "WARN");
	assert_int_equal(l[1].transition, TT_TR_COMPENSATED);
	assert_string_equal(l[0].task, "CreateZip");
	assert_string_equal(l[0].step, "Archive");
	make_span(&s, &comp, "CreateZip.Archive.Compensate", true, 0);
	assert_int_equal(tt_step_logs(&s, l), 2);
	assert_int_equal(l[1].transition, TT_TR_COMPENSATION_FAILED);
	assert_string_equal(tt_transition__name(l[1].transition), "compensation failed");

	make_span(&s, &task, "CreateZip", false, 0);
	assert_int_equal(tt_step_logs(&s, l), 0); /* tasks give none */
	make_span(&s, &step, "CreateZip.Archive", false, 1);
	s.cut = TT_CUT_SHUTDOWN; /* its end is the agent's, not the step's */
	assert_int_equal(tt_step_logs(&s, l), 0);
	s.cut = TT_CUT_EXIT; /* the process died in it: that is the step failing */
	s.status = TT_STATUS_ERROR;
	assert_int_equal(tt_step_logs(&s, l), 2);
	assert_int_equal(l[1].transition, TT_TR_FAILED);
}

static void test_body(void **state)
{
	static struct tt_span s;
	struct tt_step_log l[2];
	char body[512];

	make_span(&s, &step, "CreateZip.Archive", true, 1);
	tt_step_logs(&s, l);
	tt_step_log__body(&l[0], body, sizeof(body));
	assert_string_equal(body, "step Archive started (task CreateZip 1001, attempt 1)");
	tt_step_log__body(&l[1], body, sizeof(body));
	assert_string_equal(
		body, "step Archive failed (task CreateZip 1001, attempt 1, 41.0 ms): returned -1");
	tt_step_log__body(&l[1], body, 16); /* cut, always terminated */
	assert_int_equal(strlen(body), 15);
}

static const char *attr_str(const LogRecord *r, const char *key)
{
	for (size_t i = 0; i < r->n_attributes; i++) {
		if (!strcmp(r->attributes[i]->key, key))
			return r->attributes[i]->value->string_value;
	}
	return NULL;
}

static const KeyValue *attr(const LogRecord *r, const char *key)
{
	for (size_t i = 0; i < r->n_attributes; i++) {
		if (!strcmp(r->attributes[i]->key, key))
			return r->attributes[i];
	}
	return NULL;
}

static void test_encode_decode(void **state)
{
	static struct tt_span s;
	struct tt_step_log l[4];
	const struct tt_step_log *in[4] = {&l[0], &l[1], &l[2], &l[3]};
	Opentelemetry__Proto__Logs__V1__ScopeLogs *sl;
	const LogRecord *r;
	uint8_t *pb = NULL;
	size_t len = 0;
	Request *req;

	make_span(&s, &step, "CreateZip.Archive", true, 1);
	tt_step_logs(&s, &l[0]);
	make_span(&s, &step, "CreateZip.Archive", false, 2);
	tt_step_logs(&s, &l[2]);
	l[0].res = l[1].res = l[3].res = &res_a;
	l[2].res = &res_b;
	assert_int_equal(tt_otlp__encode_logs(in, 4, OFF, 99, &pb, &len), 0);
	assert_int_equal(tt_otlp__count_logs(pb, len), 4);
	req = opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
		NULL, len, pb);
	free(pb);
	assert_non_null(req);
	/* one ResourceLogs per resource, in order of first appearance */
	assert_int_equal(req->n_resource_logs, 2);
	assert_string_equal(req->resource_logs[0]->resource->attributes[0]->value->string_value,
			    "a");
	assert_string_equal(req->resource_logs[1]->resource->attributes[0]->value->string_value,
			    "b");
	sl = req->resource_logs[0]->scope_logs[0];
	assert_string_equal(sl->scope->name, "tasktap");
	assert_string_equal(sl->scope->version, TASKTAP_VERSION);
	assert_int_equal(sl->n_log_records, 3);
	assert_int_equal(req->resource_logs[1]->scope_logs[0]->n_log_records, 1);

	r = sl->log_records[0];
	assert_int_equal(r->time_unix_nano, OFF + 1000);
	assert_int_equal(r->observed_time_unix_nano, 99);
	assert_int_equal(r->severity_number, TT_SEVERITY_INFO);
	assert_string_equal(r->severity_text, "INFO");
	assert_string_equal(r->event_name, "step.started");
	assert_int_equal(r->body->value_case,
			 OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
	assert_string_equal(r->body->string_value,
			    "step Archive started (task CreateZip 1001, attempt 1)");
	assert_int_equal(r->trace_id.len, 16);
	assert_memory_equal(r->trace_id.data, s.trace_id, 16);
	assert_int_equal(r->span_id.len, 8);
	assert_memory_equal(r->span_id.data, s.span_id, 8);
	assert_int_equal(r->flags, 1);
	assert_int_equal(r->n_attributes, 5);
	assert_string_equal(attr_str(r, "task.name"), "CreateZip");
	assert_string_equal(attr_str(r, "step.name"), "Archive");
	assert_string_equal(attr_str(r, "task.id"), "1001");
	assert_string_equal(attr_str(r, "step.transition"), "started");
	assert_int_equal(attr(r, "step.attempt")->value->value_case,
			 OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
	assert_int_equal(attr(r, "step.attempt")->value->int_value, 1);

	r = sl->log_records[1];
	assert_int_equal(r->time_unix_nano, OFF + 41001000);
	assert_int_equal(r->severity_number, TT_SEVERITY_ERROR);
	assert_string_equal(r->severity_text, "ERROR");
	assert_string_equal(r->event_name, "step.failed");
	assert_string_equal(attr_str(r, "step.transition"), "failed");
	r = sl->log_records[2]; /* l[3]: attempt 2 completed */
	assert_string_equal(r->event_name, "step.completed");
	assert_int_equal(attr(r, "step.attempt")->value->int_value, 2);
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(req,
											      NULL);
}

static void test_json_form(void **state)
{
	static struct tt_span s;
	struct tt_step_log l[2];
	const struct tt_step_log *in[2] = {&l[0], &l[1]};
	uint8_t *pb = NULL;
	size_t len = 0, jlen = 0;
	char *json = NULL;

	make_span(&s, &step, "CreateZip.Archive", true, 1);
	tt_step_logs(&s, l);
	l[0].res = l[1].res = &res_a;
	assert_int_equal(tt_otlp__encode_logs(in, 2, OFF, 99, &pb, &len), 0);
	assert_int_equal(tt_otlp__logs_json(pb, len, &json, &jlen), 0);
	assert_int_equal(strlen(json), jlen);
	assert_non_null(strstr(json, "{\"resourceLogs\":[{\"resource\":{\"attributes\":"));
	assert_non_null(strstr(json, "\"scopeLogs\":[{\"scope\":{\"name\":\"tasktap\""));
	assert_non_null(strstr(json, "\"timeUnixNano\":\"1700000000000001000\""));
	assert_non_null(strstr(json, "\"severityNumber\":17,\"severityText\":\"ERROR\""));
	assert_non_null(strstr(json, "\"traceId\":\"abababababababababababababababab\""));
	assert_non_null(strstr(json, "\"spanId\":\"5c5c5c5c5c5c5c5c\""));
	assert_non_null(strstr(json, "{\"key\":\"step.attempt\",\"value\":{\"intValue\":\"1\"}}"));
	assert_non_null(strstr(json, "\"eventName\":\"step.failed\""));
	free(json);
	free(pb);
	assert_int_equal(tt_otlp__logs_json((const uint8_t *)"\xff", 1, &json, &jlen), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_step_gives_started_and_its_end),
		cmocka_unit_test(test_compensation_and_other_spans),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_json_form),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
