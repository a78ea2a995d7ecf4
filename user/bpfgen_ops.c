// SPDX-License-Identifier: MIT
/*
 * bpfgen_ops.c: a capture program (capture.h) as BPF instructions, one
 * emitter per opcode (`op_rows`), as bpf/tasktap.bpf.c's interpreter runs
 * it: reads with faults, records, the filter's comparisons; and a program
 * run into this CPU's scratch, its filter before the event's header. The
 * programs around it are in bpfgen.c, registers and layout in bpfgen_asm.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bpfgen.h"
#include "bpfgen_asm.h"
#include "tasktap/event.h"
#include "tasktap/limits.h"

static void set_fault(struct gen *g)
{
	st(g, BPF_DW, FP, FP_FAULT, 1);
}

/* A jump to `label` when the fault flag is set. */
static void if_fault(struct gen *g, int label)
{
	ldx(g, BPF_DW, R1, FP, FP_FAULT);
	jmp_imm(g, BPF_JNE, R1, 0, label);
}

/* acc = the 8 bytes at the address in R3 (0 and a fault when unreadable). */
static void read_u64_at_r3(struct gen *g)
{
	int ok = new_label(g);

	fp_addr(g, R1, FP_TMP);
	mov_imm(g, R2, 8);
	call(g, BPF_FUNC_probe_read_user);
	jmp_imm(g, BPF_JEQ, R0, 0, ok);
	set_fault(g);
	place(g, ok);
	ldx(g, BPF_DW, ACC, FP, FP_TMP); /* the helper zeroes it on failure */
}

/* acc = 0 and a fault: an argument that does not exist. */
static void no_arg(struct gen *g)
{
	set_fault(g);
	mov_imm(g, ACC, 0);
}

/* Cuts acc to `bytes` and sign-extends it when `is_signed` (as usdt_arg() does). */
static void cut(struct gen *g, int bytes, bool is_signed)
{
	int shift = 64 - 8 * bytes;

	if (shift <= 0)
		return;
	alu_imm(g, BPF_LSH, ACC, shift);
	alu_imm(g, is_signed ? BPF_ARSH : BPF_RSH, ACC, shift);
}

/* acc = argument `slot` of a USDT site, decoded as the note says. */
static void usdt_arg(struct gen *g, int64_t slot)
{
	const struct tt_usdt_site *site = g->in->site;
	const struct tt_usdt_arg *a;
	int bytes, done, ok;

	if (!site || slot < 0 || slot >= site->nargs || slot >= TT_MAX_USDT_ARGS) {
		no_arg(g);
		return;
	}
	a = &site->args[slot];
	bytes = a->size < 0 ? -a->size : a->size;
	if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8) {
		no_arg(g);
		return;
	}
	if (a->kind == TT_USDT_ARG_CONST) {
		ld_imm64(g, ACC, (uint64_t)a->val);
		cut(g, bytes, a->size < 0);
		return;
	}
	if (a->reg_off > PT_REGS_SIZE - 8) {
		no_arg(g);
		return;
	}
	if (a->reg_off % 8) {
		fail(g, -EINVAL, "a USDT argument in a register at an unaligned offset");
		return;
	}
	if (a->kind == TT_USDT_ARG_REG) {
		ldx(g, BPF_DW, ACC, CTX, a->reg_off);
		cut(g, bytes, a->size < 0);
		return;
	}
	if (a->kind != TT_USDT_ARG_DEREF) {
		fail(g, -EINVAL, "a USDT argument of an unknown kind");
		return;
	}
	done = new_label(g);
	ok = new_label(g);
	ldx(g, BPF_DW, R3, CTX, a->reg_off);
	ld_imm64(g, R2, (uint64_t)a->val);
	alu_reg(g, BPF_ADD, R3, R2);
	st(g, BPF_DW, FP, FP_TMP, 0);
	fp_addr(g, R1, FP_TMP);
	mov_imm(g, R2, bytes);
	call(g, BPF_FUNC_probe_read_user);
	jmp_imm(g, BPF_JEQ, R0, 0, ok);
	no_arg(g);
	jmp(g, done);
	place(g, ok);
	ldx(g, BPF_DW, ACC, FP, FP_TMP);
	cut(g, bytes, a->size < 0);
	place(g, done);
}

