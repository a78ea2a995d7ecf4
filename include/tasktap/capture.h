/* SPDX-License-Identifier: MIT */
/*
 * Capture programs: what a probe reads from the target, compiled in
 * userspace (user/expr.c) from the spec's expressions and interpreted by
 * the BPF side (bpf/tasktap.bpf.c). Never arbitrary code: a fixed
 * instruction set, a bounded length, loads only through
 * bpf_probe_read_user.
 *
 * The machine has one accumulator (acc) and one saved register (r1).
 * Every capture is a run of instructions that ends in exactly one EMIT_*
 * instruction, which appends one capture record to the event payload:
 *
 *	struct tt_cap_rec { __u16 len; __u8 type; __u8 flags; } then len bytes,
 *	padded so that the next record starts 4-byte aligned.
 *
 * Captures appear in the payload in program order; a capture whose read
 * failed still appears, with TT_CAPF_FAULT set and len 0, so that the
 * agent can say which attribute could not be read.
 *
 * A filter (`when:`) is a run of instructions ending in a test that
 * drops (CMP, CMPR, STRCMP or STRCMPR without TT_OPF_COND) or in DROP,
 * placed before the captures: when it says no, the hit is dropped in the
 * kernel and never reaches the agent. A compound filter (&&, ||, !) is
 * tests that set a condition (TT_OPF_COND) and forward jumps on it (JMP);
 * a test inside a capture (an `error:` evaluated in BPF) sets a condition
 * only. JMP and DROP, CMPR, STRCMPR, TT_OPF_COND and the string matches
 * past TT_STRCMP_PREFIX run in compiled programs only (user/bpfgen.c); the
 * generic interpreter of bpf/tasktap.bpf.c drops a hit that needs them,
 * and the loader refuses such a hook rather than run it there (see
 * tt_bpfgen__compiled_only()).
 */
#ifndef TASKTAP_CAPTURE_H
#define TASKTAP_CAPTURE_H

#include "limits.h"

enum tt_opcode {
	TT_OP_NOP = 0,
	TT_OP_ARG,	  /* acc = argument slot imm (0..5 registers, 6.. stack) */
	TT_OP_RET,	  /* acc = return value (return probes only) */
	TT_OP_CONST,	  /* acc = imm */
	TT_OP_ADD,	  /* acc += imm */
	TT_OP_LOAD,	  /* acc = *(width aux bytes at acc), sign-extended if flags & SIGNED */
	TT_OP_SAVE,	  /* r1 = acc */
	TT_OP_EMIT_INT,	  /* record acc as 8 bytes */
	TT_OP_EMIT_STR,	  /* record the NUL-terminated string at acc, at most len bytes */
	TT_OP_EMIT_BYTES, /* record min(r1, len) bytes at acc */
	TT_OP_CMP,	  /* drop the hit unless acc <aux> imm (aux: enum tt_cmp; flags SIGNED) */
	TT_OP_STRCMP,	  /* drop the hit unless the string at acc matches the literal of
			   * len bytes held, NUL-padded, in the imm of the next
			   * (len + 8) / 8 instructions (NOPs): aux 0 exact, 1 prefix;
			   * flags NEGATE; pad: the bytes read, with the NUL
			   * (str(e, n)), 0 for TT_MAX_STR */
	TT_OP_CMPR,	  /* as CMP, of r1 <aux> acc: two expressions */
	TT_OP_STRCMPR,	  /* the string at r1 equals the string at acc (len, pad: the bytes
			   * read of each, as pad of STRCMP); flags NEGATE */
	TT_OP_JMP,	  /* go to instruction imm (forward): always, or when the condition
			   * is true (IFTRUE) or false (IFFALSE) */
	TT_OP_DROP,	  /* drop the hit */
	TT_OP_PY,	  /* acc = the probed Python frame (imm 0), or at a return where the name
			   * of the raised exception's type is (imm 1: a tp_name pointer) */
	TT_OP_PY_LOCAL,	  /* acc = the local (or argument) of frame acc named by the literal of
			   * len bytes in the imm of the next (len + 8) / 8 instructions */
	TT_OP_PY_ATTR,	  /* acc = the attribute of object acc named as PY_LOCAL's, from its
			   * instance dict (3.11: managed values or dict) */
	TT_OP_PY_ITEM,	  /* acc = the value of dict acc at the str key named as PY_LOCAL's */
	TT_OP_PY_EMIT,	  /* record object acc as a string: a str's text, an int in decimal,
			   * a bytes' bytes; at most len bytes */
	TT_OP_PY_VALUE,	  /* acc = object acc's value, for a comparison: imm 0, where a str's
			   * (or bytes') text is; imm 1, an int's value (at most 60 bits) */
	TT_OP_PY_RETURN,  /* acc = the value frame acc returned (at a return; a call that
			   * raised returned none: a fault) */
	TT_OP__COUNT,
};

