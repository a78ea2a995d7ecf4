/* SPDX-License-Identifier: MIT */
/*
 * assemble_fixture.h: the assembler tests' fixture (test_assemble*.c): a
 * collecting assembler, hand-built events, and the two specs most tests
 * run on: spec_text (tasks and steps) and spec2_text (messages, identity,
 * begin/end pairs).
 */
#ifndef TASKTAP_TEST_ASSEMBLE_FIXTURE_H
#define TASKTAP_TEST_ASSEMBLE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "assemble.h"
#include "spec.h"

#define MAX_OUT 64

struct fixture {
	struct tt_spec *spec;
	struct tt_asm *a;
	struct tt_span out[MAX_OUT];
	struct tt_kv kv[MAX_OUT][TT_SPAN_MAX_KV];
	int nkv[MAX_OUT];
	int n;
};

static inline void collect(const struct tt_span *s, void *ctx)
{
	struct fixture *f = ctx;

	assert_true(f->n < MAX_OUT);
	f->out[f->n] = *s;
	/* attributes point into the span: take them from the copy */
	f->nkv[f->n] = tt_span__attrs(&f->out[f->n], f->kv[f->n]);
	f->n++;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;

	tt_asm__free(f->a);
	tt_spec__free(f->spec);
	free(f);
	return 0;
}

struct ev {
	struct tt_event h;
	uint8_t payload[TT_MAX_PAYLOAD];
};

static inline size_t put_rec(uint8_t *p, size_t off, uint8_t type, uint8_t flags, const void *data,
			     uint16_t len)
{
	struct tt_cap_rec r = {.len = len, .type = type, .flags = flags};

	memcpy(p + off, &r, sizeof(r));
	memcpy(p + off + sizeof(r), data, len);
	return (off + sizeof(r) + len + 3) & ~(size_t)3;
}

static inline const struct tt_kv *kv(struct fixture *f, int span, const char *key)
{
	for (int i = 0; i < f->nkv[span]; i++) {
		if (strcmp(f->kv[span][i].key, key) == 0)
			return &f->kv[span][i];
	}
	return NULL;
}

static inline void assert_kv_str(struct fixture *f, int span, const char *key, const char *want)
{
	const struct tt_kv *v = kv(f, span, key);

	assert_non_null(v);
	assert_int_equal(v->type, TT_KV_STR);
	assert_int_equal(v->len, strlen(want));
	assert_memory_equal(v->str, want, v->len);
}

static inline void assert_kv_int(struct fixture *f, int span, const char *key, int64_t want)
{
	const struct tt_kv *v = kv(f, span, key);

	assert_non_null(v);
	assert_int_equal(v->type, TT_KV_INT);
	assert_int_equal(v->i, want);
}

/* A string-keyed event: key (str) and one string attribute. */
static inline void sentry(struct fixture *f, uint32_t hook, uint16_t kind, uint64_t ts,
			  uint32_t pid, uint32_t tid, const char *key, const char *attr,
			  int64_t rax)
{
	struct ev e = {0};
	size_t off = 0;
	uint32_t ncaps = 0;

	if (key) {
		off = put_rec(e.payload, off, TT_CAP_STR, 0, key, strlen(key));
		ncaps++;
	}
	if (attr) {
		off = put_rec(e.payload, off, TT_CAP_STR, 0, attr, strlen(attr));
		ncaps++;
	}
	e.h = (struct tt_event){.ts_ns = ts,
				.pid = pid,
				.tid = tid,
				.probe = hook,
				.kind = kind,
				.ret = rax,
				.size = sizeof(e.h) + off,
				.ncaps = ncaps};
	assert_int_equal(tt_asm__push(f->a, &e.h, e.h.size), 0);
}

static inline int by_name_index(struct fixture *f, const char *name)
{
	for (int i = 0; i < f->n; i++) {
		if (strcmp(f->out[i].name, name) == 0)
			return i;
	}
	fail_msg("no span named %s", name);
	return -1;
}

/* ---- spec_text: a task and its steps ---------------------------------------- */

static const char spec_text[] = "service: test\n"
				"keyspace: demo\n"
				"targets:\n"
				"  - binary: /bin/true\n"
				"    probes:\n"
				"      - role: task\n"
				"        symbol: run_task\n"
				"        key: arg0\n"
				"        attributes: { task.name: str(arg1) }\n"
				"        error: ret != 0\n"
				"      - role: step\n"
				"        symbol: execute_step\n"
				"        key: arg0\n"
				"        attributes: { step.name: str(arg1) }\n"
				"        error: ret < 0\n";

enum { TASK = 1, STEP = 2 };

static inline int make_fixture(void **state, uint32_t max_open, uint64_t window)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {0};
	char err[256];

	assert_non_null(f);
	assert_int_equal(
		tt_spec__parse("t.yaml", spec_text, strlen(spec_text), &f->spec, err, sizeof(err)),
		0);
	o.spec = f->spec;
	o.seed = 42;
	o.max_open_spans = max_open;
	o.retry_window_ns = window;
	o.max_tries = 1000;
	o.on_span = collect;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	*state = f;
	return 0;
}

