/* SPDX-License-Identifier: MIT */
/*
 * Task and agent metrics (DESIGN §6), aggregated from finished spans and
 * from counters the agent hands over. Cumulative from tt_metrics__new().
 *
 * Invariants:
 *  - A series is one metric and one set of label values. Label values are
 *    valid UTF-8 of at most TT_LABEL_VALUE_MAX - 1 bytes (longer captures
 *    are cut, invalid bytes become U+FFFD); "" means the label is absent.
 *  - Series from spans are bounded by `max_series`. A span that would need
 *    one more series is folded into its metric's overflow series, whose
 *    labels are all "other" (except status), and counted in
 *    tasktap.metric.series.overflow.
 *  - Steady state allocates nothing per span: series live in one array
 *    that doubles, rarely, until `max_series` is reached.
 *  - Threads: every update and tt_metrics__visit() run on the event-loop
 *    thread (HTTP is served from that loop). Updates and
 *    tt_metrics__snapshot() take the object's mutex, so that another thread
 *    (the OTLP exporter) may snapshot into its own copy and read that copy
 *    at leisure; visit() takes no lock and is for the owner of the object.
 */
#ifndef TASKTAP_METRICS_H
#define TASKTAP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assemble.h"

enum tt_metric_type {
	TT_METRIC_COUNTER = 0, /* monotonic sum, integer */
	TT_METRIC_GAUGE,       /* integer */
	TT_METRIC_HISTOGRAM,   /* explicit bounds */
	TT_METRIC_UPDOWN, /* a count now: a non-monotonic sum, integer (OTLP Sum, Prometheus gauge)
			   */
};

/* Every metric, in the order they are visited and exposed. */
enum tt_metric_id {
	TT_M_TASK_SUBMITTED = 0,
	TT_M_TASK_COMPLETED,
	TT_M_TASK_FAILED,
	TT_M_TASK_DURATION,
	TT_M_STEP_DURATION,
	TT_M_STEP_ATTEMPTS,
	TT_M_STEP_RETRIES,
	TT_M_COMPENSATIONS,
	TT_M_QUEUE_WAIT,
	TT_M_IN_FLIGHT,
	/* the agent's own */
	TT_M_EVENTS_RECEIVED,
	TT_M_EVENTS_LOST,
	TT_M_SPANS_EXPORTED,
	TT_M_SPANS_PROCESSED,
	TT_M_EXPORT_FAILURES,
	TT_M_QUEUE_SIZE,
	TT_M_QUEUE_CAPACITY,
	TT_M_SPOOL_SIZE,
	TT_M_QUEUE_BYTES,	   /* the span queue's fill in bytes */
	TT_M_QUEUE_BYTES_CAPACITY, /* and its bound (--otlp-queue-bytes) */
	TT_M_PROBES_ATTACHED,
	TT_M_SPANS_OPEN,
	TT_M_SPANS_EVICTED,
	TT_M_TASKS_STUCK,
	TT_M_SERIES_OVERFLOW,
	TT_M_VIEW_TRACES, /* the task view's ring of recent traces */
	TT_M_VIEW_MEMORY,
	TT_M_UNANNOTATED,      /* annotate probes that found no open span, by function */
	TT_M_HOOK_EVENTS_LOST, /* events lost, by hook (function) and reason */
	TT_M__COUNT,
};

enum tt_label {
	TT_L_TASK = 0,	 /* task.name */
	TT_L_STEP,	 /* step.name */
	TT_L_STATUS,	 /* status: ok | error */
	TT_L_DEST,	 /* messaging.destination.name */
	TT_L_ERROR_TYPE, /* error.type (spans exported or processed: why they failed) */
	TT_L_KIND,	 /* kind (events lost: probe | exit) */
	TT_L_SERVICE,  /* service.name: the spec's service (OTLP: the resource, not an attribute) */
	TT_L_FUNCTION, /* code.function.name (annotate probes without a span) */
	TT_L__COUNT,
};

#define TT_METRIC_MAX_LABELS	      4
#define TT_METRIC_MAX_BOUNDS	      20
#define TT_LABEL_VALUE_MAX	      64 /* bytes, NUL included */
#define TT_METRICS_DEFAULT_MAX_SERIES 10000
#define TT_METRICS_OVERFLOW_VALUE     "other"

struct tt_metric_desc {
	const char *name; /* OpenTelemetry name: "task.step.duration" */
	const char *unit; /* UCUM: "s", "By", "{task}" */
	const char *help;
	enum tt_metric_type type;
	int nlabels;
	enum tt_label labels[TT_METRIC_MAX_LABELS];
	int nbounds;	      /* histograms: upper bounds, ascending */
	const double *bounds; /* bucket i counts bounds[i-1] < v <= bounds[i] */
};

/* The description of metric `id`; NULL when out of range. */
const struct tt_metric_desc *tt_metric__desc(enum tt_metric_id id);

