// SPDX-License-Identifier: MIT
/*
 * expr_bool.c: predicates (`when:`, and `error:` evaluated in BPF)
 * compiled into capture programs with short-circuit jumps (capture.h).
 *
 * Grammar (whitespace allowed between tokens):
 *
 *	pred    := or
 *	or      := and { '||' and }
 *	and     := not { '&&' not }
 *	not     := '!' not | atom
 *	atom    := '(' pred ')' | FUNC '(' string ',' LITERAL ')' | operand OP operand
 *	FUNC    := starts_with | ends_with | contains
 *	OP      := == | != | < | <= | > | >=
 *	operand := string | LITERAL | ['-'] INT | value | NAME | pyvalue
 *	string  := str '(' value [',' INT] ')' | NAME (of a str() capture)
 *	pyvalue := py '(' NAME.attr… ')'   (runtime: python; user/python/value.c)
 *
 * `value` is expr.c's. A parenthesis opens a predicate when what it
 * encloses has a comparison, && , ||, ! or FUNC in it; else it is part of
 * a value ("(arg0 + 8) > 3"). Numbers compare signed. Strings compare
 * with == and != only, against a literal (a trailing '*' makes it a
 * prefix, as before FUNCs existed: "perf*") or against another string;
 * each side is read as str() would capture it (at most n - 1 bytes for
 * str(e, n), 63 by default). A comparison whose value cannot be read is
 * false (and so `!` of it is true).
 *
 * The parse builds a small tree (here); its leaves' operands are compiled
 * as they are read (expr.c's value grammar). The tree is then emitted
 * (expr_bool_emit.c) the classic way: a node is compiled with the label
 * to go to and whether to go there when it is true or when it is false,
 * so `a && b` skips b when a is false and the right side of a false && is
 * never read. A test whose target is the hit's drop stays the one
 * instruction it always was (a CMP that drops); others set the condition
 * and jump.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "expr_bool_internal.h"
#include "python/value.h"

struct cmp_tok {
	const char *tok;
	enum tt_cmp op;
};

/* Two-character operators first, so that "<=" is not read as "<". */
static const struct cmp_tok cmp_toks[] = {
	{"==", TT_CMP_EQ}, {"!=", TT_CMP_NE}, {"<=", TT_CMP_LE},
	{">=", TT_CMP_GE}, {"<", TT_CMP_LT},  {">", TT_CMP_GT},
};

static const char *const pred_funcs[] = {"starts_with", "ends_with", "contains"};
static const uint8_t pred_func_match[] = {TT_STRCMP_PREFIX, TT_STRCMP_SUFFIX, TT_STRCMP_CONTAINS};

/* Words of the expression language: never a capture's name. */
static const char *const words[] = {"ret", "str",	  "bytes",     "u8",	   "u16",
				    "u32", "u64",	  "s8",	       "s16",	   "s32",
				    "s64", "starts_with", "ends_with", "contains", "py"};

static bool is_name_char(char c)
{
	return is_ident(c) || c == '.';
}

bool tt_expr__is_name(const char *text, size_t *len)
{
	size_t n = 0;
	size_t i;

	if (!is_ident_start(text[0]))
		return false;
	while (is_name_char(text[n]))
		n++;
	*len = n;
	if (n >= 4 && strncmp(text, "arg", 3) == 0) {
		for (i = 3; i < n && is_digit(text[i]); i++)
			;
		if (i == n)
			return false;
	}
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i]) == n && strncmp(text, words[i], n) == 0)
			return false;
	}
	return true;
}

static const struct cmp_tok *cmp_at(const char *s)
{
	for (size_t k = 0; k < sizeof(cmp_toks) / sizeof(cmp_toks[0]); k++) {
		if (strncmp(s, cmp_toks[k].tok, strlen(cmp_toks[k].tok)) == 0)
			return &cmp_toks[k];
	}
	return NULL;
}

static int pred_func_at(const char *s)
{
	for (size_t k = 0; k < sizeof(pred_funcs) / sizeof(pred_funcs[0]); k++) {
		size_t n = strlen(pred_funcs[k]);
		size_t i = n;

		if (strncmp(s, pred_funcs[k], n) != 0 || is_name_char(s[n]))
			continue;
		while (is_space(s[i]))
			i++;
		if (s[i] == '(')
			return (int)k;
	}
	return -1;
}

/*
 * Whether the parenthesis at `open` encloses a predicate (a comparison,
 * &&, ||, ! or a FUNC anywhere inside, outside quotes) rather than a
 * value.
 */
