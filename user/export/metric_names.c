// SPDX-License-Identifier: MIT
/* metric_names.c: the metrics' catalogue (names, units, labels, buckets), label and reason names.
 */
#include <stddef.h>

#include "export/metrics.h"

/*
 * Seconds: from a millisecond step to an hour-long task (DESIGN §4, long
 * work). Documented in docs/metrics.md.
 */
static const double duration_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
					 2.5,	5,     10,   30,    60,	  120, 300,  900, 3600};

/* Attempts of a step: 1 is the first try. */
static const double attempt_bounds[] = {1, 2, 3, 4, 5, 10};

#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct tt_metric_desc descs[TT_M__COUNT] = {
	[TT_M_TASK_SUBMITTED] = {"task.submitted",
				 "{task}",
				 "Tasks submitted: finished publish spans.",
				 TT_METRIC_COUNTER,
				 3,
				 {TT_L_TASK, TT_L_DEST, TT_L_SERVICE}},
	[TT_M_TASK_COMPLETED] = {"task.completed",
				 "{task}",
				 "Tasks that finished with status ok.",
				 TT_METRIC_COUNTER,
				 3,
				 {TT_L_TASK, TT_L_DEST, TT_L_SERVICE}},
	[TT_M_TASK_FAILED] = {"task.failed",
			      "{task}",
			      "Tasks that finished with status error (including the ones "
			      "whose process exited).",
			      TT_METRIC_COUNTER,
			      3,
			      {TT_L_TASK, TT_L_DEST, TT_L_SERVICE}},
	[TT_M_TASK_DURATION] = {"task.duration",
				"s",
				"Duration of finished tasks.",
				TT_METRIC_HISTOGRAM,
				4,
				{TT_L_TASK, TT_L_STATUS, TT_L_DEST, TT_L_SERVICE},
				NB(duration_bounds),
				duration_bounds},
	[TT_M_STEP_DURATION] = {"task.step.duration",
				"s",
				"Duration of finished step attempts.",
				TT_METRIC_HISTOGRAM,
				4,
				{TT_L_TASK, TT_L_STEP, TT_L_STATUS, TT_L_SERVICE},
				NB(duration_bounds),
				duration_bounds},
	[TT_M_STEP_ATTEMPTS] = {"task.step.attempts",
				"{attempt}",
				"Attempt number of each finished step attempt (1: first try).",
				TT_METRIC_HISTOGRAM,
				3,
				{TT_L_TASK, TT_L_STEP, TT_L_SERVICE},
				NB(attempt_bounds),
				attempt_bounds},
	[TT_M_STEP_RETRIES] = {"task.step.retries",
			       "{attempt}",
			       "Step attempts that were retries (attempt > 1).",
			       TT_METRIC_COUNTER,
			       3,
			       {TT_L_TASK, TT_L_STEP, TT_L_SERVICE}},
	[TT_M_COMPENSATIONS] = {"task.compensations",
				"{compensation}",
				"Finished compensations of steps.",
				TT_METRIC_COUNTER,
				4,
				{TT_L_TASK, TT_L_STEP, TT_L_STATUS, TT_L_SERVICE}},
	[TT_M_QUEUE_WAIT] = {"task.queue.wait",
			     "s",
			     "Time from publish to the start of its consume.",
			     TT_METRIC_HISTOGRAM,
			     3,
			     {TT_L_TASK, TT_L_DEST, TT_L_SERVICE},
			     NB(duration_bounds),
			     duration_bounds},
	[TT_M_IN_FLIGHT] = {"task.in_flight",
			    "{task}",
			    "Tasks running now.",
			    TT_METRIC_UPDOWN,
			    2,
			    {TT_L_TASK, TT_L_SERVICE}},
	/* the agent's own: the SDK self-observability names where they exist */
	[TT_M_EVENTS_RECEIVED] = {"tasktap.event.received", "{event}",
				  "Probe events received from the ring buffers.",
				  TT_METRIC_COUNTER},
	[TT_M_EVENTS_LOST] = {"tasktap.event.lost",
			      "{event}",
			      "Events lost in BPF because a ring buffer was full.",
			      TT_METRIC_COUNTER,
			      1,
			      {TT_L_KIND}},
	[TT_M_SPANS_EXPORTED] =
		{"otel.sdk.exporter.span.exported",
		 "{span}",
		 "Spans whose export finished: accepted (no error.type), or why not.",
		 TT_METRIC_COUNTER,
		 1,
		 {TT_L_ERROR_TYPE}},
	[TT_M_SPANS_PROCESSED] = {"otel.sdk.processor.span.processed",
				  "{span}",
				  "Spans the batching queue handed to the exporter, or dropped "
				  "(error.type queue_full).",
				  TT_METRIC_COUNTER,
				  1,
				  {TT_L_ERROR_TYPE}},
	[TT_M_EXPORT_FAILURES] = {"tasktap.exporter.request.failed", "{request}",
				  "Export requests that failed, of every signal (each try counts).",
				  TT_METRIC_COUNTER},
	[TT_M_QUEUE_SIZE] = {"otel.sdk.processor.span.queue.size", "{span}",
			     "Spans waiting in the export queue.", TT_METRIC_UPDOWN},
	[TT_M_QUEUE_CAPACITY] = {"otel.sdk.processor.span.queue.capacity", "{span}",
				 "Spans the export queue holds (OTEL_BSP_MAX_QUEUE_SIZE).",
				 TT_METRIC_UPDOWN},
	[TT_M_SPOOL_SIZE] = {"tasktap.exporter.spool.size", "By",
			     "Bytes held in the on-disk export spool.", TT_METRIC_UPDOWN},
	[TT_M_QUEUE_BYTES] = {"tasktap.exporter.queue.size", "By",
			      "Bytes of packed spans waiting in the export queue.",
			      TT_METRIC_UPDOWN},
	[TT_M_QUEUE_BYTES_CAPACITY] = {"tasktap.exporter.queue.capacity", "By",
				       "The export queue's bound in bytes (--otlp-queue-bytes).",
				       TT_METRIC_UPDOWN},
	[TT_M_PROBES_ATTACHED] = {"tasktap.probe.attached", "{probe}", "Probes attached now.",
				  TT_METRIC_UPDOWN},
	[TT_M_SPANS_OPEN] = {"otel.sdk.span.live", "{span}", "Spans open now.", TT_METRIC_UPDOWN},
	[TT_M_SPANS_EVICTED] = {"tasktap.span.evicted", "{span}",
				"Open spans ended early because max_open_spans was reached.",
				TT_METRIC_COUNTER},
	[TT_M_TASKS_STUCK] = {"tasktap.task.stuck", "{task}", "Tasks open longer than stuck_after.",
			      TT_METRIC_UPDOWN},
	[TT_M_SERIES_OVERFLOW] = {"tasktap.metric.series.overflow", "{measurement}",
				  "Measurements folded into an 'other' series because the "
				  "series limit was reached.",
				  TT_METRIC_COUNTER},
	[TT_M_VIEW_TRACES] = {"tasktap.view.traces", "{trace}",
			      "Finished traces the task view keeps (--recent-traces).",
			      TT_METRIC_UPDOWN},
	[TT_M_VIEW_MEMORY] = {"tasktap.view.memory", "By",
			      "Memory the task view's recent traces take.", TT_METRIC_UPDOWN},
	[TT_M_UNANNOTATED] = {"tasktap.annotate.unmatched",
			      "{event}",
			      "Annotate probes that fired with no open span of their 'of' role "
			      "to complete.",
			      TT_METRIC_COUNTER,
			      1,
			      {TT_L_FUNCTION}},
	[TT_M_HOOK_EVENTS_LOST] = {"tasktap.hook.event.lost",
				   "{event}",
				   "Events of a hook lost, by its function and why (error.type "
				   "ring_full: its ring buffer was full).",
				   TT_METRIC_COUNTER,
				   2,
				   {TT_L_FUNCTION, TT_L_ERROR_TYPE}},
};

