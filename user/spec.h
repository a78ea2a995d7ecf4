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
#include "expr.h"

enum tt_role {
	TT_ROLE_TASK = 0,
	TT_ROLE_STEP,
	TT_ROLE_COMPENSATION,
	TT_ROLE_PUBLISH,
	TT_ROLE_CONSUME,
	TT_ROLE_SPAN,
	TT_ROLE_ANNOTATE, /* no span: completes an open span of role `of` (key, attributes, status)
			   */
	TT_ROLE__COUNT,
};

enum tt_target_kind {
	TT_TARGET_BINARY = 0,
	TT_TARGET_PID,
	TT_TARGET_LIBRARY,
	TT_TARGET_COMM,
};

struct tt_pos {
	int line;
	int col;
};

/* Where a capture is recorded. */
enum tt_site {
	TT_SITE_START = 0, /* the start hook's entry */
	TT_SITE_RETURN,	   /* the start hook's return (an `@return` capture, or `ret`) */
	TT_SITE_END,	   /* the end hook's entry (begin/end and USDT pairs) */
};

/*
 * A compiled capture expression. `index` is the position of its record in
 * the payload of the event recorded at `site` (0-based), or -1 when the
 * capture is absent.
 */
struct tt_capture {
	char *text; /* the expression as written, owned */
	struct tt_pos pos;
	int index;
	enum tt_cap_type type;
	enum tt_site site;
};

/* An attribute: either a captured value or a quoted constant. */
struct tt_attr {
	char *name;    /* owned */
	char *literal; /* owned; non-NULL for a constant attribute */
	struct tt_capture cap;
	bool redact; /* export a hash of the value instead of the value */
};

/*
 * `error:` — a comparison evaluated by the agent when the span ends: of the
 * return value (`ret`, read by the rule of tt_ret__value()) or of a capture
 * made when the span ends (or an attribute it names), with an integer or a
 * string literal. Any other predicate (&&, ||, !, two expressions, string
 * functions) is decided in BPF where the span ends and recorded as a
 * capture (`verdict`).
 */
struct tt_pred {
	bool set;
	bool on_ret;	       /* the left side is `ret` itself */
	struct tt_capture lhs; /* otherwise: the left side, captured */
	enum tt_cmp op;
	int64_t rhs;
	char *str;    /* a string right side, owned; NULL for an integer */
	bool prefix;  /* the string is a prefix */
	bool raised;  /* `raised` (Python): on_ret, and lhs the exception's type name */
	bool verdict; /* a compound predicate: lhs is its verdict, 1 or 0, decided in BPF */
	char *text;   /* owned */
	struct tt_pos pos;
};

/* How a probe's start and end are paired into one span. */
enum tt_pairing {
	TT_PAIR_CALL = 0, /* symbol: a function's entry and return on one thread */
	TT_PAIR_THREAD,	  /* usdt + end, or begin/end without an end key: nested per thread */
	TT_PAIR_POINT,	  /* usdt alone: one point, a span of no duration */
	TT_PAIR_KEY,	  /* begin/end with keys: by (keyspace, key, step.name), across threads */
};

enum tt_hook_kind {
	TT_HOOK_START = 0, /* starts a span (and, for a function, its return ends it) */
	TT_HOOK_END,	   /* ends a span started by another hook */
};

struct tt_probe;

/*
 * A hook: one attach point of a probe, with its own id, which is the
 * BPF attach cookie. A glob symbol becomes one hook per matching function.
 */
struct tt_hook {
	int id;
	struct tt_probe *probe;
	enum tt_hook_kind kind;
	char *symbol;	/* function name or glob; NULL for USDT; owned */
	char *provider; /* USDT provider; owned */
	char *usdt;	/* USDT probe name; owned */
	char *function; /* the function a glob matched (set by resolution); owned */
	bool at_return; /* a function hook whose event is the function's return */
	bool python;	/* `symbol` is a Python function, module:qualname (DESIGN §10) */
	struct tt_pos pos;
	struct tt_hook_prog prog; /* what BPF runs at this hook */
};

struct tt_target;
struct tt_spec;

struct tt_probe {
	int id; /* 1-based, unique in the spec; the id of its start hook */
	enum tt_role role;
	enum tt_pairing pairing;
	char *symbol; /* the start's symbol or glob, or "provider:name"; owned */
	struct tt_pos symbol_pos;
	struct tt_pos pos;
	int start_hook; /* hook ids */
	int end_hook;	/* 0 for TT_PAIR_CALL and TT_PAIR_POINT */
	struct tt_capture key;
	struct tt_capture end_key; /* TT_PAIR_KEY: the end's key */
	struct tt_capture attempt;
	struct tt_capture message_id;
	struct tt_capture traceparent;
	struct tt_attr attrs[TT_MAX_ATTRS];
	int nattrs;
	struct tt_pred error;
	char *name;	/* name template ("{task.name}/{step.name}"); owned; NULL: default */
	char *build_id; /* hex; owned; NULL: any build */
	struct tt_pos build_id_pos;
	bool redact_key;    /* `redact:` names task.id */
	bool filtered;	    /* it has a `when:` filter */
	enum tt_role of;    /* annotate: the role of the spans it completes */
	int status;	    /* annotate: `status:` 1 ok, 2 error (enum tt_status); 0 none */
	char *message;	    /* annotate: the status message; owned; NULL: none */
	char *error_unless; /* spans: the annotate probe (by `name:`) that must fire; owned */
	struct tt_pos error_unless_pos;
	uint64_t digest;	  /* of its YAML, layout aside: equal for a probe a reload kept */
	struct tt_target *target; /* the target this probe belongs to */
};

