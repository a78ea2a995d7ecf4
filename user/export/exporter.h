/* SPDX-License-Identifier: MIT */
/*
 * The OTLP span exporter (DESIGN §6, §7): a queue bounded in bytes filled by
 * the event loop, and threads that batch, encode, send with retries and
 * spill to the on-disk spool when the collector is away or behind.
 *
 *   event loop ── tt_exporter__span() ──▶ queue: packed spans (span_pack.h),
 *                 packs, never blocks,      at most --otlp-queue-bytes (and
 *                 samples, resource once    OTEL_BSP_MAX_QUEUE_SIZE spans when
 *                 per process               given); full: dropped, queue_full
 *                                              │
 *   exporter thread + (--otlp-inflight − 1) senders: a batch when
 *   OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans or --otlp-batch-bytes wait, the queue
 *   is half full, or OTEL_BSP_SCHEDULE_DELAY has passed → unpacked, written as
 *   an ExportTraceServiceRequest → sent; retryable failure → backoff; still
 *   failing (3 attempts, or the queue half full) → the batch goes to the
 *   spool, and while the collector stays away so do the batches after it
 *   (order kept) until the spool has been replayed, oldest first.
 *   spill threads (two: one encodes a file while the other's syncs): while the
 *   queue is past 3/4 of its bound (the collector answers, but slower than
 *   spans come), move its oldest spans to the spool, up to half the queue or
 *   2 MiB a file, replayed beside fresh batches.
 *
 * Nothing is dropped below the spool's bound; what is dropped is counted by
 * reason (enum tt_drop_reason).
 *
 * Metrics and logs go the same way, each signal in a lane of its own (its
 * endpoint, client, spool subdirectory, counters), on the same thread:
 *
 *   logs:    tt_exporter__span() turns each finished step into two records
 *            (otlp_logs.h) → a queue of their own (OTEL_BLRP_*) → batches.
 *   metrics: every OTEL_METRIC_EXPORT_INTERVAL the thread snapshots the
 *            struct tt_metrics (under its lock) and sends it whole
 *            (cumulative), and once more when stopping.
 *
 * Counters cover every item: queued = exported + dropped (by reason) +
 * spooled + still queued.
 */
#ifndef TASKTAP_EXPORTER_H
#define TASKTAP_EXPORTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "assemble.h"
#include "ledger.h"
#include "metrics.h"
#include "otlp_config.h"
#include "otlp_http.h"
#include "sdk_env.h"

/* Failed attempts, with a spool, before a batch is spilled to it. */
#define TT_EXPORT_ATTEMPTS_BEFORE_SPOOL 3
/* Failed attempts, without a spool, before a batch is dropped. */
#define TT_EXPORT_ATTEMPTS_NO_SPOOL 8
/* The first metrics export, after the start (then every OTEL_METRIC_EXPORT_INTERVAL). */
#define TT_METRICS_FIRST_EXPORT_MS 1000
/* What a shutdown may spend trying the collector before spooling the rest. */
#define TT_EXPORT_SHUTDOWN_MS 5000

/*
 * Each config must outlive the exporter; a signal whose config is NULL or
 * not enabled (tt_otlp_config__enabled()) is not exported. The spool of
 * traces is cfg->spool_dir itself; metrics and logs spool into its
 * metrics/ and logs/ subdirectories.
 */
struct tt_exporter_opts {
	const struct tt_otlp_config *cfg;	  /* traces */
	const struct tt_otlp_config *metrics_cfg; /* metrics */
	const struct tt_otlp_config *logs_cfg;	  /* logs */
	struct tt_metrics *metrics;		  /* what metrics export reads; must outlive */
	const char *spec_service;		  /* the spec's service:, or NULL */
	int64_t mono_to_unix_ns;		  /* add to CLOCK_MONOTONIC for Unix time */
	tt_send_fn send;			  /* traces; NULL: the libcurl client for cfg */
	void *send_ctx;
	bool send_concurrent;	 /* `send` may be called from several threads at once */
	tt_send_fn send_metrics; /* NULL: the libcurl client for metrics_cfg */
	void *send_metrics_ctx;
	tt_send_fn send_logs; /* NULL: the libcurl client for logs_cfg */
	void *send_logs_ctx;
	const char *proc_root;		 /* NULL: /proc (tests give their own) */
	const char *machine_id_path;	 /* NULL: /etc/machine-id */
	const char *hostname;		 /* NULL: gethostname() */
	uint64_t seed;			 /* for backoff jitter */
	const struct tt_sdk_config *sdk; /* limits, temporality; NULL: the defaults; must outlive */
	/*
	 * Spans queued and settled, counted here too (the --pin ledger, which
	 * outlives a killed agent); NULL: not counted. Must outlive.
	 */
	struct tt_span_tally *tally;
};

/* The reason of a refused answer (the verdict was TT_VERDICT_DROP). */
enum tt_reject_reason tt_reject_reason__of(const struct tt_send_result *r);

