/* SPDX-License-Identifier: MIT */
/*
 * The on-disk spool: encoded batches the collector could not take yet, one
 * file per batch, replayed oldest first. Survives an agent restart.
 *
 * A file is NNNNNNNNNNNNNNNN.tts (its sequence number in hex, so names sort
 * in write order): a 32-byte header (magic "TTSPOOL1", format version,
 * item count, payload length, CRC-32 of the payload, creation time) and
 * the payload (an ExportTraceServiceRequest). A file is written under a
 * temporary name, synced, then renamed, so a crash leaves either the whole
 * file or none; a file that is truncated or corrupt anyway is detected by
 * its header and CRC, deleted and counted. The total size is bounded.
 *
 * Not thread-safe: one thread (the exporter's) owns a spool.
 */
#ifndef TASKTAP_SPOOL_H
#define TASKTAP_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_SPOOL_MAGIC	 "TTSPOOL1"
#define TT_SPOOL_VERSION 1
#define TT_SPOOL_HEADER	 32

struct tt_spool_stats {
	uint64_t files;	  /* batches held now */
	uint64_t bytes;	  /* their size on disk */
	uint64_t items;	  /* spans they hold */
	uint64_t written; /* batches written since open */
	uint64_t removed; /* batches taken out (replayed or given up) since open */
	uint64_t corrupt; /* files found truncated or corrupt, and deleted */
	uint64_t full;	  /* batches refused because the spool was full */
};

struct tt_spool;

/*
 * Opens (creating it, mode 0700, with its parents) the spool in `dir`,
 * holding at most `max_bytes`, and indexes the batches a previous run left
 * there. Returns NULL with errno and the reason in `err`.
 */
struct tt_spool *tt_spool__open(const char *dir, uint64_t max_bytes, char *err, size_t len);

/* Accepts NULL. Leaves the files. */
void tt_spool__free(struct tt_spool *s);

/*
 * Writes one batch of `count` items. Returns 0, -ENOSPC when it would make
 * the spool larger than its bound (counted in `full`), or -errno.
 */
int tt_spool__push(struct tt_spool *s, const void *data, size_t len, uint32_t count);

/*
 * Reads the oldest batch into a malloc'ed *data (the caller frees it).
 * Files that are corrupt are deleted, counted and skipped. Returns 0,
 * -ENOENT when the spool is empty, or -errno.
 */
int tt_spool__peek(struct tt_spool *s, void **data, size_t *len, uint32_t *count);

/* Deletes the oldest batch (the one peek returned). Returns 0 or -ENOENT. */
int tt_spool__pop(struct tt_spool *s);

/* Whether the spool holds no batch. */
bool tt_spool__empty(const struct tt_spool *s);

void tt_spool__stats(const struct tt_spool *s, struct tt_spool_stats *st);

#endif /* TASKTAP_SPOOL_H */
