// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "exporter.h"
#include "otlp_encode.h"
#include "resource.h"
#include "spool.h"

#define MIN_CACHE 4096

/* Counters shared by both threads: relaxed atomics. */
#define INC(field, n) __atomic_fetch_add(&e->st.field, (n), __ATOMIC_RELAXED)
#define SET(field, v) __atomic_store_n(&e->st.field, (v), __ATOMIC_RELAXED)
#define GET(field)    __atomic_load_n(&e->st.field, __ATOMIC_RELAXED)

/* A process's resource, and the queue position of its latest span. */
struct cached {
	uint32_t pid;
	struct tt_resource *res;
	uint64_t last_seq; /* the span at tail = last_seq - 1 refers to it */
};

struct tt_exporter {
	const struct tt_otlp_config *cfg;
	struct tt_exporter_opts o;

	pthread_mutex_t mu;
	pthread_cond_t wake;
	struct tt_xspan *ring;
	uint32_t cap;
	uint64_t head, tail;   /* [head, tail) queued; head advances after encoding */
	uint64_t window_start; /* when the current batch window opened */
	bool stopping, stopped;
	uint64_t deadline; /* of the shutdown flush */
	pthread_t thread;
	bool started;

	/* the exporter thread's */
	struct tt_otlp_client *client;
	tt_send_fn send;
	void *send_ctx;
	struct tt_spool *spool;
	uint64_t next_try; /* next replay of the spool */
	unsigned replay_attempt;
	bool down;
	uint64_t rnd;
	const struct tt_xspan **batch;

	/* the event loop's */
	struct cached *cache;
	size_t cache_cap, cache_n;
	struct tt_resource_opts ropts;

	struct tt_exporter_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
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

/* Resource cache (event loop only). */

static size_t cache_slot(const struct tt_exporter *e, uint32_t pid)
{
	size_t i = (pid * 2654435761u) & (e->cache_cap - 1);

	while (e->cache[i].res && e->cache[i].pid != pid)
		i = (i + 1) & (e->cache_cap - 1);
	return i;
}

/* Frees the resources no queued span refers to any more, and rebuilds the table. */
static void cache_evict(struct tt_exporter *e)
{
	uint64_t head = __atomic_load_n(&e->head, __ATOMIC_ACQUIRE);
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
		if (old[i].last_seq <= head) {
			tt_resource__free(old[i].res);
			continue;
		}
		e->cache[cache_slot(e, old[i].pid)] = old[i];
		e->cache_n++;
	}
	free(old);
}

static struct cached *resource_for(struct tt_exporter *e, uint32_t pid)
{
	size_t i = cache_slot(e, pid);
	struct tt_resource *r;

	if (e->cache[i].res)
		return &e->cache[i];
	if (e->cache_n + 1 > e->cache_cap / 2) {
		cache_evict(e);
		i = cache_slot(e, pid);
		if (e->cache_n + 1 > e->cache_cap / 2)
			return NULL;
	}
	r = tt_resource__new((pid_t)pid, &e->ropts);
	if (!r)
		return NULL;
	e->cache[i] = (struct cached){.pid = pid, .res = r};
	e->cache_n++;
	return &e->cache[i];
}

void tt_exporter__span(const struct tt_span *span, void *ctx)
{
	struct tt_exporter *e = ctx;
	struct cached *c;
	uint64_t queued;
	bool full, closed, was_empty;

	if (!tt_sampler__keep(e->cfg->sampler, e->cfg->ratio, span->trace_id)) {
		INC(spans_sampled_out, 1);
		return;
	}
	c = resource_for(e, span->pid);
	pthread_mutex_lock(&e->mu);
	closed = e->stopped;
	full = e->tail - e->head >= e->cap;
	was_empty = e->tail == e->head;
	if (!full && !closed) {
		struct tt_xspan *slot = &e->ring[e->tail % e->cap];

		if (e->tail == e->head)
			e->window_start = now_ns();
		memcpy(&slot->span, span, sizeof(*span));
		slot->res = c ? c->res : NULL;
		e->tail++;
		if (c)
			c->last_seq = e->tail;
	}
	queued = e->tail - e->head;
	/* wake the thread: a batch window opens, or a batch is ready */
	if ((was_empty && queued) || queued >= e->o.cfg->max_batch || queued >= e->cap / 2)
		pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->mu);
	if (full)
		INC(dropped_queue_full, 1);
	else if (closed)
		INC(dropped_failed, 1);
	else
		INC(spans_queued, 1);
}

/* Exporter thread. */

