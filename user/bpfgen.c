// SPDX-License-Identifier: MIT
/*
 * bpfgen: capture programs compiled to BPF instructions (see bpfgen.h).
 *
 * The emitted program keeps the interpreter's state (bpf/tasktap.bpf.c,
 * struct vm) in registers and on its stack:
 *
 *	r6  the context (struct pt_regs *)
 *	r7  this CPU's scratch buffer, where the event is built (as the
 *	    interpreter builds it: header, then records)
 *	r8  acc
 *	r9  off, the next free byte of the event; masked with SCRATCH_MASK
 *	    before each use so that the verifier sees every write in bounds
 *
 * and r1 (the saved register), the fault flag and the reads' landing slot
 * on the stack (FP_* in bpfgen_asm.h). Every capture instruction is one
 * row of `op_rows`; every comparison one row of `cmp_rows` (bpfgen_ops.c).
 * Jumps go forward only, to labels patched when the program is complete.
 *
 * This file: the pieces the programs share (the header, the ring, lost
 * events) and the three programs; the capture instructions are in
 * bpfgen_ops.c.
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

/* ---- pieces the generic programs share ----------------------------------- */

/* stats[which] += 1 on this CPU. */
void bpfgen__stat_inc(struct gen *g, enum tt_stat which)
{
	int done = new_label(g);

	st(g, BPF_W, FP, FP_KEY, which);
	ld_map(g, R1, g->in->maps.stats);
	fp_addr(g, R2, FP_KEY);
	call(g, BPF_FUNC_map_lookup_elem);
	jmp_imm(g, BPF_JEQ, R0, 0, done);
	ldx(g, BPF_DW, R1, R0, 0);
	alu_imm(g, BPF_ADD, R1, 1);
	stx(g, BPF_DW, R0, 0, R1);
	place(g, done);
}

/* Whether the hook id comes from the attach cookie: entry and return programs that ask. */
static bool from_cookie(const struct gen *g)
{
	return g->in->hook_from_cookie && g->in->kind != TT_BPFGEN_USDT;
}

/* *(u32 *)(base + off) = the hook id: an immediate, or FP_HOOK (clobbers r1). */
static void store_hook(struct gen *g, uint8_t base, int16_t off)
{
	if (!from_cookie(g)) {
		st(g, BPF_W, base, off, (int32_t)g->in->hook);
		return;
	}
	ldx(g, BPF_W, R1, FP, FP_HOOK);
	stx(g, BPF_W, base, off, R1);
}

/* FP_HOOK = the attach cookie, when the id comes from there; r1 is the context. */
static void load_hook(struct gen *g)
{
	if (!from_cookie(g))
		return;
	call(g, BPF_FUNC_get_attach_cookie);
	stx(g, BPF_W, FP, FP_HOOK, R0);
}

/* R0 = this hook's value in the map `fd` (keyed by the hook's id), or a jump to `miss`. */
static void hook_value(struct gen *g, int fd, int miss)
{
	store_hook(g, FP, FP_KEY);
	ld_map(g, R1, fd);
	fp_addr(g, R2, FP_KEY);
	call(g, BPF_FUNC_map_lookup_elem);
	jmp_imm(g, BPF_JEQ, R0, 0, miss);
}

/* A lost event: stats[TT_STAT_LOST] and this hook's own count of lost events. */
static void lost(struct gen *g)
{
	int done = new_label(g);

	bpfgen__stat_inc(g, TT_STAT_LOST);
	if (g->in->maps.hook_lost < 0)
		return;
	hook_value(g, g->in->maps.hook_lost, done);
	ldx(g, BPF_DW, R1, R0, 0);
	alu_imm(g, BPF_ADD, R1, 1);
	stx(g, BPF_DW, R0, 0, R1);
	place(g, done);
}

/* fill_header(): the event header at base+off, `ret` from the return value or 0. */
void bpfgen__header(struct gen *g, uint8_t base, int16_t off, uint16_t kind, bool ret)
{
	call(g, BPF_FUNC_ktime_get_ns);
	stx(g, BPF_DW, base, off + offsetof(struct tt_event, ts_ns), R0);
	call(g, BPF_FUNC_get_current_pid_tgid);
	stx(g, BPF_W, base, off + offsetof(struct tt_event, tid), R0);
	alu_imm(g, BPF_RSH, R0, 32);
	stx(g, BPF_W, base, off + offsetof(struct tt_event, pid), R0);
	store_hook(g, base, off + offsetof(struct tt_event, probe));
	st(g, BPF_W, base, off + offsetof(struct tt_event, kind), kind); /* and flags 0 */
	if (ret) {
		ldx(g, BPF_DW, R1, CTX, PT_AX);
		stx(g, BPF_DW, base, off + offsetof(struct tt_event, ret), R1);
	} else {
		st(g, BPF_DW, base, off + offsetof(struct tt_event, ret), 0);
	}
	st(g, BPF_W, base, off + offsetof(struct tt_event, size), sizeof(struct tt_event));
	st(g, BPF_W, base, off + offsetof(struct tt_event, ncaps), 0);
}

