/* SPDX-License-Identifier: MIT */
/*
 * ELF symbols for uprobes (libelf): function symbol → file offset, the
 * instruction found there, and close names for a missing symbol.
 */
#ifndef TASKTAP_ELF_H
#define TASKTAP_ELF_H

#include <stddef.h>
#include <stdint.h>

struct tt_elf;

/* What the kernel does with a uprobe on the instruction at an offset. */
enum tt_insn_cost {
	TT_INSN_EMULATED = 0, /* push %rbp / push %r64: emulated, cheap */
	TT_INSN_NOP5,	      /* 5-byte nop (USDT): cheapest */
	TT_INSN_STEPPED,      /* anything else: single-stepped, ~9 us */
};

struct tt_sym {
	const char *name; /* owned by the tt_elf */
	uint64_t addr;	  /* st_value */
	uint64_t size;
	uint64_t offset; /* file offset of addr */
};

/*
 * Opens the ELF file at `path`. Returns an object the caller releases with
 * tt_elf__free(), or NULL with errno set: ENOENT/EACCES from open(2),
 * ENOEXEC when the file is not an ELF file.
 */
struct tt_elf *tt_elf__open(const char *path);

/* Releases the object. Accepts NULL. */
void tt_elf__free(struct tt_elf *elf);

/*
 * Resolves the function `name` (from .symtab, else .dynsym) to the file
 * offset a uprobe should attach at: the symbol's offset, plus 4 when the
 * function starts with endbr64. Returns 0 and fills *offset (and *cost,
 * when non-NULL, with the instruction at that offset); -ENOENT when no
 * function has that name; -errno when the file cannot be read.
 */
int tt_elf__func_offset(struct tt_elf *elf, const char *name, uint64_t *offset,
			enum tt_insn_cost *cost);

/*
 * Writes up to `max` function names closest to `name` into buf (len bytes,
 * always NUL-terminated when len > 0), separated by ", ": the nearest by
 * edit distance, ties in name order; when none is near, names containing
 * `name` (ignoring case). A name that does not fit whole is left out.
 * Returns how many were written, or -ENOMEM.
 */
int tt_elf__closest(struct tt_elf *elf, const char *name, int max, char *buf, size_t len);

/*
 * Calls cb for each defined function symbol, deduplicated by name. Stops
 * and returns cb's value when it is non-zero; returns 0 otherwise.
 */
int tt_elf__for_each_func(struct tt_elf *elf, int (*cb)(const struct tt_sym *sym, void *ctx),
			  void *ctx);

#endif /* TASKTAP_ELF_H */
