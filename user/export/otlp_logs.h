/* SPDX-License-Identifier: MIT */
/*
 * Step transitions as log records (DESIGN §6, logs): a finished step span
 * gives "started" (at its start) and "completed" or "failed" (at its end);
 * a compensation span gives "compensating" and "compensated" or
 * "compensation failed". The assembler reports spans when they finish, so
 * both records of a span are made then; each carries the time of its own
 * transition. Other spans give none.
 *
 * One transition is a struct tt_step_log: fixed size, no pointers into the
 * span, so that the exporter's queue can hold copies. Encoded as an OTLP
 * ExportLogsServiceRequest, or written as a readable line for the console.
 */
#ifndef TASKTAP_OTLP_LOGS_H
#define TASKTAP_OTLP_LOGS_H

#include <stddef.h>
#include <stdint.h>

#include "assemble.h"
#include "export/resource.h"

enum tt_transition {
	TT_TR_STARTED = 0,
	TT_TR_COMPLETED,
	TT_TR_FAILED,
	TT_TR_COMPENSATING,
	TT_TR_COMPENSATED,
	TT_TR_COMPENSATION_FAILED,
};

/* OTLP severity numbers. */
#define TT_SEVERITY_INFO  9
#define TT_SEVERITY_WARN  13
#define TT_SEVERITY_ERROR 17

#define TT_STEP_LOG_STR 64

/* One step transition. */
struct tt_step_log {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint64_t time_ns;     /* CLOCK_MONOTONIC, of the transition */
	uint64_t duration_ns; /* of the step, in the records that end it; else 0 */
	uint32_t pid;
	uint32_t attempt; /* 0: unknown */
	uint8_t transition;
	char task[TT_STEP_LOG_STR];	 /* task.name; "" when unknown */
	char step[TT_STEP_LOG_STR];	 /* step.name */
	char id[TT_STEP_LOG_STR];	 /* task.id; "" when the span has no key */
	char message[TT_STATUS_MSG_MAX]; /* the span's status message, when it failed */
	const struct tt_resource *res;	 /* the exporter's: the process's resource */
};

/*
 * Fills out[0] and out[1] with the transitions of a finished step or
 * compensation span and returns 2; returns 0 for other spans and for
 * spans the agent cut at shutdown or eviction (their end is not the
 * step's). Pure.
 */
int tt_step_logs(const struct tt_span *span, struct tt_step_log out[2]);

/* "started", "completed", "failed", "compensating", "compensated", "compensation failed". */
const char *tt_transition__name(enum tt_transition t);

/* TT_SEVERITY_INFO, _WARN (compensating) or _ERROR (failed). */
int tt_transition__severity(enum tt_transition t);

/* "INFO", "WARN" or "ERROR". */
const char *tt_transition__severity_text(enum tt_transition t);

/*
 * The record's body: "step CreateZipArchive failed (task CreateZip 1001,
 * attempt 1, 40.1 ms): returned -1". Always NUL-terminated.
 */
void tt_step_log__body(const struct tt_step_log *l, char *buf, size_t len);

/*
 * Encodes `n` records as one ExportLogsServiceRequest: one ResourceLogs per
 * distinct resource (in order of first appearance), each with one
 * ScopeLogs (scope `tasktap`). time_unix_nano is the transition's time plus
 * `mono_to_unix_ns`, observed_time_unix_nano `observed_unix_ns`; trace and
 * span ids of the step's span; attributes task.name, step.name,
 * step.attempt, task.id, step.transition; event_name "step.<transition>".
 * Returns 0 and a malloc'ed buffer in *out (the caller frees it), or
 * -ENOMEM with *out untouched.
 */
int tt_otlp__encode_logs(const struct tt_step_log *const *logs, size_t n, int64_t mono_to_unix_ns,
			 uint64_t observed_unix_ns, uint8_t **out, size_t *out_len);

/* Converts an encoded ExportLogsServiceRequest to OTLP/JSON. As tt_otlp__traces_json(). */
int tt_otlp__logs_json(const uint8_t *pb, size_t len, char **out, size_t *out_len);

/* The number of log records in an encoded request, or -EBADMSG. */
int64_t tt_otlp__count_logs(const uint8_t *pb, size_t len);

#endif /* TASKTAP_OTLP_LOGS_H */
