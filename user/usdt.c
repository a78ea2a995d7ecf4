// SPDX-License-Identifier: MIT
/*
 * USDT argument specs, decoded the way GNU as prints x86-64 operands in the
 * notes of <sys/sdt.h>: "N@" and then an AT&T operand. Only what can be
 * read from the registers a uprobe saves, with at most one load, is
 * accepted; a form we cannot read is refused rather than read wrong.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asm/ptrace.h>
#include <xxhash.h>

#include "usdt.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Longest argument spec decoded; real ones are a few dozen bytes. */
#define MAX_SPEC_LEN 127

#if defined(__x86_64__)

/* The general-purpose registers, each by its 64-, 32-, 16- and 8-bit names. */
static const struct {
	const char *names[4];
	size_t off;
} regs[] = {
	{{"rax", "eax", "ax", "al"}, offsetof(struct pt_regs, rax)},
	{{"rbx", "ebx", "bx", "bl"}, offsetof(struct pt_regs, rbx)},
	{{"rcx", "ecx", "cx", "cl"}, offsetof(struct pt_regs, rcx)},
	{{"rdx", "edx", "dx", "dl"}, offsetof(struct pt_regs, rdx)},
	{{"rsi", "esi", "si", "sil"}, offsetof(struct pt_regs, rsi)},
	{{"rdi", "edi", "di", "dil"}, offsetof(struct pt_regs, rdi)},
	{{"rbp", "ebp", "bp", "bpl"}, offsetof(struct pt_regs, rbp)},
	{{"rsp", "esp", "sp", "spl"}, offsetof(struct pt_regs, rsp)},
	{{"r8", "r8d", "r8w", "r8b"}, offsetof(struct pt_regs, r8)},
	{{"r9", "r9d", "r9w", "r9b"}, offsetof(struct pt_regs, r9)},
	{{"r10", "r10d", "r10w", "r10b"}, offsetof(struct pt_regs, r10)},
	{{"r11", "r11d", "r11w", "r11b"}, offsetof(struct pt_regs, r11)},
	{{"r12", "r12d", "r12w", "r12b"}, offsetof(struct pt_regs, r12)},
	{{"r13", "r13d", "r13w", "r13b"}, offsetof(struct pt_regs, r13)},
	{{"r14", "r14d", "r14w", "r14b"}, offsetof(struct pt_regs, r14)},
	{{"r15", "r15d", "r15w", "r15b"}, offsetof(struct pt_regs, r15)},
};

_Static_assert(sizeof(struct pt_regs) <= 0xffff, "pt_regs offsets must fit in reg_off");

/*
 * The offset in struct pt_regs of the register named by the `len` bytes
 * at `name` (no '%'). Returns 0 and fills *off, or -EINVAL with the reason.
 */
