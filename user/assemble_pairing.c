// SPDX-License-Identifier: MIT
/*
 * assemble_pairing.c: an end event paired to the open span it ends (a
 * return on its thread's stack, an end by its (probe, key) chain), and the
 * span finished: its return value, its key if captured at return, its
 * status from `error:` and `error_unless`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "assemble.h"
#include "assemble_internal.h"

int64_t tt_ret__value(uint64_t rax)
{
	/* a C int comes back in eax with the upper half of rax zeroed */
	if ((rax >> 32) == 0)
		return (int64_t)(int32_t)(uint32_t)rax;
	return (int64_t)rax;
}

/* Evaluates `error:` on a span that has all its captures. Writes why into msg. */
static bool is_error(const struct tt_span *s, const struct tt_event *ev, char *msg, size_t len,
		     char *type, size_t type_len)
{
	const struct tt_pred *err = &s->probe->error;
	const struct tt_cap_rec *r;
	bool hit;

	if (!err->set)
		return false;
	if (err->on_ret && err->raised) {
		r = s->ret ? asm__value_of(s, &err->lhs) : NULL;
		if (s->ret) {
			int n = r ? (int)(r->len < 48 ? r->len : 48) : 9;

			snprintf(msg, len, "raised %.*s", n,
				 r ? (const char *)record_data(r) : "exception");
			snprintf(type, type_len, "%.*s", n,
				 r ? (const char *)record_data(r) : "exception");
		}
		return s->ret != 0;
	}
	if (err->on_ret) {
		hit = tt_cmp__eval(err->op, s->ret, err->rhs);
		if (hit) {
			snprintf(msg, len, "returned %" PRId64 " (error: %s)", s->ret, err->text);
			snprintf(type, type_len, "%" PRId64, s->ret);
		}
		return hit;
	}
	r = asm__value_of(s, &err->lhs);
	if (!r)
		return false; /* not readable: no verdict */
	if (err->verdict) {
		int64_t v;

		memcpy(&v, record_data(r), sizeof(v));
		if (!v)
			return false;
		snprintf(msg, len, "error: %s", err->text);
		snprintf(type, type_len, "%s", err->text);
		return true;
	}
	if (err->str) {
		size_t n = strlen(err->str);
		bool eq = err->prefix ? r->len >= n && memcmp(record_data(r), err->str, n) == 0
				      : r->len == n && memcmp(record_data(r), err->str, n) == 0;

		hit = err->op == TT_CMP_EQ ? eq : !eq;
		if (hit) {
			snprintf(msg, len, "%s is \"%.*s\" (error: %s)", err->lhs.text,
				 (int)(r->len < 48 ? r->len : 48), record_data(r), err->text);
			snprintf(type, type_len, "%.*s", (int)r->len, record_data(r));
		}
		return hit;
	}
	{
		int64_t v;

		memcpy(&v, record_data(r), sizeof(v));
		hit = tt_cmp__eval(err->op, v, err->rhs);
		if (hit) {
			snprintf(msg, len, "%s is %" PRId64 " (error: %s)", err->lhs.text, v,
				 err->text);
			snprintf(type, type_len, "%" PRId64, v);
		}
		return hit;
	}
}

void asm__finish(struct tt_asm *a, int32_t i, const struct tt_event *ev, const uint8_t *end,
		 size_t end_len)
{
	struct tt_span *s = a->done;

	asm__open_load(a, i, s);
	if (ev->kind == TT_EV_RETURN) {
		s->has_ret = true;
		s->ret = tt_ret__value(ev->ret);
	}
	s->end_len = end_len;
	if (end_len)
		memcpy(s->end_payload, end, end_len);
	if (!s->key_len && s->probe->key.site == TT_SITE_RETURN) {
		asm__set_key(s, &s->probe->key);
		if (s->key_len)
			asm__rekey(a, s);
	}
	if (s->probe->name)
		asm__name_from_template(s); /* again, now that every capture is in */
	/* otherwise UNSET: instrumentation leaves OK to the application */
	if (is_error(s, ev, s->status_msg, sizeof(s->status_msg), s->error_type,
		     sizeof(s->error_type))) {
		s->status = TT_STATUS_ERROR;
	} else if (s->probe->error_unless && !s->marked && s->status != TT_STATUS_ERROR) {
		/* an error an annotate probe gave (a nack) says more than the missing ack */
		s->status = TT_STATUS_ERROR;
		snprintf(s->status_msg, sizeof(s->status_msg),
			 "no '%s' before the span ended (error_unless: %s)", s->probe->error_unless,
			 s->probe->error_unless);
		snprintf(s->error_type, sizeof(s->error_type), "error_unless");
	}
	asm__end_loaded(a, i, s, ev->ts_ns, TT_CUT_NONE, NULL);
}

