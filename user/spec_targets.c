// SPDX-License-Identifier: MIT
/* spec_targets.c: a target's keys (what it names, how it is narrowed) and its probes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_internal.h"

/* The kernel keeps 15 characters of a process name (TASK_COMM_LEN - 1). */
#define SPEC_COMM_MAX 15

/* What a target's keys gathered while its mapping is walked. */
struct target_build {
	struct tt_target *target;
	const char *kind_key; /* the key that set the kind, NULL until one did */
	bool library;	      /* the target has a `library:` key: comm:, binary: narrow it */
	bool has_probes;
	bool match; /* a `match:` narrows a python target */
};

/* Records that `key` chose the target's kind; a target has exactly one. */
static int target_set_kind(struct walker *w, struct target_build *tb, yaml_node_t *key,
			   enum tt_target_kind kind)
{
	if (tb->kind_key)
		return spec__fail_node(
			w, key,
			"target needs exactly one of binary, pid, library, comm (found "
			"'%s' and '%s')",
			tb->kind_key, spec__scalar_value(key));
	tb->kind_key = spec__scalar_value(key);
	tb->target->kind = kind;
	return 0;
}

/*
 * `binary:` beside `library:`: the processes running that file (an
 * absolute path or a glob), as exec discovery finds them.
 */
static int target_narrow_binary(struct walker *w, struct target_build *tb, yaml_node_t *key,
				yaml_node_t *val)
{
	const char *path = NULL;
	int err;

	err = spec__want_string(w, key, val, &path);
	if (err)
		return err;
	if (path[0] != '/')
		return spec__fail_node(
			w, val,
			"'binary' narrowing a library must be an absolute path or glob, "
			"found '%s'",
			tt_shorten(path, w->shown));
	return spec__dup_string(w, path, &tb->target->exe);
}

static int target_path(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;
	bool binary = strcmp(spec__scalar_value(key), "binary") == 0;
	const char *path = NULL;
	int err;

	if (binary && tb->library)
		return target_narrow_binary(w, tb, key, val);
	err = target_set_kind(w, tb, key, binary ? TT_TARGET_BINARY : TT_TARGET_LIBRARY);
	if (err)
		return err;
	err = spec__want_string(w, key, val, &path);
	if (err)
		return err;
	return spec__dup_string(w, path, &tb->target->path);
}

/* `cgroup:` beside `library:`: the processes in that cgroup (v2 path) or below it. */
static int target_cgroup(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;
	const char *path = NULL;
	int err;

	if (!tb->library)
		return spec__fail_node(w, key,
				       "'cgroup' narrows a library target only (add 'library:', or "
				       "narrow with 'comm:' or 'binary:')");
	err = spec__want_string(w, key, val, &path);
	if (err)
		return err;
	if (path[0] != '/' || strlen(path) >= TT_CGROUP_PATH_MAX)
		return spec__fail_node(w, val,
				       "'cgroup' must be a cgroup path starting with '/' (as in "
				       "/proc/PID/cgroup), at most %d characters, found '%s'",
				       TT_CGROUP_PATH_MAX - 1, tt_shorten(path, w->shown));
	return spec__dup_string(w, path, &tb->target->cgroup);
}

static int target_pid(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;
	const char *s = NULL;
	long pid = 0;
	size_t i;
	int err;

	err = target_set_kind(w, tb, key, TT_TARGET_PID);
	if (err)
		return err;
	err = spec__want_string(w, key, val, &s);
	if (err)
		return err;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || pid > (INT_MAX - (s[i] - '0')) / 10)
			return spec__fail_node(w, val,
					       "'pid' must be a positive integer, found '%s'",
					       tt_shorten(s, w->shown));
		pid = pid * 10 + (s[i] - '0');
	}
	if (pid == 0)
		return spec__fail_node(w, val, "'pid' must be a positive integer, found '%s'",
				       tt_shorten(s, w->shown));
	tb->target->pid = (pid_t)pid;
	return 0;
}

/* The target's comm (a target's comm: or a match:'s), no longer than the kernel keeps. */
static int set_comm(struct walker *w, struct target_build *tb, yaml_node_t *key, yaml_node_t *val)
{
	const char *comm = NULL;
	int err = spec__want_string(w, key, val, &comm);

	if (err)
		return err;
	if (strlen(comm) > SPEC_COMM_MAX)
		return spec__fail_node(
			w, val, "'comm' is %zu characters long, more than the kernel keeps (%d)",
			strlen(comm), SPEC_COMM_MAX);
	return spec__dup_string(w, comm, &tb->target->comm);
}

static int target_comm(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;
	/* beside library:, a narrowing: only processes of that name */
	int err = tb->library ? 0 : target_set_kind(w, tb, key, TT_TARGET_COMM);

	return err ? err : set_comm(w, tb, key, val);
}

static int target_probes(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;
	struct tt_target *target = tb->target;
	yaml_node_item_t *items;
	int room = TT_MAX_PROBES - 1 - w->spec->nprobes;
	int count;
	int err;
	int i;

	err = spec__want_sequence(w, key, val, &count);
	if (err)
		return err;
	items = val->data.sequence.items.start;
	/* Probe ids index a BPF array of TT_MAX_PROBES entries and start at 1. */
	if (count > room)
		return spec__fail_node(w, spec__node_at(w, items[room > 0 ? room : 0]),
				       "too many probes: at most %d in one spec (TT_MAX_PROBES)",
				       TT_MAX_PROBES - 1);
	target->probes = calloc((size_t)count, sizeof(*target->probes));
	if (!target->probes)
		return spec__out_of_memory(w);
	target->nprobes = count;
	tb->has_probes = true;
	for (i = 0; i < count; i++) {
		err = spec__walk_probe(w, target, &target->probes[i], spec__node_at(w, items[i]));
		if (err)
			return err;
	}
	return 0;
}

