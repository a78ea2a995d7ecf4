/* SPDX-License-Identifier: MIT */
/*
 * Discovery: which processes a spec's comm: targets and binary: globs
 * apply to, decided on what proc.h reads of them when they exec or when
 * the agent starts. Pure: strings in, answers out, for the unit tests.
 */
#ifndef TASKTAP_DISCOVER_H
#define TASKTAP_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "tasktap/event.h"

/*
 * The process names a binary: path or glob can run under: the kernel names
 * a process after its file's base name, cut to 15 bytes. Writes into
 * `comm` the literal start of the base name (up to its first * ? or [),
 * and returns how many bytes of a process name must match: the length
 * plus one (the NUL) when the base name has no glob character and fits,
 * the length of the literal start otherwise; 0 when the base name starts
 * with a glob character (every process may be one). Pure.
 */
uint32_t tt_glob__comm_prefix(const char *path, char comm[TT_COMM_LEN]);

/* A process-name pattern of tt_glob__comm_prefix(): the first `len` bytes of `comm` must match. */
struct tt_comm_prefix {
	char comm[TT_COMM_LEN];
	uint32_t len;
};

/*
 * Fits the patterns p[0..n) into `max` (the BPF table's size): drops
 * duplicates and patterns another one covers, then, while there are too
 * many, replaces the two that share the longest start with that start,
 * which covers both (a wider net: the agent still checks each process it
 * is told of). Returns the new count, or -1 when they cannot fit (no two
 * share a first byte). Pure.
 */
int tt_comm_prefix__fit(struct tt_comm_prefix *p, int n, int max);

/* Whether path has a glob character (* ? [). Pure. */
bool tt_glob__is(const char *path);

/* Whether the executable `exe` is what binary: `pattern` (a path or a glob) names. Pure. */
bool tt_glob__path_matches(const char *pattern, const char *exe);

/*
 * The cgroup v2 path in `text`, what /proc/PID/cgroup holds (its "0::/path"
 * line), into buf (len bytes). Returns 0, -ENOENT when there is none (a
 * cgroup v1 host), -ENAMETOOLONG when it does not fit. Pure.
 */
int tt_cgroup__from_proc(const char *text, char *buf, size_t len);

/* Whether cgroup `path` is the cgroup `prefix` or below it ("/a" holds "/a/b", not "/ab"). Pure. */
bool tt_cgroup__under(const char *prefix, const char *path);

/* What a library: target is narrowed to; a NULL member asks nothing. */
struct tt_narrow {
	const char *comm;   /* the process name */
	const char *exe;    /* the executable: a path or a glob */
	const char *cgroup; /* the cgroup (v2 path) or one below it */
};

/*
 * Whether a process named `comm`, running `exe`, in cgroup `cgroup` (NULL
 * when unknown: then a cgroup narrowing does not hold) is one that `want`
 * narrows to: all it names must hold. Pure.
 */
bool tt_narrow__holds(const struct tt_narrow *want, const char *comm, const char *exe,
		      const char *cgroup);

#endif /* TASKTAP_DISCOVER_H */
