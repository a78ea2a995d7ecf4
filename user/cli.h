/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands: diagnostics, argument parsing, clocks. */
#ifndef TASKTAP_CLI_H
#define TASKTAP_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

extern const char *tt_prog_name;

/* The one diagnostics path: "tasktap: MESSAGE\n" on stderr. */
void tt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A positive pid. 0 or -EINVAL. */
int tt_parse_pid(const char *s, pid_t *pid);

/* A byte count with an optional K or M suffix. 0 or -EINVAL. */
int tt_parse_size(const char *s, size_t *out);

/* Nanoseconds on `clock`. */
uint64_t tt_now_ns(clockid_t clock);

/* The subcommands, each in its own file. */
int tt_cmd__run(int argc, char **argv);
int tt_cmd__status(int argc, char **argv);

#endif /* TASKTAP_CLI_H */
