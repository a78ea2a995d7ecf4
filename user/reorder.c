// SPDX-License-Identifier: MIT
/* The reorder buffer: events from per-CPU rings merged into time order (see reorder.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reorder.h"

void tt_reorder__init(struct tt_reorder *r)
{
	memset(r, 0, sizeof(*r));
}

void tt_reorder__release_all(struct tt_reorder *r)
{
	free(r->buf);
	free(r->spare);
	free(r->ents);
	free(r->merged);
	tt_reorder__init(r);
}

/* Where an event goes at byte `len`: aligned so that its 8-byte fields can be read in place. */
static size_t event_start(size_t len)
{
	const size_t align = _Alignof(struct tt_event);

	return (len + align - 1) & ~(align - 1);
}

/* Moves the held events' bytes to the front of the spare buffer, which becomes buf. */
static int compact(struct tt_reorder *r)
{
	size_t len = 0;
	uint8_t *tmp;

	if (r->cap_spare < r->cap) {
		uint8_t *spare = realloc(r->spare, r->cap);

		if (!spare)
			return -ENOMEM;
		r->spare = spare;
		r->cap_spare = r->cap;
	}
	for (size_t i = r->head; i < r->n; i++) {
		len = event_start(len);
		memcpy(r->spare + len, r->buf + r->ents[i].off, r->ents[i].size);
		r->ents[i].off = len;
		len += r->ents[i].size;
	}
	tmp = r->buf;
	r->buf = r->spare;
	r->spare = tmp;
	r->cap_spare = r->cap;
	r->len = len;
	return 0;
}

/*
 * Makes room for `size` more bytes at an aligned start: compacting first,
 * growing when that is not enough.
 */
static int room_for_bytes(struct tt_reorder *r, size_t size)
{
	size_t cap;
	uint8_t *buf;

	size += _Alignof(struct tt_event) - 1; /* the padding before it, at most */

	if (r->len + size <= r->cap)
		return 0;
	if (r->cap && compact(r))
		return -ENOMEM;
	/* half the buffer free after compacting, or it would compact again soon */
	if (r->len + size <= r->cap / 2)
		return 0;
	cap = r->cap ? r->cap : 64 * 1024;
	while (cap < 2 * (r->len + size))
		cap *= 2;
	buf = realloc(r->buf, cap);
	if (!buf)
		return -ENOMEM;
	r->buf = buf;
	r->cap = cap;
	return 0;
}

