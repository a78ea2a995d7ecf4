/* SPDX-License-Identifier: MIT */
/*
 * Processes, as /proc shows them: the one module that reads /proc. The
 * agent's capabilities, a process's executable, name, namespaces, start
 * time and mappings. Functions that take a `proc_root` read it instead of
 * "/proc" when it is not NULL (tests give their own); the parsers of /proc
 * text are pure.
 */
#ifndef TASKTAP_PROC_H
#define TASKTAP_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "tasktap/event.h"

/* What the agent knows of one process, read from /proc. */
struct tt_proc_info {
	pid_t pid;
	dev_t dev; /* identity of its executable */
	ino_t ino;
	char comm[TT_COMM_LEN];
	char exe[PATH_MAX]; /* its executable's path, as the process sees it */
	char open[64];	    /* a path that opens the executable from here: /proc/PID/exe */
	pid_t vpid;	    /* its pid in its own PID namespace (NSpid), or pid */
	bool other_mnt_ns;  /* it lives in another mount namespace (a container) */
};

/*
 * Checks that this process has what loading and attaching BPF needs
 * (CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE). Returns 0, or -EPERM with the
 * missing capabilities named in `missing` ("CAP_BPF, CAP_PERFMON").
 */
int tt_proc__check_caps(char *missing, size_t len);

/*
 * Writes the path through which the executable of `pid` can be opened
 * and probed ("/proc/PID/exe", which works across mount namespaces) into
 * buf, and its readable target into `shown`. Returns 0, -ESRCH when no
 * such process exists, or -errno.
 */
int tt_proc__exe(pid_t pid, char *buf, size_t len, char *shown, size_t shown_len);

/* Whether process `pid` exists (zombies count as gone). */
bool tt_proc__alive(pid_t pid);

/*
 * Reads process `pid` from `proc_root`. Returns 0, or -ESRCH when it is
 * gone, -ENOENT for a process without an executable (a kernel thread), or
 * -errno.
 */
int tt_proc__info(const char *proc_root, pid_t pid, struct tt_proc_info *info);

/* Calls fn for each process in `proc_root`. Stops when fn returns non-zero, and returns that. */
int tt_proc__for_each(const char *proc_root, int (*fn)(pid_t pid, void *ctx), void *ctx);

/*
 * Reads the file NAME of process `pid` ("stat", "cgroup", ...) in
 * `proc_root`: up to len - 1 bytes, NUL-terminated. Returns the bytes read
 * or -errno.
 */
ssize_t tt_proc__read(const char *proc_root, pid_t pid, const char *name, char *buf, size_t len);

/*
 * The path of the executable of `pid` in `proc_root`, as the process sees
 * it, without the " (deleted)" of a replaced file. Returns its length, or
 * -errno (-ENOENT for a kernel thread or a process that is gone).
 */
ssize_t tt_proc__exe_path(const char *proc_root, pid_t pid, char *buf, size_t len);

/*
 * The root directory of process `pid` as this process opens it
 * ("/proc/PID/root"): a path under it is the file the process sees there.
 */
void tt_proc__root(pid_t pid, char *buf, size_t len);

/*
 * Calls fn(path, ctx) for each file that process `pid` maps (only those
 * mapped executable when `exec_only`), `path` being the file as this
 * process opens it: through /proc/PID/root, so that a file in a container
 * is found. A file mapped twice comes twice. Stops when fn returns non-zero
 * and returns that; returns 0 when the process is gone or not ours to read.
 */
int tt_proc__for_each_mapping(pid_t pid, bool exec_only, int (*fn)(const char *path, void *ctx),
			      void *ctx);

/* One line of /proc/PID/maps. */
struct tt_proc_range {
	uint64_t start, end, offset;
	bool exec;
	const char *path; /* the file as this process opens it (through /proc/PID/root) */
};

/*
 * Calls fn for each file-backed mapping of process `pid`, in address order.
 * Stops when fn returns non-zero and returns that; returns 0 otherwise, or
 * -errno when the process cannot be read.
 */
int tt_proc__for_each_range(pid_t pid, int (*fn)(const struct tt_proc_range *r, void *ctx),
			    void *ctx);

/*
 * Opens the memory of process `pid` for reading (pread at its addresses).
 * Returns the fd, which the caller closes, or -errno (-EACCES, -EPERM when
 * not ours to read, -ENOENT when gone).
 */
int tt_proc__open_mem(pid_t pid);

/*
 * The pid in the innermost PID namespace, from the text of
 * /proc/PID/status (its last "NSpid:" field). 0 when there is none. Pure.
 */
pid_t tt_status__nspid(const char *status);

/* The start time (field 22, in clock ticks since boot) from the text of /proc/PID/stat; 0 when
 * it cannot be read. Pure. */
uint64_t tt_stat__start_time(const char *stat);

/*
 * The cgroup (v2 path, "/system.slice/jobs.service") of process `pid`,
 * into buf. Returns 0, -ESRCH for a process that is gone, -ENOENT on a
 * host without cgroup v2, or -errno.
 */
int tt_proc__cgroup(pid_t pid, char *buf, size_t len);

/*
 * The command line of process `pid`, its arguments joined by spaces, into
 * buf (cut to len - 1 bytes). Returns its length, or -errno (-ESRCH for a
 * process that is gone).
 */
int tt_proc__cmdline(pid_t pid, char *buf, size_t len);

/* Whether process `pid` is a descendant of `ancestor` (a child, a grandchild, ...). */
bool tt_proc__descends(pid_t pid, pid_t ancestor);

/*
 * The id of cgroup `path` (v2, "/system.slice/jobs.service"): the inode of
 * its directory where this process sees the cgroup2 hierarchy mounted, as
 * BPF's cgroup ids are. 0, -ENOENT without cgroup v2 or such a cgroup, or
 * -errno.
 */
int tt_proc__cgroup_id(const char *path, uint64_t *id);

#endif /* TASKTAP_PROC_H */
