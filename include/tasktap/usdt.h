/* SPDX-License-Identifier: MIT */
/*
 * USDT probe sites: where each argument of a site lives, decoded in
 * userspace (user/usdt.c) from the note's argument specs and read by the
 * BPF program tt_usdt_site (bpf/tasktap.bpf.c) from the registers the
 * probe hit saved.
 *
 * Each site is a plain uprobe on the probe's nop whose attach cookie is
 *
 *	hook id | XXH3_64(dev, inode, site offset) << TT_USDT_COOKIE_SHIFT
 *
 * and its struct tt_usdt_site is stored in the BPF hash `usdt_sites` under
 * that cookie. The cookie is the same in the next agent for the same hook
 * id and site, so that a pinned uprobe adopted by it still finds its site.
 */
#ifndef TASKTAP_USDT_H
#define TASKTAP_USDT_H

#include "limits.h"

/* The low bits of a site's cookie are its hook id (an index of `probes`). */
#define TT_USDT_COOKIE_SHIFT 16
#define TT_USDT_HOOK_MASK    ((1u << TT_USDT_COOKIE_SHIFT) - 1)

enum tt_usdt_arg_kind {
	TT_USDT_ARG_CONST = 0, /* N@$imm: val */
	TT_USDT_ARG_REG,       /* N@%reg: the register at reg_off in struct pt_regs */
	TT_USDT_ARG_DEREF,     /* N@off(%reg): |size| bytes at the register + val */
};

/*
 * One argument. `size` is the spec's N: 1, 2, 4 or 8 bytes, negative when
 * the value is signed; the value read is cut to that many bytes and
 * sign-extended when signed.
 */
struct tt_usdt_arg {
	__u8 kind; /* enum tt_usdt_arg_kind */
	__s8 size;
	__u16 reg_off; /* REG and DEREF: offset of the register in struct pt_regs */
	__u32 pad;
	__s64 val; /* CONST: the value; DEREF: the displacement */
};

struct tt_usdt_site {
	__u32 nargs;
	__u32 pad;
	struct tt_usdt_arg args[TT_MAX_USDT_ARGS];
};

#endif /* TASKTAP_USDT_H */
