// SPDX-License-Identifier: MIT
/*
 * The assembler's one-event calls (TT_EV_CALL, paired in BPF by a uprobe
 * session program): the same event stream written both ways, entry and
 * return events to one assembler and whole calls to another, must give
 * the same spans field by field.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "assemble.h"
#include "spec.h"

#include "assemble_fixture.h"

/* A capture program's output: records, their bytes and count. */
struct recs {
	uint8_t b[TT_MAX_PAYLOAD];
	size_t len;
	uint32_t n;
};

static void rec_int(struct recs *r, uint64_t v)
{
	r->len = put_rec(r->b, r->len, TT_CAP_INT, 0, &v, sizeof(v));
	r->n++;
}

/* A string record; NULL: one whose read faulted. */
static void rec_str(struct recs *r, const char *s)
{
	r->len = put_rec(r->b, r->len, TT_CAP_STR, s ? 0 : TT_CAPF_FAULT, s ? s : "",
			 s ? (uint16_t)strlen(s) : 0);
	r->n++;
}

/* Pushes an entry or return event of hook `probe` with records r. */
static int push_half(struct tt_asm *a, uint32_t probe, uint16_t kind, uint64_t ts, uint32_t tid,
		     const struct recs *r, int64_t rax)
{
	struct ev e = {0};

	memcpy(e.payload, r->b, r->len);
	e.h = (struct tt_event){.ts_ns = ts,
				.pid = 10,
				.tid = tid,
				.probe = probe,
				.kind = kind,
				.ret = kind == TT_EV_RETURN ? rax : 0,
				.size = (uint32_t)(sizeof(e.h) + r->len),
				.ncaps = r->n};
	return tt_asm__push(a, &e.h, e.h.size);
}

/* A TT_EV_CALL event as a session program writes it, into buf; returns its size. */
static size_t make_call(uint8_t *buf, uint32_t probe, uint64_t start, uint64_t end, uint32_t tid,
			const struct recs *in, const struct recs *out, int64_t rax)
{
	struct tt_event h = {.ts_ns = end,
			     .pid = 10,
			     .tid = tid,
			     .probe = probe,
			     .kind = TT_EV_CALL,
			     .ret = rax,
			     .ncaps = in->n + out->n};
	struct tt_call_tail tail = {
		.start_ns = start, .entry_len = (uint32_t)in->len, .entry_ncaps = in->n};
	size_t off = sizeof(h);

	memset(buf, 0xee, TT_MAX_CALL_EVENT); /* what scratch held before: padding is not read */
	memcpy(buf + off, in->b, in->len);
	off += in->len;
	memcpy(buf + off, out->b, out->len);
	off = (off + out->len + 7) & ~(size_t)7;
	memcpy(buf + off, &tail, sizeof(tail));
	off += sizeof(tail);
	h.size = (uint32_t)off;
	memcpy(buf, &h, sizeof(h));
	return off;
}

static int push_call(struct tt_asm *a, uint32_t probe, uint64_t start, uint64_t end, uint32_t tid,
		     const struct recs *in, const struct recs *out, int64_t rax)
{
	uint64_t buf[TT_MAX_CALL_EVENT / 8];
	size_t n = make_call((uint8_t *)buf, probe, start, end, tid, in, out, rax);

	return tt_asm__push(a, (const struct tt_event *)buf, n);
}

/* One call of hook `probe`: as entry and return events to `two`, as one event to `one`. */
static void both(struct fixture *two, struct fixture *one, uint32_t probe, uint64_t start,
		 uint64_t end, uint32_t tid, const struct recs *in, const struct recs *out,
		 int64_t rax)
{
	assert_int_equal(push_half(two->a, probe, TT_EV_ENTRY, start, tid, in, 0), 0);
	assert_int_equal(push_half(two->a, probe, TT_EV_RETURN, end, tid, out, rax), 0);
	assert_int_equal(push_call(one->a, probe, start, end, tid, in, out, rax), 0);
}

