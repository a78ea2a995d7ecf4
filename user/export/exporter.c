// SPDX-License-Identifier: MIT
/* The OTLP exporter: a bounded queue, one thread that batches, sends, retries and spools. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "exporter.h"
#include "jsonw.h"
#include "otlp_encode.h"
#include "otlp_logs.h"
#include "otlp_metrics.h"
#include "otlp_write.h"
#include "resource.h"
#include "spool.h"

#define MIN_CACHE 4096

/* Counters shared by both threads: relaxed atomics. */
#define INC(l, field, n) __atomic_fetch_add(&(l)->st.field, (n), __ATOMIC_RELAXED)
#define SET(l, field, v) __atomic_store_n(&(l)->st.field, (v), __ATOMIC_RELAXED)

/* A process's resource, and the queue position of its latest item in each queue. */
struct cached {
	uint32_t pid;
	const char *service; /* the spec's service: of the spans it describes, or NULL */
	struct tt_resource *res;
	uint64_t last_seq[TT_SIGNAL__COUNT]; /* the item at tail = last_seq - 1 refers to it */
};

/* A bounded queue of fixed-size items, preallocated. Under the exporter's mutex. */
struct queue {
	char *ring;
	size_t size; /* of one item */
	uint32_t cap;
	uint64_t head, tail;   /* [head, tail) queued; head advances after encoding */
	uint64_t window_start; /* when the current batch window opened */
	const void **batch;    /* the exporter thread's: the items being encoded */
};

/* One signal: where it goes, what waits, and how it fares. */
struct lane {
	enum tt_otlp_signal sig;
	bool on;
	const char *noun; /* "spans", "data points", "log records" */
	const struct tt_otlp_config *cfg;
	struct queue q; /* traces and logs; metrics have none */

	/* the exporter thread's */
	struct tt_otlp_client *client;
	tt_send_fn send;
	void *send_ctx;
	struct tt_spool *spool;
	pthread_mutex_t spool_mu; /* the spool: both threads write to it */
	struct tt_wbuf out;	  /* traces: the request written, reused from batch to batch */
	/*
	 * http/json through the libcurl client: the fresh batch being sent,
	 * written straight as OTLP/JSON (`json_ready`); the protobuf beside it
	 * is what the spool keeps. Spooled batches are converted when replayed.
	 */
	struct tt_wbuf json;
	bool json_ready;
	uint64_t next_try; /* next replay of the spool */
	unsigned replay_attempt;
	bool down;

	struct tt_signal_stats st;
};

struct tt_exporter {
	struct tt_exporter_opts o;

	pthread_mutex_t mu;
	pthread_cond_t wake;
	bool stopping, stopped;
	uint64_t deadline; /* of the shutdown flush; 0 before; atomic: clients read it */
	pthread_t thread;
	bool started;

	/*
	 * The spill thread: when a queue fills past SPILL_MARK while the exporter
	 * thread waits on a slow collector, it moves the oldest batches to the
	 * spool (which the exporter thread replays), so that the event loop
	 * does not have to drop them. take_mu: one taker of a queue at a time.
	 */
	pthread_t spill_thread;
	bool spill_started;
	pthread_cond_t spill_wake;
	pthread_mutex_t take_mu;

	struct lane lane[TT_SIGNAL__COUNT];

	/* the exporter thread's */
	uint64_t rnd;
	struct tt_metrics *snap;       /* a copy of o.metrics, read at leisure */
	struct tt_metrics *prev;       /* delta: the copy the last export was made from */
	struct tt_metrics *work;       /* delta: what changed since */
	uint64_t prev_unix_ns;	       /* delta: when (the start before the first export) */
	struct tt_resource *agent_res; /* the resource of metrics: the agent's process */
	uint64_t next_metrics;

	/* the event loop's */
	struct cached *cache;
	size_t cache_cap, cache_n;
	struct tt_resource_opts ropts;
};

static uint64_t unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t next_rnd(struct tt_exporter *e)
{
	/* xorshift64*: jitter only */
	e->rnd ^= e->rnd >> 12;
	e->rnd ^= e->rnd << 25;
	e->rnd ^= e->rnd >> 27;
	return e->rnd * 2685821657736338717ULL;
}

/* Waits on the condition until `until` (monotonic ns), or forever when 0. Lock held. */
static void wait_until(struct tt_exporter *e, uint64_t until)
{
	struct timespec ts;

	if (!until) {
		pthread_cond_wait(&e->wake, &e->mu);
		return;
	}
	ts.tv_sec = (time_t)(until / 1000000000ULL);
	ts.tv_nsec = (long)(until % 1000000000ULL);
	pthread_cond_timedwait(&e->wake, &e->mu, &ts);
}

static bool has_queue(const struct lane *l)
{
	return l->on && l->q.ring;
}

/* The fill of a queue past which the spill thread moves batches to the spool: 3/4. */
static uint64_t spill_mark(const struct queue *q)
{
	return q->cap - q->cap / 4;
}

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

