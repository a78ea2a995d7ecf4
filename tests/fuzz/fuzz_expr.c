// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: capture expressions and filters. The first byte picks
 * the entry point and whether `ret` is allowed; the rest is the text. Each
 * text is compiled twice into one program, so that the program's bounds
 * are reached too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
			tt_expr__compile_filter(text, at_return, &prog, err, sizeof(err), &col);
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
