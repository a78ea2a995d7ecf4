/* SPDX-License-Identifier: MIT */
/*
 * Local span sinks: the console waterfall (the default) and JSON lines.
 * Both receive finished spans through tt_span_fn and know nothing of BPF.
 */
#ifndef TASKTAP_EXPORT_H
#define TASKTAP_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "assemble.h"

struct tt_console;

/*
 * Returns a console sink writing waterfalls to `out`, or NULL with errno.
 * It holds finished spans until the top of their tree finishes (a root
 * span; for a message, its consume, with the publish on top), then prints
 * the tree of the trace across processes; a tree whose top does not come
 * is printed as far as it got (console.c says when). `color` turns on ANSI
 * colour for errors.
 */
struct tt_console *tt_console__new(FILE *out, bool color);

/*
 * Held spans visited since the start: what holding and printing cost,
 * linear in the spans given (a test bound, not a timing).
 */
uint64_t tt_console__ops(const struct tt_console *c);

/* The tt_span_fn of the console sink; ctx is the struct tt_console. */
void tt_console__span(const struct tt_span *span, void *ctx);

/* Prints every span still held, each tree as far as it got. */
void tt_console__flush(struct tt_console *c);

/* Flushes, then releases. Accepts NULL. */
void tt_console__free(struct tt_console *c);

struct tt_jsonl {
	FILE *out;
	int64_t mono_to_unix_ns; /* add to CLOCK_MONOTONIC to get Unix time */
	const char *service;
};

/*
 * The tt_span_fn of the JSON-lines sink; ctx is a struct tt_jsonl. Writes
 * one OTLP/JSON span object per line, plus a "resource" member with
 * service.name and process.pid. It does not flush: the caller flushes
 * `out` once per batch of spans.
 */
void tt_jsonl__span(const struct tt_span *span, void *ctx);

/* Step transitions as readable lines (`--log-steps`). */
struct tt_steplines {
	FILE *out;
	int64_t mono_to_unix_ns; /* add to CLOCK_MONOTONIC to get Unix time */
};

/*
 * The tt_span_fn of the step-lines sink; ctx is a struct tt_steplines.
 * For a finished step (or compensation) span, writes its two transitions
 * (otlp_logs.h), each stamped with its own time in UTC:
 *
 *   2025-11-21T06:58:01.123Z INFO  step Decode started (task Thumbnail 1002, attempt 1)
 *   2025-11-21T06:58:01.173Z INFO  step Decode completed (task Thumbnail 1002, attempt 1, 50.1 ms)
 */
void tt_steplines__span(const struct tt_span *span, void *ctx);

#endif /* TASKTAP_EXPORT_H */