static void assert_same_kv(const struct tt_kv *x, const struct tt_kv *y)
{
	assert_string_equal(x->key, y->key);
	assert_int_equal(x->type, y->type);
	assert_int_equal(x->len, y->len);
	assert_int_equal(x->i, y->i);
	if (x->type == TT_KV_STR)
		assert_memory_equal(x->str, y->str, x->len);
}

/* Span i of x and of y are the same, field by field (but the spec's pointers: two specs). */
static void assert_same_span(struct fixture *x, struct fixture *y, int i)
{
	const struct tt_span *a = &x->out[i], *b = &y->out[i];

	assert_memory_equal(a->trace_id, b->trace_id, 16);
	assert_memory_equal(a->span_id, b->span_id, 8);
	assert_memory_equal(a->parent_id, b->parent_id, 8);
	assert_memory_equal(a->link_trace_id, b->link_trace_id, 16);
	assert_memory_equal(a->link_span_id, b->link_span_id, 8);
	assert_int_equal(a->start_ns, b->start_ns);
	assert_int_equal(a->end_ns, b->end_ns);
	assert_int_equal(a->probe->id, b->probe->id);
	assert_int_equal(a->hook->id, b->hook->id);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->tid, b->tid);
	assert_int_equal(a->attempt, b->attempt);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->cut, b->cut);
	assert_int_equal(a->has_ret, b->has_ret);
	assert_int_equal(a->ret, b->ret);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->status_msg, b->status_msg);
	assert_string_equal(a->error_type, b->error_type);
	assert_string_equal(a->unreadable, b->unreadable);
	assert_int_equal(a->key_len, b->key_len);
	assert_memory_equal(a->key, b->key, a->key_len);
	assert_int_equal(a->payload_len, b->payload_len);
	assert_memory_equal(a->payload, b->payload, a->payload_len);
	assert_int_equal(a->end_len, b->end_len);
	assert_memory_equal(a->end_payload, b->end_payload, a->end_len);
	assert_int_equal(x->nkv[i], y->nkv[i]);
	for (int k = 0; k < x->nkv[i]; k++)
		assert_same_kv(&x->kv[i][k], &y->kv[i][k]);
}

static void assert_same_spans(struct fixture *x, struct fixture *y)
{
	assert_int_equal(x->n, y->n);
	for (int i = 0; i < x->n; i++)
		assert_same_span(x, y, i);
}

static struct recs step_recs(uint64_t key, const char *name)
{
	struct recs r = {0};

	rec_int(&r, key);
	rec_str(&r, name);
	return r;
}

static struct recs task_recs(uint64_t key, const char *name)
{
	return step_recs(key, name);
}

/*
 * A task (entry and return events: its steps are its children) with steps
 * as whole calls: an error, an unreadable name, a retry (attempt 2), a
 * step on another thread joining by key; the same spans as with entry and
 * return events for the steps too.
 */
static void test_steps_as_calls_give_the_same_spans(void **state)
{
	struct fixture *two, *one;
	struct recs none = {0}, t = task_recs(7, "Zip"), up = step_recs(7, "Upload"),
		    st = step_recs(7, "Store"), bad = step_recs(7, NULL);

	make_fixture((void **)&two, 0, 0);
	make_fixture((void **)&one, 0, 0);
	assert_int_equal(push_half(two->a, TASK, TT_EV_ENTRY, 1000, 11, &t, 0), 0);
	assert_int_equal(push_half(one->a, TASK, TT_EV_ENTRY, 1000, 11, &t, 0), 0);
	both(two, one, STEP, 1100, 1500, 11, &up, &none, 0);
	both(two, one, STEP, 1600, 1900, 11, &st, &none, (uint64_t)-2); /* error: ret < 0 */
	both(two, one, STEP, 1910, 1920, 11, &bad, &none, 0);
	both(two, one, STEP, 1950, 1960, 11, &up, &none, 0); /* Upload again: attempt 2 */
	both(two, one, STEP, 1955, 1990, 12, &st, &none, 0); /* another thread, by key */
	assert_int_equal(push_half(two->a, TASK, TT_EV_RETURN, 2000, 11, &none, 0), 0);
	assert_int_equal(push_half(one->a, TASK, TT_EV_RETURN, 2000, 11, &none, 0), 0);

	assert_int_equal(one->n, 6);
	assert_same_spans(two, one);
	/* and the spans are what they should be, not only alike */
	assert_string_equal(one->out[0].name, "Zip.Upload");
	assert_int_equal(one->out[0].start_ns, 1100);
	assert_int_equal(one->out[0].end_ns, 1500);
	assert_memory_equal(one->out[0].parent_id, one->out[5].span_id, 8);
	assert_memory_equal(one->out[4].parent_id, one->out[5].span_id, 8);
	assert_int_equal(one->out[1].status, TT_STATUS_ERROR);
	assert_string_equal(one->out[1].status_msg, "returned -2 (error: ret < 0)");
	assert_string_equal(one->out[2].unreadable, "step.name");
	assert_int_equal(one->out[3].attempt, 2);
	assert_int_equal(one->out[5].end_ns, 2000);
	teardown((void **)&two);
	teardown((void **)&one);
}

