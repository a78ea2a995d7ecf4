// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: the assembler on arbitrary event streams. The input is
 * a list of operations, each a selector byte and its arguments:
 *   event      a well-formed header and capture records, fields from the input
 *   raw        bytes taken as an event as they come, in a buffer of their size
 *   exit       tt_asm__end_process
 *   expire     tt_asm__expire
 *   respec     a reload between two specs that share some hooks
 *   restore    a hand-over: every open span into a new assembler
 *   reorder    from now on (or no longer), events go through the reorder
 *              buffer, flushed up to the present at each expire, as the
 *              agent drains its rings
 * Spans out are read attribute by attribute, so that a record pointing
 * past its span shows. Small bounds (open spans, tries) so that they are
 * reached.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assemble.h"
#include "reorder.h"
#include "spec.h"
#include "tasktap/capture.h"

static const char spec_a[] =
	"service: fa\n"
	"keyspace: jobs\n"
	"targets:\n"
	"  - binary: /bin/true\n"
	"    probes:\n"
	"      - role: publish\n"
	"        symbol: submit\n"
	"        key: arg0\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"      - role: consume\n"
	"        symbol: consume\n"
	"        key: arg0\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"      - role: task\n"
	"        symbol: run\n"
	"        key: str(arg0)\n"
	"        attributes: { task.name: str(arg1), n: arg2 }\n"
	"        redact: [n]\n"
	"        error: ret != 0\n"
	"      - role: step\n"
	"        begin: { symbol: step_begin, key: arg0, attributes: { step.name: str(arg1) } }\n"
	"        end: { symbol: step_end, key: arg0, attributes: { step.name: str(arg1) } }\n"
	"      - role: consume\n"
	"        begin: { symbol: grab, at: return, key: arg0,\n"
	"                 attributes: { messaging.destination.name: str(arg1) } }\n"
	"        end: { symbol: work, at: return }\n"
	"        error: ret != 0\n"
	"      - role: task\n"
	"        symbol: run_tp\n"
	"        key: arg0\n"
	"        traceparent: str(arg1)\n"
	"      - role: step\n"
	"        symbol: do_step\n"
	"        attributes: { step.name: str(arg0) }\n"
	"        error: ret < 0\n"
	"      - role: publish\n"
	"        symbol: submit_ret\n"
	"        key: str(ret) @return\n"
	"      - role: consume\n" /* late binding: a key, attributes, outcomes */
	"        symbol: deliver\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"        error_unless: ack\n"
	"      - role: annotate\n"
	"        of: consume\n"
	"        symbol: header\n"
	"        key: str(arg0)\n"
	"        attributes: { a: str(arg1), b: arg2, messaging.destination.name: str(arg3) }\n"
	"        redact: [a]\n"
	"      - role: annotate\n"
	"        of: consume\n"
	"        symbol: deliver\n" /* ends at deliver's return too */
	"        name: ack\n"
	"      - role: annotate\n"
	"        of: task\n"
	"        usdt: app:fail\n"
	"        key: arg0\n"
	"        status: error\n"
	"        message: failed\n"
	"      - role: annotate\n"
	"        of: step\n"
	"        symbol: step_result\n"
	"        error: arg0 != 0\n";

/* spec_a reloaded: the first publish gone (ids shift), two probes kept */
static const char spec_b[] =
	"service: fa\n"
	"keyspace: jobs\n"
	"targets:\n"
	"  - binary: /bin/true\n"
	"    probes:\n"
	"      - role: consume\n"
	"        symbol: consume\n"
	"        key: arg0\n"
	"        attributes: { messaging.destination.name: str(arg1) }\n"
	"      - role: task\n"
	"        symbol: run\n"
	"        key: str(arg0)\n"
	"        attributes: { task.name: str(arg1), n: arg2 }\n"
	"        redact: [n]\n"
	"        error: ret != 0\n"
	"      - role: step\n"
	"        begin: { symbol: step_begin, key: arg0, attributes: { step.name: str(arg1) } }\n"
	"        end: { symbol: step_end, key: arg0, attributes: { step.name: str(arg1) } }\n";

static struct tt_spec *specs[2];
static int *maps[2]; /* maps[i]: hooks of specs[i] into specs[1 - i] */

struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct input *in, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && in->left; i++, in->left--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

static volatile uint64_t sink;

static void on_span(const struct tt_span *s, void *ctx)
{
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(s, kv);
	uint64_t sum = strlen(s->name) + strlen(s->status_msg);

	if (n < 0 || n > TT_SPAN_MAX_KV)
		abort();
	for (int i = 0; i < n; i++) {
		sum += strlen(kv[i].key);
		for (size_t j = 0; kv[i].type == TT_KV_STR && j < kv[i].len; j++)
			sum += (uint8_t)kv[i].str[j];
	}
	sink += sum;
}

static struct tt_asm *new_asm(const struct tt_spec *spec)
{
	struct tt_asm_opts o = {
		.spec = spec,
		.seed = 7,
		.max_open_spans = 16,
		.max_tries = 8,
		.retry_window_ns = 1000,
		.async_ttl_ns = 5000,
		.on_span = on_span,
	};

	return tt_asm__new(&o);
}

static struct tt_reorder reorder;
static bool via_reorder;

static void on_ordered(const struct tt_event *ev, size_t size, void *ctx)
{
	tt_asm__push(ctx, ev, size);
}

