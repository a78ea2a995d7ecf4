// SPDX-License-Identifier: MIT
/*
 * The probe spec (DESIGN §3): YAML → struct tt_spec.
 *
 * libyaml composes the whole document (yaml_parser_load); the walk over it
 * is table-driven: each mapping level has a table of {key, handler} rows.
 * A row whose handler is NULL is a key of the full language that is
 * recognised but not supported yet, so adding one is adding a handler.
 *
 * Every problem stops the walk: the first error wins and is reported as
 * "NAME:LINE:COL: problem" with 1-based line and column.
 *
 * This file: the spec's own keys, a probe walked and checked as a whole
 * (its keys' handlers are in spec_probe.c), parse and load. The walk's
 * helpers are in spec_walk.c, targets in spec_targets.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>
#include <yaml.h>

#include "expr.h"
#include "helpers.h"
#include "spec.h"
#include "specs.h"
#include "spec_internal.h"

static const char *const role_names[TT_ROLE__COUNT] = {
	[TT_ROLE_TASK] = "task",
	[TT_ROLE_STEP] = "step",
	[TT_ROLE_COMPENSATION] = "compensation",
	[TT_ROLE_PUBLISH] = "publish",
	[TT_ROLE_CONSUME] = "consume",
	[TT_ROLE_SPAN] = "span",
	[TT_ROLE_ANNOTATE] = "annotate",
};

/* Decides how the probe's start and end pair, from which keys it has. */
static int probe_pairing(struct walker *w, struct probe_build *pb, yaml_node_t *node)
{
	struct tt_probe *probe = pb->probe;

	if (!pb->start.node)
		return spec__fail_node(w, node,
				       "missing 'symbol' in probe (or 'usdt', or 'begin' and "
				       "'end')");
	if (pb->begin_node && !pb->end_is_mapping)
		return spec__fail_node(w, pb->begin_node, "'begin' needs an 'end' mapping");
	if (pb->end_is_mapping && !pb->begin_node)
		return spec__fail_node(
			w, pb->end_node,
			"an 'end' mapping needs a 'begin' (or use 'symbol' for a function "
			"whose return ends the span)");
	if ((pb->start.at_return && pb->start.usdt) || (pb->end.at_return && pb->end.usdt))
		return spec__fail_node(
			w, pb->start.at_return ? pb->start.at_node : pb->end.at_node,
			"'at: return' needs a function ('symbol'); a USDT probe does not "
			"return");
	if (pb->begin_node) {
		/* keys on both sides pair across threads; without an end key, per thread */
		probe->pairing = probe->end_key.text ? TT_PAIR_KEY : TT_PAIR_THREAD;
		if (probe->end_key.text && !probe->key.text)
			return spec__fail_node(
				w, pb->begin_node,
				"'begin' needs a 'key' when 'end' has one: they are paired "
				"by key");
	} else if (pb->end.node) {
		if (!pb->start.usdt)
			return spec__fail_node(
				w, pb->end.node,
				"'end: provider:name' follows 'usdt:'; a function's return "
				"already ends a 'symbol:' span");
		probe->pairing = TT_PAIR_THREAD;
	} else {
		probe->pairing = pb->start.usdt ? TT_PAIR_POINT : TT_PAIR_CALL;
	}
	return 0;
}

/* Refuses a second probe of the same role at the same place in one target. */
static int probe_check_unique(struct walker *w, const struct tt_target *target,
			      const struct tt_probe *probe)
{
	const struct tt_probe *other;

	for (other = target->probes; other < probe; other++) {
		if (other->role == probe->role && strcmp(other->symbol, probe->symbol) == 0 &&
		    (probe->role != TT_ROLE_ANNOTATE || other->of == probe->of))
			return spec__fail_at(
				w, probe->pos,
				"duplicate probe: role '%s' on symbol '%s' is already declared "
				"at line %d",
				role_names[probe->role], tt_shorten(probe->symbol, w->shown),
				other->pos.line);
	}
	return 0;
}

static void place_release(struct place_build *pl)
{
	free(pl->provider);
	free(pl->name);
}

