// SPDX-License-Identifier: MIT
/*
 * expr_pred.c: predicates (DESIGN §3): `ret OP INT` (`error:` on the return
 * value), a predicate split into its capture, operator and literal, a
 * filter compiled into a capture program that ends in a comparison, and
 * comparisons evaluated. Capture expressions themselves are parsed by
 * expr.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "expr.h"
#include "expr_internal.h"

struct cmp_op {
	const char *tok;
	enum tt_cmp op;
};

/* Two-character operators first, so that "<=" is not read as "<". */
static const struct cmp_op cmp_ops[] = {
	{"==", TT_CMP_EQ}, {"!=", TT_CMP_NE}, {"<=", TT_CMP_LE},
	{">=", TT_CMP_GE}, {"<", TT_CMP_LT},  {">", TT_CMP_GT},
};

int tt_expr__parse_ret_pred(const char *text, enum tt_cmp *op, int64_t *rhs, char *err,
			    size_t errlen, int *errcol)
{
	struct parser p = {.text = text, .err = err, .errlen = errlen};
	bool negative = false;
	const struct cmp_op *found = NULL;
	size_t numcol;
	uint64_t v;
	size_t i;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	skip_space(&p);
	if (!ident_is(&p, ident_len(&p), "ret")) {
		ret = expr__fail(&p, p.pos,
				 "expected 'ret OP INT' (only the return value can be tested)");
		goto out;
	}
	p.pos += 3;
	skip_space(&p);
	for (i = 0; i < sizeof(cmp_ops) / sizeof(cmp_ops[0]) && !found; i++) {
		if (strncmp(text + p.pos, cmp_ops[i].tok, strlen(cmp_ops[i].tok)) == 0)
			found = &cmp_ops[i];
	}
	if (!found) {
		ret = expr__fail_unexpected(&p, "a comparison (==, !=, <, <=, >, >=)");
		goto out;
	}
	p.pos += strlen(found->tok);
	skip_space(&p);
	numcol = p.pos;
	if (peek(&p) == '-') {
		negative = true;
		p.pos++;
	}
	ret = expr__parse_uint(&p, &v);
	if (ret)
		goto out;
	if ((!negative && v > (uint64_t)INT64_MAX) || (negative && v > (uint64_t)INT64_MAX + 1)) {
		ret = expr__fail(&p, numcol, "integer out of range for a signed 64-bit value");
		goto out;
	}
	skip_space(&p);
	if (peek(&p) != '\0') {
		ret = expr__fail_unexpected(&p, "the end of the predicate");
		goto out;
	}
	*op = found->op;
	if (!negative)
		*rhs = (int64_t)v;
	else if (v == (uint64_t)INT64_MAX + 1)
		*rhs = INT64_MIN;
	else
		*rhs = -(int64_t)v;
	return 0;
out:
	if (errcol)
		*errcol = p.errcol;
	return ret;
}

/*
 * Finds the comparison operator of `text` outside parentheses and quotes.
 * Returns its offset and sets *found, or returns -1.
 */
static long find_operator(const char *text, const struct cmp_op **found)
{
	int depth = 0;
	char quote = 0;

	for (long i = 0; text[i]; i++) {
		char c = text[i];

		if (quote) {
			if (c == '\\' && text[i + 1])
				i++;
			else if (c == quote)
				quote = 0;
			continue;
		}
		if (c == '"' || c == '\'')
			quote = c;
		else if (c == '(')
			depth++;
		else if (c == ')')
			depth--;
		if (depth || quote)
			continue;
		for (size_t k = 0; k < sizeof(cmp_ops) / sizeof(cmp_ops[0]); k++) {
			if (strncmp(text + i, cmp_ops[k].tok, strlen(cmp_ops[k].tok)) == 0) {
				*found = &cmp_ops[k];
				return i;
			}
		}
	}
	return -1;
}

