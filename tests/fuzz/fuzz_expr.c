// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: capture expressions and predicates. The first byte
 * picks the entry point, whether `ret` is allowed and (predicates) filter
 * or verdict; the rest is the text. Each text is compiled twice into one
 * program, so that the program's bounds are reached too; a predicate's
 * program is then compiled to BPF.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpfgen.h"
#include "expr.h"

/* Names a predicate may use: one number, one string, one that cannot be compared. */
static const char *lookup(void *ctx, const char *name, size_t len)
{
	(void)ctx;
	if (len == 1 && name[0] == 'n')
		return "u32(arg0 + 4)";
	if (len == 1 && name[0] == 's')
		return "str(*(arg1 + 8), 16)";
	if (len == 1 && name[0] == 'b')
		return "bytes(arg1, 4)";
	return NULL;
}

/* The program compiled to BPF, as the loader would: it must be built or refused, never crash. */
static void emit(const struct tt_probe_prog *prog, bool at_return)
{
	static struct tt_hook_prog h;
	static struct tt_bpfgen g;
	struct tt_bpfgen_in in = {.kind = at_return ? TT_BPFGEN_RETURN : TT_BPFGEN_ENTRY,
				  .hook = 1,
				  .prog = &h,
				  .maps = {1, 2, 3, 4, 5, 6}};
	char err[256];

	memset(&h, 0, sizeof(h));
	h.flags = TT_HOOKF_TRACK | TT_HOOKF_SAVE;
	if (at_return)
		h.ret = *prog;
	else
		h.entry = *prog;
	tt_bpfgen__emit(&in, &g, err, sizeof(err));
	tt_bpfgen__compiled_only(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct tt_expr_names names = {.lookup = lookup};
	struct tt_probe_prog prog;
	struct tt_pred_parts parts;
	enum tt_cap_type type;
	enum tt_cmp op;
	int64_t rhs;
	char err[256];
	int col;
	bool at_return;
	char *text;

	if (size < 1)
		return 0;
	at_return = data[0] & 0x80;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	memset(&prog, 0, sizeof(prog));
	switch (data[0] & 0x3) {
	case 0:
		for (int i = 0; i < 2; i++)
			tt_expr__compile(text, at_return, &prog, &type, err, sizeof(err), &col);
		break;
	case 1:
		for (int i = 0; i < 2; i++)
			tt_expr__compile_pred(text,
					      (data[0] & 0x40) ? TT_PRED_VERDICT : TT_PRED_FILTER,
					      at_return, &names, &prog, err, sizeof(err), &col);
		emit(&prog, at_return);
		break;
	case 2:
		tt_expr__split_pred(text, &parts, err, sizeof(err), &col);
		break;
	default:
		tt_expr__parse_ret_pred(text, &op, &rhs, err, sizeof(err), &col);
		break;
	}
	free(text);
	return 0;
}