static bool group_is_pred(const char *text, size_t open)
{
	int depth = 0;
	char quote = 0;

	for (size_t i = open; text[i]; i++) {
		char c = text[i];

		if (quote) {
			if (c == '\\' && text[i + 1])
				i++;
			else if (c == quote)
				quote = 0;
			continue;
		}
		if (c == '"' || c == '\'') {
			quote = c;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth == 0)
				return false;
		} else if (cmp_at(text + i) || c == '!' || strncmp(text + i, "&&", 2) == 0 ||
			   strncmp(text + i, "||", 2) == 0) {
			return true;
		} else if ((i == 0 || !is_name_char(text[i - 1])) && pred_func_at(text + i) >= 0) {
			return true;
		}
	}
	return false;
}

static int new_node(struct bparser *b, enum node_kind kind, int *out)
{
	if (b->nnodes >= PRED_MAX_NODES)
		return expr__fail(&b->p, b->p.pos,
				  "predicate has more than %d comparisons and operators",
				  PRED_MAX_NODES);
	memset(&b->nodes[b->nnodes], 0, sizeof(b->nodes[0]));
	b->nodes[b->nnodes].kind = kind;
	*out = b->nnodes++;
	return 0;
}

/* Moves the instructions of c into the pool; sets o->at and o->n. */
static int pool_add(struct bparser *b, const struct code *c, struct operand *o)
{
	if (b->pool.n + c->n > TT_MAX_OPS)
		return expr__fail(
			&b->p, o->col,
			"the predicate needs more than %d operations, the most one hook runs",
			TT_MAX_OPS);
	memcpy(&b->pool.ops[b->pool.n], c->ops, (size_t)c->n * sizeof(c->ops[0]));
	o->at = b->pool.n;
	o->n = c->n;
	b->pool.n += c->n;
	return 0;
}

/* A quoted literal at the current position, into o (O_LIT_STR). */
static int parse_str_literal(struct bparser *b, struct operand *o)
{
	o->kind = O_LIT_STR;
	return expr__parse_literal(&b->p, o->col, o->str, &o->str_len, &o->prefix);
}

/* '-' INT at the current position (O_LIT_NUM). */
static int parse_negative(struct bparser *b, struct operand *o)
{
	struct parser *p = &b->p;
	uint64_t v;
	int err;

	p->pos++;
	skip_space(p);
	if (!is_digit(peek(p)))
		return expr__fail_unexpected(p, "an integer after '-'");
	err = expr__parse_uint(p, &v);
	if (err)
		return err;
	if (v > (uint64_t)INT64_MAX + 1)
		return expr__fail(p, o->col, "integer out of range for a signed 64-bit value");
	o->kind = O_LIT_NUM;
	o->num = (int64_t)(0 - v);
	return 0;
}

/* str '(' value [',' INT] ')' at the current position (O_STR). */
static int parse_str_operand(struct bparser *b, struct operand *o)
{
	struct parser *p = &b->p;
	struct code c = {.n = 0};
	uint64_t max;
	int err;

	p->pos += 3;
	err = expr__expect_char(p, '(', "'(' after str");
	if (!err)
		err = expr__parse_value(p, &c);
	if (err)
		return err;
	skip_space(p);
	if (peek(p) == ',') {
		p->pos++;
		skip_space(p);
		err = expr__parse_str_limit(p, &max);
		if (err)
			return err;
		o->limit = max == TT_MAX_STR ? 0 : (uint8_t)max;
	}
	err = expr__expect_char(p, ')', "')' to close str()");
	if (err)
		return err;
	o->kind = O_STR;
	return pool_add(b, &c, o);
}

/* py '(' NAME.attr… ')' at the current position (O_PY, its type settled by type_check()). */
static int parse_py_operand(struct bparser *b, struct operand *o)
{
	struct parser *p = &b->p;
	struct code c = {.n = 0};
	size_t len = 0;
	int col = 0;

	if (tt_py_value__compile_operand(p->text + p->pos, &len, c.ops, TT_MAX_OPS, &c.n, p->err,
					 p->errlen, &col)) {
		p->errcol = (int)p->pos + col;
		return -EINVAL;
	}
	p->pos += len;
	o->kind = O_PY;
	return pool_add(b, &c, o);
}

/*
 * A py() operand made text (as str(...)) or a number, as what it is
 * compared with: its last instruction, PY_VALUE, says which it reads.
 */
static void py_settle(struct bparser *b, struct operand *o, bool text)
{
	b->pool.ops[o->at + o->n - 1].imm = text ? 0 : 1;
	o->kind = text ? O_STR : O_NUM;
}

