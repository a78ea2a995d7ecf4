/* SPDX-License-Identifier: MIT */
/* expr_internal.h: the expression parser's state, lexer and code buffers (private to expr*.c). */
#ifndef TASKTAP_EXPR_INTERNAL_H
#define TASKTAP_EXPR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "expr.h"

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

static inline bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool is_ident(char c)
{
	return is_ident_start(c) || is_digit(c);
}

static inline char peek(const struct parser *p)
{
	return p->text[p->pos];
}

static inline void skip_space(struct parser *p)
{
	while (is_space(peek(p)))
		p->pos++;
}

/* Length of the identifier at the current position (0 when none). */
static inline size_t ident_len(const struct parser *p)
{
	size_t n = 0;

	if (!is_ident_start(p->text[p->pos]))
		return 0;
	while (is_ident(p->text[p->pos + n]))
		n++;
	return n;
}

static inline bool ident_is(const struct parser *p, size_t len, const char *word)
{
	return strlen(word) == len && strncmp(p->text + p->pos, word, len) == 0;
}

/* expr.c: errors, integers, code buffers, the capture grammar */
/* Records the problem and its column; returns -EINVAL. */
int expr__fail(struct parser *p, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reports an unexpected character (or the end of the text) at the current position. */
int expr__fail_unexpected(struct parser *p, const char *what);
int expr__expect_char(struct parser *p, char c, const char *what);
/* Reads an unsigned integer (decimal, or 0x hex) into *v; 0 or -EINVAL. */
int expr__parse_uint(struct parser *p, uint64_t *v);
int code__emit(struct parser *p, struct code *c, const struct tt_op *op, size_t col);
/* The N of str(EXPR, N) at the current position into *max, 1..TT_MAX_STR; 0 or -EINVAL. */
int expr__parse_str_limit(struct parser *p, uint64_t *max);
/*
 * expr_pred.c: the quoted string literal at the current position into str
 * (NUL-terminated) and *len; a trailing unescaped '*' sets *prefix. Errors
 * are reported at column col. 0 or -EINVAL.
 */
int expr__parse_literal(struct parser *p, size_t col, char str[TT_MAX_LITERAL + 1], size_t *len,
			bool *prefix);
/* Compiles `value` (the grammar in expr.c) into c; 0 or -EINVAL. */
int expr__parse_value(struct parser *p, struct code *c);

#endif /* TASKTAP_EXPR_INTERNAL_H */
