// SPDX-License-Identifier: MIT
/*
 * expr_bool_emit.c: a predicate's tree (expr_bool.c) emitted as a capture
 * program: a node is compiled with the label to go to and whether to go
 * there when it is true or when it is false (short-circuit); a test whose
 * target is the hit's drop is the one instruction that drops it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "expr_bool_internal.h"

static int emit(struct bparser *b, struct tt_op op)
{
	return code__emit(&b->p, &b->out, &op, 0);
}

static int new_label(struct bparser *b)
{
	if (b->nlabels >= PRED_MAX_LABELS)
		return -1;
	b->labels[b->nlabels] = -1;
	return b->nlabels++;
}

static void place(struct bparser *b, int label)
{
	if (label >= 0)
		b->labels[label] = b->out.n;
}

/* A jump to `label` (patched to its instruction when the predicate is complete). */
static int emit_jmp(struct bparser *b, int label, __u8 flags)
{
	if (label < 0)
		return expr__fail(&b->p, 0, "predicate too complex");
	if (label == b->drop)
		b->drop_used = true;
	return emit(b, (struct tt_op){.code = TT_OP_JMP, .flags = flags, .imm = label});
}

static int emit_operand(struct bparser *b, const struct operand *o)
{
	int err = 0;

	for (int i = 0; i < o->n && !err; i++)
		err = emit(b, b->pool.ops[o->at + i]);
	return err;
}

/* The literal's bytes and NUL, 8 to an instruction (capture.h: STRCMP). */
static int emit_literal(struct bparser *b, const struct operand *lit)
{
	size_t words = (lit->str_len + 8) / 8;
	int err = 0;

	for (size_t w = 0; w < words && !err; w++) {
		struct tt_op op = {.code = TT_OP_NOP};
		size_t left = lit->str_len + 1 - 8 * w;

		memcpy(&op.imm, lit->str + 8 * w, left < 8 ? left : 8);
		err = emit(b, op);
	}
	return err;
}

/* A comparison: its operands, then its test; jumps to `label` when it is `when`. */
static int emit_test(struct bparser *b, const struct node *n, bool when, int label)
{
	/* the hit's drop when false: the test drops it itself, no condition */
	bool direct = label == b->drop && !when;
	struct tt_op t = {.flags = direct ? 0 : TT_OPF_COND};
	int err;

	err = emit_operand(b, &n->lhs);
	if (!err && (n->leaf == L_CMPR || n->leaf == L_STRR)) {
		err = emit(b, (struct tt_op){.code = TT_OP_SAVE});
		if (!err)
			err = emit_operand(b, &n->rhs);
	}
	if (err)
		return err;
	switch (n->leaf) {
	case L_CMP:
	case L_CMPR:
		t.code = n->leaf == L_CMP ? TT_OP_CMP : TT_OP_CMPR;
		t.aux = (__u8)n->op;
		t.flags |= TT_OPF_SIGNED;
		t.imm = n->rhs.num;
		err = emit(b, t);
		break;
	case L_STR:
		t.code = TT_OP_STRCMP;
		t.aux = n->match;
		t.flags |= n->negate ? TT_OPF_NEGATE : 0;
		t.pad = n->lhs.limit;
		t.len = (__u32)n->rhs.str_len;
		err = emit(b, t);
		if (!err)
			err = emit_literal(b, &n->rhs);
		break;
	case L_STRR:
		t.code = TT_OP_STRCMPR;
		t.flags |= n->negate ? TT_OPF_NEGATE : 0;
		t.len = n->lhs.limit;
		t.pad = n->rhs.limit;
		err = emit(b, t);
		break;
	}
	if (err || direct)
		return err;
	return emit_jmp(b, label, when ? TT_OPF_IFTRUE : TT_OPF_IFFALSE);
}