static void sync_spool_stats(struct tt_exporter *e)
{
	struct tt_spool_stats ss;

	if (!e->spool)
		return;
	tt_spool__stats(e->spool, &ss);
	SET(spool_files, ss.files);
	SET(spool_bytes, ss.bytes);
	SET(spool_spans, ss.items);
	SET(spool_written, ss.written);
	SET(spool_corrupt, ss.corrupt);
}

static void set_down(struct tt_exporter *e, bool down, const char *why)
{
	if (down && !e->down)
		tt_warn("cannot export spans: %s; retrying%s", why,
			e->spool ? ", spooling what waits" : "");
	if (!down && e->down)
		tt_warn("the collector is back%s",
			e->spool && !tt_spool__empty(e->spool) ? "; replaying the spool" : "");
	e->down = down;
	SET(collector_up, !down);
}

static void accepted(struct tt_exporter *e, const struct tt_send_result *r, uint32_t n)
{
	uint64_t rejected = r->rejected > 0 ? (uint64_t)r->rejected : 0;

	if (rejected > n)
		rejected = n;
	INC(batches_sent, 1);
	INC(spans_exported, n - rejected);
	if (rejected || r->message[0]) {
		INC(partial_successes, 1);
		INC(dropped_rejected, rejected);
		tt_warn("the collector accepted a batch partly: %" PRIu64
			" of %u spans rejected%s%s",
			rejected, n, r->message[0] ? ": " : "", r->message);
	}
	set_down(e, false, NULL);
}

static void refused(struct tt_exporter *e, const struct tt_send_result *r, uint32_t n)
{
	INC(dropped_rejected, n);
	tt_warn("the collector refused %u spans: %s", n, r->message);
	/* it answered: it is up */
	set_down(e, false, NULL);
}

/* Spills a batch to the spool, or counts it dropped. */
static void to_spool(struct tt_exporter *e, const uint8_t *pb, size_t len, uint32_t n)
{
	int ret;

	if (!e->spool) {
		INC(dropped_failed, n);
		return;
	}
	ret = tt_spool__push(e->spool, pb, len, n);
	if (ret == -ENOSPC) {
		INC(dropped_spool_full, n);
	} else if (ret) {
		INC(dropped_failed, n);
		tt_warn("cannot write to the spool: %s; %u spans dropped", strerror(-ret), n);
	}
	sync_spool_stats(e);
}

static int send_once(struct tt_exporter *e, const uint8_t *pb, size_t len, uint32_t timeout_ms,
		     struct tt_send_result *r)
{
	int ret = e->send(e->send_ctx, pb, len, timeout_ms, r);

	if (ret) {
		memset(r, 0, sizeof(*r));
		r->transport_error = -1;
		r->grpc_status = -1;
		r->retry_after_ms = -1;
		snprintf(r->message, sizeof(r->message), "%s", strerror(-ret));
	}
	return ret;
}

/* Sleeps until `until` unless stopping, or the queue fills past half. Returns whether to spill. */
static bool backoff(struct tt_exporter *e, uint64_t until)
{
	bool spill;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		spill = e->stopping || (e->spool && e->tail - e->head >= e->cap / 2);
		if (spill || now_ns() >= until)
			break;
		wait_until(e, until);
	}
	pthread_mutex_unlock(&e->mu);
	return spill;
}

/* Sends a fresh batch, with retries; spills it when the collector stays away. */
static void export_batch(struct tt_exporter *e, const uint8_t *pb, size_t len, uint32_t n)
{
	unsigned limit = e->spool ? TT_EXPORT_ATTEMPTS_BEFORE_SPOOL : TT_EXPORT_ATTEMPTS_NO_SPOOL;
	struct tt_send_result r;
	uint64_t delay;

	if (e->spool && !tt_spool__empty(e->spool)) {
		to_spool(e, pb, len, n); /* behind what waits there: order is kept */
		return;
	}
	for (unsigned attempt = 1;; attempt++) {
		enum tt_verdict v;

		send_once(e, pb, len, e->cfg->timeout_ms, &r);
		v = tt_retry__decide(&r, attempt, next_rnd(e), &delay);
		if (v == TT_VERDICT_DONE) {
			accepted(e, &r, n);
			return;
		}
		INC(export_failures, 1);
		if (v == TT_VERDICT_DROP) {
			refused(e, &r, n);
			return;
		}
		set_down(e, true, r.message);
		if (attempt >= limit || backoff(e, now_ns() + delay * 1000000ULL)) {
			e->next_try = now_ns() + delay * 1000000ULL;
			e->replay_attempt = attempt;
			to_spool(e, pb, len, n);
			return;
		}
		INC(retries, 1);
	}
}