/* The counters of one signal; items are spans, data points or log records. */
struct tt_signal_stats {
	uint64_t queued;      /* taken into the queue (metrics: data points collected) */
	uint64_t exported;    /* accepted by the collector */
	uint64_t sampled_out; /* traces: not kept by the sampler (not queued) */
	uint64_t dropped[TT_DROP__COUNT]; /* by reason (metrics.h) */
	uint64_t batches_sent;		  /* requests the collector accepted */
	uint64_t export_failures;
	uint64_t retries;
	uint64_t partial_successes;
	uint64_t queue_len;
	uint64_t in_flight;	  /* taken off the queue, not yet sent, spooled or dropped */
	uint64_t queue_cap;	  /* items; 0: bounded in bytes only */
	uint64_t queue_bytes;	  /* what the queued items count against the bound (bqueue.h) */
	uint64_t queue_max_bytes; /* the bound */
	uint64_t spool_files;
	uint64_t spool_bytes;
	uint64_t spool_items;
	uint64_t spool_written;
	uint64_t spool_replayed;
	uint64_t spool_corrupt;
	uint64_t rejected_by[TT_REJECT__COUNT]; /* items refused, by reason */
	uint64_t refusing; /* the last answer refused items: 1 + its reason; 0: it did not */
	bool collector_up; /* the last attempt succeeded (true before any) */
	bool enabled;
	bool spool_enabled;
};

/* Every item of the signal dropped, whatever the reason. */
uint64_t tt_signal_stats__dropped(const struct tt_signal_stats *s);

/* Traces, as the first fields (their names predate metrics and logs), then the others. */
struct tt_exporter_stats {
	uint64_t spans_queued;		  /* taken into the queue */
	uint64_t spans_exported;	  /* accepted by the collector */
	uint64_t spans_sampled_out;	  /* not kept by the sampler (not queued) */
	uint64_t dropped[TT_DROP__COUNT]; /* by reason (enum tt_drop_reason) */
	uint64_t batches_sent;		  /* requests the collector accepted */
	uint64_t export_failures;	  /* attempts that failed */
	uint64_t retries;		  /* attempts that were retries */
	uint64_t partial_successes;
	uint64_t queue_len;
	uint64_t in_flight; /* spans taken off the queue: being sent, retried or spooled */
	uint64_t queue_cap; /* spans (OTEL_BSP_MAX_QUEUE_SIZE when given); 0: none */
	uint64_t queue_bytes;
	uint64_t queue_max_bytes; /* --otlp-queue-bytes */
	uint64_t spool_files;
	uint64_t spool_bytes;
	uint64_t spool_spans;
	uint64_t spool_written;	 /* batches spilled */
	uint64_t spool_replayed; /* batches replayed to the collector */
	uint64_t spool_corrupt;	 /* spool files found corrupt and skipped */
	bool collector_up;	 /* the last attempt succeeded (true before any) */
	bool spool_enabled;
	struct tt_signal_stats traces; /* the same counters as above, as for the others */
	struct tt_signal_stats metrics;
	struct tt_signal_stats logs;
};

struct tt_exporter;
struct tt_jsonw;

/*
 * Creates the queues, opens the spools (unless spool_off) and starts the
 * exporter thread. Returns NULL with errno and the reason in `err`.
 */
struct tt_exporter *tt_exporter__new(const struct tt_exporter_opts *o, char *err, size_t len);

/*
 * The tt_span_fn of the exporter; ctx is the struct tt_exporter. Copies
 * the span into the traces queue and its step transitions into the logs
 * queue (each when exported); never blocks, never does I/O except reading
 * /proc once for a process not seen before (its resource).
 */
void tt_exporter__span(const struct tt_span *span, void *ctx);

/*
 * Flushes and stops the thread: everything queued, then the metrics once
 * more, is sent while `timeout_ms` lasts and the collector answers, and
 * spooled otherwise. Returns 0, or -errno. Spans handed in afterwards are
 * dropped.
 */
int tt_exporter__stop(struct tt_exporter *e, uint32_t timeout_ms);

/* Stops (when still running) and releases. Accepts NULL. */
void tt_exporter__free(struct tt_exporter *e);

/* A consistent-enough snapshot of the counters; safe from any thread. */
void tt_exporter__stats(const struct tt_exporter *e, struct tt_exporter_stats *st);

/*
 * Whether the collector's last answer for some signal refused items (a 4xx,
 * a gRPC error that is not retried, a partial success); then writes
 * "the collector refuses metrics: 404" for the first such signal into `buf`.
 */
bool tt_exporter__refusing(const struct tt_exporter_stats *st, char *buf, size_t len);

/*
 * Writes the member "rejected":{"traces":{"404":n,...},"metrics":{...},
 * "logs":{...}} (reasons with a count only) into the object w is in, for /health.
 */
void tt_exporter__write_rejections(struct tt_jsonw *w, const struct tt_exporter_stats *st);

#endif /* TASKTAP_EXPORTER_H */