/*
 * Copies `len` bytes of `item` into the next slot of lane l's queue and
 * the resource pointer into the slot at `res_off`, or counts the item
 * dropped. Never blocks.
 */
static void enqueue(struct tt_exporter *e, struct lane *l, const void *item, size_t len,
		    size_t res_off, struct cached *c)
{
	struct queue *q = &l->q;
	uint64_t queued;
	bool full, closed, was_empty;

	pthread_mutex_lock(&e->mu);
	closed = e->stopped;
	full = q->tail - q->head >= q->cap;
	was_empty = q->tail == q->head;
	if (!full && !closed) {
		char *slot = q->ring + (q->tail % q->cap) * q->size;
		const struct tt_resource *res = c ? c->res : NULL;

		if (was_empty)
			q->window_start = tt_now_ns(CLOCK_MONOTONIC);
		memcpy(slot, item, len);
		memcpy(slot + res_off, &res, sizeof(res));
		q->tail++;
		if (c)
			c->last_seq[l->sig] = q->tail;
	}
	queued = q->tail - q->head;
	/* wake the thread: a batch window opens, or a batch is ready */
	if ((was_empty && queued) || queued >= l->cfg->max_batch || queued >= q->cap / 2)
		pthread_cond_signal(&e->wake);
	if (l->spool && queued >= spill_mark(q))
		pthread_cond_signal(&e->spill_wake);
	pthread_mutex_unlock(&e->mu);
	if (full)
		INC(l, dropped_queue_full, 1);
	else if (closed)
		INC(l, dropped_failed, 1);
	else
		INC(l, queued, 1);
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
		enqueue(e, traces, span, sizeof(*span), offsetof(struct tt_xspan, res), c);
	for (int i = 0; i < n; i++)
		enqueue(e, logs, &recs[i], sizeof(recs[i]), offsetof(struct tt_step_log, res), c);
}

enum tt_reject_reason tt_reject_reason__of(const struct tt_send_result *r)
{
	if (r->grpc_status > 0) {
		switch (r->grpc_status) {
		case 3:
			return TT_REJECT_GRPC_INVALID_ARGUMENT;
		case 7:
			return TT_REJECT_GRPC_PERMISSION_DENIED;
		case 12:
			return TT_REJECT_GRPC_UNIMPLEMENTED;
		case 16:
			return TT_REJECT_GRPC_UNAUTHENTICATED;
		default:
			return TT_REJECT_OTHER;
		}
	}
	switch (r->http_status) {
	case 400:
		return TT_REJECT_HTTP_400;
	case 401:
		return TT_REJECT_HTTP_401;
	case 403:
		return TT_REJECT_HTTP_403;
	case 404:
		return TT_REJECT_HTTP_404;
	case 413:
		return TT_REJECT_HTTP_413;
	default:
		return TT_REJECT_OTHER;
	}
}

/* Exporter thread. */

/* Spool stats into the counters. spool_mu held. */
static void sync_spool_stats_locked(struct lane *l)
{
	struct tt_spool_stats ss;

	if (!l->spool)
		return;
	tt_spool__stats(l->spool, &ss);
	SET(l, spool_files, ss.files);
	SET(l, spool_bytes, ss.bytes);
	SET(l, spool_items, ss.items);
	SET(l, spool_written, ss.written);
	SET(l, spool_corrupt, ss.corrupt);
}

static void sync_spool_stats(struct lane *l)
{
	if (!l->spool)
		return;
	pthread_mutex_lock(&l->spool_mu);
	sync_spool_stats_locked(l);
	pthread_mutex_unlock(&l->spool_mu);
}

static bool spool_empty(struct lane *l)
{
	bool empty;

	pthread_mutex_lock(&l->spool_mu);
	empty = tt_spool__empty(l->spool);
	pthread_mutex_unlock(&l->spool_mu);
	return empty;
}

static void set_down(struct lane *l, bool down, const char *why)
{
	const char *what = l->sig == TT_SIGNAL_TRACES ? "spans" : tt_otlp_signal__name(l->sig);

	if (down && !l->down)
		tt_warn("cannot export %s: %s; retrying%s", what, why,
			l->spool ? ", spooling what waits" : "");
	if (!down && l->down)
		tt_info("the collector is back%s%s%s", l->sig == TT_SIGNAL_TRACES ? "" : " for ",
			l->sig == TT_SIGNAL_TRACES ? "" : what,
			l->spool && !spool_empty(l) ? "; replaying the spool" : "");
	l->down = down;
	SET(l, collector_up, !down);
}

/*
 * Counts `n` items refused for `reason`; says so on stderr when the lane was
 * not refusing before, or for another reason (each refusal is counted in
 * /health and the self-metrics, not repeated on stderr).
 */
static void count_refusal(struct lane *l, enum tt_reject_reason reason, uint64_t n,
			  const char *what, const char *message)
{
	uint64_t was = __atomic_load_n(&l->st.refusing, __ATOMIC_RELAXED);

	INC(l, dropped_rejected, n);
	INC(l, rejected_by[reason], n);
	SET(l, refusing, (uint64_t)reason + 1);
	if (was != (uint64_t)reason + 1)
		tt_warn("the collector %s %s (%s)%s%s; counted in /health from now on", what,
			l->noun, tt_reject_reason__name(reason), message[0] ? ": " : "", message);
}

