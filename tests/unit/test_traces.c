// SPDX-License-Identifier: MIT
/* The ring of recent traces of the task view (user/export/traces.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "export/traces.h"
#include "spec.h"

struct fixture {
	struct tt_spec spec;
	struct tt_target target;
	struct tt_probe task, step;
	struct tt_span s;    /* large: off the stack */
	struct tt_probe big; /* a step with long constant attributes */
	char value[TT_MAX_ATTRS][4096];
};

static void probe_init(struct fixture *f, struct tt_probe *p, enum tt_role role)
{
	memset(p, 0, sizeof(*p));
	p->id = 1;
	p->role = role;
	p->symbol = role == TT_ROLE_TASK ? "run_task" : "execute_step";
	p->key.index = -1;
	p->attempt.index = -1;
	p->message_id.index = -1;
	p->target = &f->target;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->spec.service = "billing";
	f->target.spec = &f->spec;
	f->target.path = "/opt/bin/worker";
	probe_init(f, &f->task, TT_ROLE_TASK);
	probe_init(f, &f->step, TT_ROLE_STEP);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Feeds one span of trace `trace` (span id `id`, parent `parent`, 0: none). */
static void feed(struct fixture *f, struct tt_traces *t, const struct tt_probe *p, int trace,
		 int id, int parent, const char *name, bool error)
{
	struct tt_span *s = &f->s;

	memset(s, 0, sizeof(*s));
	s->trace_id[0] = (uint8_t)trace;
	s->trace_id[15] = (uint8_t)(trace >> 8);
	s->span_id[0] = (uint8_t)id;
	s->span_id[7] = (uint8_t)(id >> 8);
	if (parent)
		s->parent_id[0] = (uint8_t)parent;
	s->probe = p;
	s->pid = 42;
	s->tid = 43;
	s->start_ns = 1000000 + (uint64_t)id * 1000;
	s->end_ns = s->start_ns + 5000;
	s->status = error ? TT_STATUS_ERROR : TT_STATUS_OK;
	s->attempt = p->role == TT_ROLE_STEP ? 1 : 0;
	s->kind = TT_KIND_INTERNAL;
	if (error)
		snprintf(s->status_msg, sizeof(s->status_msg), "returned -1");
	snprintf(s->name, sizeof(s->name), "%s", name);
	tt_traces__span(s, t);
}

struct seen {
	int n;
	char names[8][32];
	bool error[8];
	uint32_t spans[8], errors[8];
};

static int collect(const struct tt_trace_info *info, void *ctx)
{
	struct seen *s = ctx;

	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", info->name);
		s->error[s->n] = info->error;
		s->spans[s->n] = info->spans;
		s->errors[s->n] = info->errors;
	}
	s->n++;
	return 0;
}

static int first_info(const struct tt_trace_info *info, void *ctx)
{
	*(struct tt_trace_info *)ctx = *info;
	return 1;
}

static char *written(const struct tt_traces *t, int trace, int *ret)
{
	uint8_t id[16] = {(uint8_t)trace};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	id[15] = (uint8_t)(trace >> 8);
	*ret = tt_traces__write(t, id, out);
	fclose(out);
	return buf;
}

static void test_a_task_finishes_its_trace(void **state)
{
	struct fixture *f = *state;
	struct tt_traces *t = tt_traces__new(NULL);
	struct seen seen = {0};
	uint64_t empty;
	char *json;
	int ret;

	assert_non_null(t);
	empty = tt_traces__bytes(t);
	assert_int_equal(tt_traces__capacity(t), TT_TRACES_DEFAULT_CAPACITY);
	/* steps finish before their task: they wait */
	feed(f, t, &f->step, 1, 2, 1, "Zip.Upload", false);
	feed(f, t, &f->step, 1, 3, 1, "Zip.Archive", true);
	assert_int_equal(tt_traces__count(t), 0);
	assert_true(tt_traces__bytes(t) > empty);
	feed(f, t, &f->task, 1, 1, 0, "Zip", false);
	assert_int_equal(tt_traces__count(t), 1);
	/* a step that ends after its task joins the trace */
	feed(f, t, &f->step, 1, 4, 1, "Zip.Late", false);
	assert_int_equal(tt_traces__count(t), 1);
	tt_traces__each(t, collect, &seen);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.names[0], "Zip");
	assert_false(seen.error[0]); /* the task succeeded, after a failed attempt */
	assert_int_equal(seen.spans[0], 4);
	assert_int_equal(seen.errors[0], 1);

	json = written(t, 1, &ret);
	assert_int_equal(ret, 0);
	assert_non_null(strstr(json, "\"name\":\"Zip\",\"service\":\"billing\",\"status\":\"ok\""));
	assert_non_null(strstr(json, "\"name\":\"Zip.Archive\",\"role\":\"step\""));
	assert_non_null(strstr(json, "\"process\":\"worker\",\"pid\":42,\"tid\":43"));
	assert_non_null(strstr(json, "\"status\":\"error\",\"message\":\"returned -1\""));
	assert_non_null(strstr(json, "\"parent_id\":null"));
	assert_non_null(strstr(json, "\"duration_us\":5,"));
	free(json);
	json = written(t, 9, &ret);
	assert_int_equal(ret, -ENOENT);
	free(json);
	tt_traces__free(t);
}

