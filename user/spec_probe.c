// SPDX-License-Identifier: MIT
/*
 * spec_probe.c: a probe's keys (DESIGN §3), one handler per key of the
 * probe mapping (`spec__probe_keys`): role, symbol or usdt, begin and
 * end, key, attributes, error, when, attempt, message_id, traceparent,
 * name, redact, build_id, and an annotate probe's of, status, message;
 * error_unless.
 * Each records what it read in the probe being built (struct probe_build);
 * spec__walk_probe() in spec.c walks them and checks the probe as a whole.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "expr.h"
#include "helpers.h"
#include "spec.h"
#include "python/value.h"
#include "spec_internal.h"

/* Strips a trailing "@return" (and the spaces before it); returns whether it was there. */
static bool strip_at_return(char *text)
{
	size_t n = strlen(text);
	static const char suffix[] = "@return";

	if (n < sizeof(suffix) - 1 || strcmp(text + n - (sizeof(suffix) - 1), suffix) != 0)
		return false;
	n -= sizeof(suffix) - 1;
	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	text[n] = '\0';
	return true;
}

/*
 * Compiles `cap` on its own, so that a bad expression is reported where it
 * is read (before a later key that a stray comma in a flow mapping made).
 */
static int check_capture(struct walker *w, struct tt_capture *cap, const yaml_node_t *node,
			 bool maybe_return)
{
	struct tt_probe_prog scratch = {.nops = 0};
	char msg[SPEC_EXPR_ERR];
	enum tt_cap_type type = TT_CAP_INT;
	int col = 0;

	if (tt_py_value__is(cap->text)) {
		if (tt_py_value__compile(cap->text, &scratch, msg, sizeof(msg), &col))
			return spec__fail_at(w, spec__expr_pos(w, node, col), "%s", msg);
		return 0;
	}
	/* inside begin/end, `at:` may come later: `ret` is checked when compiled */
	if (tt_expr__compile(cap->text, maybe_return || cap->site == TT_SITE_RETURN, &scratch,
			     &type, msg, sizeof(msg), &col))
		return spec__fail_at(w, spec__expr_pos(w, node, col), "%s%s", msg,
				     spec__flow_hint(w, node, col));
	return 0;
}

/*
 * Takes the expression of scalar `val` into `cap` for compiling later at
 * `site` (a trailing "@return" moves a start capture to the return).
 */
static int take_capture(struct walker *w, struct probe_build *pb, const char *what,
			struct tt_capture *cap, yaml_node_t *val, enum tt_site site)
{
	int err;

	if (cap->text)
		return spec__fail_node(w, val, "'%s' is given twice for this probe", what);
	err = spec__want_scalar(w, what, val);
	if (err)
		return err;
	err = spec__dup_string(w, spec__scalar_value(val), &cap->text);
	if (err)
		return err;
	cap->pos = spec__mark_pos(val->start_mark);
	cap->site = site;
	cap->index = -1;
	if (strip_at_return(cap->text)) {
		if (site != TT_SITE_START)
			return spec__fail_node(w, val,
					       "'@return' applies to the start of a span only");
		if (pb->in_mapping)
			return spec__fail_node(
				w, val,
				"'@return' is for 'symbol:' probes; in 'begin' or 'end' write "
				"'at: return'");
		cap->site = TT_SITE_RETURN;
	}
	/* py(return…): the value a Python function returned, read where its call ends */
	if (tt_py_value__reads_return(cap->text) && cap->site == TT_SITE_START && !pb->in_mapping)
		cap->site = TT_SITE_RETURN;
	err = check_capture(w, cap, val, pb->in_mapping);
	if (err)
		return err;
	if (pb->npending >= PROBE_MAX_PENDING)
		return spec__fail_node(w, val, "too many captures in one probe");
	pb->pending[pb->npending].cap = cap;
	pb->pending[pb->npending].node = val;
	pb->npending++;
	return 0;
}

static int probe_role(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	const char *name = NULL;
	int err;
	int i;

	err = spec__want_string(w, key, val, &name);
	if (err)
		return err;
	for (i = 0; i < TT_ROLE__COUNT; i++) {
		if (strcmp(tt_role__name((enum tt_role)i), name) == 0) {
			pb->probe->role = (enum tt_role)i;
			pb->has_role = true;
			return 0;
		}
	}
	return spec__fail_node(
		w, val,
		"unknown role '%s' (expected task, step, compensation, publish, consume, "
		"span or annotate)",
		tt_shorten(name, w->shown));
}

