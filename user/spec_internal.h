/* SPDX-License-Identifier: MIT */
/* spec_internal.h: the YAML walker the spec's parts share (spec.c, spec_walk.c); private. */
#ifndef TASKTAP_SPEC_INTERNAL_H
#define TASKTAP_SPEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "helpers.h"
#include "spec.h"

struct walker {
	const char *name; /* the spec's name in messages */
	const char *text; /* the YAML source, for expression columns */
	size_t len;
	yaml_document_t *doc;
	struct tt_spec *spec;
	char *err;
	size_t errlen;
	char shown[TT_SHORT_MAX]; /* a long value a message quotes, shortened (tt_shorten()) */
};

/*
 * A mapping key's handler: `obj` is the object the mapping describes,
 * `key` the key node and `val` its value. Returns 0 or a negative errno
 * after reporting the problem.
 */
typedef int (*key_fn)(struct walker *w, void *obj, yaml_node_t *key, yaml_node_t *val);

struct key_handler {
	const char *key;
	key_fn fn; /* NULL: recognised, not supported yet */
};

typedef int (*pair_fn)(struct walker *w, void *ctx, yaml_node_t *key, yaml_node_t *val);

/* spec_walk.c: messages, values, mappings */
struct tt_pos mark_pos(yaml_mark_t mark);
int fail_at(struct walker *w, struct tt_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define fail_node(w, node, ...) fail_at((w), mark_pos((node)->start_mark), __VA_ARGS__)
int out_of_memory(struct walker *w);
const char *node_kind(const yaml_node_t *node);
const char *scalar_value(const yaml_node_t *node);
bool is_quoted(const yaml_node_t *node);
struct tt_pos expr_pos(const struct walker *w, const yaml_node_t *node, int col);
const char *flow_hint(const struct walker *w, const yaml_node_t *node, int col);
int fail_yaml(struct walker *w, const yaml_parser_t *parser);
int want_scalar(struct walker *w, const char *what, yaml_node_t *val);
int want_string(struct walker *w, yaml_node_t *key, yaml_node_t *val, const char **out);
int want_sequence(struct walker *w, yaml_node_t *key, yaml_node_t *val, int *count);
int dup_string(struct walker *w, const char *s, char **dst);
yaml_node_t *node_at(struct walker *w, int id);
int walk_pairs(struct walker *w, yaml_node_t *map, const char *what, pair_fn fn, void *ctx);
int walk_mapping(struct walker *w, yaml_node_t *map, const char *what,
		 const struct key_handler *table, void *obj);

#endif /* TASKTAP_SPEC_INTERNAL_H */
