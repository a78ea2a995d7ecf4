// SPDX-License-Identifier: MIT
/*
 * The attempts table: hash(key, step) -> (spans seen, when the last began).
 *
 * Its own table rather than the generic one because it holds one entry per
 * key seen in the retry window, open or finished, and was the largest part of
 * an open span's bytes (24-byte entries at a load between 1/4 and 1/2).
 * Here an entry is 20 bytes (the count is 32 bits, as the attempt it gives
 * is), and the table grows only at 7/8 load, so it holds a key in 23-46
 * bytes rather than 48-96. Plain linear probing: most lookups are of a key
 * seen the first time, and a miss then costs one scan to an empty slot,
 * where the entry goes; Robin Hood ordering would shorten the rarer hits
 * but moves a run of entries on every insertion (measured: more
 * instructions a span, not fewer). Deletion shifts the cluster back, so
 * there are no tombstones. The table shrinks again when a sweep leaves it
 * mostly empty.
 *
 * Keys are already 64-bit hashes (never 0: 0 marks an empty slot), so a
 * key's home slot is its low bits.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "assemble_internal.h"

#define TRIES_MIN_CAP 16

static uint32_t home_of(const struct asm_tries *t, uint64_t key)
{
	return (uint32_t)key & t->mask;
}

static int tries_alloc(struct asm_tries *t, uint32_t cap)
{
	struct asm_try *e = calloc(cap, sizeof(*e));

	if (!e)
		return -ENOMEM;
	free(t->e);
	t->e = e;
	t->mask = cap - 1;
	t->len = 0;
	return 0;
}

int asm__tries_init(struct asm_tries *t, uint32_t cap)
{
	uint32_t n = TRIES_MIN_CAP;

	while (n < cap)
		n *= 2;
	t->e = NULL;
	return tries_alloc(t, n);
}

void asm__tries_release(struct asm_tries *t)
{
	free(t->e);
	t->e = NULL;
	t->mask = 0;
	t->len = 0;
}

uint32_t asm__tries_cap(const struct asm_tries *t)
{
	return t->e ? t->mask + 1 : 0;
}

/* Where key is, or (*found false) the empty slot where it would go. */
static uint32_t find(const struct asm_tries *t, uint64_t key, bool *found)
{
	uint32_t i = home_of(t, key);

	while (t->e[i].key != key && t->e[i].key)
		i = (i + 1) & t->mask;
	*found = t->e[i].key != 0;
	return i;
}

struct asm_try *asm__tries_get(const struct asm_tries *t, uint64_t key)
{
	bool found;
	uint32_t i = find(t, key, &found);

	return found ? &t->e[i] : NULL;
}

static struct asm_try *insert_at(struct asm_tries *t, uint32_t at, struct asm_try in)
{
	t->e[at] = in;
	t->len++;
	return &t->e[at];
}

/* Places an entry whose key is not in the table. */
static void place(struct asm_tries *t, struct asm_try in)
{
	bool found;

	insert_at(t, find(t, in.key, &found), in);
}

/* Moves every entry into a table of cap slots; on no memory, leaves it as it was. */
static int rehash(struct asm_tries *t, uint32_t cap)
{
	struct asm_tries n = {0};
	uint32_t old_cap = asm__tries_cap(t);

	if (tries_alloc(&n, cap))
		return -ENOMEM;
	for (uint32_t i = 0; i < old_cap; i++) {
		if (t->e[i].key)
			place(&n, t->e[i]);
	}
	free(t->e);
	*t = n;
	return 0;
}

struct asm_try *asm__tries_upsert(struct asm_tries *t, uint64_t key, bool *created)
{
	uint32_t cap = asm__tries_cap(t);
	bool found;
	uint32_t i = find(t, key, &found);

	*created = !found;
	if (found)
		return &t->e[i];
	if ((uint64_t)(t->len + 1) * 8 > (uint64_t)cap * 7) {
		if (rehash(t, cap * 2))
			return NULL;
		i = find(t, key, &found);
	}
	return insert_at(t, i, (struct asm_try){.key = key});
}

int asm__tries_put(struct asm_tries *t, uint64_t key, uint32_t seen, uint64_t at)
{
	bool created;
	struct asm_try *e = asm__tries_upsert(t, key, &created);

	if (!e)
		return -ENOMEM;
	e->seen = seen;
	e->at = at;
	return 0;
}

/* Empties slot i, pulling later entries of its cluster back into the hole (no tombstones). */
static void del_at(struct asm_tries *t, uint32_t i)
{
	for (uint32_t j = (i + 1) & t->mask; t->e[j].key; j = (j + 1) & t->mask) {
		uint32_t home = home_of(t, t->e[j].key);

		/* e[j] may fill the hole unless its home lies cyclically in (i, j] */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->e[i] = t->e[j];
			i = j;
		}
	}
	memset(&t->e[i], 0, sizeof(t->e[i]));
	t->len--;
}

int asm__tries_del(struct asm_tries *t, uint64_t key)
{
	struct asm_try *e = asm__tries_get(t, key);

	if (!e)
		return 0;
	del_at(t, (uint32_t)(e - t->e));
	return 1;
}

uint32_t asm__tries_expire(struct asm_tries *t, uint64_t now, uint64_t window)
{
	uint32_t cap = asm__tries_cap(t), gone = 0;

	for (uint32_t i = 0; i < cap;) {
		if (t->e[i].key && now - t->e[i].at > window) {
			del_at(t, i); /* a later entry may have moved into slot i */
			gone++;
			continue;
		}
		i++;
	}
	asm__tries_shrink(t);
	return gone;
}

void asm__tries_clear(struct asm_tries *t)
{
	memset(t->e, 0, (size_t)asm__tries_cap(t) * sizeof(*t->e));
	t->len = 0;
	asm__tries_shrink(t);
}

void asm__tries_shrink(struct asm_tries *t)
{
	uint32_t cap = asm__tries_cap(t), want = cap;

	if (t->len >= cap / 8)
		return;
	/* to half load at most, so the next few keys do not grow it again */
	while (want > TRIES_MIN_CAP && t->len * 2 <= want / 2)
		want /= 2;
	if (want < cap)
		rehash(t, want); /* no memory: it stays as large as it was */
}
