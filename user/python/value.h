/* SPDX-License-Identifier: MIT */
/*
 * py(NAME.attr…): a Python value read in BPF (DESIGN §10), compiled to a
 * capture program's instructions (include/tasktap/capture.h): the probed
 * frame, its local or argument NAME, each attribute from the instance's
 * dict, recorded as a string (a str's text, an int in decimal, a bytes'
 * bytes). A value that cannot be read is recorded as unreadable.
 */
#ifndef TASKTAP_PYTHON_VALUE_H
#define TASKTAP_PYTHON_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>
#include "tasktap/capture.h"

/* The longest name of a local or attribute py() reads, in bytes. */
#define TT_PY_MAX_NAME 31

/* Whether `text` is a py(...) expression (it is compiled here, not by expr.c). */
bool tt_py_value__is(const char *text);

/*
 * Whether `text` reads py(return…): the value the function returned (a
 * keyword, never a local's name), read where the call ends.
 */
bool tt_py_value__reads_return(const char *text);

/*
 * Compiles `text`, "py(NAME.attr…)", and appends its instructions, ending
 * in one record, to `prog`; increments prog->ncaps. Returns 0, or -EINVAL
 * (leaving prog as it was) with the problem in err and the 0-based column
 * of `text` where it lies in *errcol.
 */
int tt_py_value__compile(const char *text, struct tt_probe_prog *prog, char *err, size_t errlen,
			 int *errcol);

/*
 * Compiles the "py(NAME.attr…)" at the start of `text`, one side of a
 * comparison (`when:`), into ops[0..*n) (at most `room`): they leave in acc
 * the value, by their last instruction, TT_OP_PY_VALUE, whose imm the
 * caller sets (0: compared as text, 1: as an int). *len: the bytes of
 * text it took. Returns 0, or -EINVAL with the problem in err and its
 * 0-based column in *errcol.
 */
int tt_py_value__compile_operand(const char *text, size_t *len, struct tt_op *ops, int room, int *n,
				 char *err, size_t errlen, int *errcol);

#endif /* TASKTAP_PYTHON_VALUE_H */
