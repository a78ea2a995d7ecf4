/* SPDX-License-Identifier: MIT */
/*
 * Where a CPython interpreter's Python functions start and end, for
 * Python function probes (include/tasktap/pyhook.h): the handlers of its
 * RESUME instructions, which every function runs first, and where every
 * frame ends: its python:function__return USDT site when it has one (as
 * Debian's builds), else the start of _PyThreadState_PopFrame(), found in
 * its symbol table; and the hook's settings for BPF made from a probe's
 * `module:qualname` and the version's offsets (python/offsets.h).
 *
 * CPython 3.11, 3.12 and 3.13; the interpreter loop in the executable or
 * in the libpython it loads (a --enable-shared build), position-
 * independent or not: BPF finds _PyRuntime from the probed addresses.
 */
#ifndef TASKTAP_PYTHON_INTERP_H
#define TASKTAP_PYTHON_INTERP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "tasktap/pyhook.h"

struct tt_elf;

struct tt_py_interp {
	/* the file holding the interpreter loop: the executable, or its libpython */
	char path[PATH_MAX];
	char version[32];	  /* "3.12.1" */
	unsigned int version_hex; /* PY_VERSION_HEX */
	char build_id[41];	  /* of the file holding the interpreter loop; "" when none */
	bool known_build;	  /* one the tests ran on (python/pybin.c) */
	/* file offsets of the RESUME handlers' probes (0: none) and their link-time addresses */
	uint64_t entry[TT_PY_ENTRY_SITES];
	uint64_t entry_addr[TT_PY_ENTRY_SITES];
	bool stepped;	   /* an entry probe lands on an instruction the kernel single-steps */
	uint64_t ret_site; /* file offset of where frames end */
	uint64_t ret_addr; /* its link-time address */
	uint64_t ret_sem; /* file offset of the USDT site's semaphore; 0 for _PyThreadState_PopFrame
			   */
	int ret_kind;	  /* TT_PY_RET_* */
	uint64_t runtime; /* _PyRuntime's link-time address */
};

/*
 * Finds them for the interpreter at `path`, opened as `elf` (its USDT
 * notes); `shown` names it in messages. Returns 0, or -ENOTSUP (not a
 * CPython tasktap can read: the message names the version found) or
 * -errno, with the reason in err.
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
/*
 * Whether generators and coroutines are followed from their first start to
 * their end on this interpreter (its frames end where yields are seen too:
 * 3.11's function__return), rather than their runs only counted.
 */
bool tt_py_interp__follows_generators(const struct tt_py_interp *pi);

int tt_py_hook__init(struct tt_py_hook *ph, const struct tt_py_interp *pi, const char *function,
		     char *err, size_t errlen);

#endif /* TASKTAP_PYTHON_INTERP_H */
