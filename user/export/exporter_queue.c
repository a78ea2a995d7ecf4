// SPDX-License-Identifier: MIT
/* exporter_queue.c: the event loop's side of the exporter: items packed into the queue. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exporter_internal.h"

/* Resource cache (event loop only). */

static bool same_service(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* A process traced by two specs has a resource per spec: service.name differs. */
static size_t cache_slot(const struct tt_exporter *e, uint32_t pid, const char *service)
{
	size_t i = (pid * 2654435761u) & (e->cache_cap - 1);

	while (e->cache[i].res &&
	       (e->cache[i].pid != pid || !same_service(e->cache[i].service, service)))
		i = (i + 1) & (e->cache_cap - 1);
	return i;
}

/* Whether no queued item refers to the cached resource any more. */
static bool cache_unused(const struct tt_exporter *e, const struct cached *c)
{
	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		const struct lane *l = &e->lane[s];

		if (has_queue(l) && c->last_seq[s] > __atomic_load_n(&l->q.head, __ATOMIC_ACQUIRE))
			return false;
	}
	return true;
}

/* Frees the resources no queued item refers to any more, and rebuilds the table. */
static void cache_evict(struct tt_exporter *e)
{
	struct cached *old = e->cache;
	size_t cap = e->cache_cap;

	e->cache = calloc(cap, sizeof(*e->cache));
	if (!e->cache) {
		e->cache = old;
		return;
	}
	e->cache_n = 0;
	for (size_t i = 0; i < cap; i++) {
		if (!old[i].res)
			continue;
		if (cache_unused(e, &old[i])) {
			tt_resource__free(old[i].res);
			continue;
		}
		e->cache[cache_slot(e, old[i].pid, old[i].service)] = old[i];
		e->cache_n++;
	}
	free(old);
}

/* The service: of the spec a span comes from, when it has one. */
static const char *span_service(const struct tt_span *span)
{
	const struct tt_target *t = span->probe ? span->probe->target : NULL;

	return t && t->spec ? t->spec->service : NULL;
}

static struct cached *resource_for(struct tt_exporter *e, const struct tt_span *span,
				   const char *service)
{
	uint32_t pid = span->pid;
	size_t i = cache_slot(e, pid, service);
	const struct tt_target *t = span->probe ? span->probe->target : NULL;
	struct tt_resource_opts o = e->ropts;
	struct tt_resource *r;

	if (e->cache[i].res)
		return &e->cache[i];
	if (e->cache_n + 1 > e->cache_cap / 2) {
		cache_evict(e);
		i = cache_slot(e, pid, service);
		if (e->cache_n + 1 > e->cache_cap / 2)
			return NULL;
	}
	if (service)
		o.spec_service = service;
	/* a process gone before its first span is queued: its executable as the spec names it */
	if (t && t->kind == TT_TARGET_BINARY && t->path && !strpbrk(t->path, "*?["))
		o.exe_path = t->path;
	else if (t && t->kind == TT_TARGET_COMM && t->comm && !strpbrk(t->comm, "*?["))
		o.exe_name = t->comm;
	r = tt_resource__new((pid_t)pid, &o);
	if (!r)
		return NULL;
	/* the spec outlives its spans in the queue: the agent frees it after the exporter */
	e->cache[i] = (struct cached){.pid = pid, .service = service, .res = r};
	e->cache_n++;
	return &e->cache[i];
}

/* How an item goes into a queue record: `len` bytes at dst, with its resource. */
typedef void (*write_fn)(void *dst, const void *item, size_t len, const struct tt_resource *res);

static void write_span(void *dst, const void *item, size_t len, const struct tt_resource *res)
{
	(void)len;
	tt_span_pack__write(dst, item, res);
}

static void write_log(void *dst, const void *item, size_t len, const struct tt_resource *res)
{
	struct tt_step_log *rec = dst;

	memcpy(rec, item, len);
	rec->res = res;
}

/*
 * Writes an item of `len` bytes (with `write`) as a record at the tail of
 * lane l's queue, or counts it dropped: queue_full at the bound (the spill
 * thread could not move the excess to the spool in time, or there is none),
 * shutdown after the exporter stopped. Never blocks.
 */
static void enqueue(struct tt_exporter *e, struct lane *l, const void *item, size_t len,
		    write_fn write, struct cached *c)
{
	struct queue *q = &l->q;
	enum tt_drop_reason why = TT_DROP__COUNT;
	bool was_empty;
	void *rec = NULL;
	int err = 0;

	pthread_mutex_lock(&e->mu);
	was_empty = !q->b.items;
	if (e->stopped)
		why = TT_DROP_SHUTDOWN;
	else
		rec = tt_bqueue__reserve(&q->b, len, &err);
	if (rec) {
		if (was_empty)
			q->window_start = tt_now_ns(CLOCK_MONOTONIC);
		write(rec, item, len, c ? c->res : NULL);
		tt_bqueue__commit(&q->b);
		q->tail++;
		if (c)
			c->last_seq[l->sig] = q->tail;
	} else if (why == TT_DROP__COUNT) {
		why = TT_DROP_QUEUE_FULL; /* at the bound, or no memory for a chunk */
	}
	/* wake the thread: a batch window opens, or a batch is ready */
	if ((was_empty && rec) || q->b.items >= l->cfg->max_batch || q->b.bytes >= q->batch_bytes ||
	    half_full(q))
		pthread_cond_broadcast(&e->wake); /* the exporter thread and the senders */
	if (l->spool && spill_mark(q))
		pthread_cond_signal(&e->spill_wake);
	pthread_mutex_unlock(&e->mu);
	if (!rec) {
		INC(l, dropped[why], 1);
		return;
	}
	INC(l, queued, 1);
	TALLY(e, l, queued, 1);
}

void tt_exporter__span(const struct tt_span *span, void *ctx)
{
	struct tt_exporter *e = ctx;
	struct lane *traces = &e->lane[TT_SIGNAL_TRACES], *logs = &e->lane[TT_SIGNAL_LOGS];
	struct tt_step_log recs[2];
	struct cached *c = NULL;
	bool keep = false;
	int n = 0;

	if (traces->on) {
		keep = tt_sampler__keep(traces->cfg->sampler, traces->cfg->ratio, span->trace_id);
		if (!keep)
			INC(traces, sampled_out, 1);
	}
	if (logs->on)
		n = tt_step_logs(span, recs);
	if (!keep && !n)
		return;
	c = resource_for(e, span, span_service(span));
	if (keep)
		enqueue(e, traces, span, tt_span_pack__size(span), write_span, c);
	for (int i = 0; i < n; i++)
		enqueue(e, logs, &recs[i], sizeof(recs[i]), write_log, c);
}
