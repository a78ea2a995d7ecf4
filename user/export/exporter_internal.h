/* SPDX-License-Identifier: MIT */
/* exporter_internal.h: the exporter's queues, lanes and state, shared by user/export/exporter*.c.
 */
#ifndef TASKTAP_EXPORTER_INTERNAL_H
#define TASKTAP_EXPORTER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

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
#include "bqueue.h"
#include "span_pack.h"

/* Counters shared by both threads: relaxed atomics. */
#define INC(l, field, n) __atomic_fetch_add(&(l)->st.field, (n), __ATOMIC_RELAXED)

/* Counts n spans of lane l into the exporter's tally (tt_exporter_opts.tally), if any. */
#define TALLY(e, l, field, n)                                                                      \
	do {                                                                                       \
		if ((e)->o.tally && (l)->sig == TT_SIGNAL_TRACES)                                  \
			__atomic_fetch_add(&(e)->o.tally->field, (n), __ATOMIC_RELEASE);           \
	} while (0)
/* n items taken off lane l's queue are settled: sent, spooled or dropped, and counted so. */
#define SETTLED(e, l, n)                                                                           \
	do {                                                                                       \
		TALLY(e, l, settled, n);                                                           \
		__atomic_fetch_sub(&(l)->st.in_flight, (n), __ATOMIC_RELAXED);                     \
	} while (0)
#define SET(l, field, v) __atomic_store_n(&(l)->st.field, (v), __ATOMIC_RELAXED)

/* A process's resource, and the queue position of its latest item in each queue. */
struct cached {
	uint32_t pid;
	const char *service; /* the spec's service: of the spans it describes, or NULL */
	struct tt_resource *res;
	uint64_t last_seq[TT_SIGNAL__COUNT]; /* the item at tail = last_seq - 1 refers to it */
};

/*
 * A lane's queue: its records (packed spans, or log records) in a byte
 * queue (bqueue.h) under the exporter's mutex, and what a taker unpacks a
 * batch into. The slots taken stay queued until encoded: the resource
 * cache and the --pin tally count them as held meanwhile.
 */
struct queue {
	struct tt_bqueue b;
	uint64_t head, tail;   /* items taken off and put in, since the start */
	uint64_t window_start; /* when the current batch window opened */
	uint64_t batch_bytes;  /* a batch's bound in queued bytes (past its first item) */
	size_t size;	       /* of one unpacked item */
	void *unpacked;	       /* a batch unpacked, by whichever thread took it (take_mu) */
	const void **batch;    /* pointers to them, for the encoders */
	uint32_t max_take;     /* items' room: the most taken at once (max_batch) */
	uint64_t taken_bytes;  /* the last batch taken, in queued bytes (take_mu) */
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

/*
 * A sender: a thread beside the exporter thread that takes fresh trace
 * batches off the queue and sends them with its own client, so that several
 * requests are in flight at once (--otlp-inflight). While the collector is
 * down it leaves the batches to the exporter thread (retries, the spool).
 */
struct sender {
	struct tt_exporter *e;
	pthread_t thread;
	bool started;
	struct tt_otlp_client *client; /* its own; NULL with a test's seam */
	tt_send_fn send;
	void *send_ctx;
	uint64_t rnd; /* its own jitter */
};

/* A spill thread, and the spool file it is making. */
struct spiller {
	struct tt_exporter *e;
	pthread_t thread;
	bool started;
	struct tt_wbuf buf;
};

#define TT_SPILLERS 2

struct tt_exporter {
	struct tt_exporter_opts o;

	pthread_mutex_t mu;
	pthread_cond_t wake;
	bool stopping, stopped;
	uint64_t deadline; /* of the shutdown flush; 0 before; atomic: clients read it */
	pthread_t thread;
	bool started;

	/*
	 * The spill threads: when a queue fills past its spill mark while the
	 * collector takes less than comes, they move the oldest spans to the
	 * spool (which the exporter thread replays), so that the event loop
	 * does not have to drop them. Two, so that one encodes a file while the
	 * other's is synced. take_mu: one taker of a queue at a time.
	 */
	struct spiller spillers[TT_SPILLERS];
	pthread_cond_t spill_wake;
	pthread_mutex_t take_mu;

	struct lane lane[TT_SIGNAL__COUNT];
	struct sender senders[TT_EXPORT_MAX_INFLIGHT - 1];
	int nsenders;

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

static inline uint64_t unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline bool has_queue(const struct lane *l)
{
	return l->on && l->q.unpacked;
}

/* Whether a queue holds at least num/den of its bound, in bytes or, when it has one, in items. */
static inline bool queue_past(const struct queue *q, uint64_t num, uint64_t den)
{
	return q->b.bytes * den >= q->b.max_bytes * num ||
	       (q->b.max_items && q->b.items * den >= q->b.max_items * num);
}

/* The fill past which the spill threads move batches to the spool: 3/4. */
static inline bool spill_mark(const struct queue *q)
{
	return queue_past(q, 3, 4);
}

/* The fill past which a batch is due whatever its delay, and a retry gives way to the spool. */
static inline bool half_full(const struct queue *q)
{
	return queue_past(q, 1, 2);
}

/*
 * What a spill thread writes into one spool file (one sync): rounds of a
 * batch each, until it has taken half the queue or encoded this much (a
 * spooled file is replayed as one request: gRPC collectors take 4 MiB).
 */
#define TT_SPILL_FILE_BYTES (2u << 20)

/* exporter.c: the two threads' bodies, and the spool's counters. */
void *exporter__main(void *arg);
void *exporter__spill_main(void *arg);
void *exporter__sender_main(void *arg);
void exporter__sync_spool_stats(struct lane *l);

#endif /* TASKTAP_EXPORTER_INTERNAL_H */
