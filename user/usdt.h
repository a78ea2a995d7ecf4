/* SPDX-License-Identifier: MIT */
/*
 * USDT argument specs (x86-64): a note's argument string, such as
 * "-4@%edi 8@8(%rbx) 4@$71", decoded into the struct tt_usdt_site that the
 * BPF side reads arguments with (include/tasktap/usdt.h), and the attach
 * cookie of a site. Pure: no BPF, no I/O.
 *
 * Accepted forms, N being 1, 2, 4 or 8 (the size in bytes), negative when
 * the argument is signed:
 *
 *	N@%reg		a general-purpose register, by any of its names
 *			(rax eax ax al, rdi edi di dil, r8 r8d r8w r8b, ...)
 *	N@off(%reg)	N bytes in memory at the register plus a decimal or 0x offset
 *	N@(%reg)	the same at offset 0
 *	N@$imm		a constant
 *
 * Anything else (a symbol, %rip, an index register, a high-byte register
 * such as %ah, a vector register) is refused.
 */
#ifndef TASKTAP_USER_USDT_H
#define TASKTAP_USER_USDT_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "tasktap/usdt.h"

/*
 * Decodes one argument spec (`spec`, one word, no spaces) into *arg.
 * Returns 0, or -EINVAL with the reason in why (e.g. "a symbolic address
 * is not supported"), which does not repeat the spec.
 */
int tt_usdt__parse_arg(const char *spec, struct tt_usdt_arg *arg, char *why, size_t whylen);

/*
 * Decodes the argument string `args` (specs separated by spaces) into
 * *site (zeroed first). Returns 0, or -EINVAL with a message in err that
 * names the argument's number (from 1) and its spec: "argument 2
 * '8@x(%rip)': a symbolic address ('x') is not supported (...)".
 */
int tt_usdt__decode(const char *args, struct tt_usdt_site *site, char *err, size_t errlen);

/*
 * The same for the argument string `args` of the USDT probe provider:name:
 * the message in err starts "USDT probe provider:name: argument N ...".
 */
int tt_usdt__parse_args(const char *provider, const char *name, const char *args,
			struct tt_usdt_site *site, char *err, size_t errlen);

/*
 * The attach cookie of hook `hook` (< 2^16) at the site at file offset
 * `offset` of the file (dev, ino): the hook id in the low 16 bits, a hash
 * of the site above them. The same in every agent for the same inputs.
 */
uint64_t tt_usdt__cookie(uint32_t hook, uint64_t dev, uint64_t ino, uint64_t offset);

#endif /* TASKTAP_USER_USDT_H */
