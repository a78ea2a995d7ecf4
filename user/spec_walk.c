// SPDX-License-Identifier: MIT
/* spec_walk.c: the spec's YAML walk: messages with positions, scalar values, table-driven mappings.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "spec_internal.h"

/* ---- messages ---------------------------------------------------------- */

struct tt_pos spec__mark_pos(yaml_mark_t mark)
{
	struct tt_pos pos = {.line = (int)mark.line + 1, .col = (int)mark.column + 1};

	return pos;
}

/* Writes "NAME:LINE:COL: problem" into the caller's buffer; returns -EINVAL. */
int spec__fail_at(struct walker *w, struct tt_pos pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!w->err || !w->errlen)
		return -EINVAL;
	n = snprintf(w->err, w->errlen, "%s:%d:%d: ", w->name, pos.line, pos.col);
	if (n < 0 || (size_t)n >= w->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int spec__out_of_memory(struct walker *w)
{
	if (w->err && w->errlen)
		snprintf(w->err, w->errlen, "%s: out of memory", w->name);
	return -ENOMEM;
}

const char *spec__node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

const char *spec__scalar_value(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

bool spec__is_quoted(const yaml_node_t *node)
{
	return node->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
	       node->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
}

/*
 * Byte offset in the source of libyaml's mark index, which counts
 * characters (a UTF-8 sequence is one) after any byte-order mark.
 * Returns -1 when the source does not have that many characters.
 */
static long mark_offset(const struct walker *w, size_t index)
{
	size_t chars = 0;
	size_t i = 0;

	if (w->len >= 3 && memcmp(w->text, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	for (; i < w->len; i++) {
		if (((unsigned char)w->text[i] & 0xc0) == 0x80)
			continue;
		if (chars == index)
			return (long)i;
		chars++;
	}
	return chars == index ? (long)i : -1;
}

/* Characters (not bytes) in the first n bytes of s. */
static int count_chars(const char *s, size_t n)
{
	int chars = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			chars++;
	}
	return chars;
}

/*
 * Position of byte `col` of the expression held by scalar `node`. Exact
 * when the value stands verbatim in the source on one line (a plain
 * scalar, or a quoted one without escapes); the node's start otherwise.
 */
struct tt_pos spec__expr_pos(const struct walker *w, const yaml_node_t *node, int col)
{
	struct tt_pos pos = spec__mark_pos(node->start_mark);
	const char *value = spec__scalar_value(node);
	size_t vlen = node->data.scalar.length;
	size_t skip = spec__is_quoted(node) ? 1 : 0;
	long off = mark_offset(w, node->start_mark.index);

	if (off < 0 || col < 0 || (size_t)col > vlen || memchr(value, '\n', vlen))
		return pos;
	if ((size_t)off + skip + vlen > w->len)
		return pos;
	if (memcmp(w->text + off + skip, value, vlen) != 0)
		return pos;
	pos.col += (int)skip + count_chars(value, (size_t)col);
	return pos;
}

/*
 * A hint for an expression cut short by YAML: in a flow mapping such as
 * `{ a: str(arg1, 32) }` the ',' ends the plain scalar.
 */
const char *spec__flow_hint(const struct walker *w, const yaml_node_t *node, int col)
{
	long end = mark_offset(w, node->end_mark.index);

	if (spec__is_quoted(node) || col < 0 || (size_t)col != node->data.scalar.length)
		return "";
	if (end < 0 || (size_t)end >= w->len || w->text[end] != ',')
		return "";
	return "; in a { } mapping a ',' ends the value: write it in block style, on its own line";
}

/* Reports libyaml's syntax error at the position it gives. */
int spec__fail_yaml(struct walker *w, const yaml_parser_t *parser)
{
	const char *problem = parser->problem ? parser->problem : "invalid YAML";
	const char *hint = "";
	struct tt_pos pos = spec__mark_pos(parser->problem_mark);
	long off = mark_offset(w, parser->problem_mark.index);
	long ctx = mark_offset(w, parser->context_mark.index);
	size_t i;

	if (parser->error == YAML_MEMORY_ERROR)
		return spec__out_of_memory(w);
	if (parser->error == YAML_READER_ERROR) {
		/* The reader counts bytes, not lines. */
		pos.line = 1;
		pos.col = 1;
		for (i = 0; i < parser->problem_offset && i < w->len; i++) {
			pos.col++;
			if (w->text[i] == '\n') {
				pos.line++;
				pos.col = 1;
			}
		}
		return spec__fail_at(w, pos, "%s", problem);
	}
	if ((off >= 0 && (size_t)off < w->len && w->text[off] == '*') ||
	    (parser->context && ctx >= 0 && (size_t)ctx < w->len && w->text[ctx] == '*'))
		hint = "; a leading '*' starts a YAML alias: write u64(e) for *e";
	if (parser->context)
		return spec__fail_at(w, pos, "%s (%s at line %d, column %d)%s", problem,
				     parser->context, (int)parser->context_mark.line + 1,
				     (int)parser->context_mark.column + 1, hint);
	return spec__fail_at(w, pos, "%s%s", problem, hint);
}

/* ---- values ------------------------------------------------------------ */

/* Checks that `val` is a scalar without NUL characters (it may be empty). */
int spec__want_scalar(struct walker *w, const char *what, yaml_node_t *val)
{
	if (val->type != YAML_SCALAR_NODE)
		return spec__fail_node(w, val, "expected a scalar for '%s', found %s", what,
				       spec__node_kind(val));
	if (strlen(spec__scalar_value(val)) != val->data.scalar.length)
		return spec__fail_node(w, val, "'%s' contains a NUL character", what);
	return 0;
}

/* The non-empty string value of the key `key`, into *out (owned by the document). */
int spec__want_string(struct walker *w, yaml_node_t *key, yaml_node_t *val, const char **out)
{
	const char *what = spec__scalar_value(key);
	int err;

	err = spec__want_scalar(w, what, val);
	if (err)
		return err;
	if (val->data.scalar.length == 0)
		return spec__fail_node(w, key, "'%s' must not be empty", what);
	*out = spec__scalar_value(val);
	return 0;
}

/* A non-empty sequence for the key `key`. */
int spec__want_sequence(struct walker *w, yaml_node_t *key, yaml_node_t *val, int *count)
{
	const char *what = spec__scalar_value(key);
	long n;

	if (val->type != YAML_SEQUENCE_NODE)
		return spec__fail_node(w, val, "expected a sequence for '%s', found %s", what,
				       spec__node_kind(val));
	n = val->data.sequence.items.top - val->data.sequence.items.start;
	if (n == 0)
		return spec__fail_node(w, key, "'%s' must not be empty", what);
	if (n > INT_MAX)
		return spec__fail_node(w, key, "'%s' has too many items", what);
	*count = (int)n;
	return 0;
}

/* Stores a copy of s in *dst, which must be NULL. */
int spec__dup_string(struct walker *w, const char *s, char **dst)
{
	*dst = strdup(s);
	if (!*dst)
		return spec__out_of_memory(w);
	return 0;
}

yaml_node_t *spec__node_at(struct walker *w, int id)
{
	return yaml_document_get_node(w->doc, id);
}

/* ---- mappings ---------------------------------------------------------- */

static bool same_scalar(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->type == YAML_SCALAR_NODE && b->type == YAML_SCALAR_NODE &&
	       a->data.scalar.length == b->data.scalar.length &&
	       memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length) == 0;
}

/*
 * Whether a key can be quoted back in a message: a name as a spec writes
 * one. Anything else (a line of a file that is no spec at all, a password
 * hash) is not repeated: messages end up on stderr and in /health, which
 * has no authentication.
 */
static bool quotable(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		if (!isalnum((unsigned char)s[n]) && !strchr("_-.", s[n]))
			return false;
	}
	return n > 0 && n <= 64;
}

/*
 * Calls fn for each pair of the mapping `map` (`what` names it in
 * messages), in file order, after checking that its key is a scalar seen
 * for the first time. Each pair is checked against the earlier ones only,
 * and every caller fails after a bounded number of pairs, so this is not
 * quadratic in an adversarial file.
 */
int spec__walk_pairs(struct walker *w, yaml_node_t *map, const char *what, pair_fn fn, void *ctx)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;
	yaml_node_pair_t *pair;
	yaml_node_pair_t *prev;
	yaml_node_t *key;
	yaml_node_t *val;
	int err;

	for (pair = start; pair < map->data.mapping.pairs.top; pair++) {
		key = spec__node_at(w, pair->key);
		val = spec__node_at(w, pair->value);
		if (key->type != YAML_SCALAR_NODE)
			return spec__fail_node(w, key, "expected a scalar key in %s, found %s",
					       what, spec__node_kind(key));
		for (prev = start; prev < pair; prev++) {
			if (same_scalar(spec__node_at(w, prev->key), key) &&
			    quotable(spec__scalar_value(key)))
				return spec__fail_node(
					w, key, "duplicate key '%s' in %s (first at line %d)",
					spec__scalar_value(key), what,
					(int)spec__node_at(w, prev->key)->start_mark.line + 1);
			if (same_scalar(spec__node_at(w, prev->key), key))
				return spec__fail_node(
					w, key, "duplicate key in %s (first at line %d)", what,
					(int)spec__node_at(w, prev->key)->start_mark.line + 1);
		}
		err = fn(w, ctx, key, val);
		if (err)
			return err;
	}
	return 0;
}

