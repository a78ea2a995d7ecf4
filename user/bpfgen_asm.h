/* SPDX-License-Identifier: MIT */
/*
 * bpfgen_asm.h: bpfgen's instruction encoders, labels and jumps, the
 * programs' registers and stack layout, and what bpfgen.c and bpfgen_ops.c
 * call of each other; private to user/bpfgen*.c.
 */
#ifndef TASKTAP_BPFGEN_ASM_H
#define TASKTAP_BPFGEN_ASM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bpfgen.h"
#include "tasktap/event.h"

#define R0  BPF_REG_0
#define R1  BPF_REG_1
#define R2  BPF_REG_2
#define R3  BPF_REG_3
#define R4  BPF_REG_4
#define R5  BPF_REG_5
#define CTX BPF_REG_6
#define BUF BPF_REG_7
#define ACC BPF_REG_8
#define OFF BPF_REG_9
#define FP  BPF_REG_10

#define MAX_LABELS 4096

struct fixup {
	uint32_t insn;
	int label;
};

struct gen {
	const struct tt_bpfgen_in *in;
	const struct tt_probe_prog *prog; /* the program being compiled */
	struct tt_bpfgen *out;
	int labels[MAX_LABELS]; /* instruction index, -1: not placed yet */
	int nlabels;
	struct fixup fixups[TT_BPFGEN_MAX_INSNS];
	size_t nfixups;
	int drop;		      /* the label of the code that drops the hit */
	int op_label[TT_MAX_OPS + 1]; /* the label of a JMP's target instruction; -1: none yet */
	bool at_return; /* a session program's return half: as a return program reads */
	int err;
	char *msg;
	size_t msglen;
};

/* ---- instructions ---------------------------------------------------- */

static inline void fail(struct gen *g, int err, const char *why)
{
	if (g->err)
		return;
	g->err = err;
	snprintf(g->msg, g->msglen, "%s", why);
}

static inline void put(struct gen *g, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
		       int32_t imm)
{
	struct bpf_insn *i;

	if (g->out->n >= TT_BPFGEN_MAX_INSNS) {
		fail(g, -E2BIG, "the program would exceed TT_BPFGEN_MAX_INSNS instructions");
		return;
	}
	i = &g->out->insns[g->out->n++];
	memset(i, 0, sizeof(*i));
	i->code = code;
	i->dst_reg = dst;
	i->src_reg = src;
	i->off = off;
	i->imm = imm;
}

