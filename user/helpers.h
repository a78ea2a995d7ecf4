/* SPDX-License-Identifier: MIT */
/* Small helpers the modules share: numbers from the command line, clocks. */
#ifndef TASKTAP_HELPERS_H
#define TASKTAP_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* A positive pid. 0 or -EINVAL. */
int tt_parse_pid(const char *s, pid_t *pid);

/*
 * A byte count: decimal digits and an optional K, M or G suffix (powers of
 * 1024, either case). 0, -EINVAL when it is not one, -ERANGE when it does
 * not fit a size_t; *out is left as it was on failure.
 */
int tt_parse_size(const char *s, size_t *out);

/* Nanoseconds on `clock`. */
uint64_t tt_now_ns(clockid_t clock);

#endif /* TASKTAP_HELPERS_H */
