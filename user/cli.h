/* SPDX-License-Identifier: MIT */
/* The subcommands, each in its own file, and what they share (diagnostics, parsing, clocks). */
#ifndef TASKTAP_CLI_H
#define TASKTAP_CLI_H

#include "helpers.h"
#include "log.h"
#include "usage.h"

int tt_cmd__run(int argc, char **argv);
/* run's usage, built from its table of options (user/agent/cmd_run.c). */
const struct tt_usage *tt_cmd__run_usage(void);
int tt_cmd__status(int argc, char **argv);
extern const struct tt_usage tt_status_usage;

#endif /* TASKTAP_CLI_H */