/* R0 = this CPU's ring, or a jump to `none`. */
static void this_cpu_ring(struct gen *g, int none)
{
	call(g, BPF_FUNC_get_smp_processor_id);
	stx(g, BPF_W, FP, FP_KEY, R0);
	ld_map(g, R1, g->in->maps.rings);
	fp_addr(g, R2, FP_KEY);
	call(g, BPF_FUNC_map_lookup_elem);
	jmp_imm(g, BPF_JEQ, R0, 0, none);
}

/* submit() of the event built in scratch, its size in OFF, the fill checked one time in 16. */
static void submit_scratch(struct gen *g, uint32_t ncaps)
{
	int lost_label = new_label(g), noquery = new_label(g), wake = new_label(g),
	    out = new_label(g), done = new_label(g);

	alu_imm(g, BPF_AND, OFF, SCRATCH_MASK);
	stx(g, BPF_W, BUF, offsetof(struct tt_event, size), OFF);
	st(g, BPF_W, BUF, offsetof(struct tt_event, ncaps), (int32_t)ncaps);
	ldx(g, BPF_W, R1, BUF, SCRATCH_HITS);
	alu_imm(g, BPF_ADD, R1, 1);
	stx(g, BPF_W, BUF, SCRATCH_HITS, R1);
	this_cpu_ring(g, lost_label);
	stx(g, BPF_DW, FP, FP_RING, R0);
	ldx(g, BPF_W, R1, BUF, SCRATCH_HITS);
	alu_imm(g, BPF_AND, R1, 15);
	jmp_imm(g, BPF_JNE, R1, 0, noquery);
	mov_reg(g, R1, R0);
	mov_imm(g, R2, BPF_RB_AVAIL_DATA);
	call(g, BPF_FUNC_ringbuf_query);
	ld_imm64(g, R1, g->in->wakeup_watermark);
	jmp_reg(g, BPF_JGT, R0, R1, wake);
	place(g, noquery);
	mov_imm(g, R4, BPF_RB_NO_WAKEUP);
	jmp(g, out);
	place(g, wake);
	mov_imm(g, R4, BPF_RB_FORCE_WAKEUP);
	place(g, out);
	ldx(g, BPF_DW, R1, FP, FP_RING);
	mov_reg(g, R2, BUF);
	mov_reg(g, R3, OFF);
	call(g, BPF_FUNC_ringbuf_output);
	jmp_imm(g, BPF_JEQ, R0, 0, done);
	place(g, lost_label);
	lost(g);
	place(g, done);
}

/* BUF = this CPU's scratch, or a jump to `none`. */
static void scratch(struct gen *g, int none)
{
	st(g, BPF_W, FP, FP_KEY, 0);
	ld_map(g, R1, g->in->maps.scratch);
	fp_addr(g, R2, FP_KEY);
	call(g, BPF_FUNC_map_lookup_elem);
	jmp_imm(g, BPF_JEQ, R0, 0, none);
	mov_reg(g, BUF, R0);
}

/* ---- the three programs -------------------------------------------------- */

/* thread_state(): the tstate of this thread, created when missing, spilled to FP_ST. */
static void thread_state(struct gen *g, int none)
{
	int have = new_label(g);

	call(g, BPF_FUNC_get_current_pid_tgid);
	stx(g, BPF_W, FP, FP_TID, R0);
	ld_map(g, R1, g->in->maps.threads);
	fp_addr(g, R2, FP_TID);
	call(g, BPF_FUNC_map_lookup_elem);
	jmp_imm(g, BPF_JNE, R0, 0, have);
	st(g, BPF_DW, FP, FP_ZERO, 0);
	st(g, BPF_DW, FP, FP_ZERO + 8, 0);
	ld_map(g, R1, g->in->maps.threads);
	fp_addr(g, R2, FP_TID);
	fp_addr(g, R3, FP_ZERO);
	mov_imm(g, R4, BPF_NOEXIST);
	call(g, BPF_FUNC_map_update_elem);
	ld_map(g, R1, g->in->maps.threads);
	fp_addr(g, R2, FP_TID);
	call(g, BPF_FUNC_map_lookup_elem);
	jmp_imm(g, BPF_JEQ, R0, 0, none);
	place(g, have);
	stx(g, BPF_DW, FP, FP_ST, R0);
}

