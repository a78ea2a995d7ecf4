// SPDX-License-Identifier: MIT
/*
 * assemble_open.c: open spans kept compact (DESIGN §7, issue 16).
 *
 * A slot holds what every open span needs (ids, start, hook, thread,
 * attempt, status); the rest lives in one block of the span store, sized to
 * what the span has:
 *
 *   payload (the start's capture records) | key | kept name | link | extra
 *
 * The name is kept only for steps and compensations named without a
 * template (their name starts with their task's, which may be gone when
 * they end); every other name, the redactions' hashes and the attribute
 * texts are built again from the captures when the span is loaded whole
 * (asm__open_load(): at its end, for /tasks, at a hand-over). The link (24 B)
 * and the extra (status message, error type, attributes annotate probes
 * gave) are there only when the span has them.
 *
 * The store hands out blocks in size classes (16-byte steps to 256, then
 * 128-byte steps), each class with its own free list, carved from chunks
 * it never returns: in steady state a span costs no allocation.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assemble.h"
#include "assemble_internal.h"

#define STORE_CHUNK (64 * 1024)

/* What an open span keeps only when it has it: set by annotate probes, or restored. */
struct open_extra {
	char status_msg[TT_STATUS_MSG_MAX];
	char error_type[32];
	uint8_t nlate;
	struct tt_late_attr late[TT_LATE_ATTRS];
};

_Static_assert(sizeof(((struct tt_span *)0)->error_type) ==
		       sizeof(((struct open_extra *)0)->error_type),
	       "open_extra.error_type matches tt_span's");

static const uint8_t zero_link[24];

static unsigned size_class(size_t size)
{
	if (size <= 256)
		return size ? (unsigned)((size + 15) / 16 - 1) : 0;
	return 16 + (unsigned)((size - 256 + 127) / 128) - 1;
}

static size_t class_size(unsigned c)
{
	return c < 16 ? (c + 1) * 16 : 256 + (size_t)(c - 15) * 128;
}

_Static_assert(TT_MAX_PAYLOAD + TT_KEY_MAX + TT_SPAN_NAME_MAX + 24 + sizeof(struct open_extra) <=
		       256 + (OPEN_CLASSES - 16) * 128,
	       "the largest open span fits the largest class");

/* A block of class c, or NULL with errno set. */
static void *store_get(struct open_store *st, unsigned c)
{
	size_t size = class_size(c);
	void *b = st->free[c];

	if (b) {
		memcpy(&st->free[c], b, sizeof(void *));
		st->bytes += size;
		return b;
	}
	if (st->left[c] < size) {
		uint8_t *chunk;
		void **chunks;

		if (st->nchunks == st->chunks_cap) {
			size_t cap = st->chunks_cap ? st->chunks_cap * 2 : 16;

			chunks = realloc(st->chunks, cap * sizeof(*chunks));
			if (!chunks)
				return NULL;
			st->chunks = chunks;
			st->chunks_cap = cap;
		}
		chunk = malloc(STORE_CHUNK);
		if (!chunk)
			return NULL;
		st->chunks[st->nchunks++] = chunk;
		st->next[c] = chunk;
		st->left[c] = STORE_CHUNK;
	}
	b = st->next[c];
	st->next[c] += size;
	st->left[c] -= size;
	st->bytes += size;
	return b;
}

static void store_put(struct open_store *st, unsigned c, void *b)
{
	memcpy(b, &st->free[c], sizeof(void *));
	st->free[c] = b;
	st->bytes -= class_size(c);
}

void asm__open_store_release(struct open_store *st)
{
	for (size_t i = 0; i < st->nchunks; i++)
		free(st->chunks[i]);
	free(st->chunks);
	memset(st, 0, sizeof(*st));
}

/* The extra section's offset: past payload, key, name and link, 8-aligned (as blocks are). */
static size_t extra_off(const struct open_span *o)
{
	return (o->payload_len + o->key_len + o->name_len + (o->has_link ? 24u : 0u) + 7u) & ~7u;
}

static size_t open_size(const struct open_span *o)
{
	return o->has_extra ? extra_off(o) + sizeof(struct open_extra)
			    : o->payload_len + o->key_len + o->name_len + (o->has_link ? 24u : 0u);
}

void asm__open_drop(struct tt_asm *a, int32_t i)
{
	struct open_span *o = &slot_at(a, i)->span;

	if (o->data)
		store_put(&a->store, o->block_class, o->data);
	o->data = NULL;
}

