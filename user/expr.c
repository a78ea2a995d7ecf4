// SPDX-License-Identifier: MIT
/*
 * Capture expressions (DESIGN §3) → capture programs (capture.h).
 *
 * A recursive-descent parser that emits accumulator instructions as it
 * reads. Each sub-expression is compiled into its own small buffer so that
 * bytes(ptr, len) can place the code for `len` (then SAVE) before the code
 * for `ptr`. Nothing is written to the caller's program until the whole
 * expression compiled and fits, so a failure leaves it untouched.
 *
 * Grammar (whitespace allowed between tokens):
 *
 *	capture := str '(' value [',' INT] ')' | bytes '(' value ',' value ')' | value
 *	value   := unary { ('+' | '-') INT }
 *	unary   := '*' unary | primary
 *	primary := argN | ret | INT | '(' value ')' | WIDTH '(' value ')'
 *	WIDTH   := u8 | u16 | u32 | u64 | s8 | s16 | s32 | s64
 *	INT     := decimal | 0x hex
 *
 * Predicates and filters, which compile a value with this grammar and end
 * it in a comparison, are in expr_pred.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "expr.h"
#include "expr_internal.h"
#include "hex.h"

/* Parentheses, loads and calls nested in one expression. */
#define EXPR_MAX_DEPTH 32

struct width_fn {
	const char *name;
	__u8 width;
	__u8 flags;
};

static const struct width_fn width_fns[] = {
	{"u8", 1, 0},
	{"u16", 2, 0},
	{"u32", 4, 0},
	{"u64", 8, 0},
	{"s8", 1, TT_OPF_SIGNED},
	{"s16", 2, TT_OPF_SIGNED},
	{"s32", 4, TT_OPF_SIGNED},
	{"s64", 8, TT_OPF_SIGNED},
};

