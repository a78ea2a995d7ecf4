/* SPDX-License-Identifier: MIT */
/*
 * The reorder buffer merges events drained from the per-CPU rings into
 * timestamp order. A thread that migrates between CPUs can have its entry
 * in one ring and its return in another, and a drain pass may see the
 * later one first; so events are held until they are older than a horizon
 * (the drain time less a slack that covers the gap between an event's
 * timestamp and its reservation in the ring, held back further while a
 * ring's reader is stopped at a record not yet committed: tt_ring_hold
 * below), then released sorted.
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

#include <stdbool.h>
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

/*
 * A ring's hold on the horizon. A BPF ring's reader stops at a record that
 * is reserved but not yet committed (its writer preempted between the two):
 * that ring stalls while the others are drained, and the records behind the
 * busy one, older than what the other rings gave, come later. So after each
 * pass the drain notes where each ring's reader stopped (its consumer
 * position) and how far its writers got (its producer position): when the
 * reader is behind, records are pending, and the horizon must not pass the
 * time before which they were all reserved.
 *
 * Each pass that finds new records pending marks their end (the producer
 * position) with the time of the pass before, when none of them was
 * reserved yet; a mark goes when the reader passes it. A record that stays
 * unread longer than a bound is not waited for again: a writer does not
 * hold a reservation that long unless something is wrong.
 */
#define TT_RING_MARKS 8

struct tt_ring_hold {
	uint64_t pos[TT_RING_MARKS];  /* the records before it were reserved after… */
	uint64_t time[TT_RING_MARKS]; /* …this time: the pass before the one that saw them */
	uint64_t seen[TT_RING_MARKS]; /* the pass that first saw them pending */
	unsigned nmarks;
	bool stuck; /* the record at stuck_pos overstayed the bound: not waited for */
	uint64_t stuck_pos;
};

/*
 * Notes a ring's consumer and producer positions after a pass at `now`,
 * the pass before at `prev`. Returns true the first time the record the
 * reader stopped at has been pending for longer than `bound` since a pass
 * saw it (it is then not waited for until the reader passes it).
 */
bool tt_ring_hold__see(struct tt_ring_hold *h, uint64_t cons, uint64_t prod, uint64_t prev,
		       uint64_t now, uint64_t bound);

/*
 * The time after which every record still pending in the ring was
 * reserved (the horizon stays at most a slack before it), UINT64_MAX when
 * none is pending.
 */
uint64_t tt_ring_hold__since(const struct tt_ring_hold *h);

/*
 * The horizon `horizon` held back by `n` rings: at most `slack` before the
 * earliest time their pending records were reserved after. UINT64_MAX (a
 * final flush) is left as it is.
 */
uint64_t tt_ring_hold__horizon(const struct tt_ring_hold *holds, size_t n, uint64_t horizon,
			       uint64_t slack);

#endif /* TASKTAP_REORDER_H */