static int reg_offset(const char *name, size_t len, __u16 *off, char *why, size_t whylen)
{
	static const char *const high[] = {"ah", "bh", "ch", "dh"};

	for (size_t i = 0; i < ARRAY_LEN(regs); i++) {
		for (size_t j = 0; j < 4; j++) {
			if (strlen(regs[i].names[j]) == len &&
			    !memcmp(regs[i].names[j], name, len)) {
				*off = (__u16)regs[i].off;
				return 0;
			}
		}
	}
	if (len == 3 && (!memcmp(name, "rip", 3) || !memcmp(name, "eip", 3))) {
		snprintf(why, whylen, "%%%.3s (the instruction pointer) is not supported", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_LEN(high); i++) {
		if (len == 2 && !memcmp(name, high[i], 2)) {
			snprintf(why, whylen, "the high-byte register '%%%s' is not supported",
				 high[i]);
			return -EINVAL;
		}
	}
	snprintf(why, whylen, "'%%%.*s' is not a general-purpose register", (int)len, name);
	return -EINVAL;
}

#else

static int reg_offset(const char *name, size_t len, __u16 *off, char *why, size_t whylen)
{
	snprintf(why, whylen, "USDT arguments are decoded on x86-64 only");
	return -EINVAL;
}

#endif

/*
 * Reads a signed integer (decimal, or hex after "0x") at *p and moves *p
 * past it. Returns whether there was one that fits in 64 bits (a positive
 * constant up to 2^64 - 1 is kept as its bits).
 */
static bool read_int(const char **p, __s64 *out)
{
	const char *s = *p;
	bool neg = false;
	unsigned long long v;
	char *end;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		v = strtoull(s + 2, &end, 16);
	else
		v = strtoull(s, &end, 10);
	if (errno || end == s || (neg && v > (unsigned long long)INT64_MAX + 1))
		return false;
	*out = neg ? (__s64)(0 - v) : (__s64)v;
	*p = end;
	return true;
}

/* Reads "%name" at *p (the letters and digits after '%'); *p moves past it. */
static int read_reg(const char **p, __u16 *off, char *why, size_t whylen)
{
	const char *name = *p + 1;
	size_t len = 0;

	if (**p != '%') {
		snprintf(why, whylen, "expected a register ('%%' and its name)");
		return -EINVAL;
	}
	while (isalnum((unsigned char)name[len]))
		len++;
	if (len == 0) {
		snprintf(why, whylen, "expected a register name after '%%'");
		return -EINVAL;
	}
	*p = name + len;
	return reg_offset(name, len, off, why, whylen);
}

/* The size before '@': 1, 2, 4 or 8, negative when signed. */
static int read_size(const char **p, __s8 *size, char *why, size_t whylen)
{
	const char *s = *p;
	__s64 n;

	if (!strchr(s, '@')) {
		snprintf(why, whylen, "no size ('N@' before the operand)");
		return -EINVAL;
	}
	if (!read_int(&s, &n) || *s != '@') {
		snprintf(why, whylen, "the size before '@' is not a number");
		return -EINVAL;
	}
	if (n != 1 && n != 2 && n != 4 && n != 8 && n != -1 && n != -2 && n != -4 && n != -8) {
		snprintf(why, whylen, "size %lld is not 1, 2, 4 or 8 (negative when signed)",
			 (long long)n);
		return -EINVAL;
	}
	*size = (__s8)n;
	*p = s + 1;
	return 0;
}

/* "$imm": a constant. */
static int read_const(const char *s, struct tt_usdt_arg *arg, char *why, size_t whylen)
{
	s++; /* '$' */
	if (!read_int(&s, &arg->val)) {
		snprintf(why, whylen, "a symbolic constant is not supported");
		return -EINVAL;
	}
	if (*s) {
		snprintf(why, whylen, "unexpected '%s' after the constant", s);
		return -EINVAL;
	}
	arg->kind = TT_USDT_ARG_CONST;
	return 0;
}

/* "off(%reg)" or "(%reg)": memory at a register plus a displacement. */
static int read_mem(const char *s, struct tt_usdt_arg *arg, char *why, size_t whylen)
{
	const char *start = s;
	int ret;

	arg->val = 0;
	if (*s != '(' && !read_int(&s, &arg->val)) {
		const char *paren = strchr(s, '(');

		if (isalpha((unsigned char)*s) || *s == '_' || *s == '.')
			snprintf(why, whylen, "a symbolic address ('%.*s') is not supported",
				 paren ? (int)(paren - s) : (int)strlen(s), s);
		else
			snprintf(why, whylen, "not a register, a constant or a memory operand");
		return -EINVAL;
	}
	if (*s != '(') {
		snprintf(why, whylen, "%s",
			 s == start ? "not a register, a constant or a memory operand"
				    : "an absolute address is not supported");
		return -EINVAL;
	}
	s++;
	if (*s == ',') {
		snprintf(why, whylen, "an indexed address (base, index, scale) is not supported");
		return -EINVAL;
	}
	ret = read_reg(&s, &arg->reg_off, why, whylen);
	if (ret)
		return ret;
	if (*s == ',') {
		snprintf(why, whylen, "an indexed address (base, index, scale) is not supported");
		return -EINVAL;
	}
	if (s[0] != ')') {
		snprintf(why, whylen, "expected ')' to end the memory operand");
		return -EINVAL;
	}
	if (s[1]) {
		snprintf(why, whylen, "unexpected '%s' after the memory operand", s + 1);
		return -EINVAL;
	}
	arg->kind = TT_USDT_ARG_DEREF;
	return 0;
}

int tt_usdt__parse_arg(const char *spec, struct tt_usdt_arg *arg, char *why, size_t whylen)
{
	const char *s = spec;
	int ret;

	memset(arg, 0, sizeof(*arg));
	ret = read_size(&s, &arg->size, why, whylen);
	if (ret)
		return ret;
	if (*s == '$')
		return read_const(s, arg, why, whylen);
	if (*s != '%')
		return read_mem(s, arg, why, whylen);
	ret = read_reg(&s, &arg->reg_off, why, whylen);
	if (ret)
		return ret;
	if (*s) {
		snprintf(why, whylen, "unexpected '%s' after the register", s);
		return -EINVAL;
	}
	arg->kind = TT_USDT_ARG_REG;
	return 0;
}

int tt_usdt__decode(const char *args, struct tt_usdt_site *site, char *err, size_t errlen)
{
	const char *p = args;
	char spec[MAX_SPEC_LEN + 1], why[160];

	memset(site, 0, sizeof(*site));
	for (;;) {
		size_t len;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			return 0;
		len = strcspn(p, " \t\n");
		if (site->nargs == TT_MAX_USDT_ARGS) {
			snprintf(err, errlen, "more than %d arguments (TT_MAX_USDT_ARGS)",
				 TT_MAX_USDT_ARGS);
			return -EINVAL;
		}
		if (len > MAX_SPEC_LEN) {
			snprintf(err, errlen, "argument %u '%.32s...' is longer than %d bytes",
				 site->nargs + 1, p, MAX_SPEC_LEN);
			return -EINVAL;
		}
		memcpy(spec, p, len);
		spec[len] = '\0';
		if (tt_usdt__parse_arg(spec, &site->args[site->nargs], why, sizeof(why))) {
			snprintf(err, errlen,
				 "argument %u '%s': %s (tasktap reads N@%%reg, N@off(%%reg), "
				 "N@(%%reg) and N@$imm)",
				 site->nargs + 1, spec, why);
			return -EINVAL;
		}
		site->nargs++;
		p += len;
	}
}

int tt_usdt__parse_args(const char *provider, const char *name, const char *args,
			struct tt_usdt_site *site, char *err, size_t errlen)
{
	char why[384];
	int ret = tt_usdt__decode(args, site, why, sizeof(why));

	if (ret)
		snprintf(err, errlen, "USDT probe %s:%s: %s", provider, name, why);
	return ret;
}

uint64_t tt_usdt__cookie(uint32_t hook, uint64_t dev, uint64_t ino, uint64_t offset)
{
	uint64_t key[3] = {dev, ino, offset};
	uint64_t h = XXH3_64bits(key, sizeof(key));

	return (uint64_t)(hook & TT_USDT_HOOK_MASK) | (h << TT_USDT_COOKIE_SHIFT);
}