/* Makes room for one more entry: sliding the held ones to the front, or growing. */
static int room_for_entry(struct tt_reorder *r)
{
	size_t cap;
	struct tt_reorder_ent *ents, *merged;

	if (r->n < r->cap_ents)
		return 0;
	if (r->head > r->cap_ents / 2) {
		memmove(r->ents, r->ents + r->head, (r->n - r->head) * sizeof(*r->ents));
		r->n -= r->head;
		r->sorted -= r->head;
		r->head = 0;
		return 0;
	}
	cap = r->cap_ents ? r->cap_ents * 2 : 1024;
	ents = realloc(r->ents, cap * sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	r->ents = ents;
	merged = realloc(r->merged, cap * sizeof(*merged));
	if (!merged)
		return -ENOMEM;
	r->merged = merged;
	r->cap_ents = cap;
	return 0;
}

int tt_reorder__add(struct tt_reorder *r, const struct tt_event *ev, size_t size)
{
	size_t off;

	if (room_for_bytes(r, size) || room_for_entry(r))
		return -ENOMEM;
	off = event_start(r->len);
	memcpy(r->buf + off, ev, size);
	/* a record too short to hold a timestamp goes first; the assembler counts it malformed */
	r->ents[r->n++] = (struct tt_reorder_ent){.ts = size >= sizeof(*ev) ? ev->ts_ns : 0,
						  .seq = r->seq++,
						  .off = off,
						  .size = size};
	r->len = off + size;
	return 0;
}

static int by_time(const void *pa, const void *pb)
{
	const struct tt_reorder_ent *a = pa, *b = pb;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The end of the run of entries in order that starts at `from`. */
static size_t run_end(const struct tt_reorder_ent *a, size_t from, size_t n)
{
	size_t i = from + 1;

	while (i < n && by_time(&a[i - 1], &a[i]) <= 0)
		i++;
	return i;
}

/* Merges src[lo, mid) and src[mid, hi), both in order, into dst[lo, hi); equal: left first. */
static void merge_runs(const struct tt_reorder_ent *src, size_t lo, size_t mid, size_t hi,
		       struct tt_reorder_ent *dst)
{
	size_t i = lo, j = mid, k = lo;

	while (i < mid && j < hi)
		dst[k++] = by_time(&src[i], &src[j]) <= 0 ? src[i++] : src[j++];
	while (i < mid)
		dst[k++] = src[i++];
	while (j < hi)
		dst[k++] = src[j++];
}

/*
 * Sorts what was drained since the last pass, [sorted, n). Each ring gives
 * its records in time order, so a pass drains a few runs in order (one per
 * ring that had records), or one: they are merged, run by run, through the
 * spare entries (`merged`), and one run costs a look at each entry. qsort
 * compared each entry log2(n) times whatever the order (~750 instructions
 * a span in bench-pipeline).
 */
static void sort_drained(struct tt_reorder *r)
{
	struct tt_reorder_ent *src = r->ents + r->sorted, *dst = r->merged, *tmp;
	size_t n = r->n - r->sorted, runs;

	if (n < 2 || run_end(src, 0, n) == n)
		return;
	do {
		size_t lo = 0;

		for (runs = 0; lo < n; runs++) {
			size_t mid = run_end(src, lo, n), hi = mid < n ? run_end(src, mid, n) : n;

			merge_runs(src, lo, mid, hi, dst);
			lo = hi;
		}
		tmp = src;
		src = dst;
		dst = tmp;
	} while (runs > 1);
	if (src != r->ents + r->sorted)
		memcpy(r->ents + r->sorted, src, n * sizeof(*src));
}

/* Sorts what was drained since the last pass and merges it into the held events. */
static void merge_new(struct tt_reorder *r)
{
	size_t i = r->head, j = r->sorted, k = 0;
	struct tt_reorder_ent *tmp;

	if (r->sorted == r->n)
		return;
	sort_drained(r);
	if (r->sorted == r->head || by_time(&r->ents[r->sorted - 1], &r->ents[r->sorted]) <= 0) {
		r->sorted = r->n; /* the new ones all come after: already in order */
		return;
	}
	while (i < r->sorted && j < r->n)
		r->merged[k++] =
			by_time(&r->ents[i], &r->ents[j]) <= 0 ? r->ents[i++] : r->ents[j++];
	while (i < r->sorted)
		r->merged[k++] = r->ents[i++];
	while (j < r->n)
		r->merged[k++] = r->ents[j++];
	tmp = r->ents;
	r->ents = r->merged;
	r->merged = tmp;
	r->head = 0;
	r->n = k;
	r->sorted = k;
}

void tt_reorder__flush(struct tt_reorder *r, uint64_t horizon, tt_reorder_fn fn, void *ctx)
{
	merge_new(r);
	while (r->head < r->n && r->ents[r->head].ts <= horizon) {
		const struct tt_reorder_ent *e = &r->ents[r->head++];

		fn((const struct tt_event *)(r->buf + e->off), e->size, ctx);
	}
	if (r->head == r->n) {
		/* nothing held: start the buffers over */
		r->head = r->sorted = r->n = 0;
		r->len = 0;
	}
}

bool tt_ring_hold__see(struct tt_ring_hold *h, uint64_t cons, uint64_t prod, uint64_t prev,
		       uint64_t now, uint64_t bound)
{
	unsigned gone = 0;

	if (h->stuck) {
		if (cons == h->stuck_pos)
			return false; /* still there: not waited for */
		h->stuck = false;
	}
	/* the marks the reader has passed: all their records were read */
	while (gone < h->nmarks && h->pos[gone] <= cons)
		gone++;
	if (gone) {
		h->nmarks -= gone;
		memmove(h->pos, h->pos + gone, h->nmarks * sizeof(*h->pos));
		memmove(h->time, h->time + gone, h->nmarks * sizeof(*h->time));
		memmove(h->seen, h->seen + gone, h->nmarks * sizeof(*h->seen));
	}
	if (cons >= prod) {
		h->nmarks = 0;
		return false;
	}
	if (!h->nmarks || h->pos[h->nmarks - 1] < prod) {
		if (h->nmarks == TT_RING_MARKS) {
			/* the last mark's earlier time covers the new records too */
			h->pos[h->nmarks - 1] = prod;
		} else {
			h->pos[h->nmarks] = prod;
			h->time[h->nmarks] = prev;
			h->seen[h->nmarks] = now;
			h->nmarks++;
		}
	}
	if (now - h->seen[0] <= bound)
		return false;
	h->stuck = true;
	h->stuck_pos = cons;
	h->nmarks = 0;
	return true;
}

uint64_t tt_ring_hold__since(const struct tt_ring_hold *h)
{
	return h->nmarks ? h->time[0] : UINT64_MAX;
}

uint64_t tt_ring_hold__horizon(const struct tt_ring_hold *holds, size_t n, uint64_t horizon,
			       uint64_t slack)
{
	if (horizon == UINT64_MAX)
		return horizon;
	for (size_t i = 0; i < n; i++) {
		uint64_t since = tt_ring_hold__since(&holds[i]);

		if (since == UINT64_MAX)
			continue;
		since = since > slack ? since - slack : 0;
		if (since < horizon)
			horizon = since;
	}
	return horizon;
}
