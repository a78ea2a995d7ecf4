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

/* Room for what tt_shorten() writes. */
#define TT_SHORT_MAX 96

/*
 * `s` as a message quotes it: itself when it is short, else its first
 * bytes (whole UTF-8 characters), "..." and its length in bytes, so that
 * what the message says after it (what is wrong) is never cut off.
 * Returns s, or buf (TT_SHORT_MAX bytes) holding the short form.
 */
const char *tt_shorten(const char *s, char buf[TT_SHORT_MAX]);

/* Nanoseconds on `clock`. */
uint64_t tt_now_ns(clockid_t clock);

#endif /* TASKTAP_HELPERS_H */