int expr__parse_literal(struct parser *p, size_t col, char str[TT_MAX_LITERAL + 1], size_t *len,
			bool *prefix)
{
	char quote = peek(p);
	size_t n = 0;

	p->pos++;
	while (peek(p) && peek(p) != quote) {
		char c = peek(p);

		if (c == '\\' && p->text[p->pos + 1]) {
			p->pos++;
			c = peek(p);
		} else if (c == '*' && p->text[p->pos + 1] == quote) {
			*prefix = true;
			p->pos++;
			break;
		}
		if (n >= TT_MAX_LITERAL)
			return expr__fail(p, col, "string literal longer than %d bytes (the limit)",
					  TT_MAX_LITERAL);
		str[n++] = c;
		p->pos++;
	}
	if (peek(p) != quote)
		return expr__fail(p, col, "unterminated string literal");
	p->pos++;
	str[n] = '\0';
	*len = n;
	return 0;
}

/* A quoted string literal at p->pos, the right-hand side of a comparison. */
static int parse_literal(struct parser *p, struct tt_pred_parts *out)
{
	int err = expr__parse_literal(p, p->pos, out->str, &out->str_len, &out->prefix);

	if (err)
		return err;
	out->rhs_is_str = true;
	return 0;
}

/* An integer, optionally negative, at p->pos. */
static int parse_int_rhs(struct parser *p, struct tt_pred_parts *out)
{
	size_t col = p->pos;
	bool negative = false;
	uint64_t v;
	int err;

	if (peek(p) == '-') {
		negative = true;
		p->pos++;
	}
	if (!is_digit(peek(p)))
		return expr__fail_unexpected(p, "an integer or a quoted string");
	err = expr__parse_uint(p, &v);
	if (err)
		return err;
	if ((!negative && v > (uint64_t)INT64_MAX) || (negative && v > (uint64_t)INT64_MAX + 1))
		return expr__fail(p, col, "integer out of range for a signed 64-bit value");
	out->rhs = negative ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int tt_expr__split_pred(const char *text, struct tt_pred_parts *out, char *err, size_t errlen,
			int *errcol)
{
	struct parser p = {.text = text, .err = err, .errlen = errlen};
	const struct cmp_op *op = NULL;
	long at;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	at = find_operator(text, &op);
	if (at < 0) {
		const char *eq = strchr(text, '=');

		if (eq)
			ret = expr__fail(&p, (size_t)(eq - text),
					 "expected a comparison (==, !=, <, <=, >, >=), found '='");
		else
			ret = expr__fail(
				&p, strlen(text),
				"expected a comparison: EXPR OP INT or str(EXPR) OP \"literal\" "
				"(OP: ==, !=, <, <=, >, >=)");
		goto out;
	}
	out->lhs_len = (size_t)at;
	while (out->lhs_len > 0 && is_space(text[out->lhs_len - 1]))
		out->lhs_len--;
	if (out->lhs_len == 0) {
		ret = expr__fail(&p, (size_t)at, "nothing to compare before '%s'", op->tok);
		goto out;
	}
	out->op = op->op;
	p.pos = (size_t)at + strlen(op->tok);
	skip_space(&p);
	out->rhs_col = p.pos;
	if (peek(&p) == '"' || peek(&p) == '\'')
		ret = parse_literal(&p, out);
	else
		ret = parse_int_rhs(&p, out);
	if (!ret) {
		skip_space(&p);
		if (peek(&p) != '\0')
			ret = expr__fail_unexpected(&p, "the end of the predicate");
	}
	if (!ret && out->rhs_is_str && out->op != TT_CMP_EQ && out->op != TT_CMP_NE)
		ret = expr__fail(&p, (size_t)at, "strings compare with == or != only");
	if (!ret && !out->rhs_is_str && strncmp(text, "str(", 4) == 0)
		ret = expr__fail(&p, 0, "a string compares with a quoted literal, not an integer");
	if (!ret && out->rhs_is_str &&
	    (strncmp(text, "str", 3) != 0 || !(text[3] == '(' || is_space(text[3]))))
		ret = expr__fail(&p, 0, "only str(EXPR) compares with a string literal");
	if (!ret)
		return 0;
out:
	if (errcol)
		*errcol = p.errcol;
	return ret;
}

bool tt_cmp__eval(enum tt_cmp op, int64_t lhs, int64_t rhs)
{
	switch (op) {
	case TT_CMP_EQ:
		return lhs == rhs;
	case TT_CMP_NE:
		return lhs != rhs;
	case TT_CMP_LT:
		return lhs < rhs;
	case TT_CMP_LE:
		return lhs <= rhs;
	case TT_CMP_GT:
		return lhs > rhs;
	case TT_CMP_GE:
		return lhs >= rhs;
	}
	return false;
}
