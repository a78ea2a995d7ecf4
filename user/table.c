// SPDX-License-Identifier: MIT
/* The open-addressing hash table of 64-bit keys (see table.h). */
#include <errno.h>
#include <stdlib.h>

#include "table.h"

static size_t slot_of(const struct tt_table *t, uint64_t key)
{
	/* keys are hashes already, except thread ids: mix once more */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return key & (t->cap - 1);
}

int tt_table__init(struct tt_table *t, size_t cap)
{
	size_t n = 16;

	while (n < cap)
		n *= 2;
	t->e = calloc(n, sizeof(*t->e));
	if (!t->e)
		return -ENOMEM;
	t->cap = n;
	t->len = 0;
	return 0;
}

void tt_table__release(struct tt_table *t)
{
	free(t->e);
	t->e = NULL;
	t->cap = 0;
	t->len = 0;
}

uint64_t *tt_table__get(const struct tt_table *t, uint64_t key)
{
	for (size_t i = slot_of(t, key);; i = (i + 1) & (t->cap - 1)) {
		if (t->e[i].key == key)
			return t->e[i].v;
		if (t->e[i].key == 0)
			return NULL;
	}
}

static int grow(struct tt_table *t)
{
	struct tt_table bigger;

	if (tt_table__init(&bigger, t->cap * 2))
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->e[i].key)
			tt_table__put(&bigger, t->e[i].key, t->e[i].v[0], t->e[i].v[1]);
	}
	free(t->e);
	*t = bigger;
	return 0;
}

int tt_table__put(struct tt_table *t, uint64_t key, uint64_t v0, uint64_t v1)
{
	size_t i;

	if ((t->len + 1) * 2 > t->cap && grow(t))
		return -ENOMEM;
	for (i = slot_of(t, key); t->e[i].key && t->e[i].key != key; i = (i + 1) & (t->cap - 1))
		;
	if (!t->e[i].key)
		t->len++;
	t->e[i].key = key;
	t->e[i].v[0] = v0;
	t->e[i].v[1] = v1;
	return 0;
}

int tt_table__del(struct tt_table *t, uint64_t key)
{
	size_t i, j, home;

	for (i = slot_of(t, key); t->e[i].key != key; i = (i + 1) & (t->cap - 1)) {
		if (!t->e[i].key)
			return 0;
	}
	/* backward shift: pull later entries of the cluster into the hole */
	for (j = (i + 1) & (t->cap - 1); t->e[j].key; j = (j + 1) & (t->cap - 1)) {
		home = slot_of(t, t->e[j].key);
		/* move e[j] to i unless its home lies cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->e[i] = t->e[j];
			i = j;
		}
	}
	t->e[i].key = 0;
	t->len--;
	return 1;
}
