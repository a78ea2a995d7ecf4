// SPDX-License-Identifier: MIT
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
	free(r->ents);
	free(r->spare);
	tt_reorder__init(r);
}

int tt_reorder__add(struct tt_reorder *r, const struct tt_event *ev, size_t size)
{
	if (r->len + size > r->cap) {
		size_t cap = r->cap ? r->cap : 64 * 1024;
		uint8_t *buf;

		while (cap < r->len + size)
			cap *= 2;
		buf = realloc(r->buf, cap);
		if (!buf)
			return -ENOMEM;
		r->buf = buf;
		r->cap = cap;
	}
	if (r->n == r->cap_ents) {
		size_t cap = r->cap_ents ? r->cap_ents * 2 : 1024;
		struct tt_reorder_ent *ents = realloc(r->ents, cap * sizeof(*ents));

		if (!ents)
			return -ENOMEM;
		r->ents = ents;
		r->cap_ents = cap;
	}
	memcpy(r->buf + r->len, ev, size);
	r->ents[r->n++] = (struct tt_reorder_ent){
		.ts = ev->ts_ns, .seq = r->seq++, .off = r->len, .size = size};
	r->len += size;
	return 0;
}

static int by_time(const void *pa, const void *pb)
{
	const struct tt_reorder_ent *a = pa, *b = pb;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void tt_reorder__flush(struct tt_reorder *r, uint64_t horizon, tt_reorder_fn fn, void *ctx)
{
	size_t done = 0, kept = 0, len = 0;

	if (!r->n)
		return;
	qsort(r->ents, r->n, sizeof(*r->ents), by_time);
	while (done < r->n && r->ents[done].ts <= horizon) {
		fn((const struct tt_event *)(r->buf + r->ents[done].off), r->ents[done].size, ctx);
		done++;
	}
	if (done == r->n) {
		r->n = 0;
		r->len = 0;
		return;
	}
	/* keep the rest, copied to the front of the spare buffer, which becomes the buffer */
	if (r->cap_spare < r->cap) {
		uint8_t *spare = realloc(r->spare, r->cap);

		if (!spare) {
			memmove(r->ents, r->ents + done, (r->n - done) * sizeof(*r->ents));
			r->n -= done;
			return; /* the held events stay where they are, still valid */
		}
		r->spare = spare;
		r->cap_spare = r->cap;
	}
	for (size_t i = done; i < r->n; i++) {
		memcpy(r->spare + len, r->buf + r->ents[i].off, r->ents[i].size);
		r->ents[kept] = r->ents[i];
		r->ents[kept++].off = len;
		len += r->ents[i].size;
	}
	{
		uint8_t *buf = r->buf;
		size_t cap = r->cap;

		r->buf = r->spare;
		r->cap = r->cap_spare;
		r->spare = buf;
		r->cap_spare = cap;
	}
	r->n = kept;
	r->len = len;
}