static inline int setup(void **state)
{
	return make_fixture(state, 0, 0);
}

static inline int setup_small(void **state)
{
	return make_fixture(state, 2, 0);
}

static inline int setup_short_window(void **state)
{
	return make_fixture(state, 0, 500);
}

/* ---- event builders ------------------------------------------------------ */

/* An entry of `probe` with key (u64) and one string attribute. */
static inline void entry(struct fixture *f, uint32_t probe, uint64_t ts, uint32_t pid, uint32_t tid,
			 uint64_t key, const char *name)
{
	struct ev e = {0};
	size_t off = 0;

	off = put_rec(e.payload, off, TT_CAP_INT, 0, &key, sizeof(key));
	if (name)
		off = put_rec(e.payload, off, TT_CAP_STR, 0, name, strlen(name));
	else
		off = put_rec(e.payload, off, TT_CAP_STR, TT_CAPF_FAULT, "", 0);
	e.h = (struct tt_event){.ts_ns = ts,
				.pid = pid,
				.tid = tid,
				.probe = probe,
				.kind = TT_EV_ENTRY,
				.size = sizeof(e.h) + off,
				.ncaps = 2};
	assert_int_equal(tt_asm__push(f->a, &e.h, e.h.size), 0);
}

static inline void ret(struct fixture *f, uint32_t probe, uint64_t ts, uint32_t pid, uint32_t tid,
		       uint64_t rax)
{
	struct tt_event e = {.ts_ns = ts,
			     .pid = pid,
			     .tid = tid,
			     .probe = probe,
			     .kind = TT_EV_RETURN,
			     .ret = (int64_t)rax,
			     .size = sizeof(e)};

	assert_int_equal(tt_asm__push(f->a, &e, sizeof(e)), 0);
}

static inline void thread_exit(struct fixture *f, uint64_t ts, uint32_t pid, uint32_t tid,
			       int64_t status, bool group_dead)
{
	struct tt_event e = {.ts_ns = ts,
			     .pid = pid,
			     .tid = tid,
			     .kind = TT_EV_EXIT,
			     .ret = status,
			     .size = sizeof(e),
			     .flags = group_dead ? TT_EXITF_GROUP_DEAD : 0};

	assert_int_equal(tt_asm__push(f->a, &e, sizeof(e)), 0);
}

static const uint8_t zero8[8];

struct seen_tasks {
	char names[8][32];
	char steps[8][32];
	int n;
};

static inline void note_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	struct seen_tasks *t = ctx;

	snprintf(t->names[t->n], sizeof(t->names[0]), "%s", task->name);
	snprintf(t->steps[t->n], sizeof(t->steps[0]), "%s", step ? step->name : "-");
	t->n++;
}

/* ---- spec2_text: messages, identity, begin/end ------------------------------ */

static const char spec2_text[] =
	"service: t2\n"
	"keyspace: jobs\n"
	"targets:\n"
	"  - binary: /bin/true\n"
	"    probes:\n"
	"      - role: publish\n" /* hook 1 */
	"        symbol: submit\n"
	"        key: arg0\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"      - role: consume\n" /* hook 2 */
	"        symbol: consume\n"
	"        key: arg0\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"      - role: task\n" /* hook 3 */
	"        symbol: run\n"
	"        key: arg0\n"
	"        attributes: { task.name: str(arg1) }\n"
	"      - role: step\n" /* hooks 4 and 5 */
	"        begin: { symbol: step_begin, key: arg0, attributes: { step.name: str(arg1) } }\n"
	"        end: { symbol: step_end, key: arg0, attributes: { step.name: str(arg1) } }\n"
	"      - role: consume\n" /* hooks 6 and 7 */
	"        begin: { symbol: grab, at: return, key: arg0,\n"
	"                 attributes: { messaging.destination.name: str(arg1) } }\n"
	"        end: { symbol: work, at: return }\n"
	"        error: ret != 0\n"
	"      - role: task\n" /* hook 8 */
	"        symbol: run_tp\n"
	"        key: arg0\n"
	"        traceparent: str(arg1)\n"
	"      - role: publish\n" /* hook 9: the call assigns the id it returns */
	"        symbol: submit_ret\n"
	"        key: str(ret) @return\n";

enum {
	PUB = 1,
	CONS = 2,
	RUN = 3,
	SBEGIN = 4,
	SEND = 5,
	GRAB = 6,
	WORK = 7,
	RUN_TP = 8,
	PUB_RET = 9
};

static inline int setup2(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {0};
	char err[256];

	assert_non_null(f);
	assert_int_equal(tt_spec__parse("t2.yaml", spec2_text, strlen(spec2_text), &f->spec, err,
					sizeof(err)),
			 0);
	assert_int_equal(f->spec->nhooks, 9);
	o.spec = f->spec;
	o.seed = 7;
	o.async_ttl_ns = 1000;
	o.on_span = collect;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	*state = f;
	return 0;
}

#endif /* TASKTAP_TEST_ASSEMBLE_FIXTURE_H */