static void op_arg(struct gen *g, uint32_t i, const struct tt_op *op)
{
	int64_t slot = op->imm;

	if (g->in->kind == TT_BPFGEN_USDT) {
		usdt_arg(g, slot);
		return;
	}
	if (slot < 0 || slot > TT_MAX_ARG_SLOT) {
		no_arg(g);
		return;
	}
	if (reads_return(g)) {
		/* the arguments saved at entry, or zeros */
		if (slot < 6) {
			ldx(g, BPF_DW, ACC, FP, FP_REGS + 8 * slot);
			return;
		}
		ldx(g, BPF_DW, R3, FP, FP_REGS + 48);
	} else {
		if (slot < 6) {
			ldx(g, BPF_DW, ACC, CTX, pt_arg[slot]);
			return;
		}
		ldx(g, BPF_DW, R3, CTX, PT_SP);
	}
	/* 8-byte stack slots above the return address */
	alu_imm(g, BPF_ADD, R3, (int32_t)(8 * (slot - 5)));
	read_u64_at_r3(g);
}

static void op_ret(struct gen *g, uint32_t i, const struct tt_op *op)
{
	int wide = new_label(g);

	if (!reads_return(g)) {
		mov_imm(g, ACC, 0);
		return;
	}
	ldx(g, BPF_DW, ACC, CTX, PT_AX);
	if (!(op->flags & TT_OPF_INTRET))
		return;
	/* a C int leaves the upper half zero: sign-extend it (tt_ret__value) */
	mov_reg(g, R1, ACC);
	alu_imm(g, BPF_RSH, R1, 32);
	jmp_imm(g, BPF_JNE, R1, 0, wide);
	cut(g, 4, true);
	place(g, wide);
}

static void op_const(struct gen *g, uint32_t i, const struct tt_op *op)
{
	ld_imm64(g, ACC, (uint64_t)op->imm);
}

static void op_add(struct gen *g, uint32_t i, const struct tt_op *op)
{
	if (op->imm == (int32_t)op->imm) {
		alu_imm(g, BPF_ADD, ACC, (int32_t)op->imm);
		return;
	}
	ld_imm64(g, R1, (uint64_t)op->imm);
	alu_reg(g, BPF_ADD, ACC, R1);
}

static const uint8_t size_of_width[9] = {[1] = BPF_B, [2] = BPF_H, [4] = BPF_W, [8] = BPF_DW};

static void op_load(struct gen *g, uint32_t i, const struct tt_op *op)
{
	int width = op->aux == 1 || op->aux == 2 || op->aux == 4 ? op->aux : 8;
	int skip = new_label(g), ok = new_label(g);

	if_fault(g, skip);
	fp_addr(g, R1, FP_TMP);
	mov_imm(g, R2, width);
	mov_reg(g, R3, ACC);
	call(g, BPF_FUNC_probe_read_user);
	jmp_imm(g, BPF_JEQ, R0, 0, ok);
	set_fault(g);
	jmp(g, skip);
	place(g, ok);
	ldx(g, size_of_width[width], ACC, FP, FP_TMP);
	if (op->flags & TT_OPF_SIGNED)
		cut(g, width, true);
	place(g, skip);
}

static void op_save(struct gen *g, uint32_t i, const struct tt_op *op)
{
	stx(g, BPF_DW, FP, FP_R1, ACC);
}

/* R1 = BUF + ((OFF + extra) & SCRATCH_MASK): where the record (extra 0) or its data (4) goes. */
static void record_addr(struct gen *g, uint8_t dst, int extra)
{
	mov_reg(g, dst, OFF);
	if (extra)
		alu_imm(g, BPF_ADD, dst, extra);
	alu_imm(g, BPF_AND, dst, SCRATCH_MASK);
	alu_reg(g, BPF_ADD, dst, BUF);
}

/*
 * end_record() with the record's word (len | type << 16 | flags << 24)
 * in R2 and its length in R3: writes the record, moves OFF past it, 4-byte
 * aligned, and clears the state for the next capture.
 */
