/* SPDX-License-Identifier: MIT */
/*
 * The diagnostics path: messages for people, on stderr, never mixed with the
 * data on stdout. Problems go through tt_warn, information ("attached 2
 * probes") through tt_info, so that each can be told apart and changed alone.
 */
#ifndef TASKTAP_LOG_H
#define TASKTAP_LOG_H

/* The program name every message starts with ("tasktap"). */
extern const char *tt_prog_name;

/* A problem: "tasktap: MESSAGE\n" on stderr. Messages are git style: lower-case, problem first. */
void tt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Information for the person running tasktap: "tasktap: MESSAGE\n" on stderr. */
void tt_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TASKTAP_LOG_H */