static bool needs_extra(const struct tt_span *s)
{
	return s->status_msg[0] || s->error_type[0] || s->nlate;
}

int asm__open_save(struct tt_asm *a, int32_t i, const struct tt_span *s, bool keep_name)
{
	struct open_span *o = &slot_at(a, i)->span;
	struct open_span n = *o;
	size_t name_len = keep_name ? strnlen(s->name, sizeof(s->name) - 1) : 0;
	struct open_extra *x;
	uint8_t *d;
	size_t size;
	unsigned c;

	memcpy(n.trace_id, s->trace_id, 16);
	memcpy(n.span_id, s->span_id, 8);
	memcpy(n.parent_id, s->parent_id, 8);
	n.start_ns = s->start_ns;
	n.probe = s->probe;
	n.hook = s->hook;
	n.pid = s->pid;
	n.tid = s->tid;
	n.attempt = s->attempt;
	n.status = s->status;
	n.marked = s->marked;
	n.payload_len = s->payload_len;
	n.key_len = (uint8_t)s->key_len;
	n.name_len = (uint8_t)name_len;
	n.has_link =
		memcmp(s->link_trace_id, zero_link, 16) || memcmp(s->link_span_id, zero_link, 8);
	n.has_extra = needs_extra(s);
	size = open_size(&n);
	c = size_class(size);
	/* a block of the same class is rewritten in place; a span with nothing to keep has none */
	d = !size ? NULL : o->data && o->block_class == c ? o->data : store_get(&a->store, c);
	if (size && !d)
		return -ENOMEM;
	if (d != o->data && o->data)
		store_put(&a->store, o->block_class, o->data);
	n.data = d;
	n.block_class = (uint8_t)c;
	if (!d) {
		*o = n;
		return 0;
	}
	memcpy(d, s->payload, s->payload_len);
	d += s->payload_len;
	memcpy(d, s->key, s->key_len);
	d += s->key_len;
	memcpy(d, s->name, name_len);
	d += name_len;
	if (n.has_link) {
		memcpy(d, s->link_trace_id, 16);
		memcpy(d + 16, s->link_span_id, 8);
	}
	if (n.has_extra) {
		x = (struct open_extra *)(n.data + extra_off(&n));
		memcpy(x->status_msg, s->status_msg, sizeof(x->status_msg));
		memcpy(x->error_type, s->error_type, sizeof(x->error_type));
		x->nlate = s->nlate;
		memcpy(x->late, s->late, s->nlate * sizeof(x->late[0]));
	}
	*o = n;
	return 0;
}

/* Copies the sections of o's block into s. */
static void load_data(const struct open_span *o, struct tt_span *s)
{
	const uint8_t *d = o->data;

	memcpy(s->payload, d, o->payload_len);
	d += o->payload_len;
	memcpy(s->key, d, o->key_len);
	d += o->key_len;
	if (o->name_len)
		memcpy(s->name, d, o->name_len); /* NUL-terminated by the memset */
	d += o->name_len;
	if (o->has_link) {
		memcpy(s->link_trace_id, d, 16);
		memcpy(s->link_span_id, d + 16, 8);
	}
	if (o->has_extra) {
		const struct open_extra *x = (const void *)(o->data + extra_off(o));

		memcpy(s->status_msg, x->status_msg, sizeof(s->status_msg));
		memcpy(s->error_type, x->error_type, sizeof(s->error_type));
		s->nlate = x->nlate;
		memcpy(s->late, x->late, x->nlate * sizeof(x->late[0]));
	}
}

void asm__open_load(const struct tt_asm *a, int32_t i, struct tt_span *s)
{
	const struct open_span *o = &slot_at(a, i)->span;

	memset(s, 0, offsetof(struct tt_span, key)); /* end_len too: nothing of the end yet */
	memcpy(s->trace_id, o->trace_id, 16);
	memcpy(s->span_id, o->span_id, 8);
	memcpy(s->parent_id, o->parent_id, 8);
	s->start_ns = o->start_ns;
	s->probe = o->probe;
	s->hook = o->hook;
	s->pid = o->pid;
	s->tid = o->tid;
	s->attempt = o->attempt;
	s->kind = span_kind(o->probe->role);
	s->status = o->status;
	s->marked = o->marked;
	s->payload_len = o->payload_len;
	s->key_len = o->key_len;
	if (o->data)
		load_data(o, s);
	asm__note_redactions(s);
	if (!o->name_len)
		asm__name_span(s, NULL);
}