/* Checks "provider:name" and splits it into two owned strings. */
static int split_usdt(struct walker *w, yaml_node_t *val, const char *text, char **provider,
		      char **name)
{
	const char *colon = strchr(text, ':');

	if (!colon || colon == text || !colon[1] || strchr(colon + 1, ':'))
		return spec__fail_node(w, val,
				       "expected 'provider:name' for a USDT probe, found '%s'",
				       tt_shorten(text, w->shown));
	*provider = strndup(text, (size_t)(colon - text));
	*name = strdup(colon + 1);
	if (!*provider || !*name)
		return spec__out_of_memory(w);
	return 0;
}

/* Records where one end of a span is: a function or a USDT probe. */
static int take_place(struct walker *w, struct probe_build *pb, struct place_build *pl,
		      yaml_node_t *key, yaml_node_t *val)
{
	const char *text = NULL;
	bool usdt = strcmp(spec__scalar_value(key), "usdt") == 0;
	int err;

	if (pl->node)
		return spec__fail_node(w, key, "'%s' and '%s' exclude each other", pl->key,
				       spec__scalar_value(key));
	err = spec__want_string(w, key, val, &text);
	if (err)
		return err;
	pl->node = val;
	pl->key = spec__scalar_value(key);
	pl->usdt = usdt;
	if (usdt)
		return split_usdt(w, val, text, &pl->provider, &pl->name);
	return spec__dup_string(w, text, &pl->name);
}

static int probe_place(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;

	return take_place(w, pb, &pb->start, key, val);
}

static int probe_key(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;

	return take_capture(w, pb, "key", &pb->probe->key, val, TT_SITE_START);
}

static int probe_attempt(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;

	return take_capture(w, pb, "attempt", &pb->probe->attempt, val, TT_SITE_START);
}

static int probe_message_id(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;

	return take_capture(w, pb, "message_id", &pb->probe->message_id, val, TT_SITE_START);
}

static int probe_traceparent(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;

	return take_capture(w, pb, "traceparent", &pb->probe->traceparent, val, TT_SITE_START);
}

static int probe_attribute(struct walker *w, void *ctx, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = ctx;
	struct tt_probe *probe = pb->probe;
	const char *name = spec__scalar_value(key);
	struct tt_attr *attr;
	int err;

	if (probe->nattrs >= TT_MAX_ATTRS)
		return spec__fail_node(w, key, "more than %d attributes in one probe (the limit)",
				       TT_MAX_ATTRS);
	if (key->data.scalar.length == 0 || strlen(name) != key->data.scalar.length)
		return spec__fail_node(w, key, "an attribute name must be a non-empty string");
	for (int i = 0; i < probe->nattrs; i++) {
		/* begin and end may each capture one (the end's pairs begin/end spans) */
		if (strcmp(probe->attrs[i].name, name) == 0 &&
		    (probe->attrs[i].literal || probe->attrs[i].cap.site == pb->site))
			return spec__fail_node(w, key,
					       "attribute '%s' is given twice for this probe",
					       tt_shorten(name, w->shown));
	}
	attr = &probe->attrs[probe->nattrs];
	attr->cap.index = -1;
	probe->nattrs++;
	err = spec__dup_string(w, name, &attr->name);
	if (err)
		return err;
	if (val->type == YAML_SCALAR_NODE && spec__is_quoted(val)) {
		err = spec__want_scalar(w, name, val);
		if (err)
			return err;
		return spec__dup_string(w, spec__scalar_value(val), &attr->literal);
	}
	if (val->type != YAML_SCALAR_NODE)
		return spec__fail_node(w, val, "expected a scalar for attribute '%s', found %s",
				       name, spec__node_kind(val));
	return take_capture(w, pb, name, &attr->cap, val, pb->site);
}

static int probe_attributes(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	if (val->type != YAML_MAPPING_NODE)
		return spec__fail_node(w, val, "expected a mapping for 'attributes', found %s",
				       spec__node_kind(val));
	return spec__walk_pairs(w, val, "attributes", probe_attribute, obj);
}

