// SPDX-License-Identifier: MIT
/* assemble_ends.c: spans ended from outside: exits, lost events, expiry, a reload, shutdown. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assemble.h"
#include "assemble_internal.h"

void tt_asm__note_loss(struct tt_asm *a, uint64_t until_ns)
{
	uint32_t n = a->nlosses;

	if (n == TT_LOSS_WINDOWS) {
		/* the two oldest become one: a loss is never forgotten, only blurred */
		a->losses[1].from = a->losses[0].from;
		memmove(&a->losses[0], &a->losses[1], (n - 1) * sizeof(a->losses[0]));
		n--;
	}
	a->losses[n].from = a->loss_noted_ns;
	a->losses[n].to = until_ns;
	a->nlosses = n + 1;
	a->loss_noted_ns = until_ns;
}

/* Whether events were lost while span s was open, up to `end_ns`: its end may be among them. */
static bool lost_while_open(const struct tt_asm *a, const struct open_span *s, uint64_t end_ns)
{
	for (uint32_t k = 0; k < a->nlosses; k++) {
		if (s->start_ns <= a->losses[k].to && end_ns >= a->losses[k].from)
			return true;
	}
	return false;
}

/*
 * Ends the spans open on a thread that exited (`why` says how), or whose
 * exit was not seen when why is NULL.
 */
void asm__end_thread(struct tt_asm *a, uint32_t pid, uint32_t tid, uint64_t ts, const char *why)
{
	int32_t *top;

	while ((top = asm__slot_table_get(a, &a->threads, asm__thread_key(pid, tid)))) {
		int32_t i = top[0];

		if (!why) {
			asm__end_span(a, i, ts, TT_CUT_LOST,
				      "its process ended unseen: its exit event was lost");
			a->stats.cut_by_loss++;
			continue;
		}
		if (lost_while_open(a, &slot_at(a, i)->span, ts)) {
			asm__end_span(a, i, ts, TT_CUT_LOST,
				      "its end was not seen: events were lost (ring buffer full)");
			a->stats.cut_by_loss++;
			continue;
		}
		asm__end_span(a, i, ts, TT_CUT_EXIT, why);
		a->stats.cut_by_exit++;
	}
}

void tt_asm__end_process(struct tt_asm *a, uint32_t pid, uint64_t now_ns, int64_t status)
{
	char why[TT_STATUS_MSG_MAX];
	int32_t i = a->oldest;

	asm__describe_exit(why, sizeof(why), status);
	while (i != NIL) {
		struct slot *sl = slot_at(a, i);

		if (sl->span.pid == pid && sl->on_stack) {
			asm__end_thread(a, pid, sl->span.tid, now_ns, status < 0 ? NULL : why);
			i = a->oldest; /* the list changed under us */
			continue;
		}
		if (sl->span.pid == pid && sl->span.probe->pairing == TT_PAIR_KEY) {
			/* a begin/end span may be ended by another process: only its own
			 * start's process going away does not end it */
			i = sl->newer;
			continue;
		}
		i = sl->newer;
	}
}

void tt_asm__end_gone(struct tt_asm *a, uint64_t now_ns, bool (*alive)(uint32_t pid))
{
	uint32_t checked = 0; /* the pid last found alive: open spans come in runs of one pid */
	int32_t i = a->oldest;

	while (i != NIL) {
		struct slot *sl = slot_at(a, i);
		uint32_t pid = sl->span.pid;

		if (!sl->on_stack || pid == checked || alive(pid)) {
			checked = sl->on_stack ? pid : checked;
			i = sl->newer;
			continue;
		}
		tt_asm__end_process(a, pid, now_ns, -1);
		i = a->oldest; /* the list changed under us */
	}
}

void tt_asm__expire(struct tt_asm *a, uint64_t now_ns)
{
	int32_t i = a->oldest;

	/* the age list is in start order: stop at the first span young enough */
	while (i != NIL && now_ns - slot_at(a, i)->span.start_ns > a->opts.async_ttl_ns) {
		int32_t next = slot_at(a, i)->newer;

		if (slot_at(a, i)->async) {
			asm__end_span(a, i, now_ns, TT_CUT_EXPIRED, "no end seen within the TTL");
			a->stats.expired++;
		}
		i = next;
	}
}

/* The hook that old hook `h` became in a->opts.spec, or NULL when it is gone. */
static const struct tt_hook *moved_hook(const struct tt_asm *a, const struct tt_hook *h,
					const int *map, int nmap)
{
	if (h->id < 1 || h->id > nmap || !map[h->id])
		return NULL;
	return tt_spec__hook(a->opts.spec, map[h->id]);
}

/* Points open span i at its new hook, rehashing a begin/end span under its new probe id. */
static void move_span(struct tt_asm *a, int32_t i, const struct tt_hook *to)
{
	struct slot *sl = slot_at(a, i);
	int32_t *v;

	if (sl->async)
		asm__async_remove(a, i);
	sl->span.hook = to;
	sl->span.probe = to->probe;
	if (!sl->async)
		return;
	sl->async = asm__async_hash(to->probe, open_key(&sl->span), sl->span.key_len);
	v = asm__slot_table_get(a, &a->async, sl->async);
	sl->same_key = v ? v[0] : NIL;
	if (asm__slot_table_put(a, &a->async, sl->async, i))
		sl->async = 0; /* no memory: it can no longer pair, and its TTL ends it */
}

