// SPDX-License-Identifier: MIT
/* Building OTLP protobuf messages, and writing them as OTLP/JSON: what the three signals share. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "otlp_pb.h"

struct chunk {
	struct chunk *next;
	size_t used, size;
	max_align_t data[];
};

#define CHUNK_SIZE (64 * 1024)

void *tt_arena__alloc(struct tt_arena *a, size_t n)
{
	struct chunk *c = a->head;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->size - c->used < n) {
		size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	c->used += n;
	return memset((char *)c->data + c->used - n, 0, n);
}

void tt_arena__release(struct tt_arena *a)
{
	while (a->head) {
		struct chunk *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

void tt_arena__clear(struct tt_arena *a)
{
	struct chunk *keep = a->head;

	if (!keep)
		return;
	a->head = keep->next;
	tt_arena__release(a);
	keep->next = NULL;
	keep->used = 0;
	a->head = keep;
}

/*
 * A NUL-terminated copy in the arena. Protobuf strings must be UTF-8 (a
 * collector rejects the whole request otherwise): bytes that are not, and
 * NULs, become '?'.
 */
char *tt_arena__str(struct tt_arena *a, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = tt_arena__alloc(a, len + 1);
	size_t i = 0;

	if (!out)
		return NULL;
	while (i < len) {
		size_t n = tt_utf8__len(p + i, len - i);

		if (n == 0 || p[i] == 0) {
			out[i] = '?';
			n = 1;
		} else {
			memcpy(out + i, p + i, n);
		}
		i += n;
	}
	out[len] = '\0';
	return out;
}

static KeyValue *kv_new(struct tt_arena *a, const char *key, size_t key_len)
{
	KeyValue *kv = tt_arena__alloc(a, sizeof(*kv));
	AnyValue *v = tt_arena__alloc(a, sizeof(*v));

	if (!kv || !v)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = tt_arena__str(a, key, key_len);
	kv->value = v;
	return kv->key ? kv : NULL;
}

KeyValue *tt_pb__kv_str(struct tt_arena *a, const char *key, const char *s, size_t len)
{
	KeyValue *kv = kv_new(a, key, strlen(key));

	if (!kv)
		return NULL;
	kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	kv->value->string_value = tt_arena__str(a, s, len);
	return kv->value->string_value ? kv : NULL;
}

KeyValue *tt_pb__kv_int(struct tt_arena *a, const char *key, int64_t i)
{
	KeyValue *kv = kv_new(a, key, strlen(key));

	if (!kv)
		return NULL;
	kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	kv->value->int_value = i;
	return kv;
}

Resource *tt_pb__resource(struct tt_arena *a, const struct tt_resource *r)
{
	Resource *res = tt_arena__alloc(a, sizeof(*res));

	if (!res)
		return NULL;
	opentelemetry__proto__resource__v1__resource__init(res);
	if (!r)
		return res;
	res->attributes = tt_arena__alloc(a, sizeof(KeyValue *) * (r->n ? r->n : 1));
	if (!res->attributes)
		return NULL;
	for (size_t i = 0; i < r->n; i++) {
		const struct tt_res_attr *at = &r->at[i];
		KeyValue *kv = at->str ? tt_pb__kv_str(a, at->key, at->str, strlen(at->str))
				       : tt_pb__kv_int(a, at->key, at->i);

		if (!kv)
			return NULL;
		res->attributes[res->n_attributes++] = kv;
	}
	return res;
}

Scope *tt_pb__scope(struct tt_arena *a)
{
	Scope *scope = tt_arena__alloc(a, sizeof(*scope));

	if (!scope)
		return NULL;
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
	scope->name = TT_SCOPE_NAME;
	scope->version = TASKTAP_VERSION;
	return scope;
}

