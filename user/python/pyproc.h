/* SPDX-License-Identifier: MIT */
/*
 * A running CPython, read from outside through /proc/PID/mem with the
 * offsets table: its threads, their frames, and the functions its modules
 * define, as the module:qualname a spec names (`tasktap symbols --python`).
 *
 * Opening checks the table against the process: _PyRuntime's interpreter,
 * its thread states (each pointing back at it, one of them the process's
 * main thread) and sys.modules (a dict) must be where the table says;
 * otherwise the build is one tasktap does not know, and it says so. Every
 * read is bounded and may fail (the process runs on meanwhile): what cannot
 * be read is left out, never guessed.
 */
#ifndef TASKTAP_PYTHON_PYPROC_H
#define TASKTAP_PYTHON_PYPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/offsets.h"

struct tt_py_proc;

/*
 * Opens process `pid`'s interpreter. Returns an object the caller releases
 * with tt_py_proc__free(), or NULL with errno set and a message in err:
 * ESRCH no such process, or no CPython in it; EACCES/EPERM not ours to
 * read; ENOTSUP a version tasktap does not know; EPROTO the table does not
 * fit what the process holds.
 */
struct tt_py_proc *tt_py_proc__open(pid_t pid, char *err, size_t errlen);

/* Releases it. Accepts NULL. */
void tt_py_proc__free(struct tt_py_proc *p);

/* What the interpreter is (version, build-id, the file holding it). */
const struct tt_py_binary *tt_py_proc__binary(const struct tt_py_proc *p);

/* _PyRuntime's address in the process. */
uint64_t tt_py_proc__runtime(const struct tt_py_proc *p);

/* A Python function found in the process. */
struct tt_py_func {
	const char *module;   /* func.__module__, "?" when unreadable */
	const char *qualname; /* func.__qualname__ */
	const char *filename; /* its code's co_filename, "" when unreadable */
	int line;	      /* its code's co_firstlineno */
	int on_stack;	      /* how many threads' stacks hold it now */
};

/*
 * Calls cb once per distinct module:qualname, in that order: the functions
 * (plain, classmethod, staticmethod, property getters, in classes nested up
 * to a bound) defined by each module in sys.modules, and those of the frames
 * on every thread's stack. The strings are valid during the call only.
 * Stops at cb's first non-zero value and returns it; returns 0, or -ENOMEM.
 */
int tt_py_proc__for_each_function(struct tt_py_proc *p,
				  int (*cb)(const struct tt_py_func *f, void *ctx), void *ctx);

#endif /* TASKTAP_PYTHON_PYPROC_H */
