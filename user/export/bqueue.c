// SPDX-License-Identifier: MIT
/* bqueue.c: a FIFO of variable-size records bounded in bytes, in chunks (bqueue.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bqueue.h"

/* A record's header; len UNUSED marks the end of a chunk's records. */
struct hdr {
	uint32_t len;
	uint32_t pad;
};

#define UNUSED UINT32_MAX

struct tt_bqueue_chunk {
	struct tt_bqueue_chunk *next;
	uint32_t used; /* bytes of committed records (and the one reserved) */
	uint32_t pad;
	_Alignas(8) unsigned char data[];
};

int tt_bqueue__init(struct tt_bqueue *q, uint64_t max_bytes, uint64_t max_items, size_t max_record)
{
	uint64_t one = tt_bqueue__cost(max_record);

	memset(q, 0, sizeof(*q));
	if (max_bytes < one)
		return -EINVAL;
	q->max_bytes = max_bytes;
	q->max_items = max_items;
	/* a small bound needs no large chunk; any chunk holds the largest record */
	q->chunk_size = TT_BQUEUE_CHUNK;
	if (max_bytes < q->chunk_size)
		q->chunk_size = (uint32_t)((max_bytes + 7) & ~7ULL);
	if (q->chunk_size < TT_BQUEUE_MIN_ROOM)
		q->chunk_size = TT_BQUEUE_MIN_ROOM;
	if (q->chunk_size < one)
		q->chunk_size = (uint32_t)one;
	return 0;
}

static void free_list(struct tt_bqueue_chunk *c)
{
	while (c) {
		struct tt_bqueue_chunk *next = c->next;

		free(c);
		c = next;
	}
}

void tt_bqueue__release(struct tt_bqueue *q)
{
	free_list(q->head);
	free_list(q->pool);
	memset(q, 0, sizeof(*q));
}

/* A chunk from the pool, else a new one; NULL without memory. */
static struct tt_bqueue_chunk *chunk_get(struct tt_bqueue *q)
{
	struct tt_bqueue_chunk *c = q->pool;

	if (c) {
		q->pool = c->next;
		q->npool--;
	} else {
		c = malloc(sizeof(*c) + q->chunk_size);
		if (!c)
			return NULL;
		q->chunks++;
	}
	c->next = NULL;
	c->used = 0;
	return c;
}

/* Keeps an emptied chunk for reuse, up to TT_BQUEUE_POOL of them. */
static void chunk_put(struct tt_bqueue *q, struct tt_bqueue_chunk *c)
{
	if (q->npool >= TT_BQUEUE_POOL) {
		free(c);
		q->chunks--;
		return;
	}
	c->next = q->pool;
	q->pool = c;
	q->npool++;
}

/* Ends the tail chunk's records (a reader finds the mark) and links a fresh one. */
static int grow(struct tt_bqueue *q)
{
	struct tt_bqueue_chunk *c = chunk_get(q);

	if (!c)
		return -ENOMEM;
	if (q->tail) {
		if (q->tail->used + TT_BQUEUE_HDR <= q->chunk_size)
			((struct hdr *)(q->tail->data + q->tail->used))->len = UNUSED;
		q->tail->next = c;
	} else {
		q->head = c;
		q->head_off = 0;
	}
	q->tail = c;
	return 0;
}

void *tt_bqueue__reserve(struct tt_bqueue *q, size_t len, int *err)
{
	uint64_t cost = tt_bqueue__cost(len);
	struct hdr *h;

	*err = 0;
	if (cost > q->chunk_size) {
		*err = -EMSGSIZE;
		return NULL;
	}
	if (q->bytes + cost > q->max_bytes || (q->max_items && q->items >= q->max_items)) {
		*err = -ENOSPC;
		return NULL;
	}
	if (!q->tail || q->tail->used + cost > q->chunk_size) {
		*err = grow(q);
		if (*err)
			return NULL;
	}
	h = (struct hdr *)(q->tail->data + q->tail->used);
	h->len = (uint32_t)len;
	return h + 1;
}

void tt_bqueue__commit(struct tt_bqueue *q)
{
	struct hdr *h = (struct hdr *)(q->tail->data + q->tail->used);
	uint64_t cost = tt_bqueue__cost(h->len);

	q->tail->used += (uint32_t)cost;
	q->bytes += cost;
	q->items++;
}

/*
 * The record at (c, off), known to exist, moving to the next chunk when c's
 * records end there: a chunk is sealed (its end marked, or too full for a
 * header) before the next one is linked, so this reads nothing the writer
 * may be writing, and never a chunk's `used`.
 */
static const struct hdr *at(struct tt_bqueue_chunk **c, uint32_t *off, uint32_t chunk_size)
{
	const struct hdr *h;

	if (*off + TT_BQUEUE_HDR <= chunk_size) {
		h = (const struct hdr *)((*c)->data + *off);
		if (h->len != UNUSED)
			return h;
	}
	*c = (*c)->next;
	*off = 0;
	return (const struct hdr *)(*c)->data;
}

uint64_t tt_bqueue__peek(const struct tt_bqueue *q, uint64_t max_items, uint64_t max_bytes,
			 struct tt_bqueue_run *run)
{
	struct tt_bqueue_chunk *c = q->head;
	uint32_t off = q->head_off;
	uint64_t n = 0, bytes = 0;

	memset(run, 0, sizeof(*run));
	while (n < q->items && n < max_items) {
		const struct hdr *h;
		uint64_t cost;

		h = at(&c, &off, q->chunk_size);
		cost = tt_bqueue__cost(h->len);
		if (n && bytes + cost > max_bytes)
			break;
		if (!n) {
			run->chunk = c;
			run->off = off;
		}
		n++;
		bytes += cost;
		off += (uint32_t)cost;
	}
	run->chunk_size = q->chunk_size;
	run->items = run->left = n;
	run->bytes = bytes;
	run->end_chunk = c;
	run->end_off = off;
	return n;
}

const void *tt_bqueue__next(struct tt_bqueue_run *run, size_t *len)
{
	const struct hdr *h;

	if (!run->left)
		return NULL;
	/* a record known to exist: here, or first in the next chunk (this one is sealed) */
	h = at(&run->chunk, &run->off, run->chunk_size);
	*len = h->len;
	run->off += (uint32_t)tt_bqueue__cost(h->len);
	run->left--;
	return h + 1;
}

void tt_bqueue__pop(struct tt_bqueue *q, const struct tt_bqueue_run *run)
{
	if (!run->items)
		return;
	while (q->head != run->end_chunk) {
		struct tt_bqueue_chunk *c = q->head;

		q->head = c->next;
		chunk_put(q, c);
	}
	q->head_off = run->end_off;
	q->items -= run->items;
	q->bytes -= run->bytes;
	/* empty: the tail chunk is written from its start again */
	if (!q->items && q->head == q->tail) {
		q->tail->used = 0;
		q->head_off = 0;
	}
}