/* track_entry(): pushes whether this call was kept, and its arguments when the return reads them.
 */
static void track_entry(struct gen *g, bool dropped, int out)
{
	ldx(g, BPF_DW, R1, FP, FP_ST);
	ldx(g, BPF_W, R2, R1, TSTATE_DEPTH);
	mov_reg(g, R3, R2);
	alu_imm(g, BPF_ADD, R3, 1);
	stx(g, BPF_W, R1, TSTATE_DEPTH, R3);
	jmp_imm(g, BPF_JGE, R2, TT_MAX_DEPTH, out);
	mov_imm(g, R3, 1);
	alu_reg(g, BPF_LSH, R3, R2);
	ldx(g, BPF_DW, R4, R1, TSTATE_ACCEPTED);
	if (dropped) {
		alu_imm(g, BPF_XOR, R3, -1);
		alu_reg(g, BPF_AND, R4, R3);
	} else {
		alu_reg(g, BPF_OR, R4, R3);
	}
	stx(g, BPF_DW, R1, TSTATE_ACCEPTED, R4);
	if (dropped || !(g->in->prog->flags & TT_HOOKF_SAVE))
		return;
	ldx(g, BPF_W, R1, FP, FP_TID);
	stx(g, BPF_W, FP, FP_SKEY, R1);
	stx(g, BPF_W, FP, FP_SKEY + 4, R2);
	for (int k = 0; k < 6; k++) {
		ldx(g, BPF_DW, R1, CTX, pt_arg[k]);
		stx(g, BPF_DW, FP, FP_ARGS + 8 * k, R1);
	}
	ldx(g, BPF_DW, R1, CTX, PT_SP);
	stx(g, BPF_DW, FP, FP_ARGS + 48, R1);
	ld_map(g, R1, g->in->maps.saved);
	fp_addr(g, R2, FP_SKEY);
	fp_addr(g, R3, FP_ARGS);
	mov_imm(g, R4, BPF_ANY);
	call(g, BPF_FUNC_map_update_elem);
}

/* tt_entry's body: the entry's captures and filter, then the tracking of the call. */
static void entry_body(struct gen *g)
{
	const struct tt_hook_prog *h = g->in->prog;
	bool track = h->flags & TT_HOOKF_TRACK;
	int out = new_label(g), drop = new_label(g);

	if (track)
		thread_state(g, out);
	if (!(h->flags & TT_HOOKF_AT_RETURN)) {
		scratch(g, out);
		bpfgen__run_ops(g, &h->entry, drop, TT_EV_ENTRY, false);
		submit_scratch(g, bpfgen__count_emits(&h->entry));
	}
	/* only the return speaks for AT_RETURN hooks: the entry is remembered as kept */
	if (track) {
		track_entry(g, false, out);
		/* the kernel refuses code nothing reaches: a dropped call's only without a filter
		 */
		if (!(h->flags & TT_HOOKF_AT_RETURN) && bpfgen__filter_end(&h->entry)) {
			jmp(g, out);
			place(g, drop);
			track_entry(g, true, out);
		}
	} else {
		place(g, drop);
	}
	place(g, out);
}

static void entry_prog(struct gen *g)
{
	mov_reg(g, CTX, R1);
	load_hook(g);
	entry_body(g);
	exit_0(g);
}

/*
 * The tracked part of tt_return: pops the call; a call whose entry was not
 * seen or was filtered out ends the program; the arguments saved at entry
 * go to FP_REGS.
 */
