// SPDX-License-Identifier: MIT
/* exporter_life.c: the exporter started and stopped (lanes, spools, threads); its stats read. */
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

#define MIN_CACHE 4096

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

/*
 * A queue of traces holds packed spans, bounded by cfg->queue_bytes and, when
 * OTEL_BSP_MAX_QUEUE_SIZE was given, by that many spans; a queue of logs holds
 * log records, OTEL_BLRP_MAX_QUEUE_SIZE of them. A batch is up to max_batch
 * items and cfg->batch_bytes. 0 or -errno with the reason in err.
 */
static int queue_init(struct queue *q, enum tt_otlp_signal sig, const struct tt_otlp_config *cfg,
		      char *err, size_t len)
{
	bool spans = sig == TT_SIGNAL_TRACES;
	size_t rec = spans ? tt_span_pack__max() : sizeof(struct tt_step_log);
	uint64_t bytes = spans ? cfg->queue_bytes : cfg->max_queue * tt_bqueue__cost(rec);
	uint64_t items = spans && !cfg->max_queue_set ? 0 : cfg->max_queue;

	if (tt_bqueue__init(&q->b, bytes, items, rec)) {
		snprintf(err, len, "a queue of %" PRIu64 " bytes cannot hold one span of %zu",
			 bytes, rec);
		return -EINVAL;
	}
	q->size = spans ? sizeof(struct tt_xspan) : sizeof(struct tt_step_log);
	q->batch_bytes = spans ? cfg->batch_bytes : bytes;
	if (q->batch_bytes > bytes / 2)
		q->batch_bytes = bytes / 2;
	q->max_take = cfg->max_batch;
	q->unpacked = calloc(q->max_take, q->size);
	q->batch = calloc(q->max_take, sizeof(*q->batch));
	if (!q->unpacked || !q->batch) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < q->max_take; i++)
		q->batch[i] = (char *)q->unpacked + i * q->size;
	return 0;
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
		int ret = queue_init(&l->q, sig, cfg, err, len);

		if (ret)
			return ret;
		l->st.queue_cap = l->q.b.max_items;
		l->st.queue_max_bytes = l->q.b.max_bytes;
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
		exporter__sync_spool_stats(l);
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
	free(l->q.unpacked);
	tt_bqueue__release(&l->q.b);
}