/*
 * Whether open span `above` began at the same call as `s`, below it on the
 * thread: another probe entered at the same function, with nothing in
 * between. Several probes may end at one function's return, and the kernel
 * runs their return handlers in entry order, so the lower one returns first.
 */
static bool same_call(const struct open_span *above, const struct open_span *s)
{
	return above->probe->pairing == TT_PAIR_CALL && s->probe->pairing == TT_PAIR_CALL &&
	       above->hook != s->hook && above->start_ns >= s->start_ns &&
	       !strcmp(hook_function(above->hook, above->probe),
		       hook_function(s->hook, s->probe)) &&
	       tt_target__same(above->probe->target, s->probe->target);
}

/* Whether every span from `from` down to `to` (not included) began at to's call. */
static bool only_same_call(const struct tt_asm *a, int32_t from, int32_t to)
{
	for (int32_t k = from; k != to && k != NIL; k = slot_at(a, k)->below) {
		if (!same_call(&slot_at(a, k)->span, &slot_at(a, to)->span))
			return false;
	}
	return true;
}

/*
 * Finds the open span on this thread's stack that `match` accepts, ends
 * the spans above it (their ends were lost) but those of the same call,
 * and finishes it. Returns false when no open span matched.
 */
static bool finish_on_stack(struct tt_asm *a, const struct tt_event *ev, const uint8_t *end,
			    size_t end_len, bool (*match)(const struct open_span *, const void *),
			    const void *what)
{
	int32_t *top = asm__slot_table_get(a, &a->threads, asm__thread_key(ev->pid, ev->tid));
	int32_t i;

	for (i = top ? (int32_t)top[0] : NIL; i != NIL; i = slot_at(a, i)->below) {
		if (match(&slot_at(a, i)->span, what))
			break;
	}
	if (i == NIL)
		return false;
	while ((int32_t)top[0] != i && !only_same_call(a, (int32_t)top[0], i)) {
		asm__end_span(a, (int32_t)top[0], ev->ts_ns, TT_CUT_UNWOUND,
			      "return not seen (events lost)");
		top = asm__slot_table_get(a, &a->threads, asm__thread_key(ev->pid, ev->tid));
	}
	asm__finish(a, i, ev, end, end_len);
	return true;
}

static bool same_hook(const struct open_span *s, const void *hook)
{
	return s->hook == hook;
}

static bool same_probe(const struct open_span *s, const void *probe)
{
	return s->probe == probe;
}

/* The attribute `name` captured at `site`, or NULL. */
static const struct tt_attr *attr_at(const struct tt_probe *p, const char *name, enum tt_site site)
{
	for (int i = 0; i < p->nattrs; i++) {
		if (!p->attrs[i].literal && p->attrs[i].cap.site == site &&
		    strcmp(p->attrs[i].name, name) == 0)
			return &p->attrs[i];
	}
	return NULL;
}

/*
 * Whether open span s has the step.name that the end captured: begin/end
 * spans pair by (key, step.name) when both sides capture a step.name, so
 * that parallel steps of one task end where they began.
 */
static bool same_step(const struct open_span *s, const struct tt_span *end)
{
	const struct tt_attr *b = attr_at(s->probe, "step.name", TT_SITE_START);
	const struct tt_attr *e = attr_at(s->probe, "step.name", TT_SITE_END);
	const struct tt_cap_rec *bv, *ev;

	if (!b || !e)
		return true;
	bv = asm__open_value_of(s, &b->cap);
	ev = asm__value_of(end, &e->cap);
	return !bv || !ev || (bv->len == ev->len && !memcmp(bv + 1, ev + 1, bv->len));
}

static void on_end_key(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		       const uint8_t *end, size_t end_len)
{
	const struct tt_probe *p = hook->probe;
	struct tt_span probe_view; /* just enough of a span to read the end's captures */
	uint8_t key[TT_KEY_MAX];
	const struct tt_cap_rec *r;
	int32_t *v;
	size_t key_len;

	probe_view.probe = p;
	probe_view.payload_len = 0;
	probe_view.end_len = end_len;
	memcpy(probe_view.end_payload, end, end_len);
	r = asm__value_of(&probe_view, &p->end_key);
	if (!r) {
		a->stats.unpaired_ends++;
		return;
	}
	key_len = asm__record_text(r, key, sizeof(key));
	v = asm__slot_table_get(a, &a->async, asm__async_hash(p, key, key_len));
	for (int32_t i = v ? v[0] : NIL; i != NIL; i = slot_at(a, i)->same_key) {
		const struct open_span *s = &slot_at(a, i)->span;

		if (s->key_len == key_len && !memcmp(open_key(s), key, key_len) &&
		    same_step(s, &probe_view)) {
			asm__finish(a, i, ev, end, end_len);
			return;
		}
	}
	a->stats.unpaired_ends++;
}

