/* SPDX-License-Identifier: MIT */
/*
 * Bounds shared by the BPF side and the agent. Every bound here is explicit
 * and a spec that needs more is refused with an error naming the limit.
 *
 * Only constants live here: this header is included by bpf/ and user/.
 */
#ifndef TASKTAP_LIMITS_H
#define TASKTAP_LIMITS_H

/* Captures (key, attributes, attempt, ...) one probe may record. */
#define TT_MAX_CAPTURES 8

/*
 * Operations in one hook's capture program: its filter and all its
 * captures together. Sized for real structs (a header table six pointers
 * deep, several attributes and a compound filter); every program of this
 * length, compiled by user/bpfgen.c, is one the verifier accepts (checked
 * by tests/e2e/test_filters.py).
 */
#define TT_MAX_OPS 128

/* Pointer dereferences in one expression. */
#define TT_MAX_DEREFS 8

/* Bytes kept of one captured string (including the terminating NUL). */
#define TT_MAX_STR 64

/* Bytes kept of one bytes(ptr, len) capture. */
#define TT_MAX_BYTES 64

/* Largest payload of one event: every capture at its largest. */
#define TT_MAX_PAYLOAD (TT_MAX_CAPTURES * (4 + TT_MAX_STR))

/* Hooks one agent may attach: every attach point has a hook id, which is
 * its attach cookie and indexes a BPF array. */
#define TT_MAX_PROBES 1024

/* Bytes of one string literal in a filter (its NUL makes 56: 7 words). */
#define TT_MAX_LITERAL 55

/* Nesting of tracked calls per thread (filters, return-time captures). */
#define TT_MAX_DEPTH 64

/* Arguments of a USDT probe (as libbpf and sys/sdt.h have it). */
#define TT_MAX_USDT_ARGS 12

/*
 * USDT probe sites attached at once, one per distinct (hook, file, site)
 * whatever the processes: the entries of the BPF hash `usdt_sites`
 * (tasktap/usdt.h).
 */
#define TT_MAX_USDT_SITES 4096

/* Possible CPUs the per-CPU ring array has room for. */
#define TT_MAX_CPUS 256

/* Argument slots: arg0..arg5 in registers, the rest on the stack. */
#define TT_MAX_ARG_SLOT 15

/* Attributes one probe may declare. */
#define TT_MAX_ATTRS (TT_MAX_CAPTURES - 1)

/*
 * How long a process stays stopped at exec for discovery (comm: targets,
 * binary: globs) at most: the kernel continues it then, whether the agent
 * attached, stalled or died. TT_HOLD_NS when no agent took up the exec (it
 * is dead, stalled or restarting), TT_HOLD_MAX_NS when one did and is
 * attaching. An agent that attaches later misses the first steps.
 */
#define TT_HOLD_NS     (250 * 1000 * 1000ULL)
#define TT_HOLD_MAX_NS (1000 * 1000 * 1000ULL)

/* Processes followed at once for --pid N: N and its living descendants. */
#define TT_MAX_FOLLOWED 4096

#endif /* TASKTAP_LIMITS_H */
