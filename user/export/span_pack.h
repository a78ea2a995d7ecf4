/* SPDX-License-Identifier: MIT */
/*
 * A finished span packed for the export queue: what it holds, at its
 * length, instead of a whole struct tt_span (2.3 KB whatever it holds):
 *
 *   the fixed fields before `name` (ids, times, probe, pid, ...), as they are
 *   name, status_msg, error_type, unreadable     NUL-terminated, at their length
 *   the fields from `marked` to `key` (lengths)   as they are
 *   key, payload, end_payload                     at key_len, payload_len, end_len
 *   redacted[i]                                   a length byte and the text, each
 *   late[0..nlate)                                up to its str's length
 *   the resource pointer
 *
 * About 250-400 bytes for a span with a key and a 64-byte capture. Unpacked
 * into a struct tt_xspan, a span is what it was for everything that reads
 * it (the OTLP writers, tt_span__attrs()): test_span_pack compares both
 * ways' output byte for byte.
 */
#ifndef TASKTAP_SPAN_PACK_H
#define TASKTAP_SPAN_PACK_H

#include <stddef.h>

#include "otlp_encode.h"

/* The packed size of `span`: what tt_span_pack__write() writes. */
size_t tt_span_pack__size(const struct tt_span *span);

/* The largest packed size of any span. */
size_t tt_span_pack__max(void);

/* Writes `span` and `res` packed into `dst` (tt_span_pack__size(span) bytes). */
void tt_span_pack__write(void *dst, const struct tt_span *span, const struct tt_resource *res);

/*
 * Unpacks `len` bytes that tt_span_pack__write() wrote into `x`. Only what
 * the span holds is written: the tail of its arrays past their lengths is
 * left as it was. Returns 0, or -EBADMSG when the bytes do not add up.
 */
int tt_span_pack__read(struct tt_xspan *x, const void *src, size_t len);

#endif /* TASKTAP_SPAN_PACK_H */