/* Node i: goes to `label` when its value is `when`, else falls through. */
static int emit_node(struct bparser *b, int i, bool when, int label)
{
	const struct node *n = &b->nodes[i];
	int skip;
	int err;

	switch (n->kind) {
	case N_TEST:
		return emit_test(b, n, when, label);
	case N_NOT:
		return emit_node(b, n->a, !when, label);
	case N_AND:
	case N_OR:
		/* a && b is false as soon as a is; a || b true as soon as a is */
		if (when == (n->kind == N_OR)) {
			err = emit_node(b, n->a, when, label);
			return err ? err : emit_node(b, n->b, when, label);
		}
		skip = new_label(b);
		err = emit_node(b, n->a, n->kind == N_OR, skip);
		if (!err)
			err = emit_node(b, n->b, when, label);
		place(b, skip);
		return err;
	}
	return 0;
}

/* Turns the jumps' labels into the instructions they go to, `base` being where out starts. */
static int patch(struct bparser *b, uint32_t base)
{
	for (int i = 0; i < b->out.n; i++) {
		struct tt_op *op = &b->out.ops[i];

		if (op->code == TT_OP_STRCMP) {
			i += (int)(op->len + 8) / 8; /* its literal is not instructions */
			continue;
		}
		if (op->code != TT_OP_JMP)
			continue;
		if (op->imm < 0 || op->imm >= b->nlabels || b->labels[op->imm] < 0)
			return expr__fail(&b->p, 0, "predicate too complex");
		op->imm = (int64_t)base + b->labels[op->imm];
	}
	return 0;
}

static int emit_filter(struct bparser *b, int root)
{
	int pass;
	int err;

	b->drop = new_label(b);
	err = emit_node(b, root, false, b->drop);
	if (err || !b->drop_used)
		return err;
	pass = new_label(b);
	err = emit_jmp(b, pass, 0);
	place(b, b->drop);
	if (!err)
		err = emit(b, (struct tt_op){.code = TT_OP_DROP});
	place(b, pass);
	return err;
}

static int emit_verdict(struct bparser *b, int root)
{
	int no = new_label(b), end = new_label(b);
	int err;

	b->drop = -2; /* nothing drops the hit */
	err = emit_node(b, root, false, no);
	if (!err)
		err = emit(b, (struct tt_op){.code = TT_OP_CONST, .imm = 1});
	if (!err)
		err = emit_jmp(b, end, 0);
	place(b, no);
	if (!err)
		err = emit(b, (struct tt_op){.code = TT_OP_CONST, .imm = 0});
	place(b, end);
	if (!err)
		err = emit(b, (struct tt_op){.code = TT_OP_EMIT_INT});
	return err;
}

int tt_expr__compile_pred(const char *text, enum tt_pred_use use, bool at_return,
			  const struct tt_expr_names *names, struct tt_probe_prog *prog, char *err,
			  size_t errlen, int *errcol)
{
	struct bparser *b = calloc(1, sizeof(*b));
	int root = 0;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!b) {
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->p = (struct parser){.text = text, .at_return = at_return, .err = err, .errlen = errlen};
	b->names = names;
	ret = expr__bool_parse(b, &root);
	if (!ret && use == TT_PRED_VERDICT && prog->ncaps >= TT_MAX_CAPTURES)
		ret = expr__fail(&b->p, 0, "more than %d captures in one probe (the limit)",
				 TT_MAX_CAPTURES);
	if (!ret)
		ret = use == TT_PRED_VERDICT ? emit_verdict(b, root) : emit_filter(b, root);
	if (!ret && (prog->nops > TT_MAX_OPS || (__u32)b->out.n > TT_MAX_OPS - prog->nops))
		ret = expr__fail(
			&b->p, 0,
			"the probe's filter and captures need %u operations, more than the %d "
			"one hook runs",
			prog->nops + (__u32)b->out.n, TT_MAX_OPS);
	if (!ret)
		ret = patch(b, prog->nops);
	if (!ret) {
		memcpy(&prog->ops[prog->nops], b->out.ops,
		       (size_t)b->out.n * sizeof(b->out.ops[0]));
		prog->nops += (__u32)b->out.n;
		if (use == TT_PRED_VERDICT)
			prog->ncaps++;
	} else if (errcol) {
		*errcol = b->p.errcol;
	}
	free(b);
	return ret;
}

int tt_expr__compile_filter(const char *text, bool at_return, struct tt_probe_prog *prog, char *err,
			    size_t errlen, int *errcol)
{
	return tt_expr__compile_pred(text, TT_PRED_FILTER, at_return, NULL, prog, err, errlen,
				     errcol);
}