/* The longest cgroup: narrowing a spec may name, with its NUL. */
#define TT_CGROUP_PATH_MAX 1024

struct tt_target {
	const struct tt_spec *spec; /* the spec the target belongs to */
	enum tt_target_kind kind;
	char *path;   /* binary or library; owned */
	pid_t pid;    /* TT_TARGET_PID */
	char *comm;   /* TT_TARGET_COMM, or a library's narrowing: that name; owned */
	char *exe;    /* a library's narrowing: that executable (path or glob); owned */
	char *cgroup; /* a library's narrowing: that cgroup or below (v2 path); owned */
	bool python;  /* `runtime: python`: its probes name Python functions (DESIGN §10) */
	/*
	 * `match: {argv: GLOB}`: only processes whose command line (its
	 * arguments joined by spaces) the glob matches; owned. A python
	 * target with `match:` is kept as a library: target narrowed to the
	 * interpreter's file (exe) and to what `match:` names.
	 */
	char *argv;
	struct tt_pos pos;
	struct tt_probe *probes; /* owned array */
	int nprobes;
};

struct tt_spec {
	char *path;		   /* owned */
	char *service;		   /* owned; NULL when not given */
	char *keyspace;		   /* owned; "default" when not given */
	char *salt;		   /* owned; the fleet's salt for derived ids; NULL: default */
	struct tt_target *targets; /* owned array */
	int ntargets;
	int nprobes;		/* over all targets */
	struct tt_hook **hooks; /* owned; hooks[i] has id i + 1 */
	int nhooks;
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
 * Reads the file at `path` as tt_spec_file__read() does (specs.h: never
 * blocking, only a regular file that users other than root cannot write)
 * and parses it as tt_spec__parse() does. Errors as above, plus -errno
 * when the file cannot be read or is refused.
 */
int tt_spec__load(const char *path, struct tt_spec **out, char *err, size_t errlen);

/* Releases the spec and everything it owns. Accepts NULL. */
void tt_spec__free(struct tt_spec *spec);

/*
 * Whether t is a library: target narrowed by comm:, binary: or cgroup:
 * (all that it names must hold): its probes are attached per process, in
 * the processes exec discovery finds, never per file.
 */
bool tt_target__narrowed(const struct tt_target *t);

/* Looks a probe up by id; NULL when no probe has it. */
const struct tt_probe *tt_spec__probe(const struct tt_spec *spec, int id);

/* Looks a hook up by id; NULL when no hook has it. */
const struct tt_hook *tt_spec__hook(const struct tt_spec *spec, int id);

/*
 * Adds a copy of hook `tmpl` with a new id (a glob's further match) and
 * `function` as its function. Returns the new hook, owned by the spec, or
 * NULL with errno (ERANGE past TT_MAX_PROBES hooks).
 */
struct tt_hook *tt_spec__clone_hook(struct tt_spec *spec, const struct tt_hook *tmpl,
				    const char *function);

/*
 * The hook of `tmpl`'s probe, kind and symbol that is at `function` (a
 * glob's match): the one already there; else tmpl itself, or a copy of
 * it, while it has no function yet; else a new copy (see
 * tt_spec__clone_hook). So resolving a glob in a second file reuses the
 * hooks of the functions the first file had. Returns the hook, owned by
 * the spec, or NULL with errno.
 */
struct tt_hook *tt_spec__hook_at(struct tt_spec *spec, struct tt_hook *tmpl, const char *function);

/* Whether two targets name the same processes (kind, path, pid, comm). */
bool tt_target__same(const struct tt_target *a, const struct tt_target *b);

/*
 * Matches the hooks of `old` with those of `now`, a reload of the same
 * file: a hook stays when its target is the same, its probe's YAML is
 * unchanged (tt_probe.digest) and it is at the same function. A glob
 * hook of `old` gets its counterpart in `now` (tt_spec__hook_at()).
 * Fills map[1..old->nhooks] with the id in `now` of each hook of `old`,
 * or 0 for one that did not stay. Returns how many stayed, or -errno.
 */
int tt_spec__match(const struct tt_spec *old, struct tt_spec *now, int *map);

/*
 * After tt_spec__match(): fills succ[1..old->nhooks] with map, and for a
 * hook that did not stay (its probe edited: an attribute, the error) the
 * hook of `now` that takes its place: the same target, role, pairing,
 * key and site. A call open across the reload then ends under it.
 * Returns how many such successors.
 */
int tt_spec__successors(const struct tt_spec *old, const struct tt_spec *now, const int *map,
			int *succ);

const char *tt_role__name(enum tt_role role);

/*
 * Why hook `h` of `spec` keeps separate entry and return events instead
 * of one event per call paired in BPF (a uprobe session program), or NULL
 * when it need not: a function's synchronous call whose span no probe of
 * the spec can take for a parent (user/spec_session.c says why).
 */
const char *tt_spec__session_refusal(const struct tt_spec *spec, const struct tt_hook *h);

/* Sets TT_HOOKF_SESSION on the hooks tt_spec__session_refusal() accepts. */
void tt_spec__mark_sessions(struct tt_spec *spec);

#endif /* TASKTAP_SPEC_H */
