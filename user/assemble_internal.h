/* SPDX-License-Identifier: MIT */
/* assemble_internal.h: what assemble.c lends assemble_attrs.c: a span's captured values; private.
 */
#ifndef TASKTAP_ASSEMBLE_INTERNAL_H
#define TASKTAP_ASSEMBLE_INTERNAL_H

#include <stddef.h>

#include "assemble.h"

static inline const char *record_data(const struct tt_cap_rec *r)
{
	return (const char *)(r + 1);
}

/* A record that holds a value (it exists and its read did not fault); NULL if none. */
const struct tt_cap_rec *value_of(const struct tt_span *s, const struct tt_capture *cap);
/* The probe's attribute named by the len bytes of name, or NULL. */
const struct tt_attr *find_attr(const struct tt_probe *p, const char *name, size_t len);
/* The function a span's hook is on: the glob's match, else the spec's symbol. */
const char *span_function(const struct tt_span *s);

#endif /* TASKTAP_ASSEMBLE_INTERNAL_H */