static inline void mov_imm(struct gen *g, uint8_t dst, int32_t imm)
{
	put(g, BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}

static inline void mov_reg(struct gen *g, uint8_t dst, uint8_t src)
{
	put(g, BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}

static inline void alu_imm(struct gen *g, uint8_t op, uint8_t dst, int32_t imm)
{
	put(g, BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
}

static inline void alu_reg(struct gen *g, uint8_t op, uint8_t dst, uint8_t src)
{
	put(g, BPF_ALU64 | op | BPF_X, dst, src, 0, 0);
}

/* dst = a 64-bit constant (one instruction when it fits 32 signed bits). */
static inline void ld_imm64(struct gen *g, uint8_t dst, uint64_t v)
{
	if ((int64_t)v == (int32_t)v) {
		mov_imm(g, dst, (int32_t)v);
		return;
	}
	put(g, BPF_LD | BPF_DW | BPF_IMM, dst, 0, 0, (int32_t)(uint32_t)v);
	put(g, 0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32));
}

static inline void ld_map(struct gen *g, uint8_t dst, int fd)
{
	put(g, BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
	put(g, 0, 0, 0, 0, 0);
}

static inline void ldx(struct gen *g, uint8_t size, uint8_t dst, uint8_t src, int16_t off)
{
	put(g, BPF_LDX | BPF_MEM | size, dst, src, off, 0);
}

static inline void stx(struct gen *g, uint8_t size, uint8_t dst, int16_t off, uint8_t src)
{
	put(g, BPF_STX | BPF_MEM | size, dst, src, off, 0);
}

static inline void st(struct gen *g, uint8_t size, uint8_t dst, int16_t off, int32_t imm)
{
	put(g, BPF_ST | BPF_MEM | size, dst, 0, off, imm);
}

static inline void call(struct gen *g, int32_t helper)
{
	put(g, BPF_JMP | BPF_CALL, 0, 0, 0, helper);
}

/* A call of the kernel function whose id in the kernel's BTF is `btf_id`. */
static inline void kfunc(struct gen *g, int32_t btf_id)
{
	if (btf_id <= 0)
		fail(g, -EINVAL, "a kernel function this kernel's BTF lacks");
	put(g, BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, btf_id);
}

static inline void exit_0(struct gen *g)
{
	mov_imm(g, R0, 0);
	put(g, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* r1 = r10 + off: the address of a stack slot. */
static inline void fp_addr(struct gen *g, uint8_t dst, int16_t off)
{
	mov_reg(g, dst, FP);
	alu_imm(g, BPF_ADD, dst, off);
}

/* ---- labels ---------------------------------------------------------- */

static inline int new_label(struct gen *g)
{
	if (g->nlabels >= MAX_LABELS) {
		fail(g, -E2BIG, "the program needs too many labels");
		return 0;
	}
	g->labels[g->nlabels] = -1;
	return g->nlabels++;
}

static inline void place(struct gen *g, int label)
{
	g->labels[label] = (int)g->out->n;
}

/* A jump to `label`: `op` (BPF_JA, or BPF_JEQ and so on) of dst against imm. */
static inline void jmp_imm(struct gen *g, uint8_t op, uint8_t dst, int32_t imm, int label)
{
	if (g->nfixups < TT_BPFGEN_MAX_INSNS)
		g->fixups[g->nfixups++] =
			(struct fixup){.insn = (uint32_t)g->out->n, .label = label};
	put(g, BPF_JMP | op | BPF_K, dst, 0, 0, imm);
}

static inline void jmp_reg(struct gen *g, uint8_t op, uint8_t dst, uint8_t src, int label)
{
	if (g->nfixups < TT_BPFGEN_MAX_INSNS)
		g->fixups[g->nfixups++] =
			(struct fixup){.insn = (uint32_t)g->out->n, .label = label};
	put(g, BPF_JMP | op | BPF_X, dst, src, 0, 0);
}

static inline void jmp(struct gen *g, int label)
{
	jmp_imm(g, BPF_JA, 0, 0, label);
}

static inline void patch(struct gen *g)
{
	for (size_t i = 0; i < g->nfixups && !g->err; i++) {
		const struct fixup *f = &g->fixups[i];
		long delta = (long)g->labels[f->label] - (long)f->insn - 1;

		if (g->labels[f->label] < 0 || delta < 0 || delta > INT16_MAX)
			fail(g, -E2BIG, "a jump out of range");
		else
			g->out->insns[f->insn].off = (int16_t)delta;
	}
}

/* ---- the programs' layout -------------------------------------------------- */

/* As bpf/tasktap.bpf.c lays out its maps' values. */
#define SCRATCH_MASK	1023
#define SCRATCH_TMP	(2 * (SCRATCH_MASK + 1))
#define SCRATCH_HITS	(SCRATCH_TMP + 64) /* struct scratch: hits after buf */
#define TSTATE_DEPTH	0
#define TSTATE_ACCEPTED 8
#define SAVED_ARGS_SIZE 56 /* struct saved_args: regs[6], sp */

/* struct pt_regs (x86-64) */
#define PT_SP	     152
#define PT_AX	     80
#define PT_REGS_SIZE 168
static const int16_t pt_arg[6] = {112 /* di */, 104 /* si */, 96 /* dx */,
				  88 /* cx */,	72 /* r8 */,  64 /* r9 */};

/* The stack of the emitted program (offsets from r10). */
#define FP_FAULT -8   /* u64: the interpreter's vm->fault */
#define FP_R1	 -16  /* u64: vm->r1 */
#define FP_TMP	 -24  /* u64: where reads land (vm->tmp) */
#define FP_ST	 -32  /* struct tstate *: this thread's tracking */
#define FP_TID	 -40  /* u32 tid */
#define FP_KEY	 -36  /* u32: a key for a lookup */
#define FP_RING	 -48  /* the ring, across bpf_ringbuf_query() */
#define FP_BLEN	 -56  /* EMIT_BYTES: the length kept */
#define FP_BWORD -64  /* EMIT_BYTES: type and flags of its record */
#define FP_SKEY	 -72  /* struct save_key {tid, depth} */
#define FP_ARGS	 -128 /* struct saved_args to store, 56 bytes */
#define FP_ZERO	 -144 /* a zero struct tstate, 16 bytes */
#define FP_REGS	 -200 /* return programs: the arguments at entry, 56 bytes */
#define FP_COND	 -248 /* u64: the condition a test set (TT_OPF_COND) */
#define FP_SLEN	 -256 /* u64: the length of a string read by a test, with its NUL */
#define FP_HOOK	 -264 /* u32: the hook id, when read from the attach cookie */
#define FP_CKEY	 -280 /* session programs: struct tt_call_key {pid_tgid, start_ns} */
#define FP_ELEN	 -288 /* session programs: bytes of the entry's records */

/* Whether the program reads as a return program does: the return value, the saved arguments. */
static inline bool reads_return(const struct gen *g)
{
	return g->in->kind == TT_BPFGEN_RETURN || g->at_return;
}

/*
 * Where string tests read their strings: in the upper half of scratch's
 * buf, which no event reaches (events stay within SCRATCH_MASK + 1 bytes,
 * and a record's data within TT_MAX_STR past that), each with room for a
 * 64-byte string and a window of 64 bytes read past any of its positions.
 */
#define SCRATCH_STR_A 1280
#define SCRATCH_STR_B 1664

/* bpfgen.c: stats[which] += 1 on this CPU. */
void bpfgen__stat_inc(struct gen *g, enum tt_stat which);
/* fill_header(): the event header at base+off, `ret` from the return value or 0. */
void bpfgen__header(struct gen *g, uint8_t base, int16_t off, uint16_t kind, bool ret);

/* bpfgen_ops.c: the capture program `p` run into scratch, filter first (a drop jumps to `drop`). */
void bpfgen__run_ops(struct gen *g, const struct tt_probe_prog *p, int drop, uint16_t kind,
		     bool ret);
/* The captures of `p` appended at OFF to the event in scratch, whose header is already there. */
void bpfgen__append_ops(struct gen *g, const struct tt_probe_prog *p, int drop);
/* Where the filter of `p` ends (0: it has none, no hit is dropped). */
uint32_t bpfgen__filter_end(const struct tt_probe_prog *p);
/* Captures emitted by `p`: its EMIT_* instructions. */
uint32_t bpfgen__count_emits(const struct tt_probe_prog *p);

#endif /* TASKTAP_BPFGEN_ASM_H */
