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
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "expr.h"
#include "hex.h"

/* Parentheses, loads and calls nested in one expression. */
#define EXPR_MAX_DEPTH 32

/* Instructions of one sub-expression, in order. */
struct code {
	struct tt_op ops[TT_MAX_OPS];
	int n;
};

struct parser {
	const char *text;
	size_t pos;
	bool at_return;
	int nloads;
	int depth;
	char *err;
	size_t errlen;
	int errcol;
};

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

static int fail(struct parser *p, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the problem and its column; returns -EINVAL. */
static int fail(struct parser *p, size_t col, const char *fmt, ...)
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

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
	return is_ident_start(c) || is_digit(c);
}

static char peek(const struct parser *p)
{
	return p->text[p->pos];
}

static void skip_space(struct parser *p)
{
	while (is_space(peek(p)))
		p->pos++;
}

/* Length of the identifier at the current position (0 when none). */
static size_t ident_len(const struct parser *p)
{
	size_t n = 0;

	if (!is_ident_start(p->text[p->pos]))
		return 0;
	while (is_ident(p->text[p->pos + n]))
		n++;
	return n;
}

static bool ident_is(const struct parser *p, size_t len, const char *word)
{
	return strlen(word) == len && strncmp(p->text + p->pos, word, len) == 0;
}

/* Reports an unexpected character (or the end of the text) at the current position. */
static int fail_unexpected(struct parser *p, const char *what)
{
	char c = peek(p);

	if (c == '\0')
		return fail(p, p->pos, "expected %s, but the expression ends here", what);
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return fail(p, p->pos, "expected %s, found byte 0x%02x", what, (unsigned char)c);
	return fail(p, p->pos, "expected %s, found '%c'", what, c);
}

static int expect_char(struct parser *p, char c, const char *what)
{
	skip_space(p);
	if (peek(p) != c)
		return fail_unexpected(p, what);
	p->pos++;
	return 0;
}

/*
 * Reads an unsigned integer (decimal, or hex after 0x) at the current
 * position into *v. Returns 0, or -EINVAL when there is none, it has
 * stray characters or it does not fit in 64 bits.
 */
static int parse_uint(struct parser *p, uint64_t *v)
{
	size_t start = p->pos;
	uint64_t acc = 0;
	int base = 10;
	int ndigits = 0;
	int d;

	if (!is_digit(peek(p)))
		return fail_unexpected(p, "an integer");
	if (peek(p) == '0' && (p->text[p->pos + 1] == 'x' || p->text[p->pos + 1] == 'X')) {
		base = 16;
		p->pos += 2;
	}
	for (;;) {
		d = base == 16 ? tt_hex_digit(peek(p)) : (is_digit(peek(p)) ? peek(p) - '0' : -1);
		if (d < 0)
			break;
		if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return fail(p, start, "integer out of range (more than 64 bits)");
		acc = acc * (uint64_t)base + (uint64_t)d;
		ndigits++;
		p->pos++;
	}
	if (ndigits == 0)
		return fail(p, start, "expected hex digits after '0x'");
	if (is_ident(peek(p)))
		return fail(p, start, "invalid integer: unexpected '%c'", peek(p));
	*v = acc;
	return 0;
}