static void accepted(struct lane *l, const struct tt_send_result *r, uint32_t n)
{
	uint64_t rejected = r->rejected > 0 ? (uint64_t)r->rejected : 0;
	char what[64];

	if (rejected > n)
		rejected = n;
	INC(l, batches_sent, 1);
	INC(l, exported, n - rejected);
	if (rejected || r->message[0]) {
		INC(l, partial_successes, 1);
		snprintf(what, sizeof(what), "accepted a batch partly: %" PRIu64 " of %u", rejected,
			 n);
		count_refusal(l, TT_REJECT_PARTIAL, rejected, what, r->message);
	} else {
		SET(l, refusing, 0);
	}
	set_down(l, false, NULL);
}

static void refused(struct lane *l, const struct tt_send_result *r, uint32_t n)
{
	char what[64];

	snprintf(what, sizeof(what), "refused %u", n);
	count_refusal(l, tt_reject_reason__of(r), n, what, r->message);
	/* it answered: it is up */
	set_down(l, false, NULL);
}

/* Spills a batch to the spool, or counts it dropped. */
static void to_spool(struct lane *l, const uint8_t *pb, size_t len, uint32_t n)
{
	int ret;

	if (!l->spool) {
		INC(l, dropped_failed, n);
		return;
	}
	pthread_mutex_lock(&l->spool_mu);
	ret = tt_spool__push(l->spool, pb, len, n);
	sync_spool_stats_locked(l);
	pthread_mutex_unlock(&l->spool_mu);
	if (ret == -ENOSPC) {
		INC(l, dropped_spool_full, n);
	} else if (ret) {
		INC(l, dropped_failed, n);
		tt_warn("cannot write to the spool: %s; %u %s dropped", strerror(-ret), n, l->noun);
	}
}

/*
 * The bound of one request: the signal's export timeout (OTEL_BSP_EXPORT_TIMEOUT,
 * OTEL_METRIC_EXPORT_TIMEOUT, OTEL_BLRP_EXPORT_TIMEOUT), at least the OTLP
 * timeout, which bounds sending it (tt_otlp_client__send).
 */
static uint32_t request_timeout(const struct lane *l)
{
	return l->cfg->export_timeout_ms > l->cfg->timeout_ms ? l->cfg->export_timeout_ms
							      : l->cfg->timeout_ms;
}

static int send_once(struct lane *l, const uint8_t *pb, size_t len, uint32_t timeout_ms,
		     struct tt_send_result *r)
{
	int ret = l->json_ready ? tt_otlp_client__send_ready(l->client, l->json.data, l->json.len,
							     timeout_ms, r)
				: l->send(l->send_ctx, pb, len, timeout_ms, r);

	if (ret) {
		memset(r, 0, sizeof(*r));
		r->transport_error = -1;
		r->grpc_status = -1;
		r->retry_after_ms = -1;
		snprintf(r->message, sizeof(r->message), "%s", strerror(-ret));
	}
	return ret;
}

/*
 * Sleeps until `until` unless stopping, or lane l's queue fills past half.
 * Returns whether to spill.
 */
static bool backoff(struct tt_exporter *e, struct lane *l, uint64_t until)
{
	bool spill;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		spill = e->stopping ||
			(l->spool && l->q.ring && l->q.tail - l->q.head >= l->q.cap / 2);
		if (spill || tt_now_ns(CLOCK_MONOTONIC) >= until)
			break;
		wait_until(e, until);
	}
	pthread_mutex_unlock(&e->mu);
	return spill;
}

/* Sends a fresh batch, with retries; spills it when the collector stays away. */
static void export_batch(struct tt_exporter *e, struct lane *l, const uint8_t *pb, size_t len,
			 uint32_t n)
{
	unsigned limit = l->spool ? TT_EXPORT_ATTEMPTS_BEFORE_SPOOL : TT_EXPORT_ATTEMPTS_NO_SPOOL;
	struct tt_send_result r;
	uint64_t delay;

	if (l->spool && !spool_empty(l)) {
		to_spool(l, pb, len, n); /* behind what waits there: order is kept */
		return;
	}
	for (unsigned attempt = 1;; attempt++) {
		enum tt_verdict v;

		send_once(l, pb, len, request_timeout(l), &r);
		v = tt_retry__decide(&r, attempt, next_rnd(e), &delay);
		if (v == TT_VERDICT_DONE) {
			accepted(l, &r, n);
			return;
		}
		INC(l, export_failures, 1);
		if (v == TT_VERDICT_DROP) {
			refused(l, &r, n);
			return;
		}
		set_down(l, true, r.message);
		if (attempt >= limit ||
		    backoff(e, l, tt_now_ns(CLOCK_MONOTONIC) + delay * 1000000ULL)) {
			l->next_try = tt_now_ns(CLOCK_MONOTONIC) + delay * 1000000ULL;
			l->replay_attempt = attempt;
			to_spool(l, pb, len, n);
			return;
		}
		INC(l, retries, 1);
	}
}

