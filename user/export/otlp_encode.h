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
#include "resource.h"

#define TT_SCOPE_NAME "tasktap"

/* A queued span: a copy of a finished span and its process's resource. */
struct tt_xspan {
	struct tt_span span;
	const struct tt_resource *res;
};

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
