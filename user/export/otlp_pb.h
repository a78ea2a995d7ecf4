/* SPDX-License-Identifier: MIT */
/*
 * What the OTLP encoders of traces, metrics and logs share: a bump
 * allocator that owns every piece of one request (freed at once), key-value
 * and resource builders, the instrumentation scope, and OTLP/JSON writers
 * of attributes. Internal to user/export/.
 */
#ifndef TASKTAP_OTLP_PB_H
#define TASKTAP_OTLP_PB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.pb-c.h"
#include "otlp_encode.h"
#include "resource.h"
#include "resource.pb-c.h"

typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

/* A bump allocator for one request: every piece of it is freed at once. */
struct tt_arena {
	struct chunk *head;
};

/* `n` zeroed bytes owned by the arena, or NULL. */
void *tt_arena__alloc(struct tt_arena *a, size_t n);

/* Frees everything the arena handed out. */
void tt_arena__release(struct tt_arena *a);

/*
 * A NUL-terminated copy of `len` bytes in the arena. Protobuf strings must
 * be UTF-8 (a collector rejects the whole request otherwise): bytes that
 * are not, and NULs, become '?'. NULL when out of memory.
 */
char *tt_arena__str(struct tt_arena *a, const char *s, size_t len);

/* A string or integer attribute in the arena; NULL when out of memory. */
KeyValue *tt_pb__kv_str(struct tt_arena *a, const char *key, const char *s, size_t len);
KeyValue *tt_pb__kv_int(struct tt_arena *a, const char *key, int64_t i);

/* The Resource message of `r` (empty when r is NULL); NULL when out of memory. */
Resource *tt_pb__resource(struct tt_arena *a, const struct tt_resource *r);

/* The scope `tasktap` with the agent's version; NULL when out of memory. */
Scope *tt_pb__scope(struct tt_arena *a);

/* OTLP/JSON: an AnyValue, and "attributes":[...]. */
void tt_pb__json_value(FILE *f, const AnyValue *v);
void tt_pb__json_attrs(FILE *f, KeyValue **kv, size_t n);

/*
 * OTLP/JSON: opens one Resource<Items> object up to the scope, leaving
 * `{"resource":{...},"<items>":[{"scope":{...},` for the caller to finish
 * with its list and `]}]}`.
 */
void tt_pb__json_resource_scope(FILE *f, const Resource *res, const Scope *scope,
				const char *items);

/*
 * Runs write(f, msg) on a memory stream and returns what it wrote, NUL-
 * terminated, in *out (the caller frees it) and its length in *out_len.
 * Returns 0 or -ENOMEM.
 */
int tt_pb__json_text(void (*write)(FILE *f, const void *msg), const void *msg, char **out,
		     size_t *out_len);

#endif /* TASKTAP_OTLP_PB_H */
