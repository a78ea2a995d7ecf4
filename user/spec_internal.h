/* SPDX-License-Identifier: MIT */
/* spec_internal.h: the YAML walker and the probe being built, shared by user/spec*.c; private. */
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

/* Room for the problem text of one expression error. */
#define SPEC_EXPR_ERR 256

/* One end of a span as written: a function or a USDT probe. */
struct place_build {
	yaml_node_t *node; /* the value; NULL until given */
	const char *key;   /* "symbol", "usdt" or "end" */
	bool usdt;
	char *provider; /* owned until a hook takes it */
	char *name;	/* function, or USDT name; owned until a hook takes it */
	bool at_return; /* `at: return`: the function's return is the event */
	yaml_node_t *at_node;
};

#define PROBE_MAX_PENDING (TT_MAX_ATTRS + 8)

/* What a probe's keys gathered before its hooks are made and its captures compiled. */
struct probe_build {
	struct tt_probe *probe;
	bool has_role;
	struct place_build start;
	struct place_build end;
	yaml_node_t *begin_node;
	yaml_node_t *end_node;
	bool end_is_mapping;
	yaml_node_t *when_node;
	yaml_node_t *end_when_node; /* `when:` inside an 'end' mapping */
	yaml_node_t *error_node;
	yaml_node_t *redact_node;
	yaml_node_t *of_node;	  /* annotate: `of:` */
	yaml_node_t *status_node; /* annotate: `status:` */
	yaml_node_t *message_node;
	yaml_node_t *name_node;
	enum tt_site site; /* of attributes being walked: START, or END inside 'end' */
	bool in_mapping;   /* walking a 'begin' or 'end' mapping */
	struct {
		struct tt_capture *cap;
		yaml_node_t *node;
	} pending[PROBE_MAX_PENDING]; /* captures, in the order written */
	int npending;
	struct tt_hook *start_hook;
	struct tt_hook *end_hook;
};

typedef int (*pair_fn)(struct walker *w, void *ctx, yaml_node_t *key, yaml_node_t *val);

/* spec_walk.c: messages, values, mappings */
struct tt_pos spec__mark_pos(yaml_mark_t mark);
int spec__fail_at(struct walker *w, struct tt_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define spec__fail_node(w, node, ...)                                                              \
	spec__fail_at((w), spec__mark_pos((node)->start_mark), __VA_ARGS__)
int spec__out_of_memory(struct walker *w);
const char *spec__node_kind(const yaml_node_t *node);
const char *spec__scalar_value(const yaml_node_t *node);
bool spec__is_quoted(const yaml_node_t *node);
struct tt_pos spec__expr_pos(const struct walker *w, const yaml_node_t *node, int col);
const char *spec__flow_hint(const struct walker *w, const yaml_node_t *node, int col);
int spec__fail_yaml(struct walker *w, const yaml_parser_t *parser);
int spec__want_scalar(struct walker *w, const char *what, yaml_node_t *val);
int spec__want_string(struct walker *w, yaml_node_t *key, yaml_node_t *val, const char **out);
int spec__want_sequence(struct walker *w, yaml_node_t *key, yaml_node_t *val, int *count);
int spec__dup_string(struct walker *w, const char *s, char **dst);
yaml_node_t *spec__node_at(struct walker *w, int id);
int spec__walk_pairs(struct walker *w, yaml_node_t *map, const char *what, pair_fn fn, void *ctx);
int spec__walk_mapping(struct walker *w, yaml_node_t *map, const char *what,
		       const struct key_handler *table, void *obj);

/* spec_compile.c: a probe's hooks made and its filter and captures compiled into them */
int spec__make_hooks(struct walker *w, struct probe_build *pb);

/* spec_python.c: a probe of a `runtime: python` target, and `function:` elsewhere. */
int spec__check_python(struct walker *w, struct probe_build *pb, yaml_node_t *node);
int spec__check_py_filter(struct walker *w, struct probe_build *pb, yaml_node_t *node,
			  const struct tt_probe_prog *prog, __u32 from);
int spec__compile_raised(struct walker *w, struct probe_build *pb);
int spec__compile_py(struct walker *w, struct probe_build *pb, struct tt_capture *cap,
		     const yaml_node_t *node, struct tt_probe_prog *prog);
int spec__probe_compile(struct walker *w, struct probe_build *pb);

/* spec_probe.c: the probe mapping's keys, one handler each (NULL-terminated) */
extern const struct key_handler spec__probe_keys[];

/* spec.c: one probe's mapping, walked and checked as a whole */
int spec__walk_probe(struct walker *w, struct tt_target *target, struct tt_probe *probe,
		     yaml_node_t *node);

/* spec_targets.c: a target's keys (binary, library, comm, cgroup, pid) and its probes */
int spec__walk_target(struct walker *w, struct tt_target *target, yaml_node_t *node);

#endif /* TASKTAP_SPEC_INTERNAL_H */
