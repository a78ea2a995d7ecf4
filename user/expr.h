/* SPDX-License-Identifier: MIT */
/*
 * Capture expressions (DESIGN §3) compiled to capture programs
 * (include/tasktap/capture.h).
 */
#ifndef TASKTAP_EXPR_H
#define TASKTAP_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "tasktap/capture.h"

/* A comparison, in `when:` filters and `error:` predicates. */
enum tt_cmp {
	TT_CMP_EQ = 0,
	TT_CMP_NE,
	TT_CMP_LT,
	TT_CMP_LE,
	TT_CMP_GT,
	TT_CMP_GE,
};

/* Returns whether `lhs op rhs` holds. */
bool tt_cmp__eval(enum tt_cmp op, int64_t lhs, int64_t rhs);

/*
 * Compiles the capture expression `text` and appends its instructions,
 * ending in one EMIT_*, to `prog`; increments prog->ncaps. `at_return`
 * allows `ret`. On success returns 0 and sets *type to the record type.
 * On failure returns -EINVAL, leaves `prog` as it was, writes the problem
 * (no position) into err and the 0-based column in `text` where it lies
 * into *errcol.
 */
int tt_expr__compile(const char *text, bool at_return, struct tt_probe_prog *prog,
		     enum tt_cap_type *type, char *err, size_t errlen, int *errcol);

/*
 * Parses a predicate of the form `ret OP INT` (the walking skeleton's
 * `error:`). Returns 0 on success; on failure -EINVAL with err and *errcol
 * as above.
 */
int tt_expr__parse_ret_pred(const char *text, enum tt_cmp *op, int64_t *rhs, char *err,
			    size_t errlen, int *errcol);

/* A predicate `LHS OP RHS`, split. */
struct tt_pred_parts {
	size_t lhs_len; /* LHS is text[0, lhs_len) */
	enum tt_cmp op;
	bool rhs_is_str; /* RHS is a quoted literal (LHS must be str(...)) */
	bool prefix;	 /* the literal ended in an unescaped '*': a prefix match */
	int64_t rhs;	 /* an integer RHS */
	char str[TT_MAX_LITERAL + 1];
	size_t str_len;
	size_t rhs_col;
};

/*
 * Splits the predicate `text` at its comparison. Strings compare with ==
 * or != against a quoted literal of at most TT_MAX_LITERAL bytes; a
 * trailing '*' in the literal makes it a prefix ("perf*"; "\*" is a
 * literal star). Returns 0, or -EINVAL with err and *errcol as above.
 */
int tt_expr__split_pred(const char *text, struct tt_pred_parts *out, char *err, size_t errlen,
			int *errcol);

/*
 * What a NAME in a predicate stands for: `lookup` returns the expression
 * text of the probe's capture called name[0, len) (as written, without
 * "@return"), or NULL when the probe has none. The expression is read
 * where the predicate runs.
 */
struct tt_expr_names {
	const char *(*lookup)(void *ctx, const char *name, size_t len);
	void *ctx;
};

/* What a compiled predicate does with its verdict. */
enum tt_pred_use {
	TT_PRED_FILTER = 0, /* `when:`: a hit it rejects is dropped; adds no capture */
	TT_PRED_VERDICT,    /* `error:` in BPF: recorded as an integer capture, 1 or 0 */
};

/*
 * Compiles the predicate `text` (grammar in expr_bool.c: comparisons of
 * numbers and strings, starts_with/ends_with/contains, &&, ||, !,
 * parentheses, short-circuit) and appends it to `prog`. `names` (may be
 * NULL) resolves the probe's capture names. For TT_PRED_VERDICT it adds
 * one capture (prog->ncaps). Nothing is appended on failure; errors as
 * above (the column of a name's expression is the name's).
 */
int tt_expr__compile_pred(const char *text, enum tt_pred_use use, bool at_return,
			  const struct tt_expr_names *names, struct tt_probe_prog *prog, char *err,
			  size_t errlen, int *errcol);

/* tt_expr__compile_pred() of a `when:` filter without names. */
int tt_expr__compile_filter(const char *text, bool at_return, struct tt_probe_prog *prog, char *err,
			    size_t errlen, int *errcol);

/*
 * Whether `text` is a name (letters, digits, '_' and '.') that is not a
 * word of the expression language; *len is its length.
 */
bool tt_expr__is_name(const char *text, size_t *len);

#endif /* TASKTAP_EXPR_H */
