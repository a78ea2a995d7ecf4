/* SPDX-License-Identifier: MIT */
/*
 * Which CPython a binary is, and where its structures keep what a probe
 * reads (include/tasktap/python.h): one table row per minor version,
 * written from the version's own headers by scripts/python-offsets.c.
 *
 * An interpreter is known when its minor version has a row. Its version
 * comes from the binary itself: the exported `Py_Version` (3.11+), else the
 * PY_VERSION string, else the library's name. For 3.13+ the row is checked
 * against the `_Py_DebugOffsets` the binary publishes at the start of
 * `_PyRuntime`; for the builds listed in pybin.c (by build-id) it was
 * checked against the running interpreter by the tests; any other build
 * of a known version is taken with its version's row (`tasktap check`
 * says it is one the tests did not run on), and `tasktap symbols
 * --python` checks the row against the process's memory (pyproc.h).
 */
#ifndef TASKTAP_PYTHON_OFFSETS_H
#define TASKTAP_PYTHON_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tasktap/python.h"

/* What tt_py__inspect() found in a binary. */
struct tt_py_binary {
	char version[32];	  /* "3.11.2", "3.13.0rc1", or "3.9" when only the name says */
	unsigned int version_hex; /* PY_VERSION_HEX; 0 when only the name says */
	char build_id[41];	  /* of the file holding _PyRuntime; "" when none */
	/*
	 * The file holding the interpreter (and _PyRuntime): the binary
	 * itself, or the libpython it loads (a --enable-shared build).
	 */
	char path[4096];
	uint64_t runtime_addr; /* _PyRuntime's address in that file (st_value) */
	uint64_t runtime_size;
	bool pie;			     /* that file is position-independent (ET_DYN) */
	bool known_build;		     /* its build-id is one the tests checked */
	bool debug_offsets;		     /* checked against its _Py_DebugOffsets (3.13+) */
	const struct tt_py_offsets *offsets; /* the version's row */
};

/* The row for the minor version of `version_hex`, or NULL. */
const struct tt_py_offsets *tt_py__offsets_for(unsigned int version_hex);

/* "3.11, 3.12, 3.13": the versions tasktap knows, for messages. */
const char *tt_py__known_versions(void);

/*
 * Inspects the interpreter at `path` (an executable, or a libpython). On
 * success returns 0 and fills *bin. On failure returns a negative errno
 * and writes a message (git style, naming the file) into err:
 * -ENOENT/-EACCES/-ENOEXEC the file cannot be read as ELF; -ESRCH it is
 * not a CPython interpreter; -ENOTSUP its version has no offsets
 * ("python 3.9.2 at '/usr/bin/python3.9': no offsets for this version;
 * tasktap knows 3.11, 3.12, 3.13"); -EPROTO its _Py_DebugOffsets disagree
 * with the table (the message names the first field that differs).
 * `bin` is filled as far as it was read even on failure (version, path).
 */
int tt_py__inspect(const char *path, struct tt_py_binary *bin, char *err, size_t errlen);
/* tt_py__inspect() of `path`, named `shown` in messages (a container's file as its
 * processes see it); bin->path is the path to open. */
int tt_py__inspect_as(const char *path, const char *shown, struct tt_py_binary *bin, char *err,
		      size_t errlen);

/* The same, for a file already open: `shown` names it in messages. */
int tt_py__inspect_fd(int fd, const char *shown, struct tt_py_binary *bin, char *err,
		      size_t errlen);

/*
 * Compares the table with a 3.13+ `_Py_DebugOffsets` block (`len` bytes,
 * as read from the start of _PyRuntime). Returns 0 when every offset both
 * know agrees, -EPROTO with the first difference in err, -EINVAL when the
 * block is not one (wrong cookie or too short).
 */
int tt_py__check_debug_offsets(const struct tt_py_offsets *o, const void *block, size_t len,
			       char *err, size_t errlen);

/*
 * Why the USDT probe python:`name` of CPython `version_hex` must not be
 * used (it crashes the interpreter, or never fires), or NULL when it may.
 */
const char *tt_py__usdt_refused(unsigned int version_hex, const char *name);

#endif /* TASKTAP_PYTHON_OFFSETS_H */
