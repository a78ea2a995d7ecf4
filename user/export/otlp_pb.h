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
#include "resource.h"
#include "resource.pb-c.h"

/* The instrumentation scope of every request: its name (its version is the agent's). */
#define TT_SCOPE_NAME "tasktap"

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
 * Empties the arena for reuse: what it handed out is invalid, its last
 * chunk is kept (the next uses allocate nothing until it is full), the
 * others are freed.
 */
void tt_arena__clear(struct tt_arena *a);

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
 * Copies `len` bytes (a trace or span id) into the arena as `dst`. Returns 0
 * or -ENOMEM (dst is left empty).
 */
int tt_arena__bytes(struct tt_arena *a, ProtobufCBinaryData *dst, const void *src, size_t len);

/*
 * The envelope the three OTLP export requests share, named by their .proto
 * fields: the request holds repeated <resources>, each a `resource` and
 * repeated <scopes>, each a `scope` and repeated <items>. Traces are
 * {&..._export_trace_service_request__descriptor, "resource_spans",
 * "scope_spans", "spans", json_span, NULL}. OTLP/JSON names are the same in
 * lowerCamelCase.
 */
struct tt_pb_envelope {
	const ProtobufCMessageDescriptor *request;
	const char *resources, *scopes, *items;
	/* writes one item as OTLP/JSON */
	void (*json_item)(FILE *f, const void *item);
	/* what one item counts for in tt_pb__count(); NULL counts 1 each */
	size_t (*weight)(const void *item);
};

/*
 * A request being built in an arena (which owns every piece of it): items
 * go into one group per struct tt_resource, each with the tasktap scope.
 * Batches hold few processes, so groups are found by a linear search.
 */
struct tt_pb_request {
	const struct tt_pb_envelope *e;
	struct tt_arena *a;
	ProtobufCMessage *msg;
	const struct tt_resource **keys; /* the resource of each group */
	size_t cap, n;			 /* items room was made for, items added */
};

/* An empty request with room for `cap` items. Returns 0 or -ENOMEM. */
int tt_pb_request__init(struct tt_pb_request *r, const struct tt_pb_envelope *e, struct tt_arena *a,
			size_t cap);

/* Makes sure the group of `res` exists (even without items). Returns 0 or -ENOMEM. */
int tt_pb_request__group(struct tt_pb_request *r, const struct tt_resource *res);

/* Adds `item` (a message of the items' type) to the group of `res`. 0 or -ENOMEM. */
int tt_pb_request__add(struct tt_pb_request *r, const struct tt_resource *res, void *item);

/* The request packed as protobuf in *out, which the caller frees. 0 or -ENOMEM. */
int tt_pb_request__pack(const struct tt_pb_request *r, uint8_t **out, size_t *out_len);

/*
 * Item `i` of a batch as a message of the envelope's items, built in the
 * arena, and the resource it belongs to in *res; NULL when out of memory.
 */
typedef void *tt_pb_item_fn(struct tt_arena *a, size_t i, void *ctx,
			    const struct tt_resource **res);

/*
 * A request of envelope `e` with the `n` items item() builds, packed as
 * protobuf in *out (the caller frees it). Returns 0 or -ENOMEM.
 */
int tt_pb__encode(const struct tt_pb_envelope *e, size_t n, tt_pb_item_fn *item, void *ctx,
		  uint8_t **out, size_t *out_len);

/*
 * A packed request of envelope `e` as OTLP/JSON text, NUL-terminated, in
 * *out (the caller frees it) and its length in *out_len. Returns 0,
 * -EBADMSG when `pb` does not decode, or -ENOMEM.
 */
int tt_pb__json(const struct tt_pb_envelope *e, const uint8_t *pb, size_t len, char **out,
		size_t *out_len);

/* The items of a packed request, each counted by e->weight. >= 0, or -EBADMSG. */
int64_t tt_pb__count(const struct tt_pb_envelope *e, const uint8_t *pb, size_t len);

#endif /* TASKTAP_OTLP_PB_H */
