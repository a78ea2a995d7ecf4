/* SPDX-License-Identifier: MIT */
/*
 * Resolution: a spec's targets and probes become a plan, the list of places
 * to attach each hook: (file, offset) for a function, (file, provider,
 * name) for a USDT probe, in one process or in all. No BPF here, so that
 * `tasktap check` shows exactly what `tasktap run` would attach.
 */
#ifndef TASKTAP_RESOLVE_H
#define TASKTAP_RESOLVE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elf.h"
#include "spec.h"
#include "python/interp.h"

struct tt_proc_info;

struct tt_attachment {
	const struct tt_hook *hook;
	const struct tt_probe *probe;
	char path[PATH_MAX];  /* the file to attach to */
	char shown[PATH_MAX]; /* the same, as a person knows it */
	bool usdt;	      /* a USDT probe (hook->provider, hook->usdt) */
	bool python;	      /* a Python function (hook->symbol): where the interpreter is `py` */
	struct tt_py_interp py;
	bool retprobe;	    /* also attach at the function's return */
	uint64_t offset;    /* functions: file offset of the probed instruction */
	uint64_t semaphore; /* USDT: the semaphore's address, 0 for none */
	pid_t pid;	    /* one process, or -1 for every process */
	enum tt_insn_cost cost;
};

struct tt_plan {
	struct tt_attachment *at; /* owned */
	size_t n;
	size_t cap;
};

/*
 * Builds the plan for `spec`. A non-zero `pid` or non-NULL `binary`
 * replaces the place of every binary: and pid: target. comm: targets,
 * binary: globs and library: targets narrowed to processes (with
 * `binary`, every library: target) are left out: the agent finds their
 * processes as they start (tt_plan__add_target()). A glob symbol adds
 * one hook to the spec per further function it matches. Returns 0, or
 * -errno with one message in err naming the spec position, the file and
 * the problem (a missing symbol lists the closest names).
 */
int tt_plan__build(struct tt_spec *spec, pid_t pid, const char *binary, struct tt_plan *plan,
		   char *err, size_t errlen);

/*
 * Adds the probes of target `t` of `spec` at the file `path` (named
 * `shown` in messages), in process `pid` or every process running the
 * file (-1): how the agent attaches to a process found as it starts.
 * Returns 0, or -errno with one message in err; on failure the plan may
 * hold some of the target's attachments.
 */
int tt_plan__add_target(struct tt_plan *plan, struct tt_spec *spec, const struct tt_target *t,
			const char *path, const char *shown, pid_t pid, char *err, size_t errlen);

/* Frees the plan's list. Accepts a zeroed plan. */
void tt_plan__release(struct tt_plan *plan);

/*
 * Whether t is an exact, absolute binary: path that is not on this host:
 * a file only containers have, attached as processes that run it start
 * (or a typo, which the agent and `tasktap check` say).
 */
bool tt_target__only_in_containers(const struct tt_target *t);

/*
 * Finds a shared library by name the way the dynamic loader would for
 * most programs: an absolute path as it is; otherwise the directories of
 * LD_LIBRARY_PATH, the loader's cache (/etc/ld.so.cache: the directories
 * of ld.so.conf) and the system's library directories. Writes the path
 * into buf. Returns 0 or -ENOENT.
 */
int tt_find_library(const char *name, char *buf, size_t len);

/*
 * Looks the 64-bit library `name` (a soname, "libcurl.so.4") up in the
 * loader's cache file `cache`, as ldconfig writes it (glibc 2.32 and later:
 * the new format only). Writes its path into buf. 0, or -ENOENT when the
 * cache has no such entry or cannot be read.
 */
int tt_ld_cache__find(const char *cache, const char *name, char *buf, size_t len);

/*
 * Finds a shared library by name inside another root (a container's, as
 * "/proc/PID/root"): an absolute path under the root, else its loader's
 * cache, else the system's library directories under it. Writes the path
 * into buf. 0 or -ENOENT.
 */
int tt_find_library_in(const char *root, const char *name, char *buf, size_t len);

/*
 * Whether process `pi` is one that library target t is narrowed to (its
 * comm:, binary: and cgroup:, each when given), and, with `binary`
 * (--binary PATH), runs that file.
 */
bool tt_target__narrowing_holds(const struct tt_target *t, const struct tt_proc_info *pi,
				const char *binary);

#endif /* TASKTAP_RESOLVE_H */