static void end_record(struct gen *g)
{
	record_addr(g, R1, 0);
	stx(g, BPF_W, R1, 0, R2);
	alu_reg(g, BPF_ADD, OFF, R3);
	alu_imm(g, BPF_ADD, OFF, sizeof(struct tt_cap_rec) + 3);
	alu_imm(g, BPF_AND, OFF, ~3);
}

/* end_record() of a read that failed: no bytes, FAULT added to the flags of `word`. */
static void fault_record(struct gen *g, uint8_t word_reg)
{
	if (word_reg != R2)
		mov_reg(g, R2, word_reg);
	alu_imm(g, BPF_AND, R2, ~0xffff); /* len 0 */
	alu_imm(g, BPF_OR, R2, TT_CAPF_FAULT << 24);
	mov_imm(g, R3, 0);
	end_record(g);
}

static void clear_state(struct gen *g)
{
	st(g, BPF_DW, FP, FP_FAULT, 0);
	st(g, BPF_DW, FP, FP_R1, 0);
	mov_imm(g, ACC, 0);
}

/*
 * The end of a capture whose read faulted, its record word in R4 (set
 * after the fault was counted: the count's map lookup clobbers R1-R5):
 * writes the record as unreadable, then joins the success path at `done`.
 */
static void fault_tail(struct gen *g, int done)
{
	fault_record(g, R4);
	place(g, done);
	clear_state(g);
}

/* From label `faulted`: counts the fault, then fault_tail() with a record word known here. */
static void faulted_tail(struct gen *g, int faulted, int done, int32_t word)
{
	place(g, faulted);
	bpfgen__stat_inc(g, TT_STAT_CAP_FAULTS);
	mov_imm(g, R4, word);
	fault_tail(g, done);
}

static void op_emit_int(struct gen *g, uint32_t i, const struct tt_op *op)
{
	int faulted = new_label(g), done = new_label(g);

	record_addr(g, R1, sizeof(struct tt_cap_rec));
	stx(g, BPF_DW, R1, 0, ACC);
	if_fault(g, faulted);
	mov_imm(g, R2, sizeof(__u64) | TT_CAP_INT << 16);
	mov_imm(g, R3, sizeof(__u64));
	end_record(g);
	jmp(g, done);
	faulted_tail(g, faulted, done, TT_CAP_INT << 16);
}

static void op_emit_str(struct gen *g, uint32_t i, const struct tt_op *op)
{
	uint32_t max = op->len > TT_MAX_STR ? TT_MAX_STR : op->len;
	int faulted = new_label(g), done = new_label(g), whole = new_label(g), empty = new_label(g);

	if_fault(g, faulted);
	if (max == 0) {
		mov_imm(g, R2, TT_CAP_STR << 16);
		mov_imm(g, R3, 0);
		end_record(g);
		jmp(g, done);
	} else {
		record_addr(g, R1, sizeof(struct tt_cap_rec));
		mov_imm(g, R2, (int32_t)max);
		mov_reg(g, R3, ACC);
		call(g, BPF_FUNC_probe_read_user_str);
		jmp_imm(g, BPF_JSLT, R0, 0, faulted);
		/* filled to the limit (the helper ends it with a NUL): maybe cut */
		mov_imm(g, R2, TT_CAP_STR << 16);
		jmp_imm(g, BPF_JNE, R0, (int32_t)max, whole);
		alu_imm(g, BPF_OR, R2, TT_CAPF_TRUNCATED << 24);
		place(g, whole);
		/* the record keeps the bytes without the NUL */
		mov_imm(g, R3, 0);
		jmp_imm(g, BPF_JEQ, R0, 0, empty);
		mov_reg(g, R3, R0);
		alu_imm(g, BPF_ADD, R3, -1);
		alu_imm(g, BPF_AND, R3, 0xffff);
		place(g, empty);
		alu_reg(g, BPF_OR, R2, R3);
		end_record(g);
		jmp(g, done);
	}
	faulted_tail(g, faulted, done, TT_CAP_STR << 16);
}

