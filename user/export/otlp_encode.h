/* SPDX-License-Identifier: MIT */
/*
 * Finished spans → OTLP ExportTraceServiceRequest, as protobuf (the
 * canonical form: what is sent for http/protobuf and grpc, and what the
 * spool keeps) and as OTLP/JSON (hex ids, lowerCamelCase names, enums as
 * integers, 64-bit integers as strings). No I/O.
 */
#ifndef TASKTAP_OTLP_ENCODE_H
#define TASKTAP_OTLP_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "assemble.h"
#include "sdk_env.h"
#include "resource.h"

/* A queued span: a copy of a finished span and its process's resource. */
struct tt_xspan {
	struct tt_span span;
	const struct tt_resource *res;
};

/*
 * The attribute, event and link limits (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, ...)
 * every OTLP span and log record is encoded with from now on: a string value
 * is cut at a UTF-8 boundary, what is beyond a count left out and counted in
 * dropped_attributes_count (dropped_events_count, dropped_links_count).
 * NULL: no limits. Call it before the exporter thread starts.
 */
void tt_otlp__set_limits(const struct tt_sdk_config *c);

/* The limits set, for otlp_logs.c; NULL when none. */
const struct tt_sdk_config *tt_otlp__limits(void);

/*
 * Encodes `n` spans as one ExportTraceServiceRequest: one ResourceSpans
 * per distinct resource (in order of first appearance), each with one
 * ScopeSpans (scope `tasktap`, TASKTAP_VERSION). Times are the spans'
 * CLOCK_MONOTONIC times plus `mono_to_unix_ns`. An error span carries an
 * `exception` event with exception.message = its status message.
 * On success returns 0 and a malloc'ed buffer in *out (the caller frees
 * it); on failure -ENOMEM and *out untouched.
 */
int tt_otlp__encode_traces(const struct tt_xspan *const *spans, size_t n, int64_t mono_to_unix_ns,
			   uint8_t **out, size_t *out_len);

/*
 * Converts an encoded ExportTraceServiceRequest to OTLP/JSON. Returns 0
 * and a malloc'ed, NUL-terminated buffer in *out (the caller frees it),
 * -EBADMSG when `pb` does not decode, or -ENOMEM.
 */
int tt_otlp__traces_json(const uint8_t *pb, size_t len, char **out, size_t *out_len);

/* The number of spans in an encoded request, or -EBADMSG. */
int64_t tt_otlp__count_spans(const uint8_t *pb, size_t len);

/*
 * Reads an ExportTraceServiceResponse (protobuf, or OTLP/JSON when
 * `json`): the partial success's rejected span count into *rejected (0
 * when absent) and its message into `msg`. Returns 0, or -EBADMSG. The
 * metrics and logs responses have the same wire form (rejected data points,
 * log records), so it reads them too.
 */
int tt_otlp__parse_response(const uint8_t *body, size_t len, bool json, int64_t *rejected,
			    char *msg, size_t msg_len);

#endif /* TASKTAP_OTLP_ENCODE_H */