void tt_asm__respec(struct tt_asm *a, const struct tt_spec *spec, const int *map, int nmap,
		    uint64_t now_ns)
{
	int32_t i = a->oldest;

	uint64_t unannotated[TT_MAX_PROBES + 1] = {0};

	for (int h = 1; h <= nmap && h <= TT_MAX_PROBES; h++) {
		if (map[h] > 0 && map[h] <= TT_MAX_PROBES)
			unannotated[map[h]] = a->unannotated[h];
	}
	memcpy(a->unannotated, unannotated, sizeof(unannotated));
	a->opts.spec = spec;
	a->salt = a->opts.salt ? a->opts.salt : spec->salt ? spec->salt : TT_DEFAULT_SALT;
	a->has_publish = false;
	for (int id = 1; id <= spec->nprobes; id++)
		a->has_publish |= tt_spec__probe(spec, id)->role == TT_ROLE_PUBLISH;
	/* first end what went, newest first, so that children end before parents */
	for (i = a->newest; i != NIL;) {
		int32_t older = slot_at(a, i)->older;

		if (!moved_hook(a, slot_at(a, i)->span.hook, map, nmap))
			asm__end_span(a, i, now_ns, TT_CUT_REMOVED,
				      "its probe was removed from the spec");
		i = older;
	}
	/* oldest first, so that each (probe, key) chain keeps the newest span on top */
	for (i = a->oldest; i != NIL; i = slot_at(a, i)->newer)
		move_span(a, i, moved_hook(a, slot_at(a, i)->span.hook, map, nmap));
}

void tt_asm__for_each_open(const struct tt_asm *a, tt_span_fn fn, void *ctx)
{
	struct tt_span *s = malloc(sizeof(*s));

	if (!s)
		return;
	for (int32_t i = a->oldest; i != NIL; i = slot_at(a, i)->newer) {
		asm__open_load(a, i, s);
		fn(s, ctx);
	}
	free(s);
}

/* The open task span whose span id is `id`, or NIL. */
static int32_t open_task_with_id(const struct tt_asm *a, const uint8_t id[8])
{
	for (int32_t i = a->newest; i != NIL; i = slot_at(a, i)->older) {
		const struct open_span *t = &slot_at(a, i)->span;

		if (t->probe->role == TT_ROLE_TASK && !memcmp(t->span_id, id, 8))
			return i;
	}
	return NIL;
}

int tt_asm__restore(struct tt_asm *a, const struct tt_span *saved, const struct tt_hook *hook)
{
	const struct tt_probe *p = hook->probe;
	struct slot *sl;
	int32_t i;

	if (saved->key_len > TT_KEY_MAX || saved->payload_len > TT_MAX_PAYLOAD ||
	    saved->end_len > TT_MAX_PAYLOAD || p->pairing == TT_PAIR_POINT)
		return -EINVAL;
	i = asm__slot_get(a);
	if (i == NIL)
		return -ENOMEM;
	sl = slot_at(a, i);
	memcpy(a->work, saved, sizeof(*saved));
	a->work->probe = p;
	a->work->hook = hook;
	asm__slot_open(sl);
	/* its name as it was: a step's begins with its task's, which may not come back */
	if (asm__open_save(a, i, a->work, true)) {
		asm__slot_put(a, i);
		return -ENOMEM;
	}
	if (p->role == TT_ROLE_STEP || p->role == TT_ROLE_COMPENSATION) {
		/* restored oldest first: its task, if open, is back already */
		sl->parent_task = open_task_with_id(a, saved->parent_id);
		if (sl->parent_task != NIL)
			slot_at(a, sl->parent_task)->cur_step = i;
	}
	return asm__index_span(a, i);
}

void tt_asm__end_all(struct tt_asm *a, uint64_t now_ns)
{
	while (a->oldest != NIL) {
		struct slot *sl = slot_at(a, a->oldest);
		int32_t *top =
			sl->on_stack
				? asm__slot_table_get(a, &a->threads,
						      asm__thread_key(sl->span.pid, sl->span.tid))
				: NULL;

		/* end innermost first, so that children end before parents */
		asm__end_span(a, top ? (int32_t)top[0] : a->oldest, now_ns, TT_CUT_SHUTDOWN,
			      "agent stopped while the span was open");
	}
}

void asm__describe_exit(char *buf, size_t len, int64_t status)
{
	int sig = status & 0x7f;

	if (sig)
		snprintf(buf, len, "killed by signal %d (%s)", sig,
			 sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
	else
		snprintf(buf, len, "exited with status %d", (int)((status >> 8) & 0xff));
}

void asm__on_exit_event(struct tt_asm *a, const struct tt_event *ev)
{
	char why[TT_STATUS_MSG_MAX];

	if (!a->stats.open_spans)
		return;
	if (ev->flags & TT_EXITF_GROUP_DEAD) {
		tt_asm__end_process(a, ev->pid, ev->ts_ns, ev->ret);
		return;
	}
	asm__describe_exit(why, sizeof(why), ev->ret);
	asm__end_thread(a, ev->pid, ev->tid, ev->ts_ns, why);
}