static int code__emit(struct parser *p, struct code *c, const struct tt_op *op, size_t col)
{
	if (c->n >= TT_MAX_OPS)
		return fail(p, col, "expression needs more than TT_MAX_OPS (%d) instructions",
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
		return fail(p, col, "more than TT_MAX_DEREFS (%d) dereferences in one capture",
			    TT_MAX_DEREFS);
	return code__emit(p, c, &op, col);
}

static int enter(struct parser *p, size_t col)
{
	p->depth++;
	if (p->depth > EXPR_MAX_DEPTH)
		return fail(p, col, "expression nested too deeply (more than %d levels)",
			    EXPR_MAX_DEPTH);
	return 0;
}

static void leave(struct parser *p)
{
	p->depth--;
}

static int parse_value(struct parser *p, struct code *c);

/* '(' value ')', the opening parenthesis being at the current position. */
static int parse_group(struct parser *p, struct code *c)
{
	size_t open = p->pos;
	int err;

	err = enter(p, open);
	if (err)
		return err;
	p->pos++;
	err = parse_value(p, c);
	if (err)
		return err;
	skip_space(p);
	if (peek(p) != ')') {
		if (peek(p) == '\0')
			return fail(p, p->pos,
				    "unbalanced parentheses: '(' at column %zu is not closed",
				    open);
		return fail_unexpected(p, "')'");
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
		return fail(p, col, "argument slot %.*s out of range (arg0..arg%d)", (int)(len - 3),
			    p->text + p->pos + 3, TT_MAX_ARG_SLOT);
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
		return fail(p, col, "%s() needs an argument: %s(address)", fn->name, fn->name);
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
			return fail(p, col, "'ret' is not available at function entry");
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
		return fail(p, col,
			    "%.*s() is only allowed as a whole capture, not inside an expression",
			    (int)len, p->text + col);
	p->pos += len;
	skip_space(p);
	if (peek(p) == '(')
		return fail(
			p, col,
			"unknown function '%.*s' (expected u8, u16, u32, u64, s8, s16, s32, s64, "
			"str or bytes)",
			(int)len, p->text + col);
	return fail(p, col, "unknown name '%.*s' (expected argN, ret or an integer)", (int)len,
		    p->text + col);
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
		err = parse_uint(p, &v);
		if (err)
			return err;
		return code__op(p, c, TT_OP_CONST, (__s64)v, col);
	}
	if (is_ident_start(peek(p)))
		return parse_name(p, c);
	if (peek(p) == '"' || peek(p) == '\'')
		return fail(p, col, "a quoted literal is not a capture expression");
	return fail_unexpected(p, "an expression");
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

static int parse_value(struct parser *p, struct code *c)
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
			return fail(p, p->pos, "only an integer can follow '%c'", sign);
		err = parse_uint(p, &v);
		if (err)
			return err;
		err = code__add(p, c, sign == '+' ? v : 0 - v, col);
		if (err)
			return err;
	}
}

