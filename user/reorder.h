/* SPDX-License-Identifier: MIT */
/*
 * The reorder buffer merges events drained from the per-CPU rings into
 * timestamp order. A thread that migrates between CPUs can have its entry
 * in one ring and its return in another, and a drain pass may see the
 * later one first; so events are held until they are older than a horizon
 * (the drain time less a slack that covers the gap between an event's
 * timestamp and its commit), then released sorted.
 *
 * Events held from one pass to the next stay sorted: a pass sorts only
 * what it drained (few, and nearly in order) and merges it in. Event bytes
 * are appended to one buffer, each event at an 8-byte boundary so that its
 * fields read in place, and never moved while held, except when the
 * buffer fills, when the held ones are compacted into a spare buffer.
 * The steady state allocates nothing.
 */
#ifndef TASKTAP_REORDER_H
#define TASKTAP_REORDER_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "tasktap/event.h"

struct tt_reorder_ent {
	uint64_t ts;
	uint64_t seq; /* arrival order, to keep equal timestamps stable */
	size_t off;
	size_t size;
};

struct tt_reorder {
	uint8_t *buf; /* event bytes, appended */
	size_t len;
	size_t cap;
	uint8_t *spare; /* where held events move when buf fills */
	size_t cap_spare;
	struct tt_reorder_ent *ents;   /* [head, sorted) sorted; [sorted, n) drained since */
	struct tt_reorder_ent *merged; /* the target of a merge, then swapped with ents */
	size_t head;
	size_t sorted;
	size_t n;
	size_t cap_ents;
	uint64_t seq;
};

void tt_reorder__init(struct tt_reorder *r);
void tt_reorder__release_all(struct tt_reorder *r);

/*
 * Copies an event of `size` bytes in (fewer than a header: kept, and handed
 * over first, as if its time were 0). 0 or -ENOMEM.
 */
int tt_reorder__add(struct tt_reorder *r, const struct tt_event *ev, size_t size);

typedef void (*tt_reorder_fn)(const struct tt_event *ev, size_t size, void *ctx);

/* Hands over, in timestamp order, every held event with ts <= horizon. */
void tt_reorder__flush(struct tt_reorder *r, uint64_t horizon, tt_reorder_fn fn, void *ctx);

#endif /* TASKTAP_REORDER_H */