/* A key captured at return (`@return`) reaches the span from the call's return records. */
static void test_return_captures_and_value(void **state)
{
	struct fixture *two, *one;
	struct recs none = {0}, out = {0};

	setup2((void **)&two);
	setup2((void **)&one);
	rec_str(&out, "job-9");
	both(two, one, PUB_RET, 100, 250, 20, &none, &out, 5);
	assert_int_equal(one->n, 1);
	assert_same_spans(two, one);
	assert_int_equal(one->out[0].key_len, 5);
	assert_memory_equal(one->out[0].key, "job-9", 5);
	assert_true(one->out[0].has_ret);
	assert_int_equal(one->out[0].ret, 5);
	teardown((void **)&two);
	teardown((void **)&one);
}

/*
 * The parent of a whole call is what was open at its start: a task begun
 * inside the step's call, still open at its return (not nested), is not
 * its parent, as it would not have been at the step's entry event.
 */
static void test_parent_is_what_was_open_at_the_start(void **state)
{
	struct fixture *f = *state;
	struct recs none = {0}, a = task_recs(7, "A"), b = task_recs(7, "B"),
		    up = step_recs(7, "Upload");
	const struct tt_span *step, *ta;

	assert_int_equal(push_half(f->a, TASK, TT_EV_ENTRY, 100, 10, &a, 0), 0);
	assert_int_equal(push_half(f->a, TASK, TT_EV_ENTRY, 300, 10, &b, 0), 0);
	assert_int_equal(push_call(f->a, STEP, 200, 500, 10, &up, &none, 0), 0);
	assert_int_equal(push_half(f->a, TASK, TT_EV_RETURN, 600, 10, &none, 0), 0);
	assert_int_equal(push_half(f->a, TASK, TT_EV_RETURN, 700, 10, &none, 0), 0);
	assert_int_equal(f->n, 3);
	step = &f->out[0];
	ta = &f->out[2];
	assert_string_equal(ta->name, "A");
	assert_string_equal(step->name, "A.Upload");
	assert_memory_equal(step->parent_id, ta->span_id, 8);
	assert_int_equal(step->start_ns, 200);
	assert_int_equal(step->end_ns, 500);
}

/*
 * A call handed over with --pin arrives as its entry (the earlier agent's
 * open span, restored) and then whole from its return: it ends that span,
 * once, as its return event would; a call of another start does not.
 */
static void test_call_ends_the_open_span_of_its_own_entry(void **state)
{
	struct fixture *two, *one;
	struct recs none = {0}, up = step_recs(7, "Upload");

	make_fixture((void **)&two, 0, 0);
	make_fixture((void **)&one, 0, 0);
	assert_int_equal(push_half(two->a, STEP, TT_EV_ENTRY, 100, 10, &up, 0), 0);
	assert_int_equal(push_half(two->a, STEP, TT_EV_RETURN, 400, 10, &none, 0), 0);
	assert_int_equal(push_half(one->a, STEP, TT_EV_ENTRY, 100, 10, &up, 0), 0);
	assert_int_equal(push_call(one->a, STEP, 100, 400, 10, &up, &none, 0), 0);
	assert_same_spans(two, one);
	/* the same hook's open entry of another time is another call: it stays open */
	assert_int_equal(push_half(one->a, STEP, TT_EV_ENTRY, 500, 10, &up, 0), 0);
	assert_int_equal(push_call(one->a, STEP, 600, 700, 10, &up, &none, 0), 0);
	assert_int_equal(one->n, 2);
	assert_int_equal(one->out[1].start_ns, 600);
	teardown((void **)&two);
	teardown((void **)&one);
}

