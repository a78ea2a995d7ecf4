// SPDX-License-Identifier: MIT
/*
 * assemble_index.c: the indexes of open spans (threads, tasks and consumes
 * by key, begin/end spans by (probe, key)), as open-addressing tables of
 * slot numbers: 4 bytes an entry, where a table of (hash, values) would take
 * 24. An entry's hash is read from its slot (see slot_hash()), so that the
 * slot must have it set before the entry is put and keep it while indexed.
 * Linear probing with backward-shift deletion; grows by doubling at half
 * load, never shrinks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "assemble.h"
#include "assemble_internal.h"

/* The hash slot i is indexed by in table t. */
static uint64_t slot_hash(const struct tt_asm *a, const struct slot_table *t, int32_t i)
{
	const struct slot *sl = slot_at(a, i);

	switch (t->by) {
	case BY_THREAD:
		return asm__thread_key(sl->span.pid, sl->span.tid);
	case BY_ASYNC:
		return sl->async;
	default:
		return sl->khash;
	}
}

static uint32_t home_of(const struct slot_table *t, uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)(h & (t->cap - 1));
}

int asm__slot_table_init(struct slot_table *t, enum slot_table_by by, uint32_t cap)
{
	uint32_t n = 16;

	while (n < cap)
		n *= 2;
	t->e = malloc(n * sizeof(*t->e));
	if (!t->e)
		return -ENOMEM;
	memset(t->e, 0xff, n * sizeof(*t->e)); /* NIL */
	t->cap = n;
	t->len = 0;
	t->by = by;
	return 0;
}

void asm__slot_table_release(struct slot_table *t)
{
	free(t->e);
	t->e = NULL;
	t->cap = t->len = 0;
}

int32_t *asm__slot_table_get(const struct tt_asm *a, const struct slot_table *t, uint64_t h)
{
	for (uint32_t i = home_of(t, h);; i = (i + 1) & (t->cap - 1)) {
		if (t->e[i] == NIL)
			return NULL;
		if (slot_hash(a, t, t->e[i]) == h)
			return &t->e[i];
	}
}

static void insert(const struct tt_asm *a, struct slot_table *t, uint64_t h, int32_t v)
{
	uint32_t i;

	for (i = home_of(t, h); t->e[i] != NIL && slot_hash(a, t, t->e[i]) != h;
	     i = (i + 1) & (t->cap - 1))
		;
	if (t->e[i] == NIL)
		t->len++;
	t->e[i] = v;
}

static int grow(const struct tt_asm *a, struct slot_table *t)
{
	struct slot_table bigger;

	if (asm__slot_table_init(&bigger, t->by, t->cap * 2))
		return -ENOMEM;
	for (uint32_t i = 0; i < t->cap; i++) {
		if (t->e[i] != NIL)
			insert(a, &bigger, slot_hash(a, t, t->e[i]), t->e[i]);
	}
	free(t->e);
	*t = bigger;
	return 0;
}

int asm__slot_table_put(const struct tt_asm *a, struct slot_table *t, uint64_t h, int32_t v)
{
	if ((t->len + 1) * 2 > t->cap && grow(a, t))
		return -ENOMEM;
	insert(a, t, h, v);
	return 0;
}

bool asm__slot_table_del(const struct tt_asm *a, struct slot_table *t, uint64_t h)
{
	uint32_t i, j, home;

	for (i = home_of(t, h); t->e[i] == NIL || slot_hash(a, t, t->e[i]) != h;
	     i = (i + 1) & (t->cap - 1)) {
		if (t->e[i] == NIL)
			return false;
	}
	/* backward shift: pull later entries of the cluster into the hole */
	for (j = (i + 1) & (t->cap - 1); t->e[j] != NIL; j = (j + 1) & (t->cap - 1)) {
		home = home_of(t, slot_hash(a, t, t->e[j]));
		/* move e[j] to i unless its home lies cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->e[i] = t->e[j];
			i = j;
		}
	}
	t->e[i] = NIL;
	t->len--;
	return true;
}