static void test_a_failed_task_and_a_trace_without_task(void **state)
{
	struct fixture *f = *state;
	struct tt_traces *t = tt_traces__new(NULL);
	struct seen seen = {0};

	assert_non_null(t);
	feed(f, t, &f->task, 1, 1, 0, "Zip", true);
	/* no task span: the root span finishes it, any error makes it fail */
	feed(f, t, &f->step, 2, 6, 5, "orphan", true);
	feed(f, t, &f->step, 2, 5, 0, "root", false);
	tt_traces__each(t, collect, &seen);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.names[0], "root"); /* newest first */
	assert_true(seen.error[0]);
	assert_string_equal(seen.names[1], "Zip");
	assert_true(seen.error[1]);
	tt_traces__free(t);
}

static void test_the_ring_keeps_the_last_n(void **state)
{
	struct fixture *f = *state;
	struct tt_traces_opts o = {.capacity = 2};
	struct tt_traces *t = tt_traces__new(&o);
	struct seen seen = {0};
	uint64_t two, three;
	char *json;
	int ret;

	assert_non_null(t);
	feed(f, t, &f->task, 1, 1, 0, "A", false);
	feed(f, t, &f->task, 2, 1, 0, "B", false);
	two = tt_traces__bytes(t);
	feed(f, t, &f->task, 3, 1, 0, "C", false);
	assert_int_equal(tt_traces__count(t), 2);
	assert_int_equal(tt_traces__dropped(t), 1);
	three = tt_traces__bytes(t);
	assert_true(three > two); /* A's memory is kept for the next trace */
	tt_traces__each(t, collect, &seen);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.names[0], "C");
	assert_string_equal(seen.names[1], "B");
	/* D reuses A's: a full ring of traces of one shape takes no more memory */
	feed(f, t, &f->task, 4, 1, 0, "D", false);
	feed(f, t, &f->task, 5, 1, 0, "E", false);
	assert_int_equal(tt_traces__bytes(t), three);
	assert_int_equal(tt_traces__dropped(t), 3);
	memset(&seen, 0, sizeof(seen));
	tt_traces__each(t, collect, &seen);
	assert_string_equal(seen.names[0], "E");
	assert_string_equal(seen.names[1], "D");
	json = written(t, 1, &ret);
	assert_int_equal(ret, -ENOENT);
	free(json);
	json = written(t, 4, &ret);
	assert_int_equal(ret, 0);
	assert_non_null(strstr(json, "\"name\":\"D\""));
	assert_null(strstr(json, "\"name\":\"A\""));
	free(json);
	/* a span of the dropped trace starts it over, as a new one */
	feed(f, t, &f->step, 1, 2, 1, "A.late", false);
	assert_int_equal(tt_traces__count(t), 2);
	tt_traces__free(t);

	o.capacity = TT_TRACES_MAX_CAPACITY + 1;
	assert_null(tt_traces__new(&o));
	assert_int_equal(errno, EINVAL);
}

static void test_pending_spans_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct tt_traces *t = tt_traces__new(NULL);
	struct seen seen = {0};

	assert_non_null(t);
	/* steps of tasks that never end: the oldest trace is finished as far as it got */
	for (int i = 0; i <= TT_TRACES_MAX_PENDING; i++)
		feed(f, t, &f->step, i + 1, 2, 1, "Open.Step", false);
	assert_int_equal(tt_traces__count(t), 1);
	tt_traces__each(t, collect, &seen);
	assert_string_equal(seen.names[0], "Open.Step");
	assert_int_equal(seen.spans[0], 1);
	tt_traces__free(t);
	tt_traces__free(NULL);
}

static void test_a_trace_keeps_at_most_max_spans(void **state)
{
	struct fixture *f = *state;
	struct tt_traces *t = tt_traces__new(NULL);
	struct tt_trace_info info = {0};
	char *json;
	int ret;

	assert_non_null(t);
	feed(f, t, &f->task, 1, 1, 0, "Loop", false);
	/* a key reused by every task: the trace would grow without end */
	for (int i = 0; i < TT_TRACES_MAX_SPANS + 10; i++)
		feed(f, t, &f->step, 1, 2 + i, 1, "Loop.Step", false);
	tt_traces__each(t, first_info, &info);
	assert_int_equal(info.spans, TT_TRACES_MAX_SPANS);
	assert_int_equal(info.spans_dropped, 11);
	json = written(t, 1, &ret);
	assert_int_equal(ret, 0);
	assert_non_null(strstr(json, "\"spans_dropped\":11,"));
	free(json);
	tt_traces__free(t);
}

static void test_pending_bytes_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct tt_traces *t = tt_traces__new(NULL);
	uint64_t empty;
	int n = 0;

	assert_non_null(t);
	empty = tt_traces__bytes(t);
	/* big spans: the byte bound comes before the span bound */
	probe_init(f, &f->big, TT_ROLE_STEP);
	for (int i = 0; i < TT_MAX_ATTRS; i++) {
		static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g", "h",
						    "i", "j", "k", "l", "m", "n", "o", "p"};

		memset(f->value[i], 'v', sizeof(f->value[i]) - 1);
		f->big.attrs[i].name = (char *)names[i];
		f->big.attrs[i].literal = f->value[i];
		f->big.attrs[i].cap.index = -1;
	}
	f->big.nattrs = TT_MAX_ATTRS;
	while (tt_traces__count(t) == 0 && n < TT_TRACES_MAX_PENDING) {
		n++;
		feed(f, t, &f->big, n, 2, 1, "Big.Step", false);
	}
	assert_int_equal(tt_traces__count(t), 1);
	assert_true(n < TT_TRACES_MAX_PENDING);
	assert_true(tt_traces__bytes(t) - empty <= TT_TRACES_MAX_PENDING_BYTES + 64 * 1024);
	tt_traces__free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_task_finishes_its_trace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_task_and_a_trace_without_task, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_ring_keeps_the_last_n, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_spans_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_trace_keeps_at_most_max_spans, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pending_bytes_are_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