static void op_emit_bytes(struct gen *g, uint32_t i, const struct tt_op *op)
{
	uint32_t max = op->len > TT_MAX_BYTES ? TT_MAX_BYTES : op->len;
	int faulted = new_label(g), done = new_label(g), fits = new_label(g), rec = new_label(g);

	/* len = min(r1, max), TRUNCATED when cut, whether or not the read works */
	ldx(g, BPF_DW, R2, FP, FP_R1);
	mov_imm(g, R3, TT_CAP_BYTES << 16);
	jmp_imm(g, BPF_JLE, R2, (int32_t)max, fits);
	mov_imm(g, R2, (int32_t)max);
	alu_imm(g, BPF_OR, R3, TT_CAPF_TRUNCATED << 24);
	place(g, fits);
	stx(g, BPF_DW, FP, FP_BLEN, R2);
	stx(g, BPF_DW, FP, FP_BWORD, R3);
	if_fault(g, faulted);
	ldx(g, BPF_DW, R2, FP, FP_BLEN);
	jmp_imm(g, BPF_JEQ, R2, 0, rec);
	alu_imm(g, BPF_AND, R2, TT_MAX_BYTES * 2 - 1);
	record_addr(g, R1, sizeof(struct tt_cap_rec));
	mov_reg(g, R3, ACC);
	call(g, BPF_FUNC_probe_read_user);
	jmp_imm(g, BPF_JNE, R0, 0, faulted);
	place(g, rec);
	ldx(g, BPF_DW, R3, FP, FP_BLEN);
	ldx(g, BPF_DW, R2, FP, FP_BWORD);
	alu_reg(g, BPF_OR, R2, R3);
	end_record(g);
	jmp(g, done);
	place(g, faulted);
	bpfgen__stat_inc(g, TT_STAT_CAP_FAULTS);
	ldx(g, BPF_DW, R4, FP, FP_BWORD);
	fault_tail(g, done);
}

/*
 * The comparisons of TT_OP_CMP: the jump taken when acc <op> imm holds,
 * unsigned and signed. A new operator is one row.
 */
static const struct cmp_row {
	uint8_t jmp;
	uint8_t jmp_signed;
} cmp_rows[] = {
	[TT_CMPOP_EQ] = {BPF_JEQ, BPF_JEQ},  [TT_CMPOP_NE] = {BPF_JNE, BPF_JNE},
	[TT_CMPOP_LT] = {BPF_JLT, BPF_JSLT}, [TT_CMPOP_LE] = {BPF_JLE, BPF_JSLE},
	[TT_CMPOP_GT] = {BPF_JGT, BPF_JSGT}, [TT_CMPOP_GE] = {BPF_JGE, BPF_JSGE},
};

/*
 * The end of a test whose code fell through here when it matched and
 * jumped to `no` when not: with TT_OPF_COND it sets the condition (negated
 * by NEGATE); else it drops the hit unless the test holds. Either way the
 * fault flag is cleared for what follows.
 */
static void test_tail(struct gen *g, const struct tt_op *op, int no)
{
	bool negate = op->flags & TT_OPF_NEGATE;
	int done = new_label(g);

	if (op->flags & TT_OPF_COND) {
		st(g, BPF_DW, FP, FP_COND, negate ? 0 : 1);
		jmp(g, done);
		place(g, no);
		st(g, BPF_DW, FP, FP_COND, negate ? 1 : 0);
	} else {
		jmp(g, negate ? g->drop : done);
		place(g, no);
		if (!negate)
			jmp(g, g->drop);
	}
	place(g, done);
	st(g, BPF_DW, FP, FP_FAULT, 0);
}

/* The jump of comparison `op` (a row of cmp_rows), or 0 with a failure. */
static uint8_t cmp_jump(struct gen *g, const struct tt_op *op)
{
	if (op->aux >= sizeof(cmp_rows) / sizeof(cmp_rows[0]) || !cmp_rows[op->aux].jmp) {
		fail(g, -EINVAL, "a comparison it does not know");
		return 0;
	}
	return (op->flags & TT_OPF_SIGNED) ? cmp_rows[op->aux].jmp_signed : cmp_rows[op->aux].jmp;
}

