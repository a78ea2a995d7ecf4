// SPDX-License-Identifier: MIT
/* spec_python.c: the probes of a `runtime: python` target (DESIGN §10). */
#include <errno.h>
#include <string.h>

#include "python/interp.h"
#include "python/value.h"
#include "spec_internal.h"

/*
 * Checks that a probe names a Python function (`function: module:qualname`)
 * exactly when its target is `runtime: python`. 0 or -EINVAL after saying
 * why.
 */
int spec__check_python(struct walker *w, struct probe_build *pb, yaml_node_t *node)
{
	const struct tt_target *t = pb->probe->target;
	bool function = pb->start.key && !strcmp(pb->start.key, "function");
	char why[256];

	if (!t->python) {
		if (function)
			return spec__fail_node(
				w, pb->start.node,
				"'function' names a Python function: give the target "
				"'runtime: python'");
		return 0;
	}
	if (pb->begin_node || pb->end_node)
		return spec__fail_node(w, pb->begin_node ? pb->begin_node : pb->end_node,
				       "a python probe is one function's call: give it 'function: "
				       "module:qualname', not 'begin' or 'end'");
	if (!function)
		return spec__fail_node(
			w, pb->start.node ? pb->start.node : node,
			"a probe of a 'runtime: python' target names its function as "
			"'function: module:qualname'");
	if (pb->start.at_return)
		return spec__fail_node(w, pb->start.at_node, "'at' is for 'symbol:' probes");
	if (tt_py_function__check(pb->start.name, why, sizeof(why)))
		return spec__fail_node(w, pb->start.node, "%s", why);
	return 0;
}

/* Whether the Python programs (bpf/python_values.bpf.h) run filter instruction op. */
static bool py_filter_op(const struct tt_op *op)
{
	switch (op->code) {
	case TT_OP_NOP:
	case TT_OP_PY:
	case TT_OP_PY_LOCAL:
	case TT_OP_PY_ATTR:
	case TT_OP_PY_ITEM:
	case TT_OP_PY_VALUE:
	case TT_OP_CMP:
	case TT_OP_JMP:
	case TT_OP_DROP:
		return true;
	case TT_OP_STRCMP: /* equal, or starts with, read as str() reads by default */
		return op->aux <= TT_STRCMP_PREFIX && op->pad == 0;
	default:
		return false;
	}
}

/*
 * Checks a filter compiled into prog->ops[from..): on a python probe, it
 * compares py() values with literals only (what its programs run, at the
 * call's start); elsewhere it reads no py(). 0 or -EINVAL after saying why.
 */
int spec__check_py_filter(struct walker *w, struct probe_build *pb, yaml_node_t *node,
			  const struct tt_probe_prog *prog, __u32 from)
{
	bool python = pb->probe->target->python;

	for (__u32 i = from; i < prog->nops; i++) {
		const struct tt_op *op = &prog->ops[i];

		if (!python && op->code == TT_OP_PY_VALUE)
			return spec__fail_node(
				w, node,
				"py() reads Python values: give the target 'runtime: python'");
		if (!python || py_filter_op(op))
			continue;
		if (op->code == TT_OP_STRCMP)
			return spec__fail_node(
				w, node,
				"a python probe's 'when' tests a py() string with ==, != or "
				"starts_with() (not ends_with(), contains() or a read limit)");
		return spec__fail_node(w, node,
				       "a python probe's 'when' compares py() values with quoted "
				       "literals or integers (argN, ret and str() are a C "
				       "function's)");
	}
	return 0;
}

/*
 * `error: raised`: the call ended by an exception. Its type's name
 * (tp_name) is read when the frame ends, into the attribute
 * exception.type, and is the span's error type. 0 or -errno after saying
 * why.
 */
int spec__compile_raised(struct walker *w, struct probe_build *pb)
{
	static const struct tt_op ops[] = {
		/* where the exception's type keeps its name: BPF finds it for the version */
		{.code = TT_OP_PY, .imm = 1},
		{.code = TT_OP_LOAD, .aux = 8},
		{.code = TT_OP_EMIT_STR, .len = TT_MAX_STR},
	};
	struct tt_probe *p = pb->probe;
	struct tt_probe_prog *prog = &pb->start_hook->prog.ret;
	struct tt_pred *pred = &p->error;
	struct tt_attr *attr;
	size_t n = sizeof(ops) / sizeof(ops[0]);

	if (p->nattrs >= TT_MAX_ATTRS || prog->ncaps >= TT_MAX_CAPTURES ||
	    prog->nops + n > TT_MAX_OPS)
		return spec__fail_node(
			w, pb->error_node,
			"no room left for the exception's type: fewer attributes, please "
			"(at most %d with 'error: raised')",
			TT_MAX_ATTRS - 1);
	memcpy(&prog->ops[prog->nops], ops, sizeof(ops));
	prog->nops += (__u32)n;
	prog->ncaps++;
	attr = &p->attrs[p->nattrs++];
	memset(attr, 0, sizeof(*attr));
	attr->cap.index = (int)prog->ncaps - 1;
	attr->cap.type = TT_CAP_STR;
	attr->cap.site = TT_SITE_RETURN;
	attr->cap.pos = spec__mark_pos(pb->error_node->start_mark);
	pred->set = true;
	pred->on_ret = true;
	pred->raised = true;
	pred->op = TT_CMP_NE;
	pred->rhs = 0;
	pred->pos = attr->cap.pos;
	pred->lhs = attr->cap;
	if (spec__dup_string(w, "exception.type", &attr->name) ||
	    spec__dup_string(w, "raised", &attr->cap.text) ||
	    spec__dup_string(w, "raised", &pred->lhs.text) ||
	    spec__dup_string(w, "raised", &pred->text))
		return -ENOMEM;
	return 0;
}

/*
 * A capture `py(NAME.attr…)` of a python probe, compiled into `prog`, a
 * string record. 0 or -EINVAL after saying why.
 */
int spec__compile_py(struct walker *w, struct probe_build *pb, struct tt_capture *cap,
		     const yaml_node_t *node, struct tt_probe_prog *prog)
{
	char msg[SPEC_EXPR_ERR];
	int col = 0;

	if (!pb->probe->target->python)
		return spec__fail_node(
			w, (yaml_node_t *)node,
			"py() reads Python values: give the target 'runtime: python'");
	if (tt_py_value__compile(cap->text, prog, msg, sizeof(msg), &col))
		return spec__fail_at(w, spec__expr_pos(w, node, col), "%s", msg);
	cap->type = TT_CAP_STR;
	cap->index = (int)prog->ncaps - 1;
	return 0;
}