/* The OpenTelemetry name of a label ("task.name"); NULL when out of range. */
const char *tt_label__name(enum tt_label l);

/*
 * Why spans (data points, log records) were dropped: the error.type of
 * otel.sdk.processor.span.processed (queue_full, shutdown: the queue's) and
 * of otel.sdk.exporter.span.exported (the others: the exporter's).
 */
enum tt_drop_reason {
	TT_DROP_QUEUE_FULL = 0, /* the queue at its bound: no spool, or the spill behind the disk */
	TT_DROP_SPOOL_FULL, /* the collector could not take them and the spool was at its bound */
	TT_DROP_REJECTED,   /* the collector refused them (4xx, not retryable); by reason: */
			    /* tt_reject_reason */
	TT_DROP_SPOOL_DISABLED, /* the collector could not take them and there is no spool */
	TT_DROP_SPOOL_ERROR,	/* writing them to the spool failed (I/O error) */
	TT_DROP_ENCODE,		/* encoding them failed (out of memory) */
	TT_DROP_SHUTDOWN,	/* handed to the exporter after it stopped */
	TT_DROP__COUNT,
};

const char *tt_drop_reason__name(enum tt_drop_reason r);

/*
 * Why the collector refused items, as OpenTelemetry's error.type names it:
 * the HTTP status, the gRPC status name, "rejected" for the items a partial
 * success left out, "_OTHER" for the rest.
 */
enum tt_reject_reason {
	TT_REJECT_PARTIAL = 0,
	TT_REJECT_HTTP_400,
	TT_REJECT_HTTP_401,
	TT_REJECT_HTTP_403,
	TT_REJECT_HTTP_404,
	TT_REJECT_HTTP_413,
	TT_REJECT_GRPC_INVALID_ARGUMENT,
	TT_REJECT_GRPC_PERMISSION_DENIED,
	TT_REJECT_GRPC_UNIMPLEMENTED,
	TT_REJECT_GRPC_UNAUTHENTICATED,
	TT_REJECT_OTHER,
	TT_REJECT__COUNT,
};

/* "rejected", "400", ..., "UNIMPLEMENTED", ..., "_OTHER". */
const char *tt_reject_reason__name(enum tt_reject_reason r);

/*
 * The agent's own counters and gauges, as totals since the agent started.
 * The caller fills it from the loader, the assembler and the exporter and
 * hands it over with tt_metrics__set_agent().
 */
struct tt_agent_stats {
	uint64_t events_received;  /* ring events delivered to the assembler */
	uint64_t events_lost;	   /* probe events lost in BPF (ring full) */
	uint64_t exit_events_lost; /* exit events lost in BPF (ring full) */
	uint64_t events_dropped;   /* events the agent had no memory to keep (kind "memory") */
	uint64_t spans_exported;
	uint64_t spans_dropped[TT_DROP__COUNT]; /* TT_DROP_REJECTED: the total of spans_rejected */
	uint64_t spans_lost_killed; /* the previous agent's (--pin): queued, never sent */
	uint64_t spans_rejected[TT_REJECT__COUNT]; /* refused by the collector, by reason */
	uint64_t spans_processed;		   /* handed from the queue to the exporter */
	uint64_t export_failures;		   /* export requests that failed (each try) */
	uint64_t queue_size;			   /* spans in the export queue now */
	uint64_t queue_capacity;		   /* spans the export queue holds */
	uint64_t spool_bytes;			   /* bytes in the on-disk spool now */
	uint64_t queue_bytes;			   /* the span queue's fill, in bytes */
	uint64_t queue_max_bytes;		   /* its bound */
	uint64_t probes_attached;		   /* now */
	uint64_t open_spans;			   /* now */
	uint64_t spans_evicted;			   /* ended because max_open_spans was reached */
	uint64_t tasks_stuck;			   /* tasks open longer than stuck_after, now */
	uint64_t view_traces;			   /* traces the task view holds, now */
	uint64_t view_bytes;			   /* memory they take, now */
};

/* Label values of tt_metrics__queue_wait() and tt_metrics__set_in_flight(). */
struct tt_metric_labels {
	const char *task_name;	 /* NUL-terminated; NULL or "": absent */
	const char *destination; /* messaging.destination.name; NULL or "": absent */
	const char *service;	 /* the spec's service; NULL or "": absent */
};

struct tt_metrics_opts {
	uint32_t max_series;	/* series made from spans; 0: TT_METRICS_DEFAULT_MAX_SERIES */
	uint64_t start_unix_ns; /* start of the cumulative period; 0: now */
};

struct tt_metrics;

/*
 * Returns a new metrics object with every agent metric at zero, or NULL
 * with errno set. The caller frees it with tt_metrics__free(). `opts` may
 * be NULL for the defaults.
 */
