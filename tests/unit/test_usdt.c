/* SPDX-License-Identifier: MIT */
/*
 * Tests for user/usdt.c: USDT argument specs decoded into the sites the BPF
 * side reads arguments with, the forms refused with their messages, and
 * the attach cookie of a site.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <asm/ptrace.h>

#include "usdt.h"

#define REG(r) ((uint16_t)offsetof(struct pt_regs, r))

/* Decodes `spec`, which must be accepted. */
static struct tt_usdt_arg parse_ok(const char *spec)
{
	struct tt_usdt_arg arg;
	char why[256] = "";

	if (tt_usdt__parse_arg(spec, &arg, why, sizeof(why)))
		fail_msg("'%s' refused: %s", spec, why);
	return arg;
}

/* Decodes `spec`, which must be refused with a reason containing `expect`. */
static void parse_refused(const char *spec, const char *expect)
{
	struct tt_usdt_arg arg;
	char why[256] = "";

	assert_int_equal(tt_usdt__parse_arg(spec, &arg, why, sizeof(why)), -EINVAL);
	if (!strstr(why, expect))
		fail_msg("'%s' refused with \"%s\", expected \"%s\" in it", spec, why, expect);
}

/* Each accepted form, decoded: kind, size (negative: signed), register, offset or value. */
static void test_accepted_forms(void **state)
{
	static const struct {
		const char *spec;
		uint8_t kind;
		int8_t size;
		uint16_t reg_off;
		int64_t val;
	} rows[] = {
		{"-4@%edi", TT_USDT_ARG_REG, -4, REG(rdi), 0},
		{"8@%rax", TT_USDT_ARG_REG, 8, REG(rax), 0},
		{"8@8(%rbx)", TT_USDT_ARG_DEREF, 8, REG(rbx), 8},
		{"-4@-20(%rbp)", TT_USDT_ARG_DEREF, -4, REG(rbp), -20},
		{"2@0x18(%rsp)", TT_USDT_ARG_DEREF, 2, REG(rsp), 0x18},
		{"1@-2147483648(%r12)", TT_USDT_ARG_DEREF, 1, REG(r12), INT32_MIN},
		{"8@(%rdi)", TT_USDT_ARG_DEREF, 8, REG(rdi), 0},
		{"-2@(%r9)", TT_USDT_ARG_DEREF, -2, REG(r9), 0},
		{"4@$71", TT_USDT_ARG_CONST, 4, 0, 71},
		{"-4@$-7", TT_USDT_ARG_CONST, -4, 0, -7},
		{"8@$0x7fffffffffffffff", TT_USDT_ARG_CONST, 8, 0, INT64_MAX},
		{"-8@$-9223372036854775808", TT_USDT_ARG_CONST, -8, 0, INT64_MIN},
		/* an unsigned 64-bit constant keeps its bits */
		{"8@$18446744073709551615", TT_USDT_ARG_CONST, 8, 0, (int64_t)UINT64_MAX},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tt_usdt_arg a = parse_ok(rows[i].spec);

		if (a.kind != rows[i].kind || a.size != rows[i].size ||
		    (rows[i].kind != TT_USDT_ARG_CONST && a.reg_off != rows[i].reg_off) ||
		    a.val != rows[i].val)
			fail_msg("'%s': kind %d size %d reg_off %u val %lld", rows[i].spec, a.kind,
				 a.size, a.reg_off, (long long)a.val);
	}
}

/* Every name of every general-purpose register: 64, 32, 16 and 8 bits. */
static void test_every_register_name(void **state)
{
	static const struct {
		const char *names[4];
		uint16_t off;
	} regs[] = {
		{{"rax", "eax", "ax", "al"}, REG(rax)},
		{{"rbx", "ebx", "bx", "bl"}, REG(rbx)},
		{{"rcx", "ecx", "cx", "cl"}, REG(rcx)},
		{{"rdx", "edx", "dx", "dl"}, REG(rdx)},
		{{"rsi", "esi", "si", "sil"}, REG(rsi)},
		{{"rdi", "edi", "di", "dil"}, REG(rdi)},
		{{"rbp", "ebp", "bp", "bpl"}, REG(rbp)},
		{{"rsp", "esp", "sp", "spl"}, REG(rsp)},
		{{"r8", "r8d", "r8w", "r8b"}, REG(r8)},
		{{"r9", "r9d", "r9w", "r9b"}, REG(r9)},
		{{"r10", "r10d", "r10w", "r10b"}, REG(r10)},
		{{"r11", "r11d", "r11w", "r11b"}, REG(r11)},
		{{"r12", "r12d", "r12w", "r12b"}, REG(r12)},
		{{"r13", "r13d", "r13w", "r13b"}, REG(r13)},
		{{"r14", "r14d", "r14w", "r14b"}, REG(r14)},
		{{"r15", "r15d", "r15w", "r15b"}, REG(r15)},
	};
	static const int sizes[4] = {8, 4, 2, 1};

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		for (int w = 0; w < 4; w++) {
			char spec[32];
			struct tt_usdt_arg a;

			snprintf(spec, sizeof(spec), "-%d@%%%s", sizes[w], regs[i].names[w]);
			a = parse_ok(spec);
			assert_int_equal(a.kind, TT_USDT_ARG_REG);
			assert_int_equal(a.size, -sizes[w]);
			if (a.reg_off != regs[i].off)
				fail_msg("'%s' read at %u, not %u", spec, a.reg_off, regs[i].off);
			/* and as the base of a memory operand */
			snprintf(spec, sizeof(spec), "%d@16(%%%s)", sizes[w], regs[i].names[w]);
			a = parse_ok(spec);
			assert_int_equal(a.kind, TT_USDT_ARG_DEREF);
			assert_int_equal(a.size, sizes[w]);
			assert_int_equal(a.reg_off, regs[i].off);
			assert_int_equal(a.val, 16);
		}
	}
}

