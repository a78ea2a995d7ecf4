/* SPDX-License-Identifier: MIT */
/*
 * Where else a library's code runs: the files that running processes map
 * executable (another copy of the library under another name, or its code
 * linked into an executable) and that define every function a spec probes
 * in that library. Read from /proc/PID/maps, through /proc/PID/root so that
 * files in other mount namespaces are found.
 */
#ifndef TASKTAP_LIBSCAN_H
#define TASKTAP_LIBSCAN_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Calls cb(path) once per distinct file (by device and inode), other than
 * the file at `skip`, mapped executable by process `pid` (or by any process
 * when pid <= 0), that defines every function in `symbols` (n of them).
 * `path` is valid only during the call. Stops at cb's first non-zero value
 * and returns it, unless the file went meanwhile (its process exited: a
 * skip, said with tt_info); returns 0 otherwise, or -errno when /proc
 * cannot be read.
 */
int tt_libscan__find(const char *const *symbols, int n, const char *skip, pid_t pid,
		     int (*cb)(const char *path, void *ctx), void *ctx);

#endif /* TASKTAP_LIBSCAN_H */
