/* SPDX-License-Identifier: MIT */
/*
 * Where a CPython interpreter's Python functions start and end, for
 * Python function probes (include/tasktap/pyhook.h): the handlers of its
 * RESUME instructions, which every function runs first, and its
 * python:function__return USDT site, which every frame passes when it
 * ends; and the hook's settings for BPF made from a probe's
 * `module:qualname`.
 *
 * CPython 3.11 only, and an interpreter that is not position-independent
 * (Debian's /usr/bin/python3.11): the BPF side reads _PyRuntime at its
 * link-time address.
 */
#ifndef TASKTAP_PYTHON_INTERP_H
#define TASKTAP_PYTHON_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "tasktap/pyhook.h"

struct tt_elf;

struct tt_py_interp {
	uint64_t entry[2];    /* file offsets of the RESUME and RESUME_QUICK handlers */
	uint64_t ret_site;    /* file offset of python:function__return's nop */
	uint64_t ret_sem;     /* file offset of its semaphore */
	uint64_t tstate_addr; /* address of _PyRuntime's current thread state pointer */
};

/*
 * Finds them in the interpreter at `path`, opened as `elf` (its USDT
 * notes); `shown` names it in messages. Returns 0, or -ENOTSUP (not a
 * CPython 3.11 tasktap can read) or -errno, with the reason in err.
 */
int tt_py_interp__find(struct tt_elf *elf, const char *path, const char *shown,
		       struct tt_py_interp *out, char *err, size_t errlen);

/*
 * Checks a probe's `function:` ("module:qualname", each an exact name or a
 * prefix ending in '*', or '*'). Returns 0, or -EINVAL with the reason in
 * err.
 */
int tt_py_function__check(const char *function, char *err, size_t errlen);

/* Fills what BPF needs for hook `function` in interpreter `pi`. 0 or -EINVAL (as above). */
int tt_py_hook__init(struct tt_py_hook *ph, const struct tt_py_interp *pi, const char *function,
		     char *err, size_t errlen);

#endif /* TASKTAP_PYTHON_INTERP_H */
