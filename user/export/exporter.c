// SPDX-License-Identifier: MIT
/* The OTLP exporter's threads: one that batches, sends, retries and spools; one that spills. */
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

/* Jitter for the exporter thread (sd NULL) or sender sd, each from its own state. */
static uint64_t next_rnd(struct tt_exporter *e, const struct sender *sd)
{
	uint64_t *x = sd ? &((struct sender *)sd)->rnd : &e->rnd;

	/* xorshift64*: jitter only */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ULL;
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

void exporter__sync_spool_stats(struct lane *l)
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

	INC(l, dropped[TT_DROP_REJECTED], n);
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

/*
 * Spills a batch to the spool, or counts it dropped: spool_disabled without
 * one, spool_full at its bound, spool_error when it cannot be written.
 */
static void to_spool(struct lane *l, const uint8_t *pb, size_t len, uint32_t n)
{
	int ret;

	if (!l->spool) {
		INC(l, dropped[TT_DROP_SPOOL_DISABLED], n);
		return;
	}
	pthread_mutex_lock(&l->spool_mu);
	ret = tt_spool__push(l->spool, pb, len, n);
	sync_spool_stats_locked(l);
	pthread_mutex_unlock(&l->spool_mu);
	if (ret == -ENOSPC) {
		INC(l, dropped[TT_DROP_SPOOL_FULL], n);
	} else if (ret) {
		INC(l, dropped[TT_DROP_SPOOL_ERROR], n);
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

/* One attempt, through sender sd's client, or the lane's (sd NULL: the exporter thread). */
static int send_once(struct lane *l, const struct sender *sd, const uint8_t *pb, size_t len,
		     uint32_t timeout_ms, struct tt_send_result *r)
{
	int ret = sd		  ? sd->send(sd->send_ctx, pb, len, timeout_ms, r)
		  : l->json_ready ? tt_otlp_client__send_ready(l->client, l->json.data, l->json.len,
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
		spill = e->stopping || (l->spool && has_queue(l) && half_full(&l->q));
		if (spill || tt_now_ns(CLOCK_MONOTONIC) >= until)
			break;
		wait_until(e, until);
	}
	pthread_mutex_unlock(&e->mu);
	return spill;
}

/*
 * Sends a fresh batch, with retries; spills it when the collector stays
 * away. sd: the sender sending it, NULL for the exporter thread (which alone
 * schedules the spool's replay). While the collector is away and the spool
 * holds batches, the batch goes behind them (the order of an outage is
 * kept); once it answers, fresh batches go at once, beside the replay, so
 * that a backlog in the spool does not hold up what comes (the spill
 * thread's files are replayed while the collector keeps up with the rest).
 */
static void export_batch(struct tt_exporter *e, struct lane *l, const struct sender *sd,
			 const uint8_t *pb, size_t len, uint32_t n)
{
	unsigned limit = l->spool ? TT_EXPORT_ATTEMPTS_BEFORE_SPOOL : TT_EXPORT_ATTEMPTS_NO_SPOOL;
	struct tt_send_result r;
	uint64_t delay;

	if (l->spool && __atomic_load_n(&l->down, __ATOMIC_RELAXED) && !spool_empty(l)) {
		to_spool(l, pb, len, n); /* behind what waits there: order is kept */
		return;
	}
	for (unsigned attempt = 1;; attempt++) {
		enum tt_verdict v;

		send_once(l, sd, pb, len, request_timeout(l), &r);
		v = tt_retry__decide(&r, attempt, next_rnd(e, sd), &delay);
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
			if (!sd) {
				l->next_try = tt_now_ns(CLOCK_MONOTONIC) + delay * 1000000ULL;
				l->replay_attempt = attempt;
			}
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
	send_once(l, NULL, data, len, request_timeout(l), &r);
	free(data);
	if (l->replay_attempt)
		INC(l, retries, 1);
	v = tt_retry__decide(&r, l->replay_attempt + 1, next_rnd(e, NULL), &delay);
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

/* Appends n bytes to b. 0 or -ENOMEM. */
static int wbuf_put(struct tt_wbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/*
 * Writes the n items unpacked in l->q.batch as one request into l->out
 * (traces: straight from the spans, otlp_write.c; logs: protobuf-c), and,
 * `json` for http/json, the OTLP/JSON body into l->json. 0 or -errno.
 */
static int encode(struct tt_exporter *e, struct lane *l, uint32_t n, bool json)
{
	const struct tt_xspan *const *spans = (const struct tt_xspan *const *)l->q.batch;
	uint8_t *pb;
	size_t len;
	int ret;

	if (l->sig == TT_SIGNAL_LOGS) {
		ret = tt_otlp__encode_logs((const struct tt_step_log *const *)l->q.batch, n,
					   e->o.mono_to_unix_ns, unix_ns(), &pb, &len);
		if (ret)
			return ret;
		l->out.len = 0;
		ret = wbuf_put(&l->out, pb, len);
		free(pb);
		return ret;
	}
	ret = tt_otlp__write_traces(&l->out, spans, n, e->o.mono_to_unix_ns);
	if (!ret && json && l->client && l->cfg->protocol == TT_OTLP_HTTP_JSON) {
		ret = tt_otlp__write_traces_json(&l->json, spans, n, e->o.mono_to_unix_ns);
		l->json_ready = !ret;
	}
	return ret;
}

/* Unpacks the run's records into l->q.batch's items. 0, or -EBADMSG. */
static int unpack(struct lane *l, struct tt_bqueue_run *run)
{
	const void *rec;
	size_t len;

	for (uint32_t i = 0; (rec = tt_bqueue__next(run, &len)); i++) {
		char *item = (char *)l->q.unpacked + i * l->q.size;

		if (l->sig == TT_SIGNAL_LOGS)
			memcpy(item, rec, len);
		else if (tt_span_pack__read((struct tt_xspan *)item, rec, len))
			return -EBADMSG;
	}
	return 0;
}

static bool queue_due(const struct lane *l, uint64_t now, uint64_t *at);

/*
 * Takes a batch off lane l's queue — up to max_batch items and batch_bytes
 * — and writes it into l->out (`json`: the exporter thread, about to send
 * it: also as the http/json body). take_mu held: the exporter thread, the
 * senders and the spill threads take in turn, and the records taken stay
 * queued (the event loop writes only past them) until written. `if_due`:
 * only a batch still due (queue_due()) once it is this caller's turn:
 * another thread may have taken the one that was due, and what it left
 * waits for its batch to fill or its delay to pass. Returns the count, and
 * in *ret 0 or -errno when the batch could not be written (its items are
 * then dropped, encode_error).
 */
static uint32_t take_locked(struct tt_exporter *e, struct lane *l, bool json, bool if_due, int *ret)
{
	struct queue *q = &l->q;
	struct tt_bqueue_run run;
	uint64_t at;
	uint32_t n = 0;

	*ret = 0;
	pthread_mutex_lock(&e->mu);
	if (!if_due || queue_due(l, tt_now_ns(CLOCK_MONOTONIC), &at))
		n = (uint32_t)tt_bqueue__peek(&q->b, q->max_take, q->batch_bytes, &run);
	pthread_mutex_unlock(&e->mu);
	if (!n)
		return 0;
	*ret = unpack(l, &run);
	if (!*ret)
		*ret = encode(e, l, n, json);
	pthread_mutex_lock(&e->mu);
	tt_bqueue__pop(&q->b, &run);
	INC(l, in_flight, n); /* until SETTLED(): sent, spooled or dropped */
	q->taken_bytes = run.bytes;
	__atomic_store_n(&q->head, q->head + n, __ATOMIC_RELEASE);
	q->window_start = tt_now_ns(CLOCK_MONOTONIC);
	SET(l, queue_len, q->b.items);
	SET(l, queue_bytes, q->b.bytes);
	pthread_mutex_unlock(&e->mu);
	if (*ret)
		INC(l, dropped[TT_DROP_ENCODE], n);
	return n;
}

/*
 * take_locked() for a thread about to send the batch: the request in a
 * malloc'ed *pb (the caller frees it; NULL when it could not be written).
 */
static uint32_t take_batch(struct tt_exporter *e, struct lane *l, bool json, bool if_due,
			   uint8_t **pb, size_t *len)
{
	uint32_t n;
	int ret;

	*pb = NULL;
	pthread_mutex_lock(&e->take_mu);
	n = take_locked(e, l, json, if_due, &ret);
	if (n && !ret) {
		*pb = malloc(l->out.len ? l->out.len : 1);
		if (*pb) {
			memcpy(*pb, l->out.data, l->out.len);
			*len = l->out.len;
		} else {
			INC(l, dropped[TT_DROP_ENCODE], n);
		}
	}
	pthread_mutex_unlock(&e->take_mu);
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
		INC(l, dropped[TT_DROP_ENCODE], 1);
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
	send_once(l, NULL, pb, len,
		  left_ms < request_timeout(l) ? (uint32_t)left_ms : request_timeout(l), &r);
	v = tt_retry__decide(&r, 1, next_rnd(e, NULL), &delay);
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

		while (has_queue(l) && (n = take_batch(e, l, false, false, &pb, &len))) {
			if (pb)
				flush_one(e, l, pb, len, n);
			SETTLED(e, l, n);
			free(pb);
		}
		SET(l, queue_len, 0);
		exporter__sync_spool_stats(l);
	}
	if (m->on) {
		n = collect_metrics(e, &pb, &len);
		if (pb)
			flush_one(e, m, pb, len, n);
		free(pb);
		exporter__sync_spool_stats(m);
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
	n = q->b.items;
	end = q->window_start + l->cfg->delay_ms * 1000000ULL;
	if (n >= l->cfg->max_batch || q->b.bytes >= q->batch_bytes || half_full(q) ||
	    (n && now >= end))
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
			n = take_batch(e, l, true, true, &pb, &len);
			if (n && pb)
				export_batch(e, l, NULL, pb, len, n);
			SETTLED(e, l, n); /* sent, spooled, or dropped: counted */
			l->json_ready = false;
			free(pb);
		}
	}
	if (metrics_due(e, tt_now_ns(CLOCK_MONOTONIC), &at)) {
		e->next_metrics = tt_now_ns(CLOCK_MONOTONIC) +
				  e->lane[TT_SIGNAL_METRICS].cfg->interval_ms * 1000000ULL;
		n = collect_metrics(e, &pb, &len);
		if (pb)
			export_batch(e, &e->lane[TT_SIGNAL_METRICS], NULL, pb, len, n);
		free(pb);
	}
	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		if (replay_due(&e->lane[s], tt_now_ns(CLOCK_MONOTONIC), &at))
			replay_one(e, &e->lane[s]);
	}
}

void *exporter__main(void *arg)
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

			if (has_queue(l)) {
				SET(l, queue_len, l->q.b.items);
				SET(l, queue_bytes, l->q.b.bytes);
			}
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

		if (has_queue(l) && l->spool && spill_mark(&l->q))
			return l;
	}
	return NULL;
}

/*
 * Moves the oldest items of lane l to the spool as one file (one sync):
 * rounds of a batch each, their requests appended (a request is a list of
 * resource groups: requests one after the other are one request), until
 * half the queue is taken or TT_SPILL_FILE_BYTES written.
 */
static void spill_once(struct tt_exporter *e, struct lane *l, struct tt_wbuf *buf)
{
	uint64_t half_bytes, half_items, taken = 0, taken_bytes = 0;
	uint32_t n, spooled = 0;
	int ret;

	pthread_mutex_lock(&e->mu);
	half_bytes = l->q.b.max_bytes / 2;
	half_items = l->q.b.max_items ? l->q.b.max_items / 2 : UINT64_MAX;
	pthread_mutex_unlock(&e->mu);
	buf->len = 0;
	do {
		pthread_mutex_lock(&e->take_mu);
		n = take_locked(e, l, false, false, &ret);
		if (n && !ret && wbuf_put(buf, l->out.data, l->out.len)) {
			INC(l, dropped[TT_DROP_ENCODE], n);
			ret = -ENOMEM;
		}
		taken_bytes += n ? l->q.taken_bytes : 0;
		pthread_mutex_unlock(&e->take_mu);
		taken += n;
		if (n && !ret)
			spooled += n;
	} while (n && taken < half_items && taken_bytes < half_bytes &&
		 buf->len < TT_SPILL_FILE_BYTES);
	if (spooled)
		to_spool(l, buf->data, buf->len, spooled);
	SETTLED(e, l, taken);
}

/*
 * A spill thread (there are two): while a queue is past its mark (the collector takes
 * less than comes), its oldest items go to the spool, to be replayed; only
 * a full spool drops them (spool_full).
 */
void *exporter__spill_main(void *arg)
{
	struct spiller *sp = arg;
	struct tt_exporter *e = sp->e;
	struct lane *l;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!e->stopping && !(l = spill_due(e)))
			pthread_cond_wait(&e->spill_wake, &e->mu);
		if (e->stopping)
			break;
		pthread_mutex_unlock(&e->mu);
		spill_once(e, l, &sp->buf);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* Whether a sender has a batch to take now; else when it will (0: never). Lock held. */
static bool sender_due(const struct tt_exporter *e, const struct lane *l, uint64_t now,
		       uint64_t *at)
{
	if (e->stopping)
		return true;
	/* the collector away: the exporter thread retries and spools, in order */
	if (__atomic_load_n(&l->down, __ATOMIC_RELAXED))
		return false;
	return queue_due(l, now, at);
}

/*
 * A sender thread: fresh trace batches, one request at a time, beside the
 * exporter thread's; the queue's batches go to whichever takes them first.
 */
void *exporter__sender_main(void *arg)
{
	struct sender *sd = arg;
	struct tt_exporter *e = sd->e;
	struct lane *l = &e->lane[TT_SIGNAL_TRACES];
	uint64_t at;
	uint8_t *pb;
	size_t len;
	uint32_t n;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!sender_due(e, l, tt_now_ns(CLOCK_MONOTONIC), &at))
			wait_until(e, at ? at : tt_now_ns(CLOCK_MONOTONIC) + 1000000000ULL);
		if (e->stopping)
			break;
		pthread_mutex_unlock(&e->mu);
		pb = NULL;
		n = take_batch(e, l, false, true, &pb, &len);
		if (n && pb)
			export_batch(e, l, sd, pb, len, n);
		SETTLED(e, l, n); /* sent, spooled, or dropped: counted */
		free(pb);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}