static void push_copy(struct tt_asm *a, const void *ev, size_t size)
{
	/* exactly `size` bytes, 8-byte aligned as the reorder buffer hands them */
	void *copy = malloc(size ? size : 1);

	if (!copy)
		return;
	memcpy(copy, ev, size);
	if (via_reorder)
		tt_reorder__add(&reorder, copy, size);
	else
		tt_asm__push(a, copy, size);
	free(copy);
}

static void push_event(struct tt_asm *a, const struct tt_spec *spec, struct input *in,
		       uint64_t *now)
{
	union {
		struct tt_event h;
		uint8_t b[TT_MAX_EVENT];
	} e = {0};
	size_t off = sizeof(e.h);
	uint32_t ncaps = take(in, 1) % 5;

	*now += take(in, 1);
	e.h.ts_ns = *now;
	e.h.pid = 1 + take(in, 1) % 4;
	e.h.tid = e.h.pid + take(in, 1) % 3;
	e.h.probe = take(in, 1) % (spec->nhooks + 2);
	e.h.kind = take(in, 1) % 5;
	e.h.flags = take(in, 1) % 3;
	e.h.ret = (int8_t)take(in, 1);
	for (uint32_t i = 0; i < ncaps; i++) {
		struct tt_cap_rec r;
		uint8_t len = take(in, 1);

		r.type = take(in, 1) % 5;
		r.flags = take(in, 1) % 4;
		r.len = len % 48;
		if (off + sizeof(r) + r.len > sizeof(e.b))
			break;
		memcpy(e.b + off, &r, sizeof(r));
		for (size_t j = 0; j < r.len; j++)
			e.b[off + sizeof(r) + j] = take(in, 1);
		off = (off + sizeof(r) + r.len + 3) & ~(size_t)3;
		e.h.ncaps++;
	}
	if (off > sizeof(e.b))
		off = sizeof(e.b);
	e.h.size = off;
	push_copy(a, &e, off);
}

static void push_raw(struct tt_asm *a, struct input *in)
{
	size_t n = take(in, 2) % (TT_MAX_EVENT + 8);
	uint8_t buf[TT_MAX_EVENT + 8] = {0};

	if (n > in->left)
		n = in->left;
	memcpy(buf, in->p, n);
	in->p += n;
	in->left -= n;
	push_copy(a, buf, n);
}

static void on_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	sink += strlen(task->name) + (step ? strlen(step->name) : 0);
}

struct saved {
	struct tt_span spans[32];
	int hooks[32];
	int n;
};

static void save_span(const struct tt_span *s, void *ctx)
{
	struct saved *sv = ctx;

	if (sv->n == 32)
		return;
	sv->spans[sv->n] = *s;
	sv->hooks[sv->n] = s->hook ? s->hook->id : 0;
	sv->n++;
}

/* The hand-over of a restart: the open spans into a new assembler. */
static struct tt_asm *restore(struct tt_asm *a, const struct tt_spec *spec, struct input *in)
{
	static struct saved sv;
	struct tt_asm *b = new_asm(spec);

	if (!b)
		return a;
	sv.n = 0;
	tt_asm__for_each_open(a, save_span, &sv);
	tt_asm__free(a);
	for (int i = 0; i < sv.n; i++) {
		int id = sv.hooks[i];

		if (take(in, 1) == 0xff) /* now and then the wrong hook */
			id = take(in, 1) % (spec->nhooks + 2);
		if (id < 1 || id > spec->nhooks)
			continue;
		tt_asm__restore(b, &sv.spans[i], tt_spec__hook(spec, id));
	}
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct tt_asm_stats st;
	struct tt_asm *a;
	uint64_t now = 1000;
	int cur = 0;
	char err[256];

	if (!specs[0]) {
		if (tt_spec__parse("a.yaml", spec_a, strlen(spec_a), &specs[0], err, sizeof(err)) ||
		    tt_spec__parse("b.yaml", spec_b, strlen(spec_b), &specs[1], err, sizeof(err)))
			abort();
		for (int i = 0; i < 2; i++) {
			maps[i] = calloc((size_t)specs[i]->nhooks + 1, sizeof(int));
			if (!maps[i])
				abort();
			tt_spec__match(specs[i], specs[1 - i], maps[i]);
		}
	}
	a = new_asm(specs[0]);
	if (!a)
		return 0;
	tt_reorder__init(&reorder);
	via_reorder = false;
	while (in.left) {
		uint8_t op = take(&in, 1) % 11;

		/* what the reorder buffer holds reaches the assembler before anything else */
		if (op >= 6)
			tt_reorder__flush(&reorder, op == 7 ? now : UINT64_MAX, on_ordered, a);
		switch (op) {
		case 0 ... 4:
			push_event(a, specs[cur], &in, &now);
			break;
		case 5:
			push_raw(a, &in);
			break;
		case 6:
			now += take(&in, 1);
			tt_asm__end_process(a, 1 + take(&in, 1) % 4, now, (int8_t)take(&in, 1));
			break;
		case 7:
			now += take(&in, 2);
			tt_asm__expire(a, now);
			break;
		case 8:
			tt_asm__respec(a, specs[1 - cur], maps[cur], specs[cur]->nhooks, now);
			cur = 1 - cur;
			break;
		case 9:
			a = restore(a, specs[cur], &in);
			break;
		case 10:
			via_reorder = !via_reorder;
			break;
		}
	}
	tt_reorder__flush(&reorder, UINT64_MAX, on_ordered, a);
	tt_reorder__release_all(&reorder);
	tt_asm__stats(a, &st);
	tt_asm__for_each_task(a, 0, on_task, NULL);
	tt_asm__end_all(a, now + 1);
	tt_asm__free(a);
	return 0;
}