static void track_return(struct gen *g, int out)
{
	const struct tt_hook_prog *h = g->in->prog;
	int deep = new_label(g);

	call(g, BPF_FUNC_get_current_pid_tgid);
	stx(g, BPF_W, FP, FP_TID, R0);
	ld_map(g, R1, g->in->maps.threads);
	fp_addr(g, R2, FP_TID);
	call(g, BPF_FUNC_map_lookup_elem);
	jmp_imm(g, BPF_JEQ, R0, 0, out);
	ldx(g, BPF_W, R1, R0, TSTATE_DEPTH);
	jmp_imm(g, BPF_JEQ, R1, 0, out);
	alu_imm(g, BPF_ADD, R1, -1);
	stx(g, BPF_W, R0, TSTATE_DEPTH, R1);
	jmp_imm(g, BPF_JGE, R1, TT_MAX_DEPTH, deep);
	ldx(g, BPF_DW, R2, R0, TSTATE_ACCEPTED);
	alu_reg(g, BPF_RSH, R2, R1);
	alu_imm(g, BPF_AND, R2, 1);
	jmp_imm(g, BPF_JEQ, R2, 0, out);
	if ((h->flags & TT_HOOKF_SAVE) && h->ret.nops) {
		ldx(g, BPF_W, R2, FP, FP_TID);
		stx(g, BPF_W, FP, FP_SKEY, R2);
		stx(g, BPF_W, FP, FP_SKEY + 4, R1);
		ld_map(g, R1, g->in->maps.saved);
		fp_addr(g, R2, FP_SKEY);
		call(g, BPF_FUNC_map_lookup_elem);
		jmp_imm(g, BPF_JEQ, R0, 0, deep);
		for (int k = 0; k < 7; k++) {
			ldx(g, BPF_DW, R1, R0, 8 * k);
			stx(g, BPF_DW, FP, FP_REGS + 8 * k, R1);
		}
	}
	place(g, deep);
}

/*
 * A return event without captures, the header alone: its size is known, so
 * it is reserved in the ring and written there (no copy, as
 * bpf_ringbuf_output() makes from a buffer), submitted without a wakeup.
 */
static void return_header(struct gen *g, int out)
{
	int lost_label = new_label(g);

	this_cpu_ring(g, lost_label);
	mov_reg(g, R1, R0);
	mov_imm(g, R2, sizeof(struct tt_event));
	mov_imm(g, R3, 0);
	call(g, BPF_FUNC_ringbuf_reserve);
	jmp_imm(g, BPF_JEQ, R0, 0, lost_label);
	mov_reg(g, BUF, R0);
	bpfgen__header(g, BUF, 0, TT_EV_RETURN, true); /* every byte of the record */
	mov_reg(g, R1, BUF);
	mov_imm(g, R2, BPF_RB_NO_WAKEUP);
	call(g, BPF_FUNC_ringbuf_submit);
	jmp(g, out);
	place(g, lost_label);
	lost(g);
}

/* The return's captures, or just the return value; `track`: the call popped first. */
static void return_event(struct gen *g, bool track)
{
	const struct tt_hook_prog *h = g->in->prog;
	int out = new_label(g), drop = new_label(g);

	for (int k = 0; h->ret.nops && k < 7; k++)
		st(g, BPF_DW, FP, FP_REGS + 8 * k, 0);
	if (track)
		track_return(g, out);
	if (h->ret.nops) {
		scratch(g, out);
		bpfgen__run_ops(g, &h->ret, drop, TT_EV_RETURN, true);
		submit_scratch(g, bpfgen__count_emits(&h->ret));
	} else {
		return_header(g, out);
	}
	place(g, drop);
	place(g, out);
}

/* tt_return's body: the return's captures, or just the return value. */
static void return_body(struct gen *g)
{
	return_event(g, g->in->prog->flags & TT_HOOKF_TRACK);
}

/* A session's return: the kernel runs it only for a call its entry kept. */
static void return_captures(struct gen *g)
{
	return_event(g, false);
}

static void return_prog(struct gen *g)
{
	mov_reg(g, CTX, R1);
	load_hook(g);
	return_body(g);
	exit_0(g);
}

/* tt_usdt_site: the probe's captures and filter on this site's arguments. */
static void usdt_body(struct gen *g, int out)
{
	const struct tt_hook_prog *h = g->in->prog;

	if (!g->in->site) {
		fail(g, -EINVAL, "a USDT program needs its site's arguments");
		return;
	}
	scratch(g, out);
	bpfgen__run_ops(g, &h->entry, out, TT_EV_ENTRY, false);
	submit_scratch(g, bpfgen__count_emits(&h->entry));
}

static void usdt_prog(struct gen *g)
{
	int out = new_label(g);

	mov_reg(g, CTX, R1);
	usdt_body(g, out);
	place(g, out);
	exit_0(g);
}

/* ---- the session program: one event per call ------------------------------ */

/* Where struct tt_call_stash keeps the arguments, and the largest entry it keeps. */
#define STASH_REGS  offsetof(struct tt_call_stash, regs)
#define STASH_ENTRY sizeof(((struct tt_call_stash *)0)->entry)

/* The largest record a capture instruction writes, or 0 for one that writes none. */
static size_t largest_record(const struct tt_op *op)
{
	size_t n;

	switch (op->code) {
	case TT_OP_EMIT_INT:
		return sizeof(struct tt_cap_rec) + sizeof(__u64);
	case TT_OP_EMIT_STR:
	case TT_OP_EMIT_BYTES:
	case TT_OP_PY_EMIT:
		n = op->len < TT_MAX_STR ? op->len : TT_MAX_STR;
		return (sizeof(struct tt_cap_rec) + n + 3) & ~(size_t)3;
	}
	return 0;
}

