/* SPDX-License-Identifier: MIT */
/* expr_bool_internal.h: a predicate parsed into a tree (expr_bool.c), emitted (expr_bool_emit.c).
 */
#ifndef TASKTAP_EXPR_BOOL_INTERNAL_H
#define TASKTAP_EXPR_BOOL_INTERNAL_H

#include "expr_internal.h"

#define PRED_MAX_NODES	64
#define PRED_MAX_LABELS (2 * PRED_MAX_NODES + 4)
#define PRED_MAX_DEPTH	32

enum node_kind { N_TEST, N_NOT, N_AND, N_OR };

enum leaf_kind {
	L_CMP,	/* number OP constant */
	L_CMPR, /* number OP number */
	L_STR,	/* string ==/!= literal, or FUNC */
	L_STRR, /* string ==/!= string */
};

/* An operand, compiled: its instructions are ops[at, at + n) of the pool. */
enum operand_kind {
	O_NUM,
	O_STR,
	O_LIT_NUM,
	O_LIT_STR,
	O_PY, /* a Python value: text or int by what it is compared with (py_settle()) */
};

struct operand {
	enum operand_kind kind;
	size_t col;
	int at, n;
	uint8_t limit; /* O_STR: bytes read with the NUL (0: TT_MAX_STR) */
	int64_t num;
	char str[TT_MAX_LITERAL + 1];
	size_t str_len;
	bool prefix; /* a literal ending in '*' */
};

struct node {
	enum node_kind kind;
	int a, b; /* children */
	/* N_TEST */
	enum leaf_kind leaf;
	struct operand lhs, rhs; /* L_CMP: rhs is the constant; L_STR: rhs the literal */
	enum tt_cmp op;
	uint8_t match; /* L_STR: TT_STRCMP_* */
	bool negate;   /* L_STR, L_STRR: != */
};

struct bparser {
	struct parser p;
	const struct tt_expr_names *names;
	struct code pool; /* operands' instructions */
	struct node nodes[PRED_MAX_NODES];
	int nnodes;
	int depth;
	/* emission */
	struct code out;
	int labels[PRED_MAX_LABELS]; /* op index, -1: not placed */
	int nlabels;
	int drop;	/* the label of the hit's drop (filters) */
	bool drop_used; /* a jump goes to it */
};

/* expr_bool.c: parses b->p's text into b's nodes; *root is the tree's. 0 or -EINVAL. */
int expr__bool_parse(struct bparser *b, int *root);

#endif /* TASKTAP_EXPR_BOOL_INTERNAL_H */
