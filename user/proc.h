/* SPDX-License-Identifier: MIT */
/* Processes: capabilities of the agent, executables of targets. */
#ifndef TASKTAP_PROC_H
#define TASKTAP_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

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

#endif /* TASKTAP_PROC_H */