static void op_cmp(struct gen *g, uint32_t i, const struct tt_op *op)
{
	int pass = new_label(g), no = new_label(g);
	uint8_t j = cmp_jump(g, op);

	if (!j)
		return;
	if (!(op->flags & TT_OPF_COND)) {
		/* a filter's test, as it always was: the shortest form */
		if_fault(g, g->drop);
		ld_imm64(g, R2, (uint64_t)op->imm);
		jmp_reg(g, j, ACC, R2, pass);
		jmp(g, g->drop);
		place(g, pass);
		return;
	}
	if_fault(g, no);
	ld_imm64(g, R2, (uint64_t)op->imm);
	jmp_reg(g, j, ACC, R2, pass);
	jmp(g, no);
	place(g, pass);
	test_tail(g, op, no);
}

/* CMPR: r1 <op> acc, a fault on either side being a mismatch. */
static void op_cmpr(struct gen *g, uint32_t i, const struct tt_op *op)
{
	int pass = new_label(g), no = new_label(g);
	uint8_t j = cmp_jump(g, op);

	if (!j)
		return;
	if_fault(g, no);
	ldx(g, BPF_DW, R1, FP, FP_R1);
	jmp_reg(g, j, R1, ACC, pass);
	jmp(g, no);
	place(g, pass);
	test_tail(g, op, no);
}

/* Bits of the first `n` bytes of the literal's word w (as string_matches() masks). */
static uint64_t word_mask(uint32_t n, uint32_t w)
{
	return n - 8 * w >= 8 ? ~0ULL : (1ULL << (8 * (n - 8 * w))) - 1;
}

/* Bytes a string test reads, with the NUL: pad, or TT_MAX_STR. */
static int32_t read_limit(uint8_t pad)
{
	return pad && pad <= TT_MAX_STR ? pad : TT_MAX_STR;
}

/* R0 = bpf_probe_read_user_str(BUF + at, limit, address in `src`); a fault or a failure jumps to
 * no.
 */
static void read_str(struct gen *g, int16_t at, int32_t limit, uint8_t src, int no)
{
	mov_reg(g, R3, src);
	mov_reg(g, R1, BUF);
	alu_imm(g, BPF_ADD, R1, at);
	mov_imm(g, R2, limit);
	call(g, BPF_FUNC_probe_read_user_str);
	jmp_imm(g, BPF_JSLT, R0, 1, no);
}

/*
 * Compares the first n bytes at BUF + at with the literal held after
 * instruction i (n: its length, and its NUL for an exact match); a
 * difference jumps to `no`.
 */
static void literal_words(struct gen *g, uint32_t i, int32_t at, uint32_t n, int no)
{
	for (uint32_t w = 0; w < 7 && 8 * w < n; w++) {
		uint64_t idx = (uint64_t)i + 1 + w;
		uint64_t mask = word_mask(n, w);

		if (idx >= TT_MAX_OPS) {
			jmp(g, no);
			return;
		}
		ldx(g, BPF_DW, R1, BUF, (int16_t)(at + 8 * (int32_t)w));
		ld_imm64(g, R2, (uint64_t)g->prog->ops[idx].imm);
		alu_reg(g, BPF_XOR, R1, R2);
		if (mask != ~0ULL) {
			ld_imm64(g, R2, mask);
			alu_reg(g, BPF_AND, R1, R2);
		}
		jmp_imm(g, BPF_JNE, R1, 0, no);
	}
}

/* ends_with: the last len bytes of the string, read again from where they are. */
static void str_suffix(struct gen *g, uint32_t i, const struct tt_op *op, int no)
{
	read_str(g, SCRATCH_STR_A, read_limit(op->pad), ACC, no);
	/* R0 - 1 bytes before the NUL; fewer than the literal's: no */
	alu_imm(g, BPF_ADD, R0, -1);
	jmp_imm(g, BPF_JLT, R0, (int32_t)op->len, no);
	mov_reg(g, R3, ACC);
	alu_reg(g, BPF_ADD, R3, R0);
	alu_imm(g, BPF_ADD, R3, -(int32_t)op->len);
	mov_reg(g, R1, BUF);
	alu_imm(g, BPF_ADD, R1, SCRATCH_TMP);
	mov_imm(g, R2, (int32_t)op->len);
	call(g, BPF_FUNC_probe_read_user);
	jmp_imm(g, BPF_JNE, R0, 0, no);
	literal_words(g, i, SCRATCH_TMP, op->len, no);
}