/*
 * A hash of the YAML under `node`: kinds, scalars and whether each scalar
 * is quoted, with a mapping's pairs in any order. Whitespace, comments,
 * positions and key order do not change it, so a reload can tell a probe
 * that stayed as it was from one that changed. Depth is bounded; an alias
 * hashes as what it names.
 */
static uint64_t node_digest(struct walker *w, const yaml_node_t *node, int depth)
{
	uint64_t h = XXH3_64bits(&node->type, sizeof(node->type));

	if (depth > 32)
		return h;
	switch (node->type) {
	case YAML_SCALAR_NODE: {
		bool quoted = spec__is_quoted(node);

		h ^= XXH3_64bits_withSeed(node->data.scalar.value, node->data.scalar.length,
					  quoted);
		break;
	}
	case YAML_SEQUENCE_NODE:
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++) {
			uint64_t item = node_digest(w, spec__node_at(w, *it), depth + 1);

			h = XXH3_64bits_withSeed(&item, sizeof(item), h);
		}
		break;
	case YAML_MAPPING_NODE:
		for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
		     pr < node->data.mapping.pairs.top; pr++) {
			uint64_t kv[2] = {node_digest(w, spec__node_at(w, pr->key), depth + 1),
					  node_digest(w, spec__node_at(w, pr->value), depth + 1)};

			h += XXH3_64bits(kv, sizeof(kv)); /* a sum: the order of pairs is free */
		}
		break;
	default:
		break;
	}
	return h;
}

/* The first annotate-only key a probe of another role has, or NULL. */
static yaml_node_t *annotate_key(const struct probe_build *pb, const char **which)
{
	if (pb->of_node)
		*which = "of";
	else if (pb->status_node)
		*which = "status";
	else if (pb->message_node)
		*which = "message";
	return pb->of_node ? pb->of_node : pb->status_node ? pb->status_node : pb->message_node;
}

/* A name an error_unless can point at: letters, digits, '_', '-', '.'. */
static bool plain_name(const char *s)
{
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("_-.", *s))
			return false;
	}
	return true;
}

/* Checks the keys of an annotate probe, and that other probes have none of its own. */
static int check_annotate(struct walker *w, struct probe_build *pb, yaml_node_t *node)
{
	struct tt_probe *p = pb->probe;
	const char *which = NULL;
	yaml_node_t *extra = annotate_key(pb, &which);

	if (p->role != TT_ROLE_ANNOTATE) {
		if (extra)
			return spec__fail_node(w, extra, "'%s' is for 'role: annotate' probes",
					       which);
		return 0;
	}
	if (!pb->of_node)
		return spec__fail_node(w, node,
				       "an annotate probe needs 'of' (the role of the open span it "
				       "completes: 'of: consume')");
	if (pb->begin_node || pb->end_node)
		return spec__fail_node(
			w, pb->begin_node ? pb->begin_node : pb->end_node,
			"an annotate probe fires once: give it 'symbol' or 'usdt', not "
			"'begin' or 'end'");
	if (p->error_unless)
		return spec__fail_at(
			w, p->error_unless_pos,
			"'error_unless' is for spans; an annotate probe is what one waits "
			"for");
	if (p->attempt.text || p->message_id.text || p->traceparent.text)
		return spec__fail_at(w,
				     p->attempt.text	  ? p->attempt.pos
				     : p->message_id.text ? p->message_id.pos
							  : p->traceparent.pos,
				     "'%s' is for spans, not for annotate probes",
				     p->attempt.text	  ? "attempt"
				     : p->message_id.text ? "message_id"
							  : "traceparent");
	if (pb->status_node && pb->error_node)
		return spec__fail_node(w, pb->error_node,
				       "'status' and 'error' exclude each other: 'status' always "
				       "applies, 'error' when it holds");
	if (pb->message_node && p->status != 2 && !pb->error_node)
		return spec__fail_node(w, pb->message_node,
				       "'message' goes with 'status: error' or 'error:' (it is the "
				       "error's message)");
	if (pb->name_node && !plain_name(p->name))
		return spec__fail_node(
			w, pb->name_node,
			"an annotate probe's 'name' is a plain name that 'error_unless' "
			"refers to (letters, digits, '_', '-', '.'), found '%s'",
			tt_shorten(p->name, w->shown));
	if (!p->key.text && !p->nattrs && !p->status && !pb->error_node && !p->name)
		return spec__fail_node(
			w, node,
			"an annotate probe sets nothing: give it 'key', 'attributes', "
			"'status' or 'error', or a 'name' that an 'error_unless' waits for");
	return 0;
}