#define TT_OPF_SIGNED  0x1
#define TT_OPF_NEGATE  0x2
#define TT_OPF_COND    0x4  /* a test sets the condition instead of dropping the hit */
#define TT_OPF_IFTRUE  0x8  /* JMP: when the condition is true */
#define TT_OPF_IFFALSE 0x10 /* JMP: when the condition is false */
#define TT_OPF_INTRET  0x20 /* RET: read as a C int when its upper half is zero (tt_ret__value) */

/* Comparisons of TT_OP_CMP, as in the spec (user/spec.h enum tt_cmp). */
enum tt_cmp_op {
	TT_CMPOP_EQ = 0,
	TT_CMPOP_NE,
	TT_CMPOP_LT,
	TT_CMPOP_LE,
	TT_CMPOP_GT,
	TT_CMPOP_GE,
};

#define TT_STRCMP_EXACT	   0
#define TT_STRCMP_PREFIX   1
#define TT_STRCMP_SUFFIX   2 /* compiled only */
#define TT_STRCMP_CONTAINS 3 /* compiled only */

struct tt_op {
	__u8 code;
	__u8 aux;   /* LOAD: width in bytes (1, 2, 4, 8) */
	__u8 flags; /* TT_OPF_* */
	__u8 pad;   /* STRCMP, STRCMPR: bytes read of the string at acc, with its NUL; 0: TT_MAX_STR
		     */
	__u32 len;  /* EMIT_STR / EMIT_BYTES: byte limit; STRCMP: the literal's length */
	__s64 imm;
};

/* Types of a capture record. */
enum tt_cap_type {
	TT_CAP_INT = 1,
	TT_CAP_STR = 2,
	TT_CAP_BYTES = 3,
};

#define TT_CAPF_FAULT	  0x1 /* the read failed: len is 0 */
#define TT_CAPF_TRUNCATED 0x2 /* the value was cut at the limit */

struct tt_cap_rec {
	__u16 len;
	__u8 type;
	__u8 flags;
};

/* One capture program: a filter, then captures. */
struct tt_probe_prog {
	__u32 nops;
	__u32 ncaps;
	struct tt_op ops[TT_MAX_OPS];
};

/* Hook flags */
#define TT_HOOKF_TRACK 0x1 /* keep per-thread entry state: a filter or return-time captures */
#define TT_HOOKF_SAVE  0x2 /* save the arguments at entry for the return program */
#define TT_HOOKF_AT_RETURN                                                                         \
	0x4 /* the hook's event is its function's return: entry records nothing */
/*
 * A synchronous call whose span no other span of its spec can have for a
 * parent (user/spec_session.c): its entry and return may be paired in BPF
 * into one TT_EV_CALL event. The generic programs ignore it.
 */
#define TT_HOOKF_SESSION 0x8

/*
 * What one hook (attach point) runs, stored in the BPF array `probes` at
 * the hook id, which is also the attach cookie. `entry` runs at function
 * entry (or at the USDT probe); `ret` runs when a probed function returns,
 * with the arguments as they were at entry when TT_HOOKF_SAVE is set.
 */
struct tt_hook_prog {
	__u32 flags;
	__u32 pad;
	struct tt_probe_prog entry;
	struct tt_probe_prog ret;
};

#endif /* TASKTAP_CAPTURE_H */