/*
 * Compares the literal after instruction i (len bytes, no NUL) with the
 * bytes at BUF + at; a difference jumps to `no`. Words of 1 or 2 bytes
 * compare with an immediate, whole words with a register, others masked.
 */
static void window(struct gen *g, uint32_t i, int32_t at, uint32_t len, int no)
{
	for (uint32_t w = 0; w < 7 && 8 * w < len; w++) {
		uint32_t n = len - 8 * w < 8 ? len - 8 * w : 8;
		uint64_t idx = (uint64_t)i + 1 + w;
		uint64_t lit;
		int16_t off = (int16_t)(at + 8 * (int32_t)w);

		if (idx >= TT_MAX_OPS) {
			jmp(g, no);
			return;
		}
		lit = (uint64_t)g->prog->ops[idx].imm & word_mask(len, w);
		if (n == 1 || n == 2) {
			ldx(g, n == 1 ? BPF_B : BPF_H, R1, BUF, off);
			jmp_imm(g, BPF_JNE, R1, (int32_t)lit, no);
			continue;
		}
		ldx(g, n == 4 ? BPF_W : BPF_DW, R1, BUF, off);
		if (n != 4 && n != 8) {
			ld_imm64(g, R2, word_mask(len, w));
			alu_reg(g, BPF_AND, R1, R2);
		}
		ld_imm64(g, R2, lit);
		jmp_reg(g, BPF_JNE, R1, R2, no);
	}
}

/*
 * contains: the literal at each position of the string, unrolled; the
 * first match wins. The area is zeroed before the read, so that a window
 * past the string's end holds a NUL, which no literal has: no length
 * check per position.
 */
static void str_contains(struct gen *g, uint32_t i, const struct tt_op *op, int no)
{
	int32_t limit = read_limit(op->pad);
	int found = new_label(g);

	for (int32_t k = 0; k < 2 * TT_MAX_STR; k += 8)
		st(g, BPF_DW, BUF, (int16_t)(SCRATCH_STR_A + k), 0);
	read_str(g, SCRATCH_STR_A, limit, ACC, no);
	for (int32_t k = 0; k + (int32_t)op->len <= limit - 1; k++) {
		int next = new_label(g);

		window(g, i, SCRATCH_STR_A + k, op->len, next);
		jmp(g, found);
		place(g, next);
	}
	jmp(g, no);
	place(g, found);
}

static void op_strcmp(struct gen *g, uint32_t i, const struct tt_op *op)
{
	uint32_t n = op->len + (op->aux == TT_STRCMP_EXACT ? 1 : 0); /* the NUL, for exact */
	int no = new_label(g);

	if (op->len > TT_MAX_LITERAL || op->aux > TT_STRCMP_CONTAINS) {
		jmp(g, no);
	} else if (op->aux == TT_STRCMP_SUFFIX || op->aux == TT_STRCMP_CONTAINS) {
		if_fault(g, no);
		if (op->aux == TT_STRCMP_SUFFIX)
			str_suffix(g, i, op, no);
		else
			str_contains(g, i, op, no);
	} else {
		if_fault(g, no);
		mov_reg(g, R1, BUF);
		alu_imm(g, BPF_ADD, R1, SCRATCH_TMP);
		mov_imm(g, R2, read_limit(op->pad));
		mov_reg(g, R3, ACC);
		call(g, BPF_FUNC_probe_read_user_str);
		jmp_imm(g, BPF_JSLT, R0, 0, no);
		literal_words(g, i, SCRATCH_TMP, n, no);
	}
	test_tail(g, op, no);
}

/*
 * STRCMPR: the string at r1 and the string at acc, each read with its
 * limit; equal when their lengths are and their bytes up to the NUL.
 */
