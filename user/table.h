/* SPDX-License-Identifier: MIT */
/*
 * A small open-addressing hash table: 64-bit keys (0 is reserved for
 * "empty"; callers hash their keys and map 0 to something else) to two
 * 64-bit values. Linear probing with backward-shift deletion, so lookups
 * never wade through tombstones. Grows by doubling at half load; never
 * shrinks. Steady state allocates nothing.
 */
#ifndef TASKTAP_TABLE_H
#define TASKTAP_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct tt_table_entry {
	uint64_t key;
	uint64_t v[2];
};

struct tt_table {
	struct tt_table_entry *e;
	size_t cap; /* a power of two */
	size_t len;
};

/* Initialises an empty table with room for `cap` entries (rounded up). */
int tt_table__init(struct tt_table *t, size_t cap);

/* Frees the entries; the table may be initialised again. */
void tt_table__release(struct tt_table *t);

/* Returns the values stored under key, or NULL. Valid until the next put or del. */
uint64_t *tt_table__get(const struct tt_table *t, uint64_t key);

/* Stores (v0, v1) under key, replacing what was there. 0 or -ENOMEM. */
int tt_table__put(struct tt_table *t, uint64_t key, uint64_t v0, uint64_t v1);

/* Removes key; returns whether it was there. */
int tt_table__del(struct tt_table *t, uint64_t key);

#endif /* TASKTAP_TABLE_H */