/* A call whose parts do not add up is refused and counted; no span comes of it. */
static void test_malformed_calls_are_refused(void **state)
{
	struct fixture *f = *state;
	struct recs none = {0}, up = step_recs(7, "Upload");
	uint64_t buf[TT_MAX_CALL_EVENT / 8];
	struct tt_event *h = (struct tt_event *)buf;
	struct tt_call_tail *tail;
	struct tt_asm_stats st;
	size_t n;

	/* the entry's records claimed longer than they are */
	n = make_call((uint8_t *)buf, STEP, 100, 200, 10, &up, &none, 0);
	tail = (struct tt_call_tail *)((uint8_t *)buf + n - sizeof(*tail));
	tail->entry_len += 4;
	assert_int_equal(tt_asm__push(f->a, h, n), -EINVAL);
	/* more records than there are */
	n = make_call((uint8_t *)buf, STEP, 100, 200, 10, &up, &none, 0);
	h->ncaps++;
	assert_int_equal(tt_asm__push(f->a, h, n), -EINVAL);
	/* no room for the tail */
	n = make_call((uint8_t *)buf, STEP, 100, 200, 10, &none, &none, 0);
	h->size = sizeof(*h) + 8;
	assert_int_equal(tt_asm__push(f->a, h, sizeof(*h) + 8), -EINVAL);
	/* the tail not where it goes */
	n = make_call((uint8_t *)buf, STEP, 100, 200, 10, &up, &none, 0);
	h->size = (uint32_t)n + 4;
	assert_int_equal(tt_asm__push(f->a, h, n + 4), -EINVAL);
	/* larger than a call can be */
	h->size = TT_MAX_CALL_EVENT + 8;
	assert_int_equal(tt_asm__push(f->a, h, TT_MAX_CALL_EVENT + 8), -EINVAL);
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.malformed, 5);
	assert_int_equal(f->n, 0);
	assert_int_equal(st.open_spans, 0);
	/* and a good one still makes its span */
	assert_int_equal(push_call(f->a, STEP, 100, 200, 10, &up, &none, 0), 0);
	assert_int_equal(f->n, 1);
}

/* Only a function's call comes whole: a begin/end hook's is refused. */
static void test_call_of_a_begin_end_hook_is_refused(void **state)
{
	struct fixture *f = *state;
	struct recs none = {0}, in = step_recs(7, "x");
	struct tt_asm_stats st;

	assert_int_equal(push_call(f->a, SBEGIN, 100, 200, 10, &in, &none, 0), -EINVAL);
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.malformed, 1);
	assert_int_equal(f->n, 0);
}

/*
 * A call taken out of BPF because its process died in it (its entry, as
 * the two-event path writes it) ends at the exit as an open span does.
 */
static void test_taken_call_ends_at_its_process_exit(void **state)
{
	struct fixture *f = *state;
	struct recs up = step_recs(7, "Upload");

	assert_int_equal(push_half(f->a, STEP, TT_EV_ENTRY, 100, 10, &up, 0), 0);
	thread_exit(f, 300, 10, 10, 9 /* SIGKILL */, true);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->out[0].cut, TT_CUT_EXIT);
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_int_equal(f->out[0].start_ns, 100);
	assert_int_equal(f->out[0].end_ns, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps_as_calls_give_the_same_spans),
		cmocka_unit_test(test_return_captures_and_value),
		cmocka_unit_test(test_call_ends_the_open_span_of_its_own_entry),
		cmocka_unit_test_setup_teardown(test_parent_is_what_was_open_at_the_start, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_calls_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_of_a_begin_end_hook_is_refused, setup2,
						teardown),
		cmocka_unit_test_setup_teardown(test_taken_call_ends_at_its_process_exit, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