/* str '(' value [',' INT] ')', the name being at the current position. */
static int parse_str(struct parser *p, struct code *out)
{
	struct tt_op emit = {.code = TT_OP_EMIT_STR, .len = TT_MAX_STR};
	size_t col = p->pos;
	size_t maxcol;
	uint64_t max;
	int err;

	p->pos += 3;
	err = expect_char(p, '(', "'(' after str");
	if (err)
		return err;
	err = parse_value(p, out);
	if (err)
		return err;
	skip_space(p);
	if (peek(p) == ',') {
		p->pos++;
		skip_space(p);
		maxcol = p->pos;
		err = parse_uint(p, &max);
		if (err)
			return err;
		if (max == 0)
			return fail(p, maxcol, "string limit must be at least 1");
		if (max > TT_MAX_STR)
			return fail(p, maxcol, "string limit %llu exceeds TT_MAX_STR (%d)",
				    (unsigned long long)max, TT_MAX_STR);
		emit.len = (__u32)max;
	}
	err = expect_char(p, ')', "')' to close str()");
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
	err = expect_char(p, '(', "'(' after bytes");
	if (err)
		return err;
	err = parse_value(p, &ptr);
	if (err)
		return err;
	skip_space(p);
	if (peek(p) != ',')
		return fail(p, p->pos, "bytes() needs two arguments: bytes(ptr, len)");
	p->pos++;
	skip_space(p);
	lencol = p->pos;
	err = parse_value(p, &len);
	if (err)
		return err;
	if (len.n == 1 && len.ops[0].code == TT_OP_CONST) {
		n = (uint64_t)len.ops[0].imm;
		if (n == 0)
			return fail(p, lencol, "bytes length must be at least 1");
		if (n > TT_MAX_BYTES)
			return fail(p, lencol, "bytes length %llu exceeds TT_MAX_BYTES (%d)",
				    (unsigned long long)n, TT_MAX_BYTES);
	}
	err = expect_char(p, ')', "')' to close bytes()");
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
		return fail(p, 0, "empty expression");
	len = ident_len(p);
	if (ident_is(p, len, "str")) {
		*type = TT_CAP_STR;
		err = parse_str(p, out);
	} else if (ident_is(p, len, "bytes")) {
		*type = TT_CAP_BYTES;
		err = parse_bytes(p, out);
	} else {
		*type = TT_CAP_INT;
		err = parse_value(p, out);
		if (!err)
			err = code__emit(p, out, &emit, 0);
	}
	if (err)
		return err;
	skip_space(p);
	if (peek(p) != '\0')
		return fail_unexpected(p, "the end of the expression");
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
		ret = fail(&p, 0, "more than TT_MAX_CAPTURES (%d) captures in one probe",
			   TT_MAX_CAPTURES);
	if (!ret && (prog->nops > TT_MAX_OPS || (__u32)out.n > TT_MAX_OPS - prog->nops))
		ret = fail(&p, 0,
			   "the probe's captures need %u instructions, more than TT_MAX_OPS (%d)",
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
		ret = fail(&p, p.pos,
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
		ret = fail_unexpected(&p, "a comparison (==, !=, <, <=, >, >=)");
		goto out;
	}
	p.pos += strlen(found->tok);
	skip_space(&p);
	numcol = p.pos;
	if (peek(&p) == '-') {
		negative = true;
		p.pos++;
	}
	ret = parse_uint(&p, &v);
	if (ret)
		goto out;
	if ((!negative && v > (uint64_t)INT64_MAX) || (negative && v > (uint64_t)INT64_MAX + 1)) {
		ret = fail(&p, numcol, "integer out of range for a signed 64-bit value");
		goto out;
	}
	skip_space(&p);
	if (peek(&p) != '\0') {
		ret = fail_unexpected(&p, "the end of the predicate");
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

/* ---- predicates ---------------------------------------------------------- */

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

/* A quoted string literal at p->pos; a trailing unescaped '*' marks a prefix. */
static int parse_literal(struct parser *p, struct tt_pred_parts *out)
{
	char quote = peek(p);
	size_t col = p->pos;
	size_t n = 0;

	p->pos++;
	while (peek(p) && peek(p) != quote) {
		char c = peek(p);

		if (c == '\\' && p->text[p->pos + 1]) {
			p->pos++;
			c = peek(p);
		} else if (c == '*' && p->text[p->pos + 1] == quote) {
			out->prefix = true;
			p->pos++;
			break;
		}
		if (n >= TT_MAX_LITERAL)
			return fail(p, col, "string literal longer than TT_MAX_LITERAL (%d)",
				    TT_MAX_LITERAL);
		out->str[n++] = c;
		p->pos++;
	}
	if (peek(p) != quote)
		return fail(p, col, "unterminated string literal");
	p->pos++;
	out->str[n] = '\0';
	out->str_len = n;
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
		return fail_unexpected(p, "an integer or a quoted string");
	err = parse_uint(p, &v);
	if (err)
		return err;
	if ((!negative && v > (uint64_t)INT64_MAX) || (negative && v > (uint64_t)INT64_MAX + 1))
		return fail(p, col, "integer out of range for a signed 64-bit value");
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
			ret = fail(&p, (size_t)(eq - text),
				   "expected a comparison (==, !=, <, <=, >, >=), found '='");
		else
			ret = fail(&p, strlen(text),
				   "expected a comparison: EXPR OP INT or str(EXPR) OP \"literal\" "
				   "(OP: ==, !=, <, <=, >, >=)");
		goto out;
	}
	out->lhs_len = (size_t)at;
	while (out->lhs_len > 0 && is_space(text[out->lhs_len - 1]))
		out->lhs_len--;
	if (out->lhs_len == 0) {
		ret = fail(&p, (size_t)at, "nothing to compare before '%s'", op->tok);
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
			ret = fail_unexpected(&p, "the end of the predicate");
	}
	if (!ret && out->rhs_is_str && out->op != TT_CMP_EQ && out->op != TT_CMP_NE)
		ret = fail(&p, (size_t)at, "strings compare with == or != only");
	if (!ret && !out->rhs_is_str && strncmp(text, "str(", 4) == 0)
		ret = fail(&p, 0, "a string compares with a quoted literal, not an integer");
	if (!ret && out->rhs_is_str &&
	    (strncmp(text, "str", 3) != 0 || !(text[3] == '(' || is_space(text[3]))))
		ret = fail(&p, 0, "only str(EXPR) compares with a string literal");
	if (!ret)
		return 0;
out:
	if (errcol)
		*errcol = p.errcol;
	return ret;
}

int tt_expr__compile_filter(const char *text, bool at_return, struct tt_probe_prog *prog, char *err,
			    size_t errlen, int *errcol)
{
	struct parser p = {.text = text, .at_return = at_return, .err = err, .errlen = errlen};
	struct tt_pred_parts parts;
	struct code c = {.n = 0};
	char lhs[256];
	int ret;

	ret = tt_expr__split_pred(text, &parts, err, errlen, errcol);
	if (ret)
		return ret;
	if (parts.lhs_len >= sizeof(lhs)) {
		ret = fail(&p, 0, "predicate too long");
		goto out;
	}
	memcpy(lhs, text, parts.lhs_len);
	lhs[parts.lhs_len] = '\0';
	p.text = lhs;
	if (parts.rhs_is_str) {
		struct tt_op cmp = {.code = TT_OP_STRCMP, .len = (__u32)parts.str_len};
		size_t words = (parts.str_len + 8) / 8;

		p.pos = 3; /* past "str" */
		ret = expect_char(&p, '(', "'(' after str");
		if (!ret)
			ret = parse_value(&p, &c);
		if (!ret)
			ret = expect_char(&p, ')', "')' to close str()");
		if (!ret) {
			skip_space(&p);
			if (peek(&p) != '\0')
				ret = fail_unexpected(&p, "the comparison");
		}
		cmp.aux = parts.prefix ? TT_STRCMP_PREFIX : TT_STRCMP_EXACT;
		cmp.flags = parts.op == TT_CMP_NE ? TT_OPF_NEGATE : 0;
		if (!ret)
			ret = code__emit(&p, &c, &cmp, 0);
		for (size_t w = 0; !ret && w < words; w++) {
			struct tt_op lit = {.code = TT_OP_NOP};

			memcpy(&lit.imm, parts.str + 8 * w,
			       parts.str_len + 1 - 8 * w < 8 ? parts.str_len + 1 - 8 * w : 8);
			ret = code__emit(&p, &c, &lit, 0);
		}
	} else {
		struct tt_op cmp = {.code = TT_OP_CMP,
				    .aux = (__u8)parts.op,
				    .flags = TT_OPF_SIGNED,
				    .imm = parts.rhs};

		ret = parse_value(&p, &c);
		if (!ret) {
			skip_space(&p);
			if (peek(&p) != '\0')
				ret = fail_unexpected(&p, "the comparison");
		}
		if (!ret)
			ret = code__emit(&p, &c, &cmp, 0);
	}
	if (!ret && (prog->nops > TT_MAX_OPS || (__u32)c.n > TT_MAX_OPS - prog->nops))
		ret = fail(&p, 0,
			   "the probe's filter and captures need more than TT_MAX_OPS (%d) "
			   "instructions",
			   TT_MAX_OPS);
	if (ret)
		goto out;
	memcpy(&prog->ops[prog->nops], c.ops, (size_t)c.n * sizeof(c.ops[0]));
	prog->nops += (__u32)c.n;
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
