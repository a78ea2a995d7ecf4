/* SPDX-License-Identifier: MIT */
/*
 * The recent traces of the task view (DESIGN §6): a bounded ring of the
 * last N finished traces.
 *
 * Invariants:
 *  - A finished span is copied when it arrives (tt_traces__span(), a
 *    tt_span_fn) as a compact record of what the view shows, in an arena
 *    of its trace: its tt_span, probe and spec are not kept. The trace
 *    pushed out of a full ring is reused for the next one. Attributes are copied as
 *    tt_span__attrs() gives them (redacted values stay hashed). JSON is
 *    written only when asked for (tt_traces__write()).
 *  - Spans of a trace whose task (or root) span has not finished wait in
 *    a pending list of at most TT_TRACES_MAX_PENDING spans; when it is
 *    full, the oldest pending trace is finished as far as it got.
 *  - A trace is finished when a task span or a span without a parent
 *    finishes. Spans of a trace already in the ring (a step that ends
 *    after its task, a publish → process trace) join it there.
 *  - Spans wait in a pending list of at most TT_TRACES_MAX_PENDING spans
 *    and TT_TRACES_MAX_PENDING_BYTES bytes (the same rule when either is
 *    reached). A trace keeps at most TT_TRACES_MAX_SPANS spans; later ones
 *    are counted in its `spans_dropped`, not kept.
 *  - At most `capacity` traces; the oldest is dropped for a new one.
 *    Memory held (pending and ring) is counted in tt_traces__bytes().
 *  - One thread: the event loop feeds and reads it.
 */
#ifndef TASKTAP_TRACES_H
#define TASKTAP_TRACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "assemble.h"

#define TT_TRACES_DEFAULT_CAPACITY  1000
#define TT_TRACES_MAX_CAPACITY	    100000
#define TT_TRACES_MAX_PENDING	    16384 /* spans */
#define TT_TRACES_MAX_PENDING_BYTES (32u << 20)
#define TT_TRACES_MAX_SPANS	    4096 /* per trace */

/* The summary of one finished trace, as /api/traces lists it. */
struct tt_trace_info {
	uint8_t trace_id[16];
	const char *name;    /* the task's name (else the root span's) */
	const char *service; /* "" when the spec names none */
	bool error;	     /* its task span failed; without one, any span did */
	uint64_t start_ns;   /* CLOCK_MONOTONIC */
	uint64_t duration_ns;
	uint32_t spans;
	uint32_t errors;
	uint32_t spans_dropped; /* beyond TT_TRACES_MAX_SPANS */
	uint64_t seq;		/* grows by one per trace finished */
};

struct tt_traces_opts {
	uint32_t capacity;	 /* traces kept; 0: TT_TRACES_DEFAULT_CAPACITY */
	int64_t mono_to_unix_ns; /* add to CLOCK_MONOTONIC to get Unix time */
};

struct tt_traces;

/* Returns an empty ring the caller frees with tt_traces__free(), or NULL with errno. */
struct tt_traces *tt_traces__new(const struct tt_traces_opts *opts);

/* Releases everything. Accepts NULL. */
void tt_traces__free(struct tt_traces *t);

/* The tt_span_fn of the ring; ctx is the struct tt_traces. */
void tt_traces__span(const struct tt_span *span, void *ctx);

/*
 * Calls fn for each finished trace, newest first, until it returns
 * non-zero (which is returned). The info is valid only during the call.
 */
int tt_traces__each(const struct tt_traces *t,
		    int (*fn)(const struct tt_trace_info *info, void *ctx), void *ctx);

/*
 * Writes the trace `trace_id` as one JSON object: "trace" (the summary as
 * tt_traces__write_info() writes it) and "spans" (each span, in the order
 * they finished). Returns 0, or -ENOENT when the
 * ring does not hold it.
 */
int tt_traces__write(const struct tt_traces *t, const uint8_t trace_id[16], FILE *out);

/* Writes one summary as a JSON object. */
void tt_traces__write_info(const struct tt_traces *t, const struct tt_trace_info *info, FILE *out);

size_t tt_traces__count(const struct tt_traces *t); /* finished traces held */
size_t tt_traces__capacity(const struct tt_traces *t);
uint64_t tt_traces__bytes(const struct tt_traces *t);	/* memory held, bytes */
uint64_t tt_traces__dropped(const struct tt_traces *t); /* traces pushed out of the ring */

#endif /* TASKTAP_TRACES_H */