/* Sends the oldest spooled batch of lane l once. */
static void replay_one(struct tt_exporter *e, struct lane *l)
{
	struct tt_send_result r;
	enum tt_verdict v;
	uint64_t delay;
	uint32_t count;
	void *data;
	size_t len;
	int ret;

	pthread_mutex_lock(&l->spool_mu);
	ret = tt_spool__peek(l->spool, &data, &len, &count);
	sync_spool_stats_locked(l);
	pthread_mutex_unlock(&l->spool_mu);
	if (ret) {
		if (ret != -ENOENT)
			l->next_try = tt_now_ns(CLOCK_MONOTONIC) + 1000000000ULL;
		return;
	}
	send_once(l, data, len, request_timeout(l), &r);
	free(data);
	if (l->replay_attempt)
		INC(l, retries, 1);
	v = tt_retry__decide(&r, l->replay_attempt + 1, next_rnd(e), &delay);
	if (v == TT_VERDICT_RETRY) {
		INC(l, export_failures, 1);
		set_down(l, true, r.message);
		l->replay_attempt++;
		l->next_try = tt_now_ns(CLOCK_MONOTONIC) + delay * 1000000ULL;
		return;
	}
	if (v == TT_VERDICT_DONE) {
		accepted(l, &r, count);
		INC(l, spool_replayed, 1);
	} else {
		INC(l, export_failures, 1);
		refused(l, &r, count);
	}
	pthread_mutex_lock(&l->spool_mu);
	tt_spool__pop(l->spool);
	sync_spool_stats_locked(l);
	pthread_mutex_unlock(&l->spool_mu);
	l->replay_attempt = 0;
	l->next_try = 0;
}

/*
 * The batch as protobuf in *pb (the caller frees it). Spans are written
 * straight into the lane's reused buffer (otlp_write.c), then copied out
 * once: one allocation per batch, none per span.
 */
static int encode(struct tt_exporter *e, struct lane *l, uint32_t n, bool json, uint8_t **pb,
		  size_t *len)
{
	const struct tt_xspan *const *spans = (const struct tt_xspan *const *)l->q.batch;
	int ret;

	if (l->sig == TT_SIGNAL_LOGS)
		return tt_otlp__encode_logs((const struct tt_step_log *const *)l->q.batch, n,
					    e->o.mono_to_unix_ns, unix_ns(), pb, len);
	ret = tt_otlp__write_traces(&l->out, spans, n, e->o.mono_to_unix_ns);
	if (!ret && json && l->client && l->cfg->protocol == TT_OTLP_HTTP_JSON) {
		ret = tt_otlp__write_traces_json(&l->json, spans, n, e->o.mono_to_unix_ns);
		l->json_ready = !ret;
	}
	if (ret)
		return ret;
	*pb = malloc(l->out.len ? l->out.len : 1);
	if (!*pb)
		return -ENOMEM;
	memcpy(*pb, l->out.data, l->out.len);
	*len = l->out.len;
	return 0;
}

/*
 * Takes up to max_batch items off lane l's queue and encodes them (`json`:
 * the exporter thread, about to send them: also as the http/json body).
 * Returns the count. The exporter and the spill thread take in turn
 * (take_mu): the slots taken stay theirs until head moves past them.
 */
static uint32_t take_batch(struct tt_exporter *e, struct lane *l, bool json, uint8_t **pb,
			   size_t *len)
{
	struct queue *q = &l->q;
	uint32_t n;
	int ret;

	pthread_mutex_lock(&e->take_mu);
	pthread_mutex_lock(&e->mu);
	n = (uint32_t)(q->tail - q->head);
	if (n > l->cfg->max_batch)
		n = l->cfg->max_batch;
	for (uint32_t i = 0; i < n; i++)
		q->batch[i] = q->ring + ((q->head + i) % q->cap) * q->size;
	pthread_mutex_unlock(&e->mu);
	if (!n) {
		pthread_mutex_unlock(&e->take_mu);
		return 0;
	}
	/* the slots are still ours: the event loop writes only past tail */
	ret = encode(e, l, n, json, pb, len);
	pthread_mutex_lock(&e->mu);
	__atomic_store_n(&q->head, q->head + n, __ATOMIC_RELEASE);
	q->window_start = tt_now_ns(CLOCK_MONOTONIC);
	SET(l, queue_len, q->tail - q->head);
	pthread_mutex_unlock(&e->mu);
	pthread_mutex_unlock(&e->take_mu);
	if (ret) {
		INC(l, dropped_encode, n);
		*pb = NULL;
	}
	return n;
}