/* `runtime: python`: the target is a Python interpreter (read before its probes: see walk_target).
 */
static int target_runtime(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;
	const char *name = NULL;
	int err = spec__want_string(w, key, val, &name);

	if (err)
		return err;
	if (strcmp(name, "python") != 0)
		return spec__fail_node(w, val, "unknown runtime '%s' (expected 'python')",
				       tt_shorten(name, w->shown));
	tb->target->python = true;
	return 0;
}

/*
 * A python target with `match:` becomes what exec discovery attaches per
 * process: a library: target (the interpreter's file) narrowed to the
 * processes running that file, and to what `match:` names.
 */
static int match_processes(struct walker *w, struct target_build *tb, yaml_node_t *node)
{
	struct tt_target *t = tb->target;

	if (t->kind != TT_TARGET_BINARY || !t->path || t->path[0] != '/' || strpbrk(t->path, "*?["))
		return spec__fail_node(w, node,
				       "'match' needs the interpreter as 'binary:', an absolute "
				       "path (as /usr/bin/python3.11)");
	t->kind = TT_TARGET_LIBRARY;
	return spec__dup_string(w, t->path, &t->exe);
}

/* `match: argv: GLOB`: the processes whose command line the glob matches. */
static int match_argv(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;
	const char *glob = NULL;
	int err = spec__want_string(w, key, val, &glob);

	if (err)
		return err;
	if (!glob[0])
		return spec__fail_node(w, val,
				       "'argv' must not be empty (a glob: \"*rq worker*\")");
	return spec__dup_string(w, glob, &tb->target->argv);
}

static int match_comm(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	return set_comm(w, obj, key, val);
}

static int match_cgroup(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;
	const char *path = NULL;
	int err = spec__want_string(w, key, val, &path);

	if (err)
		return err;
	if (path[0] != '/' || strlen(path) >= TT_CGROUP_PATH_MAX)
		return spec__fail_node(w, val,
				       "'cgroup' must be a cgroup path starting with '/' (as in "
				       "/proc/PID/cgroup), at most %d characters, found '%s'",
				       TT_CGROUP_PATH_MAX - 1, tt_shorten(path, w->shown));
	return spec__dup_string(w, path, &tb->target->cgroup);
}

static const struct key_handler match_keys[] = {
	{"argv", match_argv},
	{"comm", match_comm},
	{"cgroup", match_cgroup},
	{NULL, NULL},
};

/*
 * `match:` on a `runtime: python` target: only the processes it names run
 * the target's probes (and pay for them); the others are left alone.
 */
static int target_match(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct target_build *tb = obj;

	if (!tb->target->python)
		return spec__fail_node(w, key,
				       "'match' narrows a 'runtime: python' target (a library "
				       "target is narrowed by 'comm', 'binary' or 'cgroup')");
	if (val->type != YAML_MAPPING_NODE || !val->data.mapping.pairs.top ||
	    val->data.mapping.pairs.top == val->data.mapping.pairs.start)
		return spec__fail_node(w, val,
				       "expected a mapping for 'match' ({argv: GLOB, comm: NAME, "
				       "cgroup: PATH})");
	tb->match = true;
	return spec__walk_mapping(w, val, "match", match_keys, tb);
}

static const struct key_handler target_keys[] = {
	{"binary", target_path},     {"pid", target_pid},	{"library", target_path},
	{"comm", target_comm},	     {"cgroup", target_cgroup}, {"probes", target_probes},
	{"runtime", target_runtime}, {"match", target_match},	{NULL, NULL},
};

/* The value of key `name` in the target mapping `node`, or NULL. */
static yaml_node_t *target_key(struct walker *w, yaml_node_t *node, const char *name)
{
	for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
	     pr < node->data.mapping.pairs.top; pr++) {
		yaml_node_t *key = spec__node_at(w, pr->key);

		if (key->type == YAML_SCALAR_NODE && !strcmp(spec__scalar_value(key), name))
			return spec__node_at(w, pr->value);
	}
	return NULL;
}

/* Whether the target mapping `node` says `runtime: python`: its probes are compiled for it. */
static bool is_python(struct walker *w, yaml_node_t *node)
{
	yaml_node_t *v = target_key(w, node, "runtime");

	return v && v->type == YAML_SCALAR_NODE && !strcmp(spec__scalar_value(v), "python");
}

int spec__walk_target(struct walker *w, struct tt_target *target, yaml_node_t *node)
{
	struct target_build tb = {.target = target};
	int err;

	if (node->type != YAML_MAPPING_NODE)
		return spec__fail_node(w, node, "expected a mapping for a target, found %s",
				       spec__node_kind(node));
	target->pos = spec__mark_pos(node->start_mark);
	target->spec = w->spec;
	tb.library = target_key(w, node, "library") != NULL;
	target->python = is_python(w, node);
	err = spec__walk_mapping(w, node, "target", target_keys, &tb);
	if (err)
		return err;
	if (!tb.kind_key)
		return spec__fail_node(w, node,
				       "target needs exactly one of binary, pid, library, comm");
	if (!tb.has_probes)
		return spec__fail_node(w, node, "missing 'probes' in target");
	if (tb.match)
		return match_processes(w, &tb, node);
	return 0;
}