int spec__walk_probe(struct walker *w, struct tt_target *target, struct tt_probe *probe,
		     yaml_node_t *node)
{
	struct probe_build pb = {.probe = probe, .site = TT_SITE_START};
	int err;

	if (node->type != YAML_MAPPING_NODE)
		return spec__fail_node(w, node, "expected a mapping for a probe, found %s",
				       spec__node_kind(node));
	probe->id = ++w->spec->nprobes;
	probe->target = target;
	probe->pos = spec__mark_pos(node->start_mark);
	probe->key.index = -1;
	probe->end_key.index = -1;
	probe->attempt.index = -1;
	probe->message_id.index = -1;
	probe->traceparent.index = -1;
	probe->error.lhs.index = -1;
	probe->digest = node_digest(w, node, 0);
	err = spec__walk_mapping(w, node, "probe", spec__probe_keys, &pb);
	if (!err && !pb.has_role)
		err = spec__fail_node(w, node, "missing 'role' in probe");
	if (!err)
		err = check_annotate(w, &pb, node);
	if (!err)
		err = probe_pairing(w, &pb, node);
	if (!err)
		err = spec__check_python(w, &pb, node);
	if (!err)
		err = spec__make_hooks(w, &pb);
	if (!err && target->python)
		pb.start_hook->python = true;
	if (!err)
		err = probe_check_unique(w, target, probe);
	if (!err)
		err = spec__probe_compile(w, &pb);
	place_release(&pb.start);
	place_release(&pb.end);
	return err;
}

/* ---- the spec ---------------------------------------------------------- */

static int spec_string(struct walker *w, yaml_node_t *key, yaml_node_t *val, char **dst)
{
	const char *s = NULL;
	int err;

	err = spec__want_string(w, key, val, &s);
	if (err)
		return err;
	return spec__dup_string(w, s, dst);
}

static int spec_service(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	return spec_string(w, key, val, &((struct tt_spec *)obj)->service);
}

static int spec_keyspace(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	return spec_string(w, key, val, &((struct tt_spec *)obj)->keyspace);
}

static int spec_salt(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	return spec_string(w, key, val, &((struct tt_spec *)obj)->salt);
}

static int spec_targets(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct tt_spec *spec = obj;
	yaml_node_item_t *items;
	int count;
	int err;
	int i;

	err = spec__want_sequence(w, key, val, &count);
	if (err)
		return err;
	spec->targets = calloc((size_t)count, sizeof(*spec->targets));
	if (!spec->targets)
		return spec__out_of_memory(w);
	spec->ntargets = count;
	items = val->data.sequence.items.start;
	for (i = 0; i < count; i++) {
		err = spec__walk_target(w, &spec->targets[i], spec__node_at(w, items[i]));
		if (err)
			return err;
	}
	return 0;
}

static const struct key_handler spec_keys[] = {
	{"service", spec_service},
	{"keyspace", spec_keyspace},
	{"salt", spec_salt},
	{"targets", spec_targets},
	{NULL, NULL},
};

