/* SPDX-License-Identifier: MIT */
/*
 * Resolution: a spec's targets and probes become a plan, the list of
 * (file, offset, pid) places to attach each probe. No BPF here, so that
 * `tasktap check` shows exactly what `tasktap run` would attach.
 */
#ifndef TASKTAP_RESOLVE_H
#define TASKTAP_RESOLVE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elf.h"
#include "spec.h"

struct tt_attachment {
	const struct tt_probe *probe;
	char path[PATH_MAX];  /* the file to attach to */
	char shown[PATH_MAX]; /* the same, as a person knows it */
	uint64_t offset;      /* file offset of the probed instruction */
	pid_t pid;	      /* one process, or -1 for every process */
	enum tt_insn_cost cost;
};

struct tt_plan {
	struct tt_attachment *at; /* owned */
	size_t n;
};

/*
 * Builds the plan for `spec`. A non-zero `pid` or non-NULL `binary`
 * replaces the place of every binary: and pid: target. Returns 0, or
 * -errno with one message in err naming the spec position, the file and
 * the problem (a missing symbol lists the closest names).
 */
int tt_plan__build(const struct tt_spec *spec, pid_t pid, const char *binary, struct tt_plan *plan,
		   char *err, size_t errlen);

/* Frees the plan's list. Accepts a zeroed plan. */
void tt_plan__release(struct tt_plan *plan);

#endif /* TASKTAP_RESOLVE_H */