static void release(struct tt_exporter *e)
{
	for (int i = 0; i < e->nsenders; i++)
		tt_otlp_client__free(e->senders[i].client);
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		lane_release(&e->lane[s]);
	for (size_t i = 0; e->cache && i < e->cache_cap; i++)
		tt_resource__free(e->cache[i].res);
	tt_resource__free(e->agent_res);
	for (int i = 0; i < TT_SPILLERS; i++)
		tt_wbuf__release(&e->spillers[i].buf);
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

/*
 * Starts the senders beside the exporter thread: inflight - 1 of them for
 * traces, each with its own client (or the test's seam, when it says it may
 * be called from several threads). Not for http/json, whose body the
 * exporter thread writes beside the protobuf. Without them, one request is
 * in flight at a time: still correct. Signals blocked, as for the thread.
 */
static void start_senders(struct tt_exporter *e)
{
	struct lane *l = &e->lane[TT_SIGNAL_TRACES];
	const struct tt_otlp_config *cfg = l->cfg;
	char err[256];

	if (!has_queue(l) || cfg->protocol == TT_OTLP_HTTP_JSON ||
	    (e->o.send && !e->o.send_concurrent))
		return;
	for (uint32_t k = 1; k < cfg->inflight && e->nsenders < TT_EXPORT_MAX_INFLIGHT - 1; k++) {
		struct sender *sd = &e->senders[e->nsenders];

		sd->e = e;
		sd->rnd = (e->o.seed + k) * 0x9E3779B97F4A7C15ULL | 1;
		if (e->o.send) {
			sd->send = e->o.send;
			sd->send_ctx = e->o.send_ctx;
		} else {
			sd->client = tt_otlp_client__new(cfg, err, sizeof(err));
			if (!sd->client)
				break;
			tt_otlp_client__set_deadline(sd->client, &e->deadline);
			sd->send = tt_otlp_client__send;
			sd->send_ctx = sd->client;
		}
		e->nsenders++;
		sd->started = !pthread_create(&sd->thread, NULL, exporter__sender_main, sd);
		if (!sd->started)
			break;
	}
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
	ret = pthread_create(&e->thread, NULL, exporter__main, e);
	if (!ret) {
		e->started = true;
		/* without it the queue drops at its bound instead of spilling: still correct */
		for (int i = 0; i < TT_SPILLERS; i++) {
			struct spiller *sp = &e->spillers[i];

			sp->e = e;
			sp->started = !pthread_create(&sp->thread, NULL, exporter__spill_main, sp);
		}
		start_senders(e);
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
	/* a process per queued span at most: a count bound, or a byte bound of tiny spans */
	for (e->cache_cap = MIN_CACHE;
	     o->cfg && e->cache_cap < 4 * (size_t)o->cfg->max_queue && e->cache_cap < (1u << 20);)
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
	pthread_cond_broadcast(&e->wake);
	pthread_cond_broadcast(&e->spill_wake);
	pthread_mutex_unlock(&e->mu);
	for (int i = 0; i < TT_SPILLERS; i++) {
		if (e->spillers[i].started)
			pthread_join(e->spillers[i].thread, NULL);
		e->spillers[i].started = false;
	}
	for (int i = 0; i < e->nsenders; i++) {
		if (e->senders[i].started)
			pthread_join(e->senders[i].thread, NULL);
		e->senders[i].started = false;
	}
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
	load(&e->lane[TT_SIGNAL_METRICS], &st->metrics);
	load(&e->lane[TT_SIGNAL_LOGS], &st->logs);
	/* the queues as they are now: the threads' counters lag while they wait on a collector */
	pthread_mutex_lock((pthread_mutex_t *)&e->mu);
	if (has_queue(&e->lane[TT_SIGNAL_TRACES])) {
		t.queue_len = e->lane[TT_SIGNAL_TRACES].q.b.items;
		t.queue_bytes = e->lane[TT_SIGNAL_TRACES].q.b.bytes;
		/* counted in flight under the lock they leave the queue in: never in neither */
		t.in_flight =
			__atomic_load_n(&e->lane[TT_SIGNAL_TRACES].st.in_flight, __ATOMIC_RELAXED);
	}
	if (has_queue(&e->lane[TT_SIGNAL_LOGS])) {
		st->logs.queue_len = e->lane[TT_SIGNAL_LOGS].q.b.items;
		st->logs.queue_bytes = e->lane[TT_SIGNAL_LOGS].q.b.bytes;
	}
	pthread_mutex_unlock((pthread_mutex_t *)&e->mu);
	st->traces = t;
	st->spans_queued = t.queued;
	st->spans_exported = t.exported;
	st->spans_sampled_out = t.sampled_out;
	memcpy(st->dropped, t.dropped, sizeof(st->dropped));
	st->batches_sent = t.batches_sent;
	st->export_failures = t.export_failures;
	st->retries = t.retries;
	st->partial_successes = t.partial_successes;
	st->queue_len = t.queue_len;
	st->in_flight = t.in_flight;
	st->queue_cap = t.queue_cap;
	st->queue_bytes = t.queue_bytes;
	st->queue_max_bytes = t.queue_max_bytes;
	st->spool_files = t.spool_files;
	st->spool_bytes = t.spool_bytes;
	st->spool_spans = t.spool_items;
	st->spool_written = t.spool_written;
	st->spool_replayed = t.spool_replayed;
	st->spool_corrupt = t.spool_corrupt;
	st->collector_up = t.collector_up;
	st->spool_enabled = t.spool_enabled;
}

uint64_t tt_signal_stats__dropped(const struct tt_signal_stats *s)
{
	uint64_t n = 0;

	for (int r = 0; r < TT_DROP__COUNT; r++)
		n += s->dropped[r];
	return n;
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