static int parse_operand(struct bparser *b, struct operand *o);

/*
 * A capture's name: its expression parsed as an operand in its stead. A
 * problem in it is reported at the name.
 */
static int parse_named(struct bparser *b, struct operand *o, size_t len)
{
	struct parser *p = &b->p;
	const char *expr = b->names && b->names->lookup
				   ? b->names->lookup(b->names->ctx, p->text + p->pos, len)
				   : NULL;
	size_t col = o->col;
	struct bparser *sub;
	int err;

	if (!expr)
		return expr__fail(
			p, o->col,
			"unknown name '%.*s' (expected argN, ret, an integer, str(...) or the "
			"name of one of this probe's attributes)",
			(int)len, p->text + p->pos);
	sub = calloc(1, sizeof(*sub));
	if (!sub)
		return expr__fail(p, o->col, "out of memory");
	sub->p = (struct parser){
		.text = expr, .at_return = p->at_return, .err = p->err, .errlen = p->errlen};
	sub->pool = b->pool;	     /* its instructions go where ours do */
	sub->depth = PRED_MAX_DEPTH; /* a name inside it is not looked up again */
	err = parse_operand(sub, o);
	if (!err) {
		skip_space(&sub->p);
		if (peek(&sub->p) != '\0')
			err = expr__fail_unexpected(&sub->p, "the end of the expression");
	}
	if (!err && (o->kind == O_LIT_NUM || o->kind == O_LIT_STR))
		err = expr__fail(&sub->p, 0, "it is a constant");
	if (err) {
		char why[256];

		snprintf(why, sizeof(why), "%s", p->err ? p->err : "");
		free(sub);
		return expr__fail(p, col, "in '%.*s' (%s): %s", (int)len, p->text + p->pos, expr,
				  why);
	}
	b->pool = sub->pool;
	free(sub);
	o->col = col;
	p->pos += len;
	return 0;
}

/* One side of a comparison into o. */
static int parse_operand(struct bparser *b, struct operand *o)
{
	struct parser *p = &b->p;
	struct code c = {.n = 0};
	size_t len = 0;
	int err;

	skip_space(p);
	memset(o, 0, sizeof(*o));
	o->col = p->pos;
	p->nloads = 0; /* the dereference budget is per expression */
	if (peek(p) == '"' || peek(p) == '\'')
		return parse_str_literal(b, o);
	if (peek(p) == '-')
		return parse_negative(b, o);
	if (ident_is(p, ident_len(p), "str")) {
		size_t i = p->pos + 3;

		while (is_space(p->text[i]))
			i++;
		if (p->text[i] == '(')
			return parse_str_operand(b, o);
	}
	if (ident_is(p, ident_len(p), "py")) {
		size_t i = p->pos + 2;

		while (is_space(p->text[i]))
			i++;
		if (p->text[i] == '(')
			return parse_py_operand(b, o);
	}
	if (ident_is(p, ident_len(p), "bytes"))
		return expr__fail(p, o->col,
				  "bytes() cannot be compared: compare str(EXPR) or a number");
	if (tt_expr__is_name(p->text + p->pos, &len)) {
		size_t i = p->pos + len;

		while (is_space(p->text[i]))
			i++;
		if (p->text[i] != '(' && b->depth < PRED_MAX_DEPTH)
			return parse_named(b, o, len);
	}
	err = expr__parse_value(p, &c);
	if (err)
		return err;
	if (c.n == 1 && c.ops[0].code == TT_OP_CONST) {
		o->kind = O_LIT_NUM;
		o->num = c.ops[0].imm;
		return 0;
	}
	/* `ret` alone is read as the spec reads return values (tt_ret__value) */
	if (c.n == 1 && c.ops[0].code == TT_OP_RET)
		c.ops[0].flags |= TT_OPF_INTRET;
	o->kind = O_NUM;
	return pool_add(b, &c, o);
}

static bool is_str(const struct operand *o)
{
	return o->kind == O_STR || o->kind == O_LIT_STR;
}

static enum tt_cmp swapped(enum tt_cmp op)
{
	switch (op) {
	case TT_CMP_LT:
		return TT_CMP_GT;
	case TT_CMP_LE:
		return TT_CMP_GE;
	case TT_CMP_GT:
		return TT_CMP_LT;
	case TT_CMP_GE:
		return TT_CMP_LE;
	default:
		return op;
	}
}

