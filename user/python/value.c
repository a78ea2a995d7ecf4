// SPDX-License-Identifier: MIT
/* value.c: py(NAME.attr…) compiled to capture instructions (bpf/python.bpf.h reads them). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/value.h"

bool tt_py_value__is(const char *text)
{
	while (isspace((unsigned char)*text))
		text++;
	return strncmp(text, "py(", 3) == 0;
}

bool tt_py_value__reads_return(const char *text)
{
	size_t n;

	if (!tt_py_value__is(text))
		return false;
	text = strstr(text, "py(") + 3;
	n = strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
	return n == 6 && !strncmp(text, "return", 6);
}

static int fail(char *err, size_t errlen, int *errcol, int col, const char *msg, const char *text)
{
	snprintf(err, errlen, msg, text);
	*errcol = col;
	return -EINVAL;
}

/* Appends op and, for a name, its literal in the imm of the NOPs after it. */
static int append(struct tt_probe_prog *p, __u8 code, const char *name, size_t len)
{
	size_t words = name ? (len + 8) / 8 : 0;
	struct tt_op *op;

	if (p->nops + 1 + words > TT_MAX_OPS)
		return -E2BIG;
	op = &p->ops[p->nops++];
	memset(op, 0, sizeof(*op));
	op->code = code;
	op->len = name ? (__u32)len : TT_MAX_STR;
	for (size_t w = 0; w < words; w++) {
		struct tt_op *lit = &p->ops[p->nops++];
		char bytes[8] = {0};

		memset(lit, 0, sizeof(*lit));
		for (size_t b = 0; b < 8 && 8 * w + b < len; b++)
			bytes[b] = name[8 * w + b];
		memcpy(&lit->imm, bytes, sizeof(bytes)); /* little-endian, as BPF reads it */
	}
	return 0;
}

/*
 * Compiles `text`, "py(NAME.attr…)", into prog's instructions, the last
 * one `last` (PY_EMIT: a record; PY_VALUE: a value to compare). 0, or
 * -EINVAL leaving prog as it was, with the problem in err and its column.
 */
static int compile_path(const char *text, __u8 last, struct tt_probe_prog *prog, char *err,
			size_t errlen, int *errcol)
{
	struct tt_probe_prog p = *prog;
	const char *s = text, *end;
	bool first = true;

	while (isspace((unsigned char)*s))
		s++;
	if (strncmp(s, "py(", 3) != 0)
		return fail(err, errlen, errcol, (int)(s - text), "expected py(NAME) in '%s'",
			    text);
	s += 3;
	end = strchr(s, ')');
	if (!end || end[1 + strspn(end + 1, " \t")] != '\0')
		return fail(err, errlen, errcol, (int)(s - text),
			    "expected py(NAME.attr…) with one closing ')' in '%s'", text);
	if (append(&p, TT_OP_PY, NULL, 0))
		goto too_long;
	p.ops[p.nops - 1].imm = 0; /* the probed frame */
	p.ops[p.nops - 1].len = 0;
	while (s < end) {
		const char *name = s;
		__u8 code = first ? TT_OP_PY_LOCAL : TT_OP_PY_ATTR;
		size_t len = 0;

		if (!first && *s == '[') {
			/* ["key"] or ['key']: a dict's value at a str key */
			char q = s[1];
			const char *close;

			if (q != '"' && q != '\'')
				return fail(err, errlen, errcol, (int)(s + 1 - text),
					    "expected a quoted key in py()'s [...] in '%s'", text);
			name = s + 2;
			close = memchr(name, q, (size_t)(end - name));
			if (!close || close[1] != ']')
				return fail(err, errlen, errcol, (int)(s - text),
					    "expected [\"key\"] in '%s'", text);
			len = (size_t)(close - name);
			if (len == 0 || len > TT_PY_MAX_NAME)
				return fail(err, errlen, errcol, (int)(name - text),
					    "a key in py() must be 1 to 31 characters in '%s'",
					    text);
			if (append(&p, TT_OP_PY_ITEM, name, len))
				goto too_long;
			s = close + 2;
		} else {
			if (!first && *s == '.')
				name = ++s;
			while (s + len < end && (isalnum((unsigned char)s[len]) || s[len] == '_'))
				len++;
			if (len == 0 || isdigit((unsigned char)name[0]))
				return fail(
					err, errlen, errcol, (int)(name - text),
					s == end && s[-1] == '.'
						? "expected a name after '.' in '%s'"
						: "expected a name in py(), as py(job.id), in '%s'",
					text);
			if (len > TT_PY_MAX_NAME)
				return fail(err, errlen, errcol, (int)(name - text),
					    "a name in py() is longer than 31 characters in '%s'",
					    text);
			if (first && len == 6 && !strncmp(name, "return", 6)) {
				/* a keyword, never a local: the value the call returned */
				if (append(&p, TT_OP_PY_RETURN, NULL, 0))
					goto too_long;
			} else if (append(&p, code, name, len)) {
				goto too_long;
			}
			s += len;
		}
		first = false;
		if (s < end && *s != '.' && *s != '[')
			return fail(err, errlen, errcol, (int)(s - text),
				    "expected '.attr', '[\"key\"]' or ')' in py() in '%s'", text);
	}
	if (first)
		return fail(err, errlen, errcol, (int)(end - text),
			    "expected a name in py(), as py(job.id), in '%s'", text);
	if (append(&p, last, NULL, 0))
		goto too_long;
	if (last == TT_OP_PY_EMIT)
		p.ncaps++;
	*prog = p;
	return 0;
too_long:
	return fail(err, errlen, errcol, 0,
		    "too many instructions for one probe with '%s' (at most TT_MAX_OPS)", text);
}

int tt_py_value__compile(const char *text, struct tt_probe_prog *prog, char *err, size_t errlen,
			 int *errcol)
{
	return compile_path(text, TT_OP_PY_EMIT, prog, err, errlen, errcol);
}

int tt_py_value__compile_operand(const char *text, size_t *len, struct tt_op *ops, int room, int *n,
				 char *err, size_t errlen, int *errcol)
{
	const char *close = strchr(text, ')');
	char *one;
	struct tt_probe_prog *p;
	int ret;

	if (!close)
		return fail(err, errlen, errcol, 0, "expected ')' to close py() in '%s'", text);
	if (tt_py_value__reads_return(text))
		return fail(err, errlen, errcol, 3,
			    "py(return) is read where the call ends: a 'when' runs at its start, "
			    "in '%s'",
			    text);
	one = strndup(text, (size_t)(close + 1 - text));
	p = calloc(1, sizeof(*p));
	if (!one || !p) {
		free(one);
		free(p);
		return fail(err, errlen, errcol, 0, "out of memory for '%s'", text);
	}
	ret = compile_path(one, TT_OP_PY_VALUE, p, err, errlen, errcol);
	if (!ret && (int)p->nops > room)
		ret = fail(err, errlen, errcol, 0,
			   "too many instructions for one probe with '%s' (at most TT_MAX_OPS)",
			   one);
	if (!ret) {
		memcpy(ops, p->ops, p->nops * sizeof(p->ops[0]));
		*n = (int)p->nops;
		*len = (size_t)(close + 1 - text);
	}
	free(one);
	free(p);
	return ret;
}