void tt_pb__json_value(FILE *f, const AnyValue *v)
{
	fputc('{', f);
	switch (v ? v->value_case : 0) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		fputs("\"stringValue\":", f);
		tt_json__str(f, v->string_value, strlen(v->string_value));
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		fprintf(f, "\"intValue\":\"%" PRId64 "\"", v->int_value);
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		fprintf(f, "\"boolValue\":%s", v->bool_value ? "true" : "false");
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		fprintf(f, "\"doubleValue\":%.17g", v->double_value);
		break;
	default:
		break;
	}
	fputc('}', f);
}

void tt_pb__json_attrs(FILE *f, KeyValue **kv, size_t n)
{
	fputs("\"attributes\":[", f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		fputs("{\"key\":", f);
		tt_json__str(f, kv[i]->key, strlen(kv[i]->key));
		fputs(",\"value\":", f);
		tt_pb__json_value(f, kv[i]->value);
		fputc('}', f);
	}
	fputc(']', f);
}

/* ---- the envelope ---------------------------------------------------------- */

/*
 * The envelope is walked through protobuf-c's descriptors: a field found by
 * its .proto name gives the offsets of its count and its pointer.
 */
static const ProtobufCFieldDescriptor *field(const ProtobufCMessageDescriptor *d, const char *name)
{
	return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

/* The number of elements of the repeated field `fd` of `msg`. */
static size_t *repeated_n(const void *msg, const ProtobufCFieldDescriptor *fd)
{
	return (size_t *)((char *)msg + fd->quantifier_offset);
}

/* The elements of the repeated field `fd` of `msg`, or a singular message field. */
static void **member(const void *msg, const ProtobufCFieldDescriptor *fd)
{
	return (void **)((char *)msg + fd->offset);
}

static void *message_new(struct tt_arena *a, const ProtobufCMessageDescriptor *d)
{
	void *m = tt_arena__alloc(a, d->sizeof_message);

	if (m)
		protobuf_c_message_init(d, m);
	return m;
}

int tt_arena__bytes(struct tt_arena *a, ProtobufCBinaryData *dst, const void *src, size_t len)
{
	dst->data = tt_arena__alloc(a, len);
	if (!dst->data) {
		dst->len = 0;
		return -ENOMEM;
	}
	memcpy(dst->data, src, len);
	dst->len = len;
	return 0;
}

int tt_pb_request__init(struct tt_pb_request *r, const struct tt_pb_envelope *e, struct tt_arena *a,
			size_t cap)
{
	size_t room = cap ? cap : 1;

	*r = (struct tt_pb_request){.e = e, .a = a, .cap = cap};
	r->msg = message_new(a, e->request);
	r->keys = tt_arena__alloc(a, sizeof(*r->keys) * room);
	if (!r->msg || !r->keys)
		return -ENOMEM;
	*member(r->msg, field(e->request, e->resources)) =
		tt_arena__alloc(a, sizeof(void *) * room);
	return *member(r->msg, field(e->request, e->resources)) ? 0 : -ENOMEM;
}

/* A new group of `res` with its scope and room for what is left to add; NULL when out of memory. */
static void *group_new(struct tt_pb_request *r, const struct tt_resource *res)
{
	const ProtobufCFieldDescriptor *fres = field(r->e->request, r->e->resources);
	const ProtobufCMessageDescriptor *dres = fres->descriptor;
	const ProtobufCFieldDescriptor *fscopes = field(dres, r->e->scopes);
	const ProtobufCMessageDescriptor *dscope = fscopes->descriptor;
	void *group = message_new(r->a, dres), *scope = message_new(r->a, dscope);
	size_t room = r->cap > r->n ? r->cap - r->n : 1;

	if (!group || !scope)
		return NULL;
	*member(group, field(dres, "resource")) = tt_pb__resource(r->a, res);
	*member(group, fscopes) = tt_arena__alloc(r->a, sizeof(void *));
	*member(scope, field(dscope, "scope")) = tt_pb__scope(r->a);
	*member(scope, field(dscope, r->e->items)) = tt_arena__alloc(r->a, sizeof(void *) * room);
	if (!*member(group, field(dres, "resource")) || !*member(group, fscopes) ||
	    !*member(scope, field(dscope, "scope")) || !*member(scope, field(dscope, r->e->items)))
		return NULL;
	((void **)*member(group, fscopes))[0] = scope;
	*repeated_n(group, fscopes) = 1;
	return group;
}

/* The scope message of the group of `res`, made if needed; NULL when out of memory. */
static void *group_scope(struct tt_pb_request *r, const struct tt_resource *res)
{
	const ProtobufCFieldDescriptor *fres = field(r->e->request, r->e->resources);
	const ProtobufCFieldDescriptor *fscopes = field(fres->descriptor, r->e->scopes);
	void **groups = *member(r->msg, fres);
	size_t *ngroups = repeated_n(r->msg, fres), g;

	for (g = 0; g < *ngroups; g++) {
		if (r->keys[g] == res)
			break;
	}
	if (g == *ngroups) {
		if (g == (r->cap ? r->cap : 1))
			return NULL; /* more groups than items: a caller's bug */
		groups[g] = group_new(r, res);
		if (!groups[g])
			return NULL;
		r->keys[g] = res;
		(*ngroups)++;
	}
	return ((void **)*member(groups[g], fscopes))[0];
}

int tt_pb_request__group(struct tt_pb_request *r, const struct tt_resource *res)
{
	return group_scope(r, res) ? 0 : -ENOMEM;
}

int tt_pb_request__add(struct tt_pb_request *r, const struct tt_resource *res, void *item)
{
	void *scope = group_scope(r, res);
	const ProtobufCFieldDescriptor *fitems;

	if (!scope || r->n == r->cap)
		return -ENOMEM;
	fitems = field(((ProtobufCMessage *)scope)->descriptor, r->e->items);
	((void **)*member(scope, fitems))[(*repeated_n(scope, fitems))++] = item;
	r->n++;
	return 0;
}

int tt_pb_request__pack(const struct tt_pb_request *r, uint8_t **out, size_t *out_len)
{
	size_t size = protobuf_c_message_get_packed_size(r->msg);
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(r->msg, buf);
	*out = buf;
	*out_len = size;
	return 0;
}

int tt_pb__encode(const struct tt_pb_envelope *e, size_t n, tt_pb_item_fn *item, void *ctx,
		  uint8_t **out, size_t *out_len)
{
	struct tt_arena a = {0};
	struct tt_pb_request req;
	int ret;

	ret = tt_pb_request__init(&req, e, &a, n);
	for (size_t i = 0; !ret && i < n; i++) {
		const struct tt_resource *res = NULL;
		void *msg = item(&a, i, ctx, &res);

		ret = msg ? tt_pb_request__add(&req, res, msg) : -ENOMEM;
	}
	if (!ret)
		ret = tt_pb_request__pack(&req, out, out_len);
	tt_arena__release(&a);
	return ret;
}

/* A .proto field name in OTLP/JSON's lowerCamelCase, quoted: "scope_spans" → "scopeSpans". */
static void json_name(FILE *f, const char *name)
{
	fputc('"', f);
	for (const char *c = name; *c; c++) {
		if (*c == '_' && c[1])
			fputc(toupper((unsigned char)*++c), f);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

/*
 * Opens one resource group up to its scope, leaving
 * `{"resource":{...},"<scopes>":[{"scope":{...},` for the caller to finish
 * with its list of items and `]}]}`.
 */
static void json_resource_scope(FILE *f, const Resource *res, const Scope *scope,
				const char *scopes)
{
	fputs("{\"resource\":{", f);
	if (res)
		tt_pb__json_attrs(f, res->attributes, res->n_attributes);
	fputs("},", f);
	json_name(f, scopes);
	fputs(":[{\"scope\":{", f);
	if (scope) {
		fputs("\"name\":", f);
		tt_json__str(f, scope->name, strlen(scope->name));
		fputs(",\"version\":", f);
		tt_json__str(f, scope->version, strlen(scope->version));
	}
	fputs("},", f);
}

struct json_ctx {
	const struct tt_pb_envelope *e;
	const ProtobufCMessage *msg;
};

/* The request as OTLP/JSON: one resource object per (resource, scope) pair. */
static void json_request(FILE *f, const void *ctx)
{
	const struct tt_pb_envelope *e = ((const struct json_ctx *)ctx)->e;
	const ProtobufCMessage *req = ((const struct json_ctx *)ctx)->msg;
	const ProtobufCFieldDescriptor *fres = field(e->request, e->resources);
	const ProtobufCFieldDescriptor *fscopes = field(fres->descriptor, e->scopes);
	const ProtobufCFieldDescriptor *fitems = field(fscopes->descriptor, e->items);
	void **groups = *member(req, fres);

	fputc('{', f);
	json_name(f, e->resources);
	fputs(":[", f);
	for (size_t r = 0; r < *repeated_n(req, fres); r++) {
		void **scopes = *member(groups[r], fscopes);

		for (size_t s = 0; s < *repeated_n(groups[r], fscopes); s++) {
			void **items = *member(scopes[s], fitems);

			if (r || s)
				fputc(',', f);
			json_resource_scope(
				f, *member(groups[r], field(fres->descriptor, "resource")),
				*member(scopes[s], field(fscopes->descriptor, "scope")), e->scopes);
			json_name(f, e->items);
			fputs(":[", f);
			for (size_t i = 0; i < *repeated_n(scopes[s], fitems); i++) {
				if (i)
					fputc(',', f);
				e->json_item(f, items[i]);
			}
			fputs("]}]}", f);
		}
	}
	fputs("]}", f);
}

/*
 * Runs write(f, ctx) on a memory stream and returns what it wrote, NUL-
 * terminated, in *out (the caller frees it) and its length in *out_len.
 * Returns 0 or -ENOMEM.
 */
static int json_text(void (*write)(FILE *f, const void *msg), const void *msg, char **out,
		     size_t *out_len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	write(f, msg);
	if (fclose(f) || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*out_len = size;
	return 0;
}

int tt_pb__json(const struct tt_pb_envelope *e, const uint8_t *pb, size_t len, char **out,
		size_t *out_len)
{
	ProtobufCMessage *req = protobuf_c_message_unpack(e->request, NULL, len, pb);
	struct json_ctx ctx = {e, req};
	int ret;

	if (!req)
		return -EBADMSG;
	ret = json_text(json_request, &ctx, out, out_len);
	protobuf_c_message_free_unpacked(req, NULL);
	return ret;
}

int64_t tt_pb__count(const struct tt_pb_envelope *e, const uint8_t *pb, size_t len)
{
	ProtobufCMessage *req = protobuf_c_message_unpack(e->request, NULL, len, pb);
	const ProtobufCFieldDescriptor *fres = field(e->request, e->resources);
	const ProtobufCFieldDescriptor *fscopes = field(fres->descriptor, e->scopes);
	const ProtobufCFieldDescriptor *fitems = field(fscopes->descriptor, e->items);
	int64_t n = 0;

	if (!req)
		return -EBADMSG;
	for (size_t r = 0; r < *repeated_n(req, fres); r++) {
		void *group = ((void **)*member(req, fres))[r];

		for (size_t s = 0; s < *repeated_n(group, fscopes); s++) {
			void *scope = ((void **)*member(group, fscopes))[s];
			void **items = *member(scope, fitems);

			for (size_t i = 0; i < *repeated_n(scope, fitems); i++)
				n += e->weight ? (int64_t)e->weight(items[i]) : 1;
		}
	}
	protobuf_c_message_free_unpacked(req, NULL);
	return n;
}