/* Snapshots the metrics and encodes them. Returns the data points, 0 on failure. */
static uint32_t collect_metrics(struct tt_exporter *e, uint8_t **pb, size_t *len)
{
	struct lane *l = &e->lane[TT_SIGNAL_METRICS];
	uint64_t now = unix_ns();
	uint32_t points = 0;
	int ret;

	*pb = NULL;
	ret = tt_metrics__snapshot(e->o.metrics, e->snap);
	if (!ret && e->prev) {
		/* delta: what changed since the copy the last export was made from */
		ret = tt_metrics__snapshot(e->snap, e->work);
		if (!ret) {
			struct tt_metrics *cur = e->snap;

			tt_metrics__subtract(e->work, e->prev);
			ret = tt_otlp__encode_metrics_delta(e->work, e->agent_res, e->prev_unix_ns,
							    now, pb, len, &points);
			/* this copy is the next export's base */
			e->snap = e->prev;
			e->prev = cur;
			e->prev_unix_ns = now;
		}
	} else if (!ret) {
		ret = tt_otlp__encode_metrics(e->snap, e->agent_res, now, pb, len, &points);
	}
	if (ret) {
		INC(l, dropped_encode, 1);
		*pb = NULL;
		return 0;
	}
	INC(l, queued, points);
	return points;
}

/* Shutdown: one batch to the collector while time lasts, else to the spool. */
static void flush_one(struct tt_exporter *e, struct lane *l, const uint8_t *pb, size_t len,
		      uint32_t n)
{
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC), delay, left_ms;
	struct tt_send_result r;
	enum tt_verdict v;

	left_ms = e->deadline > now ? (e->deadline - now) / 1000000ULL : 0;
	if ((l->spool && !spool_empty(l)) || l->down || left_ms == 0) {
		to_spool(l, pb, len, n);
		return;
	}
	send_once(l, pb, len, left_ms < request_timeout(l) ? (uint32_t)left_ms : request_timeout(l),
		  &r);
	v = tt_retry__decide(&r, 1, next_rnd(e), &delay);
	if (v == TT_VERDICT_DONE) {
		accepted(l, &r, n);
	} else if (v == TT_VERDICT_DROP) {
		INC(l, export_failures, 1);
		refused(l, &r, n);
	} else {
		INC(l, export_failures, 1);
		set_down(l, true, r.message);
		to_spool(l, pb, len, n);
	}
}

/* Shutdown: every queue, then the metrics once more. */
static void flush_all(struct tt_exporter *e)
{
	struct lane *m = &e->lane[TT_SIGNAL_METRICS];
	uint8_t *pb;
	size_t len;
	uint32_t n;

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		struct lane *l = &e->lane[s];

		while (has_queue(l) && (n = take_batch(e, l, false, &pb, &len))) {
			if (pb)
				flush_one(e, l, pb, len, n);
			free(pb);
		}
		SET(l, queue_len, 0);
		sync_spool_stats(l);
	}
	if (m->on) {
		n = collect_metrics(e, &pb, &len);
		if (pb)
			flush_one(e, m, pb, len, n);
		free(pb);
		sync_spool_stats(m);
	}
}

/* Whether lane l's queue has a batch to send now; else when it will (0: never). Lock held. */
static bool queue_due(const struct lane *l, uint64_t now, uint64_t *at)
{
	const struct queue *q = &l->q;
	uint64_t n, end;

	*at = 0;
	if (!has_queue(l))
		return false;
	n = q->tail - q->head;
	end = q->window_start + l->cfg->delay_ms * 1000000ULL;
	if (n >= l->cfg->max_batch || n >= q->cap / 2 || (n && now >= end))
		return true;
	if (n)
		*at = end;
	return false;
}

static bool replay_due(const struct lane *l, uint64_t now, uint64_t *at)
{
	*at = 0;
	if (!l->on || !l->spool || spool_empty((struct lane *)l))
		return false;
	if (now >= l->next_try)
		return true;
	*at = l->next_try;
	return false;
}

static bool metrics_due(const struct tt_exporter *e, uint64_t now, uint64_t *at)
{
	*at = 0;
	if (!e->lane[TT_SIGNAL_METRICS].on)
		return false;
	if (now >= e->next_metrics)
		return true;
	*at = e->next_metrics;
	return false;
}

static void earliest(uint64_t *wake_at, uint64_t at)
{
	if (at && (!*wake_at || at < *wake_at))
		*wake_at = at;
}

/* Whether the thread has work now; else the time to wake up at (0: none). Lock held. */
static bool due(struct tt_exporter *e, uint64_t now, uint64_t *wake_at)
{
	uint64_t at;

	*wake_at = 0;
	if (e->stopping)
		return true;
	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		if (queue_due(&e->lane[s], now, &at))
			return true;
		earliest(wake_at, at);
		if (replay_due(&e->lane[s], now, &at))
			return true;
		earliest(wake_at, at);
	}
	if (metrics_due(e, now, &at))
		return true;
	earliest(wake_at, at);
	return false;
}