struct table_walk {
	const struct key_handler *table;
	const char *what;
	void *obj;
};

/* Lists the supported keys of a table, comma-separated, into buf. */
static void table_keys(const struct key_handler *table, char *buf, size_t len)
{
	const struct key_handler *h;
	size_t used = 0;
	int n;

	buf[0] = '\0';
	for (h = table; h->key; h++) {
		if (!h->fn)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", h->key);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

static int table_dispatch(struct walker *w, void *ctx, yaml_node_t *key, yaml_node_t *val)
{
	const struct table_walk *t = ctx;
	const char *name = spec__scalar_value(key);
	const struct key_handler *h;
	char expected[256];

	for (h = t->table; h->key; h++) {
		if (strcmp(h->key, name) != 0)
			continue;
		if (!h->fn)
			return spec__fail_node(w, key, "'%s' is not supported yet", name);
		return h->fn(w, t->obj, key, val);
	}
	table_keys(t->table, expected, sizeof(expected));
	if (!quotable(name))
		return spec__fail_node(w, key, "unknown key in %s (expected one of: %s)", t->what,
				       expected);
	return spec__fail_node(w, key, "unknown key '%s' in %s (expected one of: %s)", name,
			       t->what, expected);
}

/* Walks the mapping `map` describing `obj` with the handlers of `table`. */
int spec__walk_mapping(struct walker *w, yaml_node_t *map, const char *what,
		       const struct key_handler *table, void *obj)
{
	struct table_walk t = {.table = table, .what = what, .obj = obj};

	return spec__walk_pairs(w, map, what, table_dispatch, &t);
}
