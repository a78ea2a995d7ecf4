/* SPDX-License-Identifier: MIT */
/*
 * The span ledger: what an agent has finished and what it has settled,
 * kept where the next agent with the same --pin finds it after a SIGKILL.
 *
 * Finished spans wait in the exporter's queue, and in the batch being sent,
 * for up to OTEL_BSP_SCHEDULE_DELAY (and the retries); a killed agent takes
 * them with it. The ledger is a one-element BPF array map, mmap-able,
 * pinned as PIN_DIR/ledger (bpffs holds no plain files) and mapped into the
 * agent: the exporter counts into it with atomic adds, no system call. The
 * next agent reads what the last one queued and never settled: the spans
 * it lost by being killed.
 */
#ifndef TASKTAP_LEDGER_H
#define TASKTAP_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Spans counted outside the exporter; both only grow (atomic adds). */
struct tt_span_tally {
	uint64_t queued;  /* taken into the exporter's queue */
	uint64_t settled; /* gone from memory: sent (accepted or refused), spooled, or dropped */
};

/* The pinned page, as the next agent reads it. */
struct tt_ledger_page {
	uint64_t magic;
	uint64_t running; /* 1 from the start; 0 once the agent stopped cleanly */
	uint64_t pid;
	struct tt_span_tally spans;
	uint64_t counted_lost; /* spans the agent itself counted lost (their end without start) */
	uint64_t ends_unread;  /* span ends read from the rings and not yet assembled (the
				* reorder buffer holds them up to its slack) */
};

/* What the agent before this one left, as tt_ledger__open() found it. */
struct tt_ledger_prev {
	bool found;
	bool killed; /* it did not stop cleanly */
	uint64_t pid;
	uint64_t unsent;       /* queued and never settled, or ends read and not assembled: lost */
	uint64_t counted_lost; /* its own count, lost with it when it was killed */
};

struct tt_ledger;

/*
 * Opens PIN_DIR/ledger, or creates and pins it, reads what the agent before
 * left into *prev, and starts this agent's page (counts at 0, running).
 * Returns the ledger, or NULL with errno set and a message in err. The
 * caller frees it with tt_ledger__free().
 */
struct tt_ledger *tt_ledger__open(const char *pin_dir, struct tt_ledger_prev *prev, char *err,
				  size_t errlen);

/* This agent's page: count into it with atomic adds. */
struct tt_ledger_page *tt_ledger__page(struct tt_ledger *lg);

/*
 * Unmaps the ledger; `clean`: the agent stopped cleanly (what it queued is
 * settled), which the next agent then reads. Accepts NULL.
 */
void tt_ledger__free(struct tt_ledger *lg, bool clean);

#endif /* TASKTAP_LEDGER_H */