static const char *const label_names[TT_L__COUNT] = {
	[TT_L_TASK] = "task.name",	  [TT_L_STEP] = "step.name",
	[TT_L_STATUS] = "status",	  [TT_L_DEST] = "messaging.destination.name",
	[TT_L_ERROR_TYPE] = "error.type", [TT_L_KIND] = "kind",
	[TT_L_SERVICE] = "service.name",  [TT_L_FUNCTION] = "code.function.name",
};

static const char *const drop_names[TT_DROP__COUNT] = {
	[TT_DROP_QUEUE_FULL] = "queue_full",   [TT_DROP_SPOOL_FULL] = "spool_full",
	[TT_DROP_REJECTED] = "rejected",       [TT_DROP_SPOOL_DISABLED] = "spool_disabled",
	[TT_DROP_SPOOL_ERROR] = "spool_error", [TT_DROP_ENCODE] = "encode_error",
	[TT_DROP_SHUTDOWN] = "shutdown",
};

const struct tt_metric_desc *tt_metric__desc(enum tt_metric_id id)
{
	if ((unsigned)id >= TT_M__COUNT)
		return NULL;
	return &descs[id];
}

const char *tt_label__name(enum tt_label l)
{
	if ((unsigned)l >= TT_L__COUNT)
		return NULL;
	return label_names[l];
}

static const char *const reject_names[TT_REJECT__COUNT] = {
	[TT_REJECT_PARTIAL] = "rejected",
	[TT_REJECT_HTTP_400] = "400",
	[TT_REJECT_HTTP_401] = "401",
	[TT_REJECT_HTTP_403] = "403",
	[TT_REJECT_HTTP_404] = "404",
	[TT_REJECT_HTTP_413] = "413",
	[TT_REJECT_GRPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
	[TT_REJECT_GRPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
	[TT_REJECT_GRPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
	[TT_REJECT_GRPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
	[TT_REJECT_OTHER] = "_OTHER",
};

const char *tt_reject_reason__name(enum tt_reject_reason r)
{
	return (unsigned)r < TT_REJECT__COUNT ? reject_names[r] : "_OTHER";
}

const char *tt_drop_reason__name(enum tt_drop_reason r)
{
	if ((unsigned)r >= TT_DROP__COUNT)
		return NULL;
	return drop_names[r];
}