/* Sends the oldest spooled batch once. */
static void replay_one(struct tt_exporter *e)
{
	struct tt_send_result r;
	enum tt_verdict v;
	uint64_t delay;
	uint32_t count;
	void *data;
	size_t len;
	int ret;

	ret = tt_spool__peek(e->spool, &data, &len, &count);
	sync_spool_stats(e);
	if (ret) {
		if (ret != -ENOENT)
			e->next_try = now_ns() + 1000000000ULL;
		return;
	}
	send_once(e, data, len, e->cfg->timeout_ms, &r);
	free(data);
	if (e->replay_attempt)
		INC(retries, 1);
	v = tt_retry__decide(&r, e->replay_attempt + 1, next_rnd(e), &delay);
	if (v == TT_VERDICT_RETRY) {
		INC(export_failures, 1);
		set_down(e, true, r.message);
		e->replay_attempt++;
		e->next_try = now_ns() + delay * 1000000ULL;
		return;
	}
	if (v == TT_VERDICT_DONE) {
		accepted(e, &r, count);
		INC(spool_replayed, 1);
	} else {
		INC(export_failures, 1);
		refused(e, &r, count);
	}
	tt_spool__pop(e->spool);
	sync_spool_stats(e);
	e->replay_attempt = 0;
	e->next_try = 0;
}

/* Takes up to max_batch spans off the queue and encodes them. Returns the count. */
static uint32_t take_batch(struct tt_exporter *e, uint8_t **pb, size_t *len)
{
	uint32_t n;
	int ret;

	pthread_mutex_lock(&e->mu);
	n = (uint32_t)(e->tail - e->head);
	if (n > e->cfg->max_batch)
		n = e->cfg->max_batch;
	for (uint32_t i = 0; i < n; i++)
		e->batch[i] = &e->ring[(e->head + i) % e->cap];
	pthread_mutex_unlock(&e->mu);
	if (!n)
		return 0;
	/* the slots are still ours: the event loop writes only past tail */
	ret = tt_otlp__encode_traces(e->batch, n, e->o.mono_to_unix_ns, pb, len);
	pthread_mutex_lock(&e->mu);
	__atomic_store_n(&e->head, e->head + n, __ATOMIC_RELEASE);
	e->window_start = now_ns();
	SET(queue_len, e->tail - e->head);
	pthread_mutex_unlock(&e->mu);
	if (ret) {
		INC(dropped_encode, n);
		*pb = NULL;
	}
	return n;
}

/* Shutdown: everything queued goes to the collector while time lasts, else to the spool. */
static void flush_all(struct tt_exporter *e)
{
	uint8_t *pb;
	size_t len;
	uint32_t n;

	while ((n = take_batch(e, &pb, &len))) {
		uint64_t now = now_ns();
		struct tt_send_result r;
		uint64_t delay, left_ms;
		enum tt_verdict v;

		if (!pb)
			continue;
		left_ms = e->deadline > now ? (e->deadline - now) / 1000000ULL : 0;
		if ((e->spool && !tt_spool__empty(e->spool)) || e->down || left_ms == 0) {
			to_spool(e, pb, len, n);
			free(pb);
			continue;
		}
		send_once(e, pb, len,
			  left_ms < e->cfg->timeout_ms ? (uint32_t)left_ms : e->cfg->timeout_ms,
			  &r);
		v = tt_retry__decide(&r, 1, next_rnd(e), &delay);
		if (v == TT_VERDICT_DONE) {
			accepted(e, &r, n);
		} else if (v == TT_VERDICT_DROP) {
			INC(export_failures, 1);
			refused(e, &r, n);
		} else {
			INC(export_failures, 1);
			set_down(e, true, r.message);
			to_spool(e, pb, len, n);
		}
		free(pb);
	}
}

/* Whether the thread has work now; else the time to wake up at (0: none). Lock held. */
static bool due(struct tt_exporter *e, uint64_t now, uint64_t *wake_at)
{
	uint64_t n = e->tail - e->head, at = 0;
	bool replay = e->spool && !tt_spool__empty(e->spool);

	if (e->stopping || n >= e->cfg->max_batch || n >= e->cap / 2)
		return true;
	if (n && now >= e->window_start + e->cfg->delay_ms * 1000000ULL)
		return true;
	if (replay && now >= e->next_try)
		return true;
	if (n)
		at = e->window_start + e->cfg->delay_ms * 1000000ULL;
	if (replay && (!at || e->next_try < at))
		at = e->next_try;
	*wake_at = at;
	return false;
}

