/* SPDX-License-Identifier: MIT */
/*
 * bpfgen: a hook's capture program (include/tasktap/capture.h) compiled
 * into the hook's own BPF program, as ply does: straight-line BPF
 * instructions emitted here, no LLVM or clang at run time.
 *
 * The program does what the generic programs of bpf/tasktap.bpf.c
 * (tt_entry, tt_return, tt_usdt_site) do when they interpret the same
 * capture program, with the same maps, and writes the same events bit for
 * bit: header, then one record per capture (see capture.h), the same
 * fault and truncation flags, the same per-thread tracking of filtered
 * calls and saved arguments. What the generic programs look up at run
 * time is a constant here: the hook id, its flags, each instruction, and
 * for a USDT site where each argument lives.
 *
 * Each opcode of the capture program is one row of a table in bpfgen.c
 * (its emitter); each comparison is one row of another.
 *
 * Pure: no BPF syscalls, no I/O but tt_bpfgen__print().
 */
#ifndef TASKTAP_BPFGEN_H
#define TASKTAP_BPFGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/bpf.h>
#include "tasktap/capture.h"
#include "tasktap/usdt.h"

/* Which generic program the emitted one stands for. */
enum tt_bpfgen_kind {
	TT_BPFGEN_ENTRY = 0, /* a function's entry (tt_entry) */
	TT_BPFGEN_RETURN,    /* a function's return (tt_return) */
	TT_BPFGEN_USDT,	     /* one USDT site (tt_usdt_site) */
	/*
	 * a function's entry and return in one uprobe session program, which
	 * pairs them in BPF: the entry's captures wait in the map `calls`,
	 * and the return writes one TT_EV_CALL event (no generic counterpart)
	 */
	TT_BPFGEN_SESSION,
	/*
	 * a function's entry and return in one uprobe session program that
	 * writes the two-event path's two events, bit for bit (the entry's
	 * event at the entry, the return's at the return): a call the filter
	 * drops skips the return in the kernel, so nothing is tracked per thread
	 */
	TT_BPFGEN_PAIR,
};

/* The fds of the maps of bpf/tasktap.bpf.c the programs use (any value in tt_bpfgen__print()). */
struct tt_bpfgen_maps {
	int threads;
	int saved;
	int scratch;
	int stats;
	int rings;
	int hook_lost; /* per-CPU u64 per hook id: its events the ring had no room for; -1: none */
	int calls;     /* TT_BPFGEN_SESSION: calls between entry and return (tt_call_stash) */
	int frames;    /* TT_BPFGEN_SESSION: each thread's calls in flight (tt_call_frames) */
	int retired;   /* TT_BPFGEN_SESSION: u32 per hook id, nonzero: take no new call; 0: none */
};

/* The kernel's session kfuncs, by their ids in its BTF (TT_BPFGEN_SESSION). */
struct tt_bpfgen_kfuncs {
	int32_t session_cookie;	   /* __u64 *bpf_session_cookie(void) */
	int32_t session_is_return; /* bool bpf_session_is_return(void) */
};

struct tt_bpfgen_in {
	enum tt_bpfgen_kind kind;
	uint32_t hook; /* the hook id: the probe field of its events */
	/*
	 * Entry and return programs: the id is read from the attach cookie
	 * (the loader attaches each hook with its id as the cookie), so that
	 * hooks whose captures and filters are the same share one program
	 */
	bool hook_from_cookie;
	const struct tt_hook_prog *prog;
	const struct tt_usdt_site *site; /* TT_BPFGEN_USDT: where the arguments are */
	struct tt_bpfgen_maps maps;
	uint64_t wakeup_watermark; /* as the generic programs' rodata has it */
	struct tt_bpfgen_kfuncs kfuncs;
};

/* Instructions in the largest program: TT_MAX_OPS capture operations at their longest and more. */
#define TT_BPFGEN_MAX_INSNS 16384

struct tt_bpfgen {
	struct bpf_insn insns[TT_BPFGEN_MAX_INSNS];
	size_t n;
};

/*
 * Returns NULL when the generic interpreter of bpf/tasktap.bpf.c runs
 * `prog` as a compiled program would; else what it needs that only a
 * compiled program runs ("a compound filter (&&, ||, !)", ...), for a
 * message. The loader refuses to run such a hook in the interpreter.
 */
const char *tt_bpfgen__compiled_only(const struct tt_hook_prog *prog);

/*
 * The largest TT_EV_CALL event a session program for `prog` writes: the
 * header, every capture at its largest, the tail. A hook takes the session
 * path only when it is at most TT_MAX_CALL_EVENT.
 */
size_t tt_bpfgen__session_size(const struct tt_hook_prog *prog);

/*
 * Why a session program cannot run `prog`, or NULL when it can: the spec
 * did not mark the hook TT_HOOKF_SESSION (tt_spec__session_refusal()
 * says why), its return has a filter, or its calls can be too large.
 */
const char *tt_bpfgen__session_refusal(const struct tt_hook_prog *prog);

/*
 * Why a TT_BPFGEN_PAIR program cannot run `prog`, or NULL when it can: its
 * return reads the arguments saved at entry (kept for the two programs).
 */
const char *tt_bpfgen__pair_refusal(const struct tt_hook_prog *prog);

/*
 * Emits the program for `in` into *out. Returns 0, or -EINVAL (an opcode
 * or an argument form it cannot compile) or -E2BIG with the reason in err;
 * the caller then runs the generic interpreter for that hook.
 */
int tt_bpfgen__emit(const struct tt_bpfgen_in *in, struct tt_bpfgen *out, char *err, size_t errlen);

/*
 * Emits one program for a site that several hooks share (a USDT site, a
 * function's entry, or its return): the programs of in[0..n), all of one
 * kind (TT_BPFGEN_USDT, _ENTRY or _RETURN; their ids immediates, not
 * cookies), one after the other in one run, each with its own filter; a
 * hit none keeps writes no event. A function's members run from the last
 * to the first, at its entry and at its return, as the kernel runs the
 * uprobes of one place (the newest first): the spans are those each hook's
 * own uprobes made. Returns 0, or -EINVAL/-E2BIG with the reason in err.
 */
int tt_bpfgen__emit_site(const struct tt_bpfgen_in *in, size_t n, struct tt_bpfgen *out, char *err,
			 size_t errlen);

/*
 * Emits the program attached at a shared site: a tail call to entry `slot`
 * of the BPF_MAP_TYPE_PROG_ARRAY `prog_array` (fd), where the site's
 * program is, so that it can be replaced at once when hooks come and go.
 */
void tt_bpfgen__dispatcher(int prog_array, uint32_t slot, struct tt_bpfgen *out);

/*
 * Prints the program one instruction a line, bpftool's way ("  12: r1 =
 * *(u64 *)(r6 + 112)"), each map by its name as `maps` gives its fd.
 */
void tt_bpfgen__print(const struct tt_bpfgen *g, const struct tt_bpfgen_maps *maps, FILE *f);

/* The name of a program for hook `hook` of `kind` ("tt_h12_entry"), at most 15 bytes. */
void tt_bpfgen__name(enum tt_bpfgen_kind kind, uint32_t hook, char *buf, size_t len);

#endif /* TASKTAP_BPFGEN_H */
