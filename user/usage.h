/* SPDX-License-Identifier: MIT */
/*
 * Usage texts: one per command, kept beside the command's code, printed by
 * `tasktap COMMAND --help` and written into the tasktap(8) manual page
 * (`tasktap help --man`, run by `make` to build it): one source for both.
 */
#ifndef TASKTAP_USAGE_H
#define TASKTAP_USAGE_H

#include <stddef.h>
#include <stdio.h>

/* One option or one example: what is typed, and what it does. */
struct tt_usage_item {
	const char *what; /* "--pid PID", or a command line */
	const char *text; /* one sentence, no final full stop */
};

struct tt_usage {
	const char *name;		      /* the command: "check" */
	const char *args;		      /* what follows it: "SPEC [--pid PID]" */
	const char *summary;		      /* what it does, one line */
	const struct tt_usage_item *options;  /* ends with {NULL}; NULL for none */
	const struct tt_usage_item *examples; /* ends with {NULL}; NULL for none */
};

/*
 * Prints "usage: tasktap NAME ARGS", the summary, the options and the
 * examples of `u` to `out` (stdout for --help, stderr after a bad option).
 */
void tt_usage__print(const struct tt_usage *u, FILE *out);

/* The short form, "usage: tasktap NAME ARGS" and a pointer to --help, for a bad command line. */
void tt_usage__short(const struct tt_usage *u, FILE *out);

/*
 * Writes the tasktap(8) manual page in roff: a NAME, a SYNOPSIS listing
 * the `n` commands, `description` as DESCRIPTION, each command with its
 * options and examples, then SEE ALSO.
 */
void tt_usage__man(const struct tt_usage *const *cmds, size_t n, const char *description,
		   FILE *out);

#endif /* TASKTAP_USAGE_H */