static void op_strcmpr(struct gen *g, uint32_t i, const struct tt_op *op)
{
	int no = new_label(g), same = new_label(g);

	if_fault(g, no);
	ldx(g, BPF_DW, R4, FP, FP_R1);
	read_str(g, SCRATCH_STR_A, read_limit((uint8_t)op->len), R4, no);
	stx(g, BPF_DW, FP, FP_SLEN, R0);
	read_str(g, SCRATCH_STR_B, read_limit(op->pad), ACC, no);
	ldx(g, BPF_DW, R1, FP, FP_SLEN);
	jmp_reg(g, BPF_JNE, R0, R1, no);
	for (int32_t w = 0; w < TT_MAX_STR / 8; w++) {
		int whole = new_label(g);

		/* R0: bytes with the NUL; those past it are not the strings' */
		jmp_imm(g, BPF_JLE, R0, 8 * w, same);
		ldx(g, BPF_DW, R1, BUF, SCRATCH_STR_A + 8 * w);
		ldx(g, BPF_DW, R2, BUF, SCRATCH_STR_B + 8 * w);
		alu_reg(g, BPF_XOR, R1, R2);
		jmp_imm(g, BPF_JGE, R0, 8 * w + 8, whole);
		/* R1 &= (1 << 8 * (R0 - 8w)) - 1 */
		mov_reg(g, R3, R0);
		alu_imm(g, BPF_ADD, R3, -8 * w);
		alu_imm(g, BPF_LSH, R3, 3);
		mov_imm(g, R4, 1);
		alu_reg(g, BPF_LSH, R4, R3);
		alu_imm(g, BPF_ADD, R4, -1);
		alu_reg(g, BPF_AND, R1, R4);
		place(g, whole);
		jmp_imm(g, BPF_JNE, R1, 0, no);
	}
	place(g, same);
	test_tail(g, op, no);
}

/* The label of instruction `target` of the program, made on first use. */
static int op_label(struct gen *g, uint32_t target)
{
	if (target > TT_MAX_OPS) {
		fail(g, -EINVAL, "a jump out of the capture program");
		return 0;
	}
	if (g->op_label[target] < 0)
		g->op_label[target] = new_label(g);
	return g->op_label[target];
}

static void op_jmp(struct gen *g, uint32_t i, const struct tt_op *op)
{
	int to;

	if (op->imm <= (int64_t)i || op->imm > (int64_t)g->prog->nops) {
		fail(g, -EINVAL, "a jump that does not go forward within the program");
		return;
	}
	to = op_label(g, (uint32_t)op->imm);
	if (op->flags & (TT_OPF_IFTRUE | TT_OPF_IFFALSE)) {
		ldx(g, BPF_DW, R1, FP, FP_COND);
		jmp_imm(g, (op->flags & TT_OPF_IFTRUE) ? BPF_JNE : BPF_JEQ, R1, 0, to);
	} else {
		jmp(g, to);
	}
}

static void op_drop(struct gen *g, uint32_t i, const struct tt_op *op)
{
	jmp(g, g->drop);
}

static void op_nop(struct gen *g, uint32_t i, const struct tt_op *op)
{
}

/* One row per opcode of capture.h: its name in `tasktap check --verbose` and its emitter. */
static const struct op_row {
	const char *name;
	void (*emit)(struct gen *g, uint32_t i, const struct tt_op *op);
} op_rows[TT_OP__COUNT] = {
	[TT_OP_NOP] = {"nop", op_nop},
	[TT_OP_ARG] = {"arg", op_arg},
	[TT_OP_RET] = {"ret", op_ret},
	[TT_OP_CONST] = {"const", op_const},
	[TT_OP_ADD] = {"add", op_add},
	[TT_OP_LOAD] = {"load", op_load},
	[TT_OP_SAVE] = {"save", op_save},
	[TT_OP_EMIT_INT] = {"emit_int", op_emit_int},
	[TT_OP_EMIT_STR] = {"emit_str", op_emit_str},
	[TT_OP_EMIT_BYTES] = {"emit_bytes", op_emit_bytes},
	[TT_OP_CMP] = {"cmp", op_cmp},
	[TT_OP_STRCMP] = {"strcmp", op_strcmp},
	[TT_OP_CMPR] = {"cmpr", op_cmpr},
	[TT_OP_STRCMPR] = {"strcmpr", op_strcmpr},
	[TT_OP_JMP] = {"jmp", op_jmp},
	[TT_OP_DROP] = {"drop", op_drop},
};

