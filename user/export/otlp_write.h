/* SPDX-License-Identifier: MIT */
/*
 * Finished spans written straight into an ExportTraceServiceRequest, as
 * protobuf or as OTLP/JSON, in one pass into a buffer that is reused from
 * batch to batch: no message tree, no allocation per span.
 *
 * The output is the same as tt_otlp__encode_traces() and
 * tt_otlp__traces_json() give (protobuf-c stays the reference:
 * tests/unit/test_otlp_write.c decodes both and compares them field by
 * field, on spans with every field, empty and maximal values and strings
 * that are not ASCII or not UTF-8). The two must change together.
 *
 * How: a span's attributes, events and status are small and their sizes are
 * known before they are written; a span, a scope group and a resource group
 * get their length prefix reserved (2 and 3 bytes) and patched once their
 * body is written, moving the body only when the length needs another
 * width. The resource of each group is built and packed by protobuf-c (once
 * per group, not per span); the scope is a constant.
 */
#ifndef TASKTAP_OTLP_WRITE_H
#define TASKTAP_OTLP_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "otlp_encode.h"
#include "otlp_pb.h"

/*
 * A growable output buffer and the writer's scratch. Zero-initialise it;
 * tt_wbuf__release() frees what it holds. It only grows.
 */
struct tt_wbuf {
	uint8_t *data;
	size_t len, cap;
	uint32_t *scratch; /* the grouping of spans by resource */
	size_t scratch_cap;
	struct tt_arena arena; /* the resources' messages, emptied after each request */
};

/* Frees what the buffer holds and leaves it empty (and reusable). */
void tt_wbuf__release(struct tt_wbuf *b);

/*
 * Writes the `n` spans as one ExportTraceServiceRequest, protobuf, into b
 * (emptied first): what tt_otlp__encode_traces() gives, byte for byte.
 * Returns 0, or -ENOMEM with b->len 0.
 */
int tt_otlp__write_traces(struct tt_wbuf *b, const struct tt_xspan *const *spans, size_t n,
			  int64_t mono_to_unix_ns);

/*
 * Writes the `n` spans as one ExportTraceServiceRequest in OTLP/JSON into b
 * (emptied first, NUL-terminated, the NUL not counted in b->len): what
 * tt_otlp__traces_json() gives for the protobuf of the same spans.
 * Returns 0, or -ENOMEM with b->len 0.
 */
int tt_otlp__write_traces_json(struct tt_wbuf *b, const struct tt_xspan *const *spans, size_t n,
			       int64_t mono_to_unix_ns);

#endif /* TASKTAP_OTLP_WRITE_H */