void asm__on_end_event(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		       const uint8_t *end, size_t end_len)
{
	if (hook->probe->pairing == TT_PAIR_THREAD) {
		if (!finish_on_stack(a, ev, end, end_len, same_probe, hook->probe))
			a->stats.unpaired_ends++;
	} else if (hook->probe->pairing == TT_PAIR_KEY)
		on_end_key(a, ev, hook, end, end_len);
	else
		a->stats.malformed++;
}

struct call_start {
	const struct tt_hook *hook;
	uint64_t start_ns;
};

static bool same_call_start(const struct open_span *s, const void *what)
{
	const struct call_start *c = what;

	return s->hook == c->hook && s->start_ns == c->start_ns;
}

bool asm__finish_call(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		      uint64_t start_ns, const uint8_t *end, size_t end_len)
{
	struct call_start c = {.hook = hook, .start_ns = start_ns};

	return finish_on_stack(a, ev, end, end_len, same_call_start, &c);
}

bool asm__call_open(struct tt_asm *a, uint32_t pid, uint32_t tid, const struct tt_hook *hook,
		    uint64_t start_ns)
{
	int32_t *top = asm__slot_table_get(a, &a->threads, asm__thread_key(pid, tid));
	struct call_start c = {.hook = hook, .start_ns = start_ns};

	for (int32_t i = top ? top[0] : NIL; i != NIL; i = slot_at(a, i)->below) {
		if (same_call_start(&slot_at(a, i)->span, &c))
			return true;
	}
	return false;
}

/*
 * A Python generator's or coroutine's span (TT_EVF_PY_GEN) is kept off its
 * thread's stack, for other calls and coroutines start and end on that
 * thread between its resumes: it is found by (probe, process, frame).
 */
static uint64_t gen_hash(const struct tt_probe *p, uint32_t pid, uint64_t frame)
{
	uint8_t k[12];

	memcpy(k, &pid, 4);
	memcpy(k + 4, &frame, 8);
	return asm__async_hash(p, k, sizeof(k));
}

int asm__async_index(struct tt_asm *a, int32_t i, uint64_t h)
{
	struct slot *sl = slot_at(a, i);
	int32_t *v = asm__slot_table_get(a, &a->async, h);

	sl->same_key = v ? v[0] : NIL;
	sl->async = h;
	if (asm__slot_table_put(a, &a->async, h, i)) {
		sl->async = 0;
		asm__slot_put(a, i);
		return -ENOMEM;
	}
	return 0;
}

int asm__gen_index(struct tt_asm *a, int32_t i)
{
	const struct slot *sl = slot_at(a, i);

	return asm__async_index(a, i, gen_hash(sl->span.probe, sl->span.pid, sl->gen_frame));
}

/* A generator's or coroutine's end: finishes the span its start opened, by its frame. */
static bool finish_gen(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		       const uint8_t *end, size_t end_len)
{
	uint64_t frame = (uint64_t)ev->ret;
	int32_t *v = asm__slot_table_get(a, &a->async, gen_hash(hook->probe, ev->pid, frame));
	struct tt_event e = *ev;

	/* the span sees a plain return: ret is its raised flag */
	e.flags = 0;
	e.ret = (ev->flags & TT_EVF_PY_RAISED) ? 1 : 0;
	for (int32_t i = v ? v[0] : NIL; i != NIL; i = slot_at(a, i)->same_key) {
		const struct slot *sl = slot_at(a, i);

		if (sl->gen_frame == frame && sl->span.hook == hook && sl->span.pid == ev->pid) {
			asm__finish(a, i, &e, end, end_len);
			return true;
		}
	}
	return false;
}

/* A function probe's return: finishes the open span its hook began on this thread. */
void asm__on_return_event(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
			  const uint8_t *end, size_t end_len)
{
	bool found = (ev->flags & TT_EVF_PY_GEN)
			     ? finish_gen(a, ev, hook, end, end_len)
			     : finish_on_stack(a, ev, end, end_len, same_hook, hook);

	if (!found)
		a->stats.orphan_returns++;
}