/* One round: every batch that is due, the metrics when due, one replay per spool. */
static void work(struct tt_exporter *e)
{
	uint64_t at;
	uint8_t *pb;
	size_t len;
	uint32_t n;
	bool go;

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		struct lane *l = &e->lane[s];

		pthread_mutex_lock(&e->mu);
		go = queue_due(l, tt_now_ns(CLOCK_MONOTONIC), &at);
		pthread_mutex_unlock(&e->mu);
		if (go) {
			pb = NULL;
			n = take_batch(e, l, true, &pb, &len);
			if (n && pb)
				export_batch(e, l, pb, len, n);
			l->json_ready = false;
			free(pb);
		}
	}
	if (metrics_due(e, tt_now_ns(CLOCK_MONOTONIC), &at)) {
		e->next_metrics = tt_now_ns(CLOCK_MONOTONIC) +
				  e->lane[TT_SIGNAL_METRICS].cfg->interval_ms * 1000000ULL;
		n = collect_metrics(e, &pb, &len);
		if (pb)
			export_batch(e, &e->lane[TT_SIGNAL_METRICS], pb, len, n);
		free(pb);
	}
	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		if (replay_due(&e->lane[s], tt_now_ns(CLOCK_MONOTONIC), &at))
			replay_one(e, &e->lane[s]);
	}
}

static void *exporter_main(void *arg)
{
	struct tt_exporter *e = arg;

	for (;;) {
		uint64_t wake_at = 0;
		bool stopping;

		pthread_mutex_lock(&e->mu);
		while (!due(e, tt_now_ns(CLOCK_MONOTONIC), &wake_at))
			wait_until(e, wake_at);
		stopping = e->stopping;
		for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
			struct lane *l = &e->lane[s];

			if (has_queue(l))
				SET(l, queue_len, l->q.tail - l->q.head);
		}
		pthread_mutex_unlock(&e->mu);
		if (stopping)
			break;
		work(e);
	}
	flush_all(e);
	return NULL;
}

/* A lane whose queue is past its spill mark, with a spool to spill to; NULL if none. Lock held. */
static struct lane *spill_due(struct tt_exporter *e)
{
	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		struct lane *l = &e->lane[s];

		if (has_queue(l) && l->spool && l->q.tail - l->q.head >= spill_mark(&l->q))
			return l;
	}
	return NULL;
}

/*
 * The spill thread: while a queue is past its mark (the exporter thread is
 * held up by the collector), its oldest batches go to the spool, to be
 * replayed in order; only a full spool drops them (dropped_spool_full).
 */
static void *spill_main(void *arg)
{
	struct tt_exporter *e = arg;
	struct lane *l;
	uint8_t *pb;
	size_t len;
	uint32_t n;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!e->stopping && !(l = spill_due(e)))
			pthread_cond_wait(&e->spill_wake, &e->mu);
		if (e->stopping)
			break;
		pthread_mutex_unlock(&e->mu);
		pb = NULL;
		n = take_batch(e, l, false, &pb, &len);
		if (n && pb)
			to_spool(l, pb, len, n);
		free(pb);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* Lifecycle. */

static const char *noun_of(enum tt_otlp_signal s)
{
	return s == TT_SIGNAL_TRACES	? "spans"
	       : s == TT_SIGNAL_METRICS ? "data points"
					: "log records";
}

/* The spool directory of lane l: the configured one (traces), or a subdirectory of it. */
static const char *spool_dir(const struct lane *l, char *buf, size_t len)
{
	char base[256];
	const char *dir = tt_otlp_config__spool_dir(l->cfg, base, sizeof(base));

	if (l->sig == TT_SIGNAL_TRACES) {
		snprintf(buf, len, "%s", dir);
		return buf;
	}
	snprintf(buf, len, "%s/%s", dir, tt_otlp_signal__name(l->sig));
	return buf;
}

/* Sets lane l up: its queue, its client (or the seam) and its spool. 0 or -errno. */
static int lane_init(struct lane *l, enum tt_otlp_signal sig, const struct tt_otlp_config *cfg,
		     tt_send_fn send, void *send_ctx, char *err, size_t len)
{
	char dir[320];

	l->sig = sig;
	l->noun = noun_of(sig);
	pthread_mutex_init(&l->spool_mu, NULL);
	l->st.collector_up = true;
	if (!cfg || !tt_otlp_config__enabled(cfg))
		return 0;
	l->on = true;
	l->cfg = cfg;
	l->st.enabled = true;
	if (sig != TT_SIGNAL_METRICS) {
		l->q.size = sig == TT_SIGNAL_LOGS ? sizeof(struct tt_step_log)
						  : sizeof(struct tt_xspan);
		l->q.cap = cfg->max_queue;
		l->q.ring = calloc(l->q.cap, l->q.size);
		l->q.batch = calloc(cfg->max_batch, sizeof(*l->q.batch));
		l->st.queue_cap = l->q.cap;
		if (!l->q.ring || !l->q.batch) {
			snprintf(err, len, "out of memory");
			return -ENOMEM;
		}
	}
	l->send = send;
	l->send_ctx = send_ctx;
	if (!l->send) {
		l->client = tt_otlp_client__new(cfg, err, len);
		if (!l->client)
			return errno ? -errno : -EIO;
		l->send = tt_otlp_client__send;
		l->send_ctx = l->client;
	}
	if (!cfg->spool_off) {
		l->spool =
			tt_spool__open(spool_dir(l, dir, sizeof(dir)), cfg->spool_bytes, err, len);
		if (!l->spool)
			return errno ? -errno : -EIO;
		sync_spool_stats(l);
	}
	l->st.spool_enabled = l->spool != NULL;
	return 0;
}