/* The size is the spec's N, whatever the register's width; its sign says signed. */
static void test_sizes_and_signedness(void **state)
{
	static const struct {
		const char *spec;
		int size;
	} cases[] = {
		{"1@%al", 1},	    {"-1@%al", -1},   {"2@%ax", 2},	{"-2@%r8w", -2},
		{"4@%eax", 4},	    {"-4@%r15d", -4}, {"8@%rax", 8},	{"-8@%rax", -8},
		{"4@%rax", 4},	    {"-1@%dil", -1},  {"-8@%r10", -8},	{"2@(%rsi)", 2},
		{"-1@4(%rdx)", -1}, {"1@$255", 1},    {"-2@$-300", -2}, {"8@%rsp", 8},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tt_usdt_arg a = parse_ok(cases[i].spec);

		if (a.size != cases[i].size)
			fail_msg("'%s': size %d, expected %d", cases[i].spec, a.size,
				 cases[i].size);
	}
}

static void test_refused_forms(void **state)
{
	/* a global variable: GCC prints it rip-relative through its symbol */
	parse_refused("-8@counter(%rip)", "a symbolic address ('counter') is not supported");
	parse_refused("8@table+16(%rip)", "a symbolic address ('table+16') is not supported");
	parse_refused("8@_sym(%rbx)", "a symbolic address ('_sym')");
	/* an array element: base, index and scale */
	parse_refused("-8@(%rax,%rdx,8)",
		      "an indexed address (base, index, scale) is not supported");
	parse_refused("8@-8(%rbp,%rax,4)", "an indexed address");
	parse_refused("8@table(,%rax,8)", "a symbolic address ('table')");
	parse_refused("8@-16(,%rax,8)", "an indexed address");
	parse_refused("8@16(%rip)", "%rip (the instruction pointer) is not supported");
	parse_refused("8@%rip", "%rip (the instruction pointer) is not supported");
	parse_refused("1@%ah", "the high-byte register '%ah' is not supported");
	parse_refused("1@%dh", "the high-byte register '%dh' is not supported");
	parse_refused("8@%xmm0", "'%xmm0' is not a general-purpose register");
	parse_refused("4@%r16d", "'%r16d' is not a general-purpose register");
	parse_refused("8@%fs:40", "'%fs' is not a general-purpose register");
	parse_refused("8@%rax:", "unexpected ':' after the register");
	parse_refused("8@(%rdi", "expected ')' to end the memory operand");
	parse_refused("8@(%rdi)x", "unexpected 'x' after the memory operand");
	parse_refused("8@(rdi)", "expected a register");
	parse_refused("8@(%)", "expected a register name after '%'");
	parse_refused("8@$sym", "a symbolic constant is not supported");
	parse_refused("8@$12x", "unexpected 'x' after the constant");
	parse_refused("8@4096", "an absolute address is not supported");
	parse_refused("8@", "not a register, a constant or a memory operand");
	parse_refused("8@*%rax", "not a register, a constant or a memory operand");
	/* the size */
	parse_refused("%rax", "no size ('N@' before the operand)");
	parse_refused("x@%rax", "the size before '@' is not a number");
	parse_refused("@%rax", "the size before '@' is not a number");
	parse_refused("3@%rax", "size 3 is not 1, 2, 4 or 8 (negative when signed)");
	parse_refused("-16@%rax", "size -16 is not 1, 2, 4 or 8");
	parse_refused("0@%rax", "size 0 is not");
}