static void *exporter_main(void *arg)
{
	struct tt_exporter *e = arg;

	for (;;) {
		uint64_t wake_at = 0;
		uint8_t *pb = NULL;
		size_t len = 0;
		uint32_t n;
		bool stopping;

		pthread_mutex_lock(&e->mu);
		while (!due(e, now_ns(), &wake_at))
			wait_until(e, wake_at);
		stopping = e->stopping;
		SET(queue_len, e->tail - e->head);
		pthread_mutex_unlock(&e->mu);
		if (stopping)
			break;
		n = take_batch(e, &pb, &len);
		if (n && pb)
			export_batch(e, pb, len, n);
		free(pb);
		if (e->spool && !tt_spool__empty(e->spool) && now_ns() >= e->next_try)
			replay_one(e);
	}
	flush_all(e);
	SET(queue_len, 0);
	sync_spool_stats(e);
	return NULL;
}

struct tt_exporter *tt_exporter__new(const struct tt_exporter_opts *o, char *err, size_t len)
{
	struct tt_exporter *e = calloc(1, sizeof(*e));
	pthread_condattr_t ca;
	sigset_t all, old;
	char dirbuf[256];
	int ret;

	if (!e)
		goto nomem;
	e->o = *o;
	e->cfg = o->cfg;
	e->cap = o->cfg->max_queue;
	e->rnd = o->seed | 1;
	e->ring = calloc(e->cap, sizeof(*e->ring));
	e->batch = calloc(o->cfg->max_batch, sizeof(*e->batch));
	for (e->cache_cap = MIN_CACHE; e->cache_cap < 4 * (size_t)e->cap;)
		e->cache_cap *= 2;
	e->cache = calloc(e->cache_cap, sizeof(*e->cache));
	if (!e->ring || !e->batch || !e->cache)
		goto nomem;
	e->ropts = (struct tt_resource_opts){
		.spec_service = o->spec_service,
		.cfg = o->cfg,
		.proc_root = o->proc_root,
		.machine_id_path = o->machine_id_path,
		.hostname = o->hostname,
	};
	e->send = o->send;
	e->send_ctx = o->send_ctx;
	if (!e->send) {
		e->client = tt_otlp_client__new(o->cfg, err, len);
		if (!e->client)
			goto fail;
		e->send = tt_otlp_client__send;
		e->send_ctx = e->client;
	}
	if (!o->cfg->spool_off) {
		const char *dir = tt_otlp_config__spool_dir(o->cfg, dirbuf, sizeof(dirbuf));

		e->spool = tt_spool__open(dir, o->cfg->spool_bytes, err, len);
		if (!e->spool)
			goto fail;
		sync_spool_stats(e);
	}
	e->st.queue_cap = e->cap;
	e->st.collector_up = true;
	e->st.spool_enabled = e->spool != NULL;
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->wake, &ca);
	pthread_condattr_destroy(&ca);
	/* signals are the event loop's (signalfd): the thread must never take one */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&e->thread, NULL, exporter_main, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		snprintf(err, len, "cannot start the exporter thread: %s", strerror(ret));
		errno = ret;
		pthread_cond_destroy(&e->wake);
		pthread_mutex_destroy(&e->mu);
		goto fail;
	}
	e->started = true;
	return e;
nomem:
	snprintf(err, len, "out of memory");
	errno = ENOMEM;
fail:
	if (e) {
		ret = errno;
		tt_spool__free(e->spool);
		tt_otlp_client__free(e->client);
		free(e->cache);
		free(e->batch);
		free(e->ring);
		free(e);
		errno = ret;
	}
	return NULL;
}

int tt_exporter__stop(struct tt_exporter *e, uint32_t timeout_ms)
{
	int ret;

	if (!e->started)
		return 0;
	pthread_mutex_lock(&e->mu);
	e->stopping = true;
	e->deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->mu);
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
	for (size_t i = 0; i < e->cache_cap; i++)
		tt_resource__free(e->cache[i].res);
	pthread_cond_destroy(&e->wake);
	pthread_mutex_destroy(&e->mu);
	tt_spool__free(e->spool);
	tt_otlp_client__free(e->client);
	free(e->cache);
	free(e->batch);
	free(e->ring);
	free(e);
}

void tt_exporter__stats(const struct tt_exporter *e, struct tt_exporter_stats *st)
{
	uint64_t *dst = (uint64_t *)st;
	const uint64_t *src = (const uint64_t *)&e->st;
	size_t words = offsetof(struct tt_exporter_stats, collector_up) / sizeof(uint64_t);

	for (size_t i = 0; i < words; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	st->collector_up = __atomic_load_n(&e->st.collector_up, __ATOMIC_RELAXED);
	st->spool_enabled = e->st.spool_enabled;
}