static void lane_release(struct lane *l)
{
	tt_spool__free(l->spool);
	tt_wbuf__release(&l->out);
	tt_wbuf__release(&l->json);
	pthread_mutex_destroy(&l->spool_mu);
	tt_otlp_client__free(l->client);
	free(l->q.batch);
	free(l->q.ring);
}

static void release(struct tt_exporter *e)
{
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		lane_release(&e->lane[s]);
	for (size_t i = 0; e->cache && i < e->cache_cap; i++)
		tt_resource__free(e->cache[i].res);
	tt_resource__free(e->agent_res);
	tt_metrics__free(e->snap);
	tt_metrics__free(e->prev);
	tt_metrics__free(e->work);
	free(e->cache);
	free(e);
}

/* The metrics lane needs its source, a copy to read it into, and the agent's resource. */
static int metrics_init(struct tt_exporter *e, char *err, size_t len)
{
	if (!e->lane[TT_SIGNAL_METRICS].on)
		return 0;
	if (!e->o.metrics) {
		snprintf(err, len, "metrics export configured without metrics");
		return -EINVAL;
	}
	e->snap = tt_metrics__new(NULL);
	if (e->o.sdk && e->o.sdk->delta) {
		e->prev = tt_metrics__new(NULL);
		e->work = tt_metrics__new(NULL);
		e->prev_unix_ns = unix_ns();
		if (!e->prev || !e->work) {
			snprintf(err, len, "out of memory");
			return -ENOMEM;
		}
	}
	e->agent_res = tt_resource__new(getpid(), &e->ropts);
	if (!e->snap || !e->agent_res) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	/* the first export soon: a collector that refuses metrics shows at once */
	e->next_metrics = tt_now_ns(CLOCK_MONOTONIC) +
			  (e->lane[TT_SIGNAL_METRICS].cfg->interval_ms < TT_METRICS_FIRST_EXPORT_MS
				   ? e->lane[TT_SIGNAL_METRICS].cfg->interval_ms
				   : TT_METRICS_FIRST_EXPORT_MS) *
				  1000000ULL;
	return 0;
}

static int start_thread(struct tt_exporter *e, char *err, size_t len)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int ret;

	pthread_mutex_init(&e->mu, NULL);
	pthread_mutex_init(&e->take_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->wake, &ca);
	pthread_cond_init(&e->spill_wake, &ca);
	pthread_condattr_destroy(&ca);
	/* signals are the event loop's (signalfd): the thread must never take one */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&e->thread, NULL, exporter_main, e);
	if (!ret) {
		e->started = true;
		/* without it the queue drops at its bound instead of spilling: still correct */
		e->spill_started = !pthread_create(&e->spill_thread, NULL, spill_main, e);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		snprintf(err, len, "cannot start the exporter thread: %s", strerror(ret));
		pthread_cond_destroy(&e->wake);
		pthread_cond_destroy(&e->spill_wake);
		pthread_mutex_destroy(&e->take_mu);
		pthread_mutex_destroy(&e->mu);
		return -ret;
	}
	return 0;
}

struct tt_exporter *tt_exporter__new(const struct tt_exporter_opts *o, char *err, size_t len)
{
	struct tt_exporter *e = calloc(1, sizeof(*e));
	const struct tt_otlp_config *any;
	int ret;