static void test_argument_string(void **state)
{
	struct tt_usdt_site site;
	char err[256] = "";

	assert_int_equal(tt_usdt__decode("8@%rax 8@8(%rbx) -4@%edx", &site, err, sizeof(err)), 0);
	assert_int_equal(site.nargs, 3);
	assert_int_equal(site.args[0].kind, TT_USDT_ARG_REG);
	assert_int_equal(site.args[0].reg_off, REG(rax));
	assert_int_equal(site.args[1].kind, TT_USDT_ARG_DEREF);
	assert_int_equal(site.args[1].reg_off, REG(rbx));
	assert_int_equal(site.args[1].val, 8);
	assert_int_equal(site.args[2].size, -4);
	assert_int_equal(site.args[2].reg_off, REG(rdx));
	/* spaces around and between */
	assert_int_equal(tt_usdt__decode("  4@$1   -4@$-1 ", &site, err, sizeof(err)), 0);
	assert_int_equal(site.nargs, 2);
	assert_int_equal(site.args[1].val, -1);
	/* no arguments */
	site.nargs = 7;
	assert_int_equal(tt_usdt__decode("", &site, err, sizeof(err)), 0);
	assert_int_equal(site.nargs, 0);
}

static void test_argument_count_limit(void **state)
{
	struct tt_usdt_site site;
	char args[512] = "", err[256] = "";

	for (int i = 0; i < TT_MAX_USDT_ARGS; i++)
		strcat(args, "8@%rdi ");
	assert_int_equal(tt_usdt__decode(args, &site, err, sizeof(err)), 0);
	assert_int_equal(site.nargs, TT_MAX_USDT_ARGS);
	strcat(args, "8@%rsi");
	assert_int_equal(tt_usdt__decode(args, &site, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "more than 12 arguments (TT_MAX_USDT_ARGS)");
}

/* A refused argument: the message names the probe, the argument's number and its spec. */
static void test_message_names_probe_and_spec(void **state)
{
	struct tt_usdt_site site;
	char err[512] = "";

	assert_int_equal(tt_usdt__parse_args("python", "function__entry",
					     "8@%rdi -8@counter(%rip) 4@$1", &site, err,
					     sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "USDT probe python:function__entry: argument 2 "
				 "'-8@counter(%rip)': a symbolic address ('counter') is not "
				 "supported (tasktap reads N@%reg, N@off(%reg), N@(%reg) and "
				 "N@$imm)");
	assert_int_equal(
		tt_usdt__parse_args("ttw", "sum", "-8@(%rax,%rdx,8)", &site, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "USDT probe ttw:sum: argument 1 '-8@(%rax,%rdx,8)': an "
				    "indexed address (base, index, scale) is not supported"));
	assert_int_equal(tt_usdt__parse_args("ttw", "ok", "-4@%edi", &site, err, sizeof(err)), 0);
	assert_int_equal(site.nargs, 1);
}

static void test_long_spec_refused(void **state)
{
	struct tt_usdt_site site;
	char args[300], err[256] = "";

	memset(args, '1', sizeof(args) - 1);
	args[sizeof(args) - 1] = '\0';
	assert_int_equal(tt_usdt__decode(args, &site, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "argument 1 '1111"));
	assert_non_null(strstr(err, "is longer than 127 bytes"));
}

static void test_cookie(void **state)
{
	uint64_t c = tt_usdt__cookie(17, 2049, 123456, 0x1287);

	/* the hook id in the low 16 bits, a hash of the site above */
	assert_int_equal(c & TT_USDT_HOOK_MASK, 17);
	assert_int_not_equal(c >> TT_USDT_COOKIE_SHIFT, 0);
	/* the same in every agent for the same inputs */
	assert_int_equal(tt_usdt__cookie(17, 2049, 123456, 0x1287), c);
	/* another hook at the same site differs only in the hook id */
	assert_int_equal(tt_usdt__cookie(18, 2049, 123456, 0x1287), (c & ~(uint64_t)0xffff) | 18);
	/* another site, file or device is another cookie */
	assert_int_not_equal(tt_usdt__cookie(17, 2049, 123456, 0x128c), c);
	assert_int_not_equal(tt_usdt__cookie(17, 2049, 123457, 0x1287), c);
	assert_int_not_equal(tt_usdt__cookie(17, 2050, 123456, 0x1287), c);
	/* a hook id is 16 bits: what is above does not leak into the hash */
	assert_int_equal(tt_usdt__cookie(0x10011, 2049, 123456, 0x1287), c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_forms),
		cmocka_unit_test(test_every_register_name),
		cmocka_unit_test(test_sizes_and_signedness),
		cmocka_unit_test(test_refused_forms),
		cmocka_unit_test(test_argument_string),
		cmocka_unit_test(test_argument_count_limit),
		cmocka_unit_test(test_message_names_probe_and_spec),
		cmocka_unit_test(test_long_spec_refused),
		cmocka_unit_test(test_cookie),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