static size_t largest_payload(const struct tt_probe_prog *p)
{
	size_t n = 0;

	for (uint32_t i = 0; i < p->nops && i < TT_MAX_OPS; i++) {
		n += largest_record(&p->ops[i]);
		if (p->ops[i].code == TT_OP_STRCMP)
			i += (p->ops[i].len + 8) / 8; /* the literal's words are not instructions */
	}
	return n;
}

size_t tt_bpfgen__session_size(const struct tt_hook_prog *prog)
{
	size_t n = sizeof(struct tt_event) + largest_payload(&prog->entry) +
		   largest_payload(&prog->ret);

	return ((n + 7) & ~(size_t)7) + sizeof(struct tt_call_tail);
}

const char *tt_bpfgen__session_refusal(const struct tt_hook_prog *prog)
{
	if (!(prog->flags & TT_HOOKF_SESSION) || (prog->flags & TT_HOOKF_AT_RETURN))
		return "not a synchronous call without children";
	if (bpfgen__filter_end(&prog->ret))
		return "its return has a filter";
	/* the event is built in scratch's first SCRATCH_MASK + 1 bytes */
	if (tt_bpfgen__session_size(prog) >= TT_MAX_CALL_EVENT ||
	    sizeof(struct tt_event) + largest_payload(&prog->entry) > STASH_ENTRY)
		return "its captures can exceed TT_MAX_CALL_EVENT bytes";
	return NULL;
}

/*
 * ACC := this thread's frames (task local storage `frames`), created when
 * `create`; to `none` when there are none.
 */