/* Puts a constant or literal on the right; checks the sides' types fit the operator. */
static int type_check(struct bparser *b, struct node *n, size_t opcol)
{
	struct parser *p = &b->p;
	struct operand *l = &n->lhs, *r = &n->rhs;

	if ((l->kind == O_LIT_NUM || l->kind == O_LIT_STR) &&
	    (r->kind == O_LIT_NUM || r->kind == O_LIT_STR))
		return expr__fail(p, l->col,
				  "both sides are constants: compare what the probe reads");
	if (l->kind == O_LIT_NUM || l->kind == O_LIT_STR) {
		struct operand t = *l;

		*l = *r;
		*r = t;
		n->op = swapped(n->op);
	}
	if (r->kind == O_PY)
		return expr__fail(p, r->col,
				  "a py() value compares with a quoted literal or an integer");
	if (l->kind == O_PY && r->kind != O_LIT_STR && r->kind != O_LIT_NUM)
		return expr__fail(p, r->col,
				  "a py() value compares with a quoted literal or an integer");
	if (l->kind == O_PY)
		py_settle(b, l, r->kind == O_LIT_STR);
	if (is_str(l) != is_str(r)) {
		if (r->kind == O_LIT_STR)
			return expr__fail(p, l->col,
					  "only str(EXPR) compares with a string literal");
		if (r->kind == O_LIT_NUM)
			return expr__fail(
				p, l->col,
				"a string compares with a quoted literal, not an integer");
		return expr__fail(
			p, is_str(l) ? r->col : l->col,
			"a string compares with a string (str(EXPR) or a quoted literal), "
			"not a number");
	}
	if (is_str(l) && n->op != TT_CMP_EQ && n->op != TT_CMP_NE)
		return expr__fail(p, opcol, "strings compare with == or != only");
	if (r->prefix && r->kind == O_LIT_STR && r->str_len == 0)
		return expr__fail(p, r->col, "an empty prefix (\"*\") matches every string");
	n->negate = n->op == TT_CMP_NE;
	if (r->kind == O_LIT_STR) {
		n->leaf = L_STR;
		n->match = r->prefix ? TT_STRCMP_PREFIX : TT_STRCMP_EXACT;
	} else if (is_str(r)) {
		n->leaf = L_STRR;
	} else {
		n->leaf = r->kind == O_LIT_NUM ? L_CMP : L_CMPR;
	}
	return 0;
}

/* FUNC '(' string ',' LITERAL ')', the name at the current position. */
static int parse_func(struct bparser *b, int k, int *out)
{
	struct parser *p = &b->p;
	const char *fn = pred_funcs[k];
	struct node *n;
	int err;

	err = new_node(b, N_TEST, out);
	if (err)
		return err;
	n = &b->nodes[*out];
	n->leaf = L_STR;
	n->op = TT_CMP_EQ;
	n->match = pred_func_match[k];
	p->pos += strlen(fn);
	err = expr__expect_char(p, '(', "'('");
	if (!err)
		err = parse_operand(b, &n->lhs);
	if (err)
		return err;
	if (n->lhs.kind == O_PY)
		py_settle(b, &n->lhs, true);
	if (n->lhs.kind != O_STR)
		return expr__fail(p, n->lhs.col, "%s() tests a string: %s(str(EXPR), \"literal\")",
				  fn, fn);
	skip_space(p);
	if (peek(p) != ',')
		return expr__fail_unexpected(p, "',' and a quoted literal");
	p->pos++;
	skip_space(p);
	if (peek(p) != '"' && peek(p) != '\'')
		return expr__fail_unexpected(p, "a quoted literal");
	n->rhs.col = p->pos;
	err = parse_str_literal(b, &n->rhs);
	if (err)
		return err;
	if (n->rhs.prefix) { /* a trailing '*' is itself here */
		if (n->rhs.str_len >= TT_MAX_LITERAL)
			return expr__fail(p, n->rhs.col,
					  "string literal longer than %d bytes (the limit)",
					  TT_MAX_LITERAL);
		n->rhs.str[n->rhs.str_len++] = '*';
		n->rhs.str[n->rhs.str_len] = '\0';
	}
	if (n->rhs.str_len == 0)
		return expr__fail(p, n->rhs.col, "%s() of an empty string holds for every string",
				  fn);
	return expr__expect_char(p, ')', "')' to close the call");
}

static int parse_or(struct bparser *b, int *out);