struct tt_metrics *tt_metrics__new(const struct tt_metrics_opts *opts);

/* Releases everything. Accepts NULL. */
void tt_metrics__free(struct tt_metrics *m);

/*
 * The tt_span_fn of the metrics sink; ctx is the struct tt_metrics. Counts
 * the span into the task metrics by its probe's role:
 *   task: task.completed or task.failed, task.duration;
 *   step: task.step.duration, task.step.attempts, task.step.retries;
 *   compensation: task.compensations;
 *   publish: task.submitted.
 * Spans the agent ended at shutdown or evicted are not counted: their
 * outcome is unknown. The span is only read during the call.
 */
void tt_metrics__span(const struct tt_span *span, void *ctx);

/* Records one message's wait in its queue (publish → consume start), in seconds. */
void tt_metrics__queue_wait(struct tt_metrics *m, const struct tt_metric_labels *labels,
			    double seconds);

/*
 * Sets task.in_flight for `labels` (task.name only; NULL: the unlabelled
 * total) to `n`. To publish per-name counts, call
 * tt_metrics__reset_in_flight() and then this for each name.
 */
void tt_metrics__set_in_flight(struct tt_metrics *m, const struct tt_metric_labels *labels,
			       int64_t n);

/* Adds `delta` to task.in_flight for `labels`, as tt_metrics__set_in_flight() names it. */
void tt_metrics__add_in_flight(struct tt_metrics *m, const struct tt_metric_labels *labels,
			       int64_t delta);

/*
 * Sets every task.in_flight series to 0 (series are kept). Once a second,
 * the loop can reset, then add 1 for each open task by its name.
 */
void tt_metrics__reset_in_flight(struct tt_metrics *m);

/* Sets the agent's own metrics from `st`. */
void tt_metrics__set_agent(struct tt_metrics *m, const struct tt_agent_stats *st);

/*
 * Sets the count of annotate probes at `function` that fired with no open
 * span to complete (a total since the start). The series is made the first
 * time; a function not set again keeps its last value.
 */
void tt_metrics__set_unannotated(struct tt_metrics *m, const char *function, uint64_t count);

/*
 * Sets the count of events of the hook at `function` lost for `reason`
 * ("ring_full": its ring buffer was full when BPF wrote the event), a total
 * since the start. The series is made the first time.
 */
void tt_metrics__set_hook_lost(struct tt_metrics *m, const char *function, const char *reason,
			       uint64_t count);

/* One series as the visitor sees it; valid only during the callback. */
struct tt_series_view {
	enum tt_metric_id id;
	const struct tt_metric_desc *desc;
	/* values of desc->labels, in that order; "" when the label is absent */
	const char *values[TT_METRIC_MAX_LABELS];
	bool overflow;	/* the series of spans beyond max_series */
	int64_t value;	/* counter and gauge */
	uint64_t count; /* histogram: observations */
	double sum;	/* histogram: sum of observations */
	/* histogram: desc->nbounds + 1 counts, not cumulative; the last is (bounds[n-1], +Inf) */
	const uint64_t *buckets;
	uint64_t start_unix_ns; /* start of the cumulative period */
};

/*
 * Callbacks of tt_metrics__visit(). `metric` (may be NULL) is called once
 * per metric that has series, before its series; `series` once per
 * series, in the order the series were created. A non-zero return stops
 * the visit and is returned by it.
 */
struct tt_metrics_visitor {
	int (*metric)(enum tt_metric_id id, const struct tt_metric_desc *desc, size_t nseries,
		      void *ctx);
	int (*series)(const struct tt_series_view *s, void *ctx);
	void *ctx;
};

/*
 * Turns `cur`, a snapshot, into what changed since `prev`, an earlier
 * snapshot of the same metrics: each counter's value and each histogram's
 * count, sum and buckets less the same series' in `prev` (a series `prev`
 * lacks keeps its value). UpDownCounters and gauges are left as they are:
 * a count now is reported as is under any temporality. For delta
 * temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta).
 */
void tt_metrics__subtract(struct tt_metrics *cur, const struct tt_metrics *prev);

/* Visits every metric in enum order. Owner thread only (no lock). Returns 0 or a callback's. */
int tt_metrics__visit(const struct tt_metrics *m, const struct tt_metrics_visitor *v);

/*
 * Copies the state of `m` into `dst` (made with tt_metrics__new()), under
 * m's lock, so that another thread can read `dst` without racing the event
 * loop. Returns 0, or -ENOMEM leaving `dst` as it was.
 */
int tt_metrics__snapshot(struct tt_metrics *m, struct tt_metrics *dst);

/* Series made from spans now, and the overflow count (for tests and /health). */
size_t tt_metrics__series(const struct tt_metrics *m);
uint64_t tt_metrics__overflowed(const struct tt_metrics *m);

#endif /* TASKTAP_METRICS_H */