static int probe_error(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;

	if (pb->error_node)
		return spec__fail_node(w, val, "'error' is given twice for this probe");
	pb->error_node = val;
	return spec__want_scalar(w, "error", val);
}

static int probe_when(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	int err;

	if (pb->when_node)
		return spec__fail_node(w, val, "'when' is given twice for this probe");
	err = spec__want_scalar(w, "when", val);
	if (!err && val->data.scalar.length == 0)
		err = spec__fail_node(w, val, "'when' must not be empty");
	pb->when_node = val;
	pb->probe->filtered = true;
	return err;
}

/* `when:` in an 'end' mapping: the end's own filter (an end it rejects does not end the span). */
static int end_when(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	int err;

	if (pb->end_when_node)
		return spec__fail_node(w, val, "'when' is given twice for this end");
	err = spec__want_scalar(w, "when", val);
	if (!err && val->data.scalar.length == 0)
		err = spec__fail_node(w, val, "'when' must not be empty");
	pb->end_when_node = val;
	return err;
}

static int probe_name(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	const char *text = NULL;
	const char *open = NULL;
	int err;

	err = spec__want_string(w, key, val, &text);
	if (err)
		return err;
	for (const char *c = text; *c; c++) {
		if (*c == '{' && open)
			return spec__fail_node(w, val, "'{' inside '{...}' in name template");
		if (*c == '{')
			open = c;
		if (*c == '}' && !open)
			return spec__fail_node(w, val, "'}' without '{' in name template");
		if (*c == '}' && c == open + 1)
			return spec__fail_node(w, val, "empty '{}' in name template");
		if (*c == '}')
			open = NULL;
	}
	if (open)
		return spec__fail_node(w, val, "unclosed '{' in name template");
	pb->name_node = val;
	return spec__dup_string(w, text, &pb->probe->name);
}

/* `of: ROLE`: the role of the open spans an annotate probe completes. */
static int probe_of(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	const char *name = NULL;
	int err = spec__want_string(w, key, val, &name);

	if (err)
		return err;
	for (int i = 0; i < TT_ROLE_ANNOTATE; i++) {
		if (strcmp(tt_role__name((enum tt_role)i), name) == 0) {
			pb->probe->of = (enum tt_role)i;
			pb->of_node = val;
			return 0;
		}
	}
	return spec__fail_node(
		w, val,
		"unknown role '%s' for 'of' (expected task, step, compensation, publish, "
		"consume or span)",
		tt_shorten(name, w->shown));
}

/* `status: error|ok`: what an annotate probe makes the span's status. */
static int probe_status(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	const char *text = NULL;
	int err = spec__want_string(w, key, val, &text);

	if (err)
		return err;
	if (strcmp(text, "error") == 0)
		pb->probe->status = 2;
	else if (strcmp(text, "ok") == 0)
		pb->probe->status = 1;
	else
		return spec__fail_node(w, val, "expected 'error' or 'ok' for 'status', found '%s'",
				       tt_shorten(text, w->shown));
	pb->status_node = val;
	return 0;
}

static int probe_message(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	const char *text = NULL;
	int err = spec__want_string(w, key, val, &text);

	if (err)
		return err;
	pb->message_node = val;
	return spec__dup_string(w, text, &pb->probe->message);
}

static int probe_error_unless(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	const char *text = NULL;
	int err = spec__want_string(w, key, val, &text);

	if (err)
		return err;
	pb->probe->error_unless_pos = spec__mark_pos(val->start_mark);
	return spec__dup_string(w, text, &pb->probe->error_unless);
}

static int probe_build_id(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	const char *text = NULL;
	size_t n;
	int err;

	err = spec__want_string(w, key, val, &text);
	if (err)
		return err;
	n = strlen(text);
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)text[i]))
			return spec__fail_node(w, val, "build_id must be hexadecimal, found '%c'",
					       text[i]);
	}
	if (n < 8 || n > 64 || n % 2)
		return spec__fail_node(
			w, val,
			"build_id must be an even number of 8 to 64 hex digits (a prefix "
			"of the file's NT_GNU_BUILD_ID)");
	pb->probe->build_id_pos = spec__mark_pos(val->start_mark);
	err = spec__dup_string(w, text, &pb->probe->build_id);
	for (char *c = pb->probe->build_id; !err && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return err;
}

