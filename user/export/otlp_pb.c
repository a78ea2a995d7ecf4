// SPDX-License-Identifier: MIT
/* Building OTLP protobuf messages, and writing them as OTLP/JSON: what the three signals share. */
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

void tt_pb__json_resource_scope(FILE *f, const Resource *res, const Scope *scope, const char *items)
{
	fputs("{\"resource\":{", f);
	if (res)
		tt_pb__json_attrs(f, res->attributes, res->n_attributes);
	fprintf(f, "},\"%s\":[{\"scope\":{", items);
	if (scope) {
		fputs("\"name\":", f);
		tt_json__str(f, scope->name, strlen(scope->name));
		fputs(",\"version\":", f);
		tt_json__str(f, scope->version, strlen(scope->version));
	}
	fputs("},", f);
}

int tt_pb__json_text(void (*write)(FILE *f, const void *msg), const void *msg, char **out,
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
