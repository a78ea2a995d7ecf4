/* SPDX-License-Identifier: MIT */
/*
 * A FIFO of variable-size records bounded in bytes (and, when asked, in
 * records): the exporter's queues. Records live in chunks taken as the
 * queue grows and given back (a few kept for reuse) as it empties, so its
 * memory follows what it holds, not its bound.
 *
 *   head ─▶ [chunk: rec rec rec ▯] ─▶ [chunk: rec rec ...] ◀─ tail
 *
 * A record costs an 8-byte header plus its length rounded up to 8: that is
 * what the bound counts (tt_bqueue__cost()). A record never straddles two
 * chunks: one that does not fit in the tail chunk starts the next one, and
 * the rest of the tail chunk is marked unused.
 *
 * One writer appends (tt_bqueue__reserve() then tt_bqueue__commit(), in one
 * hold of the caller's lock); one reader at a time takes a run of records
 * off the head (tt_bqueue__peek() under the lock, tt_bqueue__next() to read
 * them, with or without the lock, tt_bqueue__pop() under the lock). The
 * records of a run stay where they are until popped, and the writer writes
 * only past them, so reading them needs no lock. Not thread-safe otherwise.
 */
#ifndef TASKTAP_BQUEUE_H
#define TASKTAP_BQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_BQUEUE_CHUNK	   (256u << 10) /* a chunk's room, unless the bound is smaller */
#define TT_BQUEUE_POOL	   4		/* empty chunks kept for reuse */
#define TT_BQUEUE_HDR	   8u
#define TT_BQUEUE_MIN_ROOM 4096u /* the smallest chunk */

struct tt_bqueue_chunk;

struct tt_bqueue {
	uint64_t max_bytes;
	uint64_t max_items; /* 0: no bound on the count */
	uint32_t chunk_size;
	uint64_t bytes, items; /* committed and not popped */
	struct tt_bqueue_chunk *head, *tail;
	uint32_t head_off; /* the first record's offset in head */
	struct tt_bqueue_chunk *pool;
	uint32_t npool;
	uint64_t chunks; /* allocated now, pool included */
};

/* Records taken off the head, in order: tt_bqueue__next() reads them. */
struct tt_bqueue_run {
	struct tt_bqueue_chunk *chunk; /* the next record's */
	uint32_t off;
	uint32_t chunk_size;
	uint64_t items, bytes;		   /* in the run */
	uint64_t left;			   /* records not read yet */
	struct tt_bqueue_chunk *end_chunk; /* past the run: where the head moves to */
	uint32_t end_off;
};

/* What a record of `len` bytes counts against the bound. */
static inline uint64_t tt_bqueue__cost(size_t len)
{
	return TT_BQUEUE_HDR + (((uint64_t)len + 7) & ~(uint64_t)7);
}

/*
 * Sets up an empty queue holding at most `max_bytes` (at least the cost of
 * one record of `max_record` bytes) and, unless 0, `max_items` records.
 * Allocates nothing yet. Returns 0, or -EINVAL when max_bytes cannot hold
 * one such record.
 */
int tt_bqueue__init(struct tt_bqueue *q, uint64_t max_bytes, uint64_t max_items, size_t max_record);

/* Frees every chunk; the queue is left empty and unusable until initialised again. */
void tt_bqueue__release(struct tt_bqueue *q);

/*
 * Room for a record of `len` bytes at the tail, or NULL: -ENOSPC in *err
 * when the queue is at its bound, -ENOMEM without memory, -EMSGSIZE when
 * the record is larger than a chunk. The caller writes the record there
 * and calls tt_bqueue__commit() before releasing its lock.
 */
void *tt_bqueue__reserve(struct tt_bqueue *q, size_t len, int *err);

/* Makes the record reserved last part of the queue. */
void tt_bqueue__commit(struct tt_bqueue *q);

/*
 * Describes in `run` the records at the head, oldest first: at most
 * `max_items` of them and, past the first, at most `max_bytes` (what
 * tt_bqueue__cost() counts). Returns the count (0: empty). The records stay
 * queued until tt_bqueue__pop(run).
 */
uint64_t tt_bqueue__peek(const struct tt_bqueue *q, uint64_t max_items, uint64_t max_bytes,
			 struct tt_bqueue_run *run);

/* The run's next record and its length, or NULL after the last. */
const void *tt_bqueue__next(struct tt_bqueue_run *run, size_t *len);

/* Removes the records `run` described (the oldest: no other pop in between). */
void tt_bqueue__pop(struct tt_bqueue *q, const struct tt_bqueue_run *run);

#endif /* TASKTAP_BQUEUE_H */