	if (!e) {
		snprintf(err, len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	e->o = *o;
	e->rnd = o->seed | 1;
	any = o->cfg ? o->cfg : o->metrics_cfg ? o->metrics_cfg : o->logs_cfg;
	e->ropts = (struct tt_resource_opts){
		.spec_service = o->spec_service,
		.cfg = any,
		.proc_root = o->proc_root,
		.machine_id_path = o->machine_id_path,
		.hostname = o->hostname,
	};
	for (e->cache_cap = MIN_CACHE; o->cfg && e->cache_cap < 4 * (size_t)o->cfg->max_queue;)
		e->cache_cap *= 2;
	e->cache = calloc(e->cache_cap, sizeof(*e->cache));
	ret = e->cache ? 0 : -ENOMEM;
	if (ret)
		snprintf(err, len, "out of memory");
	if (!ret)
		ret = lane_init(&e->lane[TT_SIGNAL_TRACES], TT_SIGNAL_TRACES, o->cfg, o->send,
				o->send_ctx, err, len);
	if (!ret)
		ret = lane_init(&e->lane[TT_SIGNAL_METRICS], TT_SIGNAL_METRICS, o->metrics_cfg,
				o->send_metrics, o->send_metrics_ctx, err, len);
	if (!ret)
		ret = lane_init(&e->lane[TT_SIGNAL_LOGS], TT_SIGNAL_LOGS, o->logs_cfg, o->send_logs,
				o->send_logs_ctx, err, len);
	tt_otlp__set_limits(o->sdk);
	for (int s = 0; s < TT_SIGNAL__COUNT && !ret; s++)
		if (e->lane[s].client) /* a request in flight ends with the shutdown's time */
			tt_otlp_client__set_deadline(e->lane[s].client, &e->deadline);
	if (!ret)
		ret = metrics_init(e, err, len);
	if (!ret)
		ret = start_thread(e, err, len);
	if (ret) {
		release(e);
		errno = -ret;
		return NULL;
	}
	return e;
}

int tt_exporter__stop(struct tt_exporter *e, uint32_t timeout_ms)
{
	int ret;

	if (!e->started)
		return 0;
	pthread_mutex_lock(&e->mu);
	e->stopping = true;
	__atomic_store_n(&e->deadline,
			 tt_now_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000000ULL,
			 __ATOMIC_RELAXED);
	pthread_cond_signal(&e->wake);
	pthread_cond_broadcast(&e->spill_wake);
	pthread_mutex_unlock(&e->mu);
	if (e->spill_started)
		pthread_join(e->spill_thread, NULL);
	e->spill_started = false;
	ret = pthread_join(e->thread, NULL);
	pthread_mutex_lock(&e->mu);
	e->stopped = true;
	pthread_mutex_unlock(&e->mu);
	e->started = false;
	return -ret;
}

void tt_exporter__free(struct tt_exporter *e)
{
	if (!e)
		return;
	if (e->started)
		tt_exporter__stop(e, TT_EXPORT_SHUTDOWN_MS);
	pthread_cond_destroy(&e->wake);
	pthread_cond_destroy(&e->spill_wake);
	pthread_mutex_destroy(&e->take_mu);
	pthread_mutex_destroy(&e->mu);
	release(e);
}

static void load(const struct lane *l, struct tt_signal_stats *dst)
{
	uint64_t *d = (uint64_t *)dst;
	const uint64_t *src = (const uint64_t *)&l->st;
	size_t words = offsetof(struct tt_signal_stats, collector_up) / sizeof(uint64_t);

	for (size_t i = 0; i < words; i++)
		d[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	dst->collector_up = __atomic_load_n(&l->st.collector_up, __ATOMIC_RELAXED);
	dst->enabled = l->st.enabled;
	dst->spool_enabled = l->st.spool_enabled;
}

void tt_exporter__stats(const struct tt_exporter *e, struct tt_exporter_stats *st)
{
	struct tt_signal_stats t;

	load(&e->lane[TT_SIGNAL_TRACES], &t);
	st->traces = t;
	load(&e->lane[TT_SIGNAL_METRICS], &st->metrics);
	load(&e->lane[TT_SIGNAL_LOGS], &st->logs);
	st->spans_queued = t.queued;
	st->spans_exported = t.exported;
	st->spans_sampled_out = t.sampled_out;
	st->dropped_queue_full = t.dropped_queue_full;
	st->dropped_rejected = t.dropped_rejected;
	st->dropped_spool_full = t.dropped_spool_full;
	st->dropped_failed = t.dropped_failed;
	st->dropped_encode = t.dropped_encode;
	st->batches_sent = t.batches_sent;
	st->export_failures = t.export_failures;
	st->retries = t.retries;
	st->partial_successes = t.partial_successes;
	st->queue_len = t.queue_len;
	st->queue_cap = t.queue_cap;
	st->spool_files = t.spool_files;
	st->spool_bytes = t.spool_bytes;
	st->spool_spans = t.spool_items;
	st->spool_written = t.spool_written;
	st->spool_replayed = t.spool_replayed;
	st->spool_corrupt = t.spool_corrupt;
	st->collector_up = t.collector_up;
	st->spool_enabled = t.spool_enabled;
}

bool tt_exporter__refusing(const struct tt_exporter_stats *st, char *buf, size_t len)
{
	const struct tt_signal_stats *sig[TT_SIGNAL__COUNT] = {&st->traces, &st->metrics,
							       &st->logs};

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		if (!sig[s]->refusing)
			continue;
		snprintf(buf, len, "the collector refuses %s: %s", tt_otlp_signal__name(s),
			 tt_reject_reason__name(sig[s]->refusing - 1));
		return true;
	}
	return false;
}

void tt_exporter__write_rejections(struct tt_jsonw *w, const struct tt_exporter_stats *st)
{
	const struct tt_signal_stats *sig[TT_SIGNAL__COUNT] = {&st->traces, &st->metrics,
							       &st->logs};

	tt_jsonw__name(w, "rejected");
	tt_jsonw__start_object(w);
	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		tt_jsonw__name(w, tt_otlp_signal__name(s));
		tt_jsonw__start_object(w);
		for (int r = 0; r < TT_REJECT__COUNT; r++) {
			if (sig[s]->rejected_by[r])
				tt_jsonw__uint_field(w, tt_reject_reason__name(r),
						     sig[s]->rejected_by[r]);
		}
		tt_jsonw__end_object(w);
	}
	tt_jsonw__end_object(w);
}