/* operand OP operand */
static int parse_cmp(struct bparser *b, int *out)
{
	struct parser *p = &b->p;
	const struct cmp_tok *tok;
	struct node *n;
	size_t opcol;
	int err;

	err = new_node(b, N_TEST, out);
	if (err)
		return err;
	n = &b->nodes[*out];
	err = parse_operand(b, &n->lhs);
	if (err)
		return err;
	skip_space(p);
	opcol = p->pos;
	tok = cmp_at(p->text + p->pos);
	if (!tok) {
		if (peek(p) == '=')
			return expr__fail(
				p, p->pos,
				"expected a comparison (==, !=, <, <=, >, >=), found '='");
		if (peek(p) == '\0' || peek(p) == ')' || peek(p) == '&' || peek(p) == '|')
			return expr__fail(
				p, p->pos,
				"expected a comparison: EXPR OP INT or str(EXPR) OP \"literal\" "
				"(OP: ==, !=, <, <=, >, >=)");
		return expr__fail_unexpected(p, "a comparison (==, !=, <, <=, >, >=)");
	}
	n->op = tok->op;
	p->pos += strlen(tok->tok);
	err = parse_operand(b, &n->rhs);
	if (err)
		return err;
	return type_check(b, n, opcol);
}

static int parse_atom(struct bparser *b, int *out)
{
	struct parser *p = &b->p;
	size_t open;
	int k;
	int err;

	skip_space(p);
	if (peek(p) == '(' && group_is_pred(p->text, p->pos)) {
		open = p->pos;
		if (++b->depth > PRED_MAX_DEPTH)
			return expr__fail(p, open,
					  "predicate nested too deeply (more than %d levels)",
					  PRED_MAX_DEPTH);
		p->pos++;
		err = parse_or(b, out);
		if (err)
			return err;
		skip_space(p);
		if (peek(p) != ')') {
			if (peek(p) == '\0')
				return expr__fail(
					p, p->pos,
					"unbalanced parentheses: '(' at column %zu is not "
					"closed",
					open);
			return expr__fail_unexpected(p, "')', '&&' or '||'");
		}
		p->pos++;
		b->depth--;
		return 0;
	}
	k = pred_func_at(p->text + p->pos);
	if (k >= 0)
		return parse_func(b, k, out);
	return parse_cmp(b, out);
}

static int parse_not(struct bparser *b, int *out)
{
	struct parser *p = &b->p;
	const struct cmp_tok *tok;
	int child = 0;
	int err;

	skip_space(p);
	tok = cmp_at(p->text + p->pos);
	if (tok)
		return expr__fail(p, p->pos, "nothing to compare before '%s'", tok->tok);
	if (peek(p) != '!')
		return parse_atom(b, out);
	if (++b->depth > PRED_MAX_DEPTH)
		return expr__fail(p, p->pos, "predicate nested too deeply (more than %d levels)",
				  PRED_MAX_DEPTH);
	p->pos++;
	err = parse_not(b, &child);
	if (!err)
		err = new_node(b, N_NOT, out);
	if (err)
		return err;
	b->nodes[*out].a = child;
	b->depth--;
	return 0;
}

/* Reads `a OPTOK b OPTOK c`, left-associative, into nodes of `kind`. */
static int parse_chain(struct bparser *b, int *out, const char *optok, enum node_kind kind,
		       int (*next)(struct bparser *, int *))
{
	struct parser *p = &b->p;
	int left, right = 0, n = 0;
	int err;

	err = next(b, &left);
	if (err)
		return err;
	for (;;) {
		skip_space(p);
		if (strncmp(p->text + p->pos, optok, 2) != 0) {
			*out = left;
			return 0;
		}
		p->pos += 2;
		err = next(b, &right);
		if (!err)
			err = new_node(b, kind, &n);
		if (err)
			return err;
		b->nodes[n].a = left;
		b->nodes[n].b = right;
		left = n;
	}
}

static int parse_and(struct bparser *b, int *out)
{
	return parse_chain(b, out, "&&", N_AND, parse_not);
}

static int parse_or(struct bparser *b, int *out)
{
	return parse_chain(b, out, "||", N_OR, parse_and);
}

int expr__bool_parse(struct bparser *b, int *root)
{
	int ret;

	skip_space(&b->p);
	if (peek(&b->p) == '\0')
		return expr__fail(&b->p, 0, "empty predicate");
	ret = parse_or(b, root);
	if (ret)
		return ret;
	skip_space(&b->p);
	if (peek(&b->p) == ')')
		return expr__fail(&b->p, b->p.pos, "unbalanced parentheses: ')' without '('");
	if (peek(&b->p) != '\0')
		return expr__fail_unexpected(&b->p, "'&&', '||' or the end of the predicate");
	return 0;
}