/* Records the problem and its column; returns -EINVAL. */
int expr__fail(struct parser *p, size_t col, const char *fmt, ...)
{
	va_list ap;

	if (p->err && p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	p->errcol = (int)col;
	return -EINVAL;
}

/* Reports an unexpected character (or the end of the text) at the current position. */
int expr__fail_unexpected(struct parser *p, const char *what)
{
	char c = peek(p);

	if (c == '\0')
		return expr__fail(p, p->pos, "expected %s, but the expression ends here", what);
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return expr__fail(p, p->pos, "expected %s, found byte 0x%02x", what,
				  (unsigned char)c);
	return expr__fail(p, p->pos, "expected %s, found '%c'", what, c);
}

int expr__expect_char(struct parser *p, char c, const char *what)
{
	skip_space(p);
	if (peek(p) != c)
		return expr__fail_unexpected(p, what);
	p->pos++;
	return 0;
}

/*
 * Reads an unsigned integer (decimal, or hex after 0x) at the current
 * position into *v. Returns 0, or -EINVAL when there is none, it has
 * stray characters or it does not fit in 64 bits.
 */
int expr__parse_uint(struct parser *p, uint64_t *v)
{
	size_t start = p->pos;
	uint64_t acc = 0;
	int base = 10;
	int ndigits = 0;
	int d;

	if (!is_digit(peek(p)))
		return expr__fail_unexpected(p, "an integer");
	if (peek(p) == '0' && (p->text[p->pos + 1] == 'x' || p->text[p->pos + 1] == 'X')) {
		base = 16;
		p->pos += 2;
	}
	for (;;) {
		d = base == 16 ? tt_hex_digit(peek(p)) : (is_digit(peek(p)) ? peek(p) - '0' : -1);
		if (d < 0)
			break;
		if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return expr__fail(p, start, "integer out of range (more than 64 bits)");
		acc = acc * (uint64_t)base + (uint64_t)d;
		ndigits++;
		p->pos++;
	}
	if (ndigits == 0)
		return expr__fail(p, start, "expected hex digits after '0x'");
	if (is_ident(peek(p)))
		return expr__fail(p, start, "invalid integer: unexpected '%c'", peek(p));
	*v = acc;
	return 0;
}

int code__emit(struct parser *p, struct code *c, const struct tt_op *op, size_t col)
{
	if (c->n >= TT_MAX_OPS)
		return expr__fail(
			p, col, "expression needs more than %d operations, the most one hook runs",
			TT_MAX_OPS);
	c->ops[c->n++] = *op;
	return 0;
}

static int code__op(struct parser *p, struct code *c, __u8 opcode, __s64 imm, size_t col)
{
	struct tt_op op = {.code = opcode, .imm = imm};

	return code__emit(p, c, &op, col);
}

static int code__append(struct parser *p, struct code *c, const struct code *from, size_t col)
{
	int err;
	int i;

	for (i = 0; i < from->n; i++) {
		err = code__emit(p, c, &from->ops[i], col);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Adds `imm` (modulo 2^64, as the machine does) to the accumulator,
 * folding into a preceding ADD or CONST. A sum of 0 leaves no ADD behind.
 */
static int code__add(struct parser *p, struct code *c, uint64_t imm, size_t col)
{
	struct tt_op *last = c->n ? &c->ops[c->n - 1] : NULL;

	if (last && (last->code == TT_OP_ADD || last->code == TT_OP_CONST)) {
		last->imm = (__s64)((uint64_t)last->imm + imm);
		if (last->code == TT_OP_ADD && last->imm == 0)
			c->n--;
		return 0;
	}
	if (imm == 0)
		return 0;
	return code__op(p, c, TT_OP_ADD, (__s64)imm, col);
}

static int code__load(struct parser *p, struct code *c, __u8 width, __u8 flags, size_t col)
{
	struct tt_op op = {.code = TT_OP_LOAD, .aux = width, .flags = flags};

	p->nloads++;
	if (p->nloads > TT_MAX_DEREFS)
		return expr__fail(p, col, "more than %d dereferences in one expression (the limit)",
				  TT_MAX_DEREFS);
	return code__emit(p, c, &op, col);
}

static int enter(struct parser *p, size_t col)
{
	p->depth++;
	if (p->depth > EXPR_MAX_DEPTH)
		return expr__fail(p, col, "expression nested too deeply (more than %d levels)",
				  EXPR_MAX_DEPTH);
	return 0;
}

static void leave(struct parser *p)
{
	p->depth--;
}

/* '(' value ')', the opening parenthesis being at the current position. */
static int parse_group(struct parser *p, struct code *c)
{
	size_t open = p->pos;
	int err;

	err = enter(p, open);
	if (err)
		return err;
	p->pos++;
	err = expr__parse_value(p, c);
	if (err)
		return err;
	skip_space(p);
	if (peek(p) != ')') {
		if (peek(p) == '\0')
			return expr__fail(p, p->pos,
					  "unbalanced parentheses: '(' at column %zu is not closed",
					  open);
		return expr__fail_unexpected(p, "')'");
	}
	p->pos++;
	leave(p);
	return 0;
}

/* argN: the identifier of length `len` at the current position starts with "arg". */
static int parse_arg(struct parser *p, struct code *c, size_t len)
{
	size_t col = p->pos;
	unsigned long slot = 0;
	size_t i;

	for (i = 3; i < len; i++) {
		if (slot <= TT_MAX_ARG_SLOT)
			slot = slot * 10 + (unsigned long)(p->text[p->pos + i] - '0');
	}
	if (slot > TT_MAX_ARG_SLOT)
		return expr__fail(p, col, "argument slot %.*s out of range (arg0..arg%d)",
				  (int)(len - 3), p->text + p->pos + 3, TT_MAX_ARG_SLOT);
	p->pos += len;
	return code__op(p, c, TT_OP_ARG, (__s64)slot, col);
}

static bool is_arg_name(const struct parser *p, size_t len)
{
	size_t i;

	if (len < 4 || strncmp(p->text + p->pos, "arg", 3) != 0)
		return false;
	for (i = 3; i < len; i++) {
		if (!is_digit(p->text[p->pos + i]))
			return false;
	}
	return true;
}

/* WIDTH '(' value ')': a load of that width at the address the value gives. */
static int parse_width(struct parser *p, struct code *c, const struct width_fn *fn, size_t len)
{
	size_t col = p->pos;
	int err;

	p->pos += len;
	skip_space(p);
	if (peek(p) != '(')
		return expr__fail(p, col, "%s() needs an argument: %s(address)", fn->name,
				  fn->name);
	err = parse_group(p, c);
	if (err)
		return err;
	return code__load(p, c, fn->width, fn->flags, col);
}

static int parse_name(struct parser *p, struct code *c)
{
	size_t len = ident_len(p);
	size_t col = p->pos;
	size_t i;

	if (ident_is(p, len, "ret")) {
		if (!p->at_return)
			return expr__fail(p, col, "'ret' is not available at function entry");
		p->pos += len;
		return code__op(p, c, TT_OP_RET, 0, col);
	}
	if (is_arg_name(p, len))
		return parse_arg(p, c, len);
	for (i = 0; i < sizeof(width_fns) / sizeof(width_fns[0]); i++) {
		if (ident_is(p, len, width_fns[i].name))
			return parse_width(p, c, &width_fns[i], len);
	}
	if (ident_is(p, len, "str") || ident_is(p, len, "bytes"))
		return expr__fail(
			p, col,
			"%.*s() is only allowed as a whole capture, not inside an expression",
			(int)len, p->text + col);
	p->pos += len;
	skip_space(p);
	if (peek(p) == '(')
		return expr__fail(
			p, col,
			"unknown function '%.*s' (expected u8, u16, u32, u64, s8, s16, s32, s64, "
			"str or bytes)",
			(int)len, p->text + col);
	return expr__fail(p, col, "unknown name '%.*s' (expected argN, ret or an integer)",
			  (int)len, p->text + col);
}

static int parse_primary(struct parser *p, struct code *c)
{
	size_t col;
	uint64_t v;
	int err;

	skip_space(p);
	col = p->pos;
	if (peek(p) == '(')
		return parse_group(p, c);
	if (is_digit(peek(p))) {
		err = expr__parse_uint(p, &v);
		if (err)
			return err;
		return code__op(p, c, TT_OP_CONST, (__s64)v, col);
	}
	if (is_ident_start(peek(p)))
		return parse_name(p, c);
	if (peek(p) == '"' || peek(p) == '\'')
		return expr__fail(p, col, "a quoted literal is not a capture expression");
	return expr__fail_unexpected(p, "an expression");
}

static int parse_unary(struct parser *p, struct code *c)
{
	size_t col;
	int err;

	skip_space(p);
	if (peek(p) != '*')
		return parse_primary(p, c);
	col = p->pos;
	err = enter(p, col);
	if (err)
		return err;
	p->pos++;
	err = parse_unary(p, c);
	if (err)
		return err;
	leave(p);
	return code__load(p, c, 8, 0, col);
}

int expr__parse_value(struct parser *p, struct code *c)
{
	uint64_t v;
	size_t col;
	char sign;
	int err;

	err = parse_unary(p, c);
	if (err)
		return err;
	for (;;) {
		skip_space(p);
		sign = peek(p);
		if (sign != '+' && sign != '-')
			return 0;
		col = p->pos;
		p->pos++;
		skip_space(p);
		if (!is_digit(peek(p)))
			return expr__fail(p, p->pos, "only an integer can follow '%c'", sign);
		err = expr__parse_uint(p, &v);
		if (err)
			return err;
		err = code__add(p, c, sign == '+' ? v : 0 - v, col);
		if (err)
			return err;
	}
}

int expr__parse_str_limit(struct parser *p, uint64_t *max)
{
	size_t col = p->pos;
	int err;

	if (!is_digit(peek(p)))
		return expr__fail(
			p, col,
			"the limit of str(EXPR, N) is a number of bytes; for a length read at "
			"run time, capture bytes(ptr, len)");
	err = expr__parse_uint(p, max);
	if (err)
		return err;
	if (*max == 0)
		return expr__fail(p, col, "string limit must be at least 1");
	if (*max > TT_MAX_STR)
		return expr__fail(p, col,
				  "string limit %llu is more than %d, the longest string read",
				  (unsigned long long)*max, TT_MAX_STR);
	return 0;
}

/* str '(' value [',' INT] ')', the name being at the current position. */
static int parse_str(struct parser *p, struct code *out)
{
	struct tt_op emit = {.code = TT_OP_EMIT_STR, .len = TT_MAX_STR};
	size_t col = p->pos;
	uint64_t max;
	int err;

	p->pos += 3;
	err = expr__expect_char(p, '(', "'(' after str");
	if (err)
		return err;
	err = expr__parse_value(p, out);
	if (err)
		return err;
	skip_space(p);
	if (peek(p) == ',') {
		p->pos++;
		skip_space(p);
		err = expr__parse_str_limit(p, &max);
		if (err)
			return err;
		emit.len = (__u32)max;
	}
	err = expr__expect_char(p, ')', "')' to close str()");
	if (err)
		return err;
	return code__emit(p, out, &emit, col);
}

/* bytes '(' ptr ',' len ')': len's code, SAVE, ptr's code, EMIT_BYTES. */
static int parse_bytes(struct parser *p, struct code *out)
{
	struct tt_op emit = {.code = TT_OP_EMIT_BYTES, .len = TT_MAX_BYTES};
	struct code ptr = {.n = 0};
	struct code len = {.n = 0};
	size_t col = p->pos;
	size_t lencol;
	uint64_t n;
	int err;

	p->pos += 5;
	err = expr__expect_char(p, '(', "'(' after bytes");
	if (err)
		return err;
	err = expr__parse_value(p, &ptr);
	if (err)
		return err;
	skip_space(p);
	if (peek(p) != ',')
		return expr__fail(p, p->pos, "bytes() needs two arguments: bytes(ptr, len)");
	p->pos++;
	skip_space(p);
	lencol = p->pos;
	err = expr__parse_value(p, &len);
	if (err)
		return err;
	if (len.n == 1 && len.ops[0].code == TT_OP_CONST) {
		n = (uint64_t)len.ops[0].imm;
		if (n == 0)
			return expr__fail(p, lencol, "bytes length must be at least 1");
		if (n > TT_MAX_BYTES)
			return expr__fail(p, lencol,
					  "bytes length %llu is more than %d, the most bytes read",
					  (unsigned long long)n, TT_MAX_BYTES);
	}
	err = expr__expect_char(p, ')', "')' to close bytes()");
	if (err)
		return err;
	err = code__append(p, out, &len, col);
	if (!err)
		err = code__op(p, out, TT_OP_SAVE, 0, col);
	if (!err)
		err = code__append(p, out, &ptr, col);
	if (!err)
		err = code__emit(p, out, &emit, col);
	return err;
}

/* A whole capture into `out`, ending in its EMIT; sets *type. */
static int parse_capture(struct parser *p, struct code *out, enum tt_cap_type *type)
{
	struct tt_op emit = {.code = TT_OP_EMIT_INT};
	size_t len;
	int err;

	skip_space(p);
	if (peek(p) == '\0')
		return expr__fail(p, 0, "empty expression");
	len = ident_len(p);
	if (ident_is(p, len, "str")) {
		*type = TT_CAP_STR;
		err = parse_str(p, out);
	} else if (ident_is(p, len, "bytes")) {
		*type = TT_CAP_BYTES;
		err = parse_bytes(p, out);
	} else {
		*type = TT_CAP_INT;
		err = expr__parse_value(p, out);
		if (!err)
			err = code__emit(p, out, &emit, 0);
	}
	if (err)
		return err;
	skip_space(p);
	if (peek(p) != '\0')
		return expr__fail_unexpected(p, "the end of the expression");
	return 0;
}

int tt_expr__compile(const char *text, bool at_return, struct tt_probe_prog *prog,
		     enum tt_cap_type *type, char *err, size_t errlen, int *errcol)
{
	struct parser p = {
		.text = text,
		.at_return = at_return,
		.err = err,
		.errlen = errlen,
	};
	struct code out = {.n = 0};
	enum tt_cap_type t = TT_CAP_INT;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	ret = parse_capture(&p, &out, &t);
	if (!ret && prog->ncaps >= TT_MAX_CAPTURES)
		ret = expr__fail(&p, 0, "more than %d captures in one probe (the limit)",
				 TT_MAX_CAPTURES);
	if (!ret && (prog->nops > TT_MAX_OPS || (__u32)out.n > TT_MAX_OPS - prog->nops))
		ret = expr__fail(
			&p, 0,
			"the probe's captures need %u operations, more than the %d one hook runs",
			prog->nops + (__u32)out.n, TT_MAX_OPS);
	if (ret) {
		if (errcol)
			*errcol = p.errcol;
		return ret;
	}
	memcpy(&prog->ops[prog->nops], out.ops, (size_t)out.n * sizeof(out.ops[0]));
	prog->nops += (__u32)out.n;
	prog->ncaps++;
	if (type)
		*type = t;
	return 0;
}
