/* SPDX-License-Identifier: MIT */
/*
 * The probe spec (DESIGN §3): a YAML file, parsed with libyaml, checked,
 * and compiled into one capture program per probe.
 *
 * A loaded spec owns every string and array below it; tt_spec__free()
 * releases all of it. Positions are 1-based line and column in the file.
 */
#ifndef TASKTAP_SPEC_H
#define TASKTAP_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "tasktap/capture.h"

enum tt_role {
	TT_ROLE_TASK = 0,
	TT_ROLE_STEP,
	TT_ROLE_COMPENSATION,
	TT_ROLE_PUBLISH,
	TT_ROLE_CONSUME,
	TT_ROLE_SPAN,
	TT_ROLE__COUNT,
};

enum tt_target_kind {
	TT_TARGET_BINARY = 0,
	TT_TARGET_PID,
	TT_TARGET_LIBRARY,
	TT_TARGET_COMM,
};

enum tt_cmp {
	TT_CMP_EQ = 0,
	TT_CMP_NE,
	TT_CMP_LT,
	TT_CMP_LE,
	TT_CMP_GT,
	TT_CMP_GE,
};

struct tt_pos {
	int line;
	int col;
};

/*
 * A compiled capture expression. `index` is the position of its record in
 * the probe's event payload (0-based), or -1 when the capture is absent.
 */
struct tt_capture {
	char *text; /* the expression as written, owned */
	struct tt_pos pos;
	int index;
	enum tt_cap_type type;
};

/* An attribute: either a captured value or a quoted constant. */
struct tt_attr {
	char *name;    /* owned */
	char *literal; /* owned; non-NULL for a constant attribute */
	struct tt_capture cap;
};

/* `error:` — a comparison of the return value with a constant. */
struct tt_pred {
	bool set;
	enum tt_cmp op;
	int64_t rhs;
	char *text; /* owned */
	struct tt_pos pos;
};

struct tt_target;

struct tt_probe {
	int id; /* 1-based, unique in the spec; the BPF attach cookie */
	enum tt_role role;
	char *symbol; /* owned */
	struct tt_pos symbol_pos;
	struct tt_pos pos;
	struct tt_capture key;
	struct tt_attr attrs[TT_MAX_ATTRS];
	int nattrs;
	struct tt_pred error;
	struct tt_probe_prog prog; /* entry-time captures, in payload order */
	struct tt_target *target;  /* the target this probe belongs to */
};

struct tt_target {
	enum tt_target_kind kind;
	char *path; /* binary or library; owned */
	pid_t pid;  /* TT_TARGET_PID */
	char *comm; /* TT_TARGET_COMM; owned */
	struct tt_pos pos;
	struct tt_probe *probes; /* owned array */
	int nprobes;
};

struct tt_spec {
	char *path;		   /* owned */
	char *service;		   /* owned; NULL when not given */
	char *keyspace;		   /* owned; "default" when not given */
	struct tt_target *targets; /* owned array */
	int ntargets;
	int nprobes; /* over all targets; probe ids run 1..nprobes */
};

/*
 * Parses and compiles the spec in `text` (`len` bytes), naming it `name`
 * in messages. Returns 0 and a spec the caller frees with tt_spec__free();
 * on failure returns -EINVAL (or -ENOMEM) and writes one message of the
 * form "NAME:LINE:COL: problem" into err (errlen bytes, always
 * NUL-terminated).
 */
int tt_spec__parse(const char *name, const char *text, size_t len, struct tt_spec **out, char *err,
		   size_t errlen);

/*
 * Reads the file at `path` and parses it as tt_spec__parse() does. Refuses
 * a file that users other than root can write. Errors as above, plus
 * -errno when the file cannot be read.
 */
int tt_spec__load(const char *path, struct tt_spec **out, char *err, size_t errlen);

/* Releases the spec and everything it owns. Accepts NULL. */
void tt_spec__free(struct tt_spec *spec);

/* Looks a probe up by id; NULL when no probe has it. */
const struct tt_probe *tt_spec__probe(const struct tt_spec *spec, int id);

const char *tt_role__name(enum tt_role role);

/* Returns whether `lhs op rhs` holds. */
bool tt_cmp__eval(enum tt_cmp op, int64_t lhs, int64_t rhs);

#endif /* TASKTAP_SPEC_H */