/* Whether `op` is a test that drops the hit (a filter's), not one that sets a condition. */
static bool drops(const struct tt_op *op)
{
	switch (op->code) {
	case TT_OP_CMP:
	case TT_OP_CMPR:
	case TT_OP_STRCMP:
	case TT_OP_STRCMPR:
		return !(op->flags & TT_OPF_COND);
	case TT_OP_DROP:
		return true;
	}
	return false;
}

/*
 * Where the filter of `p` ends: after its last test that drops, and the
 * literal that follows a STRCMP (capture.h: filters come first). A jump
 * of the filter goes at most there.
 */
uint32_t bpfgen__filter_end(const struct tt_probe_prog *p)
{
	uint32_t end = 0;

	for (uint32_t i = 0; i < p->nops && i < TT_MAX_OPS; i++) {
		if (!drops(&p->ops[i]))
			continue;
		end = i + 1;
		if (p->ops[i].code == TT_OP_STRCMP)
			end += (p->ops[i].len + 8) / 8;
	}
	return end < p->nops ? end : p->nops;
}

/* Places the label of instruction i, when a jump goes there. */
static void place_op(struct gen *g, uint32_t i)
{
	if (i <= TT_MAX_OPS && g->op_label[i] >= 0)
		place(g, g->op_label[i]);
}

/* Labels and state for compiling `p`; false (with a failure) when it is too long. */
static bool ops_begin(struct gen *g, const struct tt_probe_prog *p, int drop)
{
	g->prog = p;
	g->drop = drop;
	for (uint32_t i = 0; i <= TT_MAX_OPS; i++)
		g->op_label[i] = -1;
	if (p->nops > TT_MAX_OPS) {
		fail(g, -EINVAL, "a capture program longer than TT_MAX_OPS");
		return false;
	}
	clear_state(g);
	return true;
}

/* Instruction i of `p`; false (with a failure) for an opcode without an emitter. */
static bool ops_emit(struct gen *g, const struct tt_probe_prog *p, uint32_t i)
{
	const struct tt_op *op = &p->ops[i];
	char why[96];

	if (op->code >= TT_OP__COUNT || !op_rows[op->code].emit) {
		snprintf(why, sizeof(why), "opcode %u at instruction %u has no emitter", op->code,
			 i);
		fail(g, -EINVAL, why);
		return false;
	}
	op_rows[op->code].emit(g, i, op);
	return true;
}

/*
 * The capture program `p`, its event built in scratch: the filter first (a
 * hit it drops jumps to `drop` having cost no helper call for the header),
 * then the header of an event of `kind` (`ret`: with the return value),
 * then the captures.
 */
void bpfgen__run_ops(struct gen *g, const struct tt_probe_prog *p, int drop, uint16_t kind,
		     bool ret)
{
	uint32_t split = bpfgen__filter_end(p);

	if (!ops_begin(g, p, drop))
		return;
	mov_imm(g, OFF, sizeof(struct tt_event));
	for (uint32_t i = 0; i < p->nops && !g->err; i++) {
		/* a jump to the filter's end lands before the header: the hit is kept */
		place_op(g, i);
		if (i == split)
			bpfgen__header(g, BUF, 0, kind, ret);
		if (!ops_emit(g, p, i))
			return;
	}
	place_op(g, p->nops);
	if (split >= p->nops)
		bpfgen__header(g, BUF, 0, kind, ret);
}

void bpfgen__append_ops(struct gen *g, const struct tt_probe_prog *p, int drop)
{
	if (!ops_begin(g, p, drop))
		return;
	for (uint32_t i = 0; i < p->nops && !g->err; i++) {
		place_op(g, i);
		if (!ops_emit(g, p, i))
			return;
	}
	place_op(g, p->nops);
}

/* Captures emitted by `p`: its EMIT_* instructions (each runs once when the hit is kept). */
uint32_t bpfgen__count_emits(const struct tt_probe_prog *p)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < p->nops && i < TT_MAX_OPS; i++) {
		uint8_t c = p->ops[i].code;

		n += c == TT_OP_EMIT_INT || c == TT_OP_EMIT_STR || c == TT_OP_EMIT_BYTES;
	}
	return n;
}
