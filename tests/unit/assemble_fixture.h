/* SPDX-License-Identifier: MIT */
/* assemble_fixture.h: the assembler tests' fixture: a collecting assembler, hand-built events. */
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

#endif /* TASKTAP_TEST_ASSEMBLE_FIXTURE_H */