static bool is_empty_document(const yaml_node_t *root)
{
	return !root || (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0 &&
			 root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
}

/* The annotate probe named `name` in the spec, preferring one of role `of`; NULL if none. */
static const struct tt_probe *annotate_named(const struct tt_spec *spec, const char *name,
					     enum tt_role of)
{
	const struct tt_probe *found = NULL;

	for (int t = 0; t < spec->ntargets; t++) {
		for (int i = 0; i < spec->targets[t].nprobes; i++) {
			const struct tt_probe *p = &spec->targets[t].probes[i];

			if (p->role != TT_ROLE_ANNOTATE || !p->name || strcmp(p->name, name) != 0)
				continue;
			if (p->of == of)
				return p;
			found = p;
		}
	}
	return found;
}

/* Checks that every error_unless names an annotate probe of its span's role. */
static int check_error_unless(struct walker *w, const struct tt_spec *spec)
{
	for (int t = 0; t < spec->ntargets; t++) {
		for (int i = 0; i < spec->targets[t].nprobes; i++) {
			const struct tt_probe *p = &spec->targets[t].probes[i];
			const struct tt_probe *a;

			if (!p->error_unless)
				continue;
			a = annotate_named(spec, p->error_unless, p->role);
			if (!a)
				return spec__fail_at(
					w, p->error_unless_pos,
					"no annotate probe named '%s' ('error_unless' names "
					"the 'name' of a 'role: annotate' probe)",
					tt_shorten(p->error_unless, w->shown));
			if (a->of != p->role)
				return spec__fail_at(
					w, p->error_unless_pos,
					"annotate probe '%s' completes '%s' spans (its 'of'), "
					"not '%s' spans",
					tt_shorten(p->error_unless, w->shown), role_names[a->of],
					role_names[p->role]);
		}
	}
	return 0;
}

static int walk_spec(struct walker *w, yaml_node_t *root)
{
	struct tt_spec *spec = w->spec;
	int err;

	if (root->type != YAML_MAPPING_NODE)
		return spec__fail_node(w, root,
				       "expected a mapping at the top of the spec, found %s",
				       spec__node_kind(root));
	err = spec__walk_mapping(w, root, "spec", spec_keys, spec);
	if (err)
		return err;
	if (!spec->targets)
		return spec__fail_node(w, root, "missing 'targets' in spec");
	err = check_error_unless(w, spec);
	if (err)
		return err;
	tt_spec__mark_sessions(spec);
	if (!spec->keyspace)
		return spec__dup_string(w, "default", &spec->keyspace);
	return 0;
}

/* Refuses a stream with a second document, which would be ignored. */
static int check_single_document(struct walker *w, yaml_parser_t *parser)
{
	yaml_document_t next;
	yaml_node_t *root;
	int err = 0;

	if (!yaml_parser_load(parser, &next))
		return spec__fail_yaml(w, parser);
	root = yaml_document_get_root_node(&next);
	if (root)
		err = spec__fail_node(w, root, "a spec is one YAML document, found a second one");
	yaml_document_delete(&next);
	return err;
}

/* Builds the spec from a loaded document; on failure frees what it built. */
static int spec_build(struct walker *w, yaml_node_t *root, struct tt_spec **out)
{
	int err;

	w->spec = calloc(1, sizeof(*w->spec));
	if (!w->spec)
		return spec__out_of_memory(w);
	err = spec__dup_string(w, w->name, &w->spec->path);
	if (!err)
		err = walk_spec(w, root);
	if (err) {
		tt_spec__free(w->spec);
		w->spec = NULL;
		return err;
	}
	*out = w->spec;
	return 0;
}

int tt_spec__parse(const char *name, const char *text, size_t len, struct tt_spec **out, char *err,
		   size_t errlen)
{
	struct walker w = {.name = name, .text = text, .len = len, .err = err, .errlen = errlen};
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int ret;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return spec__out_of_memory(&w);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = spec__fail_yaml(&w, &parser);
		yaml_parser_delete(&parser);
		return ret;
	}
	w.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (is_empty_document(root))
		ret = spec__fail_at(&w, (struct tt_pos){.line = 1, .col = 1}, "spec is empty");
	else
		ret = check_single_document(&w, &parser);
	if (!ret)
		ret = spec_build(&w, root, out);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int tt_spec__load(const char *path, struct tt_spec **out, char *err, size_t errlen)
{
	struct tt_spec_text t;
	int ret;

	*out = NULL;
	ret = tt_spec_file__read(path, NULL, &t, err, errlen);
	if (!ret)
		ret = tt_spec__parse(path, t.text, t.len, out, err, errlen);
	tt_spec_text__release(&t);
	return ret;
}

const char *tt_role__name(enum tt_role role)
{
	if ((int)role < 0 || role >= TT_ROLE__COUNT)
		return "unknown";
	return role_names[role];
}