static void thread_frames(struct gen *g, bool create, int none)
{
	call(g, BPF_FUNC_get_current_task_btf);
	mov_reg(g, R2, R0);
	ld_map(g, R1, g->in->maps.frames);
	mov_imm(g, R3, 0);
	mov_imm(g, R4, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	call(g, BPF_FUNC_task_storage_get);
	jmp_imm(g, BPF_JEQ, R0, 0, none);
	mov_reg(g, ACC, R0);
}

/* ACC := the frame of slot R1 (< TT_CALL_DEPTH, else to `none`) of the frames in ACC. */
static void frame_of_slot(struct gen *g, int none)
{
	jmp_imm(g, BPF_JGE, R1, TT_CALL_DEPTH, none);
	alu_imm(g, BPF_MUL, R1, sizeof(struct tt_call_frame));
	alu_imm(g, BPF_ADD, R1, offsetof(struct tt_call_frames, f));
	alu_reg(g, BPF_ADD, ACC, R1);
}

/*
 * The 8-byte words of the largest entry event, the most a frame keeps: the
 * entry is copied into its frame and back word by word in the program, a
 * few bytes past its end included (they are overwritten or never sent),
 * which costs less than a bpf_probe_read_kernel() call each way.
 */
static int16_t entry_words(const struct tt_hook_prog *h)
{
	_Static_assert(STASH_ENTRY % 8 == 0, "a frame's entry is whole words");
	return (int16_t)((sizeof(struct tt_event) + largest_payload(&h->entry) + 7) / 8);
}

/* *(dst + doff) = *(src + soff), `words` 8-byte words (clobbers r1). */
static void copy_words(struct gen *g, uint8_t dst, int16_t doff, uint8_t src, int16_t soff,
		       int16_t words)
{
	for (int16_t k = 0; k < words; k++) {
		ldx(g, BPF_DW, R1, src, (int16_t)(soff + 8 * k));
		stx(g, BPF_DW, dst, (int16_t)(doff + 8 * k), R1);
	}
}

#define FRAME_ENTRY (offsetof(struct tt_call_frame, stash) + offsetof(struct tt_call_stash, entry))
#define FRAME_REGS  (offsetof(struct tt_call_frame, stash) + STASH_REGS)

/*
 * The entry half: filter and entry captures into scratch as an entry
 * event, copied with the arguments into the thread's next frame (task
 * local storage: no hash, no allocation), whose slot goes to the
 * session's cookie. Returns 0 (run the return half) only for a call kept:
 * a hit the filter drops, a call nested too deep (counted as a lost
 * event), or any call of a link a reload retired, returns 1.
 */
static void session_entry(struct gen *g)
{
	const struct tt_hook_prog *h = g->in->prog;
	int skip = new_label(g), full = new_label(g);

	mov_reg(g, R1, CTX);
	load_hook(g);
	/* a link a reload retired: only the returns of the calls it opened (an array: inlined) */
	if (g->in->maps.retired > 0) {
		hook_value(g, g->in->maps.retired, skip);
		ldx(g, BPF_W, R1, R0, 0);
		jmp_imm(g, BPF_JNE, R1, 0, skip);
	}
	scratch(g, skip);
	bpfgen__run_ops(g, &h->entry, skip, TT_EV_ENTRY, false);
	alu_imm(g, BPF_AND, OFF, SCRATCH_MASK);
	stx(g, BPF_W, BUF, offsetof(struct tt_event, size), OFF);
	st(g, BPF_W, BUF, offsetof(struct tt_event, ncaps),
	   (int32_t)bpfgen__count_emits(&h->entry));
	thread_frames(g, true, full);
	ldx(g, BPF_W, R1, ACC, offsetof(struct tt_call_frames, depth));
	stx(g, BPF_DW, FP, FP_CKEY, R1);
	alu_imm(g, BPF_ADD, R1, 1);
	jmp_imm(g, BPF_JGT, R1, TT_CALL_DEPTH, full);
	stx(g, BPF_W, ACC, offsetof(struct tt_call_frames, depth), R1);
	ldx(g, BPF_DW, R1, FP, FP_CKEY);
	frame_of_slot(g, full);
	jmp_imm(g, BPF_JGT, OFF, (int32_t)(8 * entry_words(h)), full);
	copy_words(g, ACC, FRAME_ENTRY, BUF, 0, entry_words(h));
	for (int k = 0; (h->flags & TT_HOOKF_SAVE) && h->ret.nops && k < 7; k++) {
		ldx(g, BPF_DW, R1, CTX, k < 6 ? pt_arg[k] : PT_SP);
		stx(g, BPF_DW, ACC, (int16_t)(FRAME_REGS + 8 * k), R1);
	}
	st(g, BPF_DW, ACC, offsetof(struct tt_call_frame, open), 1);
	kfunc(g, g->in->kfuncs.session_cookie);
	ldx(g, BPF_DW, R1, FP, FP_CKEY);
	stx(g, BPF_DW, R0, 0, R1);
	exit_0(g);
	place(g, full);
	lost(g);
	place(g, skip);
	mov_imm(g, R0, 1);
	put(g, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/*
 * The return half: the call's frame (its slot in the cookie) made this
 * program's by a compare-and-swap of `open` (a call the agent took first,
 * its thread gone or the agent stopping, is the agent's: nothing is
 * written), its entry copied into scratch, the return's captures after the
 * entry's, the header made the return's, the tail, one event.
 */
static void session_return(struct gen *g)
{
	const struct tt_hook_prog *h = g->in->prog;
	uint32_t entry_caps = bpfgen__count_emits(&h->entry);
	int out = new_label(g);

	kfunc(g, g->in->kfuncs.session_cookie);
	ldx(g, BPF_DW, R1, R0, 0);
	stx(g, BPF_DW, FP, FP_CKEY, R1);
	scratch(g, out);
	thread_frames(g, false, out);
	/* the frames above this call's are free: their calls returned, or never will */
	ldx(g, BPF_DW, R1, FP, FP_CKEY);
	jmp_imm(g, BPF_JGE, R1, TT_CALL_DEPTH, out);
	stx(g, BPF_W, ACC, offsetof(struct tt_call_frames, depth), R1);
	frame_of_slot(g, out);
	/* the call is this program's only if it closes the frame */
	mov_imm(g, R0, 1);
	mov_imm(g, R1, 0);
	put(g, BPF_STX | BPF_DW | BPF_ATOMIC, ACC, R1, offsetof(struct tt_call_frame, open),
	    BPF_CMPXCHG);
	jmp_imm(g, BPF_JNE, R0, 1, out);
	ldx(g, BPF_W, R2, ACC, FRAME_ENTRY + offsetof(struct tt_event, size));
	jmp_imm(g, BPF_JGT, R2, (int32_t)(8 * entry_words(h)), out);
	jmp_imm(g, BPF_JLT, R2, (int32_t)sizeof(struct tt_event), out);
	copy_words(g, BUF, 0, ACC, FRAME_ENTRY, entry_words(h));
	/* the hook id, for a lost event, is the entry's: no attach cookie to read */
	if (from_cookie(g)) {
		ldx(g, BPF_W, R1, BUF, offsetof(struct tt_event, probe));
		stx(g, BPF_W, FP, FP_HOOK, R1);
	}
	for (int k = 0; h->ret.nops && k < 7; k++) {
		if (h->flags & TT_HOOKF_SAVE) {
			ldx(g, BPF_DW, R1, ACC, (int16_t)(FRAME_REGS + 8 * k));
			stx(g, BPF_DW, FP, FP_REGS + 8 * k, R1);
		} else {
			st(g, BPF_DW, FP, FP_REGS + 8 * k, 0);
		}
	}
	ldx(g, BPF_DW, R1, BUF, offsetof(struct tt_event, ts_ns));
	stx(g, BPF_DW, FP, FP_CKEY + 8, R1); /* the start, for the tail */
	ldx(g, BPF_W, OFF, BUF, offsetof(struct tt_event, size));
	mov_reg(g, R1, OFF);
	alu_imm(g, BPF_ADD, R1, -(int32_t)sizeof(struct tt_event));
	stx(g, BPF_DW, FP, FP_ELEN, R1);
	g->at_return = true;
	bpfgen__append_ops(g, &h->ret, out);
	g->at_return = false;
	call(g, BPF_FUNC_ktime_get_ns);
	stx(g, BPF_DW, BUF, offsetof(struct tt_event, ts_ns), R0);
	st(g, BPF_W, BUF, offsetof(struct tt_event, kind), TT_EV_CALL); /* and flags 0 */
	ldx(g, BPF_DW, R1, CTX, PT_AX);
	stx(g, BPF_DW, BUF, offsetof(struct tt_event, ret), R1);
	/* the tail, 8-byte aligned, last */
	alu_imm(g, BPF_ADD, OFF, 7);
	alu_imm(g, BPF_AND, OFF, SCRATCH_MASK & ~7);
	mov_reg(g, R1, OFF);
	alu_reg(g, BPF_ADD, R1, BUF);
	ldx(g, BPF_DW, R2, FP, FP_CKEY + 8);
	stx(g, BPF_DW, R1, offsetof(struct tt_call_tail, start_ns), R2);
	ldx(g, BPF_DW, R2, FP, FP_ELEN);
	stx(g, BPF_W, R1, offsetof(struct tt_call_tail, entry_len), R2);
	st(g, BPF_W, R1, offsetof(struct tt_call_tail, entry_ncaps), (int32_t)entry_caps);
	alu_imm(g, BPF_ADD, OFF, sizeof(struct tt_call_tail));
	submit_scratch(g, entry_caps + bpfgen__count_emits(&h->ret));
	place(g, out);
	exit_0(g);
}

/* A uprobe session program: runs at the entry, and at the return of each call it kept. */
static void session_prog(struct gen *g)
{
	int ret = new_label(g);
	const char *why = tt_bpfgen__session_refusal(g->in->prog);

	if (why) {
		fail(g, -EINVAL, why);
		return;
	}
	mov_reg(g, CTX, R1);
	kfunc(g, g->in->kfuncs.session_is_return);
	jmp_imm(g, BPF_JNE, R0, 0, ret);
	session_entry(g);
	place(g, ret);
	session_return(g);
}

const char *tt_bpfgen__pair_refusal(const struct tt_hook_prog *prog)
{
	if ((prog->flags & TT_HOOKF_SAVE) && prog->ret.nops)
		return "its return reads the arguments saved at its entry";
	return NULL;
}

/*
 * The two-event path's entry and return programs in one session program:
 * the entry's body less the tracking (a hit the filter drops returns 1,
 * and the kernel skips its return), the return's body less the popping.
 */
static void pair_prog(struct gen *g)
{
	const struct tt_hook_prog *h = g->in->prog;
	int ret = new_label(g), skip = new_label(g);
	const char *why = tt_bpfgen__pair_refusal(h);

	if (why) {
		fail(g, -EINVAL, why);
		return;
	}
	mov_reg(g, CTX, R1);
	load_hook(g);
	kfunc(g, g->in->kfuncs.session_is_return);
	jmp_imm(g, BPF_JNE, R0, 0, ret);
	if (!(h->flags & TT_HOOKF_AT_RETURN)) {
		int out = new_label(g);

		scratch(g, out);
		bpfgen__run_ops(g, &h->entry, skip, TT_EV_ENTRY, false);
		submit_scratch(g, bpfgen__count_emits(&h->entry));
		place(g, out);
	}
	exit_0(g);
	/* the kernel refuses code nothing reaches: a dropped call's only with a filter */
	if (!(h->flags & TT_HOOKF_AT_RETURN) && bpfgen__filter_end(&h->entry)) {
		place(g, skip);
		mov_imm(g, R0, 1);
		put(g, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	}
	place(g, ret);
	return_captures(g);
	exit_0(g);
}

/*
 * The interpreter was not taught the forms compound predicates brought
 * (issue 14): it is one program verified for every hook, and each form
 * adds to that verification, which already takes most of a second; a
 * contains or an ends_with would need a loop inside its bpf_loop
 * callback. It runs only a hook whose compiled program the kernel
 * refused, which a correct compiler does not produce; such a hook is
 * refused with this reason rather than evaluated another way.
 */
static const char *op_compiled_only(const struct tt_op *op)
{
	switch (op->code) {
	case TT_OP_JMP:
	case TT_OP_DROP:
		return "a compound predicate (&&, ||, !)";
	case TT_OP_CMPR:
		return "a comparison of two expressions";
	case TT_OP_STRCMPR:
		return "a comparison of two strings";
	case TT_OP_CMP:
		return (op->flags & TT_OPF_COND) ? "a compound predicate (&&, ||, !)" : NULL;
	case TT_OP_STRCMP:
		if (op->aux == TT_STRCMP_SUFFIX)
			return "ends_with()";
		if (op->aux == TT_STRCMP_CONTAINS)
			return "contains()";
		if (op->flags & TT_OPF_COND)
			return "a compound predicate (&&, ||, !)";
		return op->pad ? "a bounded str(EXPR, N) in a predicate" : NULL;
	}
	return NULL;
}

static const char *prog_compiled_only(const struct tt_probe_prog *p)
{
	const char *why;

	for (uint32_t i = 0; i < p->nops && i < TT_MAX_OPS; i++) {
		why = op_compiled_only(&p->ops[i]);
		if (why)
			return why;
		if (p->ops[i].code == TT_OP_STRCMP)
			i += (p->ops[i].len + 8) / 8; /* the literal's words are not instructions */
	}
	return NULL;
}

const char *tt_bpfgen__compiled_only(const struct tt_hook_prog *prog)
{
	const char *why = prog_compiled_only(&prog->entry);

	return why ? why : prog_compiled_only(&prog->ret);
}

int tt_bpfgen__emit_site(const struct tt_bpfgen_in *in, size_t n, struct tt_bpfgen *out, char *err,
			 size_t errlen)
{
	struct gen g = {0};

	g.out = out;
	g.msg = err;
	g.msglen = errlen;
	out->n = 0;
	mov_reg(&g, CTX, R1);
	for (size_t k = 0; k < n && !g.err; k++) {
		/* a function's members last first: as the kernel ran their uprobes of their own */
		size_t m = in[0].kind == TT_BPFGEN_USDT ? k : n - 1 - k;
		int next = new_label(&g);

		g.in = &in[m];
		if (in[m].kind != in[0].kind || in[m].hook_from_cookie)
			fail(&g, -EINVAL,
			     "a site's members are programs of one kind, ids not cookies");
		else if (in[m].kind == TT_BPFGEN_USDT)
			usdt_body(&g, next);
		else if (in[m].kind == TT_BPFGEN_ENTRY)
			entry_body(&g);
		else if (in[m].kind == TT_BPFGEN_RETURN)
			return_body(&g);
		else
			fail(&g, -EINVAL, "a session program shares no site");
		place(&g, next);
	}
	exit_0(&g);
	patch(&g);
	return g.err;
}

void tt_bpfgen__dispatcher(int prog_array, uint32_t slot, struct tt_bpfgen *out)
{
	struct gen g = {0};

	g.out = out;
	out->n = 0;
	/* r1 is the context, as the program called wants it */
	ld_map(&g, R2, prog_array);
	mov_imm(&g, R3, (int32_t)slot);
	call(&g, BPF_FUNC_tail_call);
	exit_0(&g);
}

int tt_bpfgen__emit(const struct tt_bpfgen_in *in, struct tt_bpfgen *out, char *err, size_t errlen)
{
	struct gen g = {0};

	g.in = in;
	g.out = out;
	g.msg = err;
	g.msglen = errlen;
	out->n = 0;
	switch (in->kind) {
	case TT_BPFGEN_ENTRY:
		entry_prog(&g);
		break;
	case TT_BPFGEN_RETURN:
		return_prog(&g);
		break;
	case TT_BPFGEN_USDT:
		usdt_prog(&g);
		break;
	case TT_BPFGEN_SESSION:
		session_prog(&g);
		break;
	case TT_BPFGEN_PAIR:
		pair_prog(&g);
		break;
	default:
		fail(&g, -EINVAL, "an unknown kind of program");
	}
	patch(&g);
	return g.err;
}