static int probe_redact(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	int count;
	int err;

	err = spec__want_sequence(w, key, val, &count);
	if (err)
		return err;
	pb->redact_node = val;
	return 0;
}

static int take_at(struct walker *w, struct place_build *pl, yaml_node_t *key, yaml_node_t *val)
{
	const char *text = NULL;
	int err = spec__want_string(w, key, val, &text);

	if (err)
		return err;
	if (strcmp(text, "return") == 0)
		pl->at_return = true;
	else if (strcmp(text, "entry") != 0)
		return spec__fail_node(w, val, "expected 'entry' or 'return' for 'at', found '%s'",
				       tt_shorten(text, w->shown));
	pl->at_node = val;
	return 0;
}

static int begin_at(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	return take_at(w, &((struct probe_build *)obj)->start, key, val);
}

static int end_at(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	return take_at(w, &((struct probe_build *)obj)->end, key, val);
}

/* One key a line: clang-format would align a table into one run-on block. */
static const struct key_handler begin_keys[] = {
	{"symbol", probe_place},
	{"usdt", probe_place},
	{"at", begin_at},
	{"key", probe_key},
	{"attributes", probe_attributes},
	{"when", probe_when},
	{NULL, NULL},
};

static int probe_begin(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	int err;

	if (val->type != YAML_MAPPING_NODE)
		return spec__fail_node(
			w, val,
			"expected a mapping for 'begin' ({symbol or usdt, key, attributes, "
			"when}), found %s",
			spec__node_kind(val));
	pb->begin_node = val;
	pb->in_mapping = true;
	err = spec__walk_mapping(w, val, "begin", begin_keys, pb);
	pb->in_mapping = false;
	if (!err && !pb->start.node)
		err = spec__fail_node(w, val, "'begin' needs 'symbol' or 'usdt'");
	return err;
}

static int end_place(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;

	return take_place(w, pb, &pb->end, key, val);
}

static int end_key(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;

	return take_capture(w, pb, "key", &pb->probe->end_key, val, TT_SITE_END);
}

static const struct key_handler end_keys[] = {
	{"symbol", end_place},
	{"usdt", end_place},
	{"at", end_at},
	{"key", end_key},
	{"attributes", probe_attributes},
	{"error", probe_error},
	{"when", end_when},
	{NULL, NULL},
};

static int probe_end(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val)
{
	struct probe_build *pb = obj;
	enum tt_site saved = pb->site;
	int err;

	pb->end_node = val;
	if (val->type == YAML_SCALAR_NODE) {
		/* `end: provider:name`, the USDT probe that ends a `usdt:` span */
		const char *text = NULL;

		err = spec__want_string(w, key, val, &text);
		if (err)
			return err;
		pb->end.node = val;
		pb->end.key = "end";
		pb->end.usdt = true;
		return split_usdt(w, val, text, &pb->end.provider, &pb->end.name);
	}
	if (val->type != YAML_MAPPING_NODE)
		return spec__fail_node(
			w, val,
			"expected 'provider:name' or a mapping ({symbol or usdt, key, "
			"attributes, error, when}) for 'end', found %s",
			spec__node_kind(val));
	pb->end_is_mapping = true;
	pb->site = TT_SITE_END;
	pb->in_mapping = true;
	err = spec__walk_mapping(w, val, "end", end_keys, pb);
	pb->in_mapping = false;
	pb->site = saved;
	if (!err && !pb->end.node)
		err = spec__fail_node(w, val, "'end' needs 'symbol' or 'usdt'");
	return err;
}

const struct key_handler spec__probe_keys[] = {
	{"role", probe_role},
	{"symbol", probe_place},
	{"usdt", probe_place},
	{"begin", probe_begin},
	{"end", probe_end},
	{"key", probe_key},
	{"attributes", probe_attributes},
	{"error", probe_error},
	{"when", probe_when},
	{"attempt", probe_attempt},
	{"message_id", probe_message_id},
	{"traceparent", probe_traceparent},
	{"name", probe_name},
	{"redact", probe_redact},
	{"build_id", probe_build_id},
	{"of", probe_of},
	{"status", probe_status},
	{"message", probe_message},
	{"error_unless", probe_error_unless},
	{"function", probe_place},
	{NULL, NULL},
};
