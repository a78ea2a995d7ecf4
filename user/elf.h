/* SPDX-License-Identifier: MIT */
/*
 * ELF symbols for uprobes (libelf): function symbol → file offset, the
 * instruction found there, and close names for a missing symbol.
 */
#ifndef TASKTAP_ELF_H
#define TASKTAP_ELF_H

#include <stdbool.h>
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

/* A USDT probe from the file's .note.stapsdt section. */
struct tt_usdt_note {
	const char *provider; /* owned by the tt_elf */
	const char *name;
	const char *args;   /* argument specs, e.g. "-4@%edi 8@%rsi" */
	uint64_t pc;	    /* address of the probe's nop */
	uint64_t base;	    /* address of .stapsdt.base when linked */
	uint64_t semaphore; /* address of its semaphore; 0 when it has none */
	/*
	 * Where a uprobe goes: the file offset of the nop (pc moved by the
	 * file's .stapsdt.base address - base, as prelink left it), 0 when no
	 * executable PT_LOAD segment holds it; and the file offset of the
	 * semaphore (a uprobe's ref_ctr_offset), 0 when it has none or no
	 * non-executable PT_LOAD segment holds it.
	 */
	uint64_t pc_offset;
	uint64_t sem_offset;
};

/* The file's GNU build-id in lower-case hex, or NULL when it has none. Owned by elf. */
const char *tt_elf__build_id(const struct tt_elf *elf);

/*
 * Calls cb for each USDT probe, in file order; stops at cb's first non-zero
 * value. A probe fired from several places has one note per place (site),
 * each with the same provider and name.
 */
int tt_elf__for_each_usdt(struct tt_elf *elf, int (*cb)(const struct tt_usdt_note *note, void *ctx),
			  void *ctx);

/* The first note (site) of the USDT probe provider:name, or NULL. */
const struct tt_usdt_note *tt_elf__usdt(struct tt_elf *elf, const char *provider, const char *name);

/*
 * Demangles a C++ or Rust symbol name. Returns a string the caller frees,
 * or NULL when `name` is not mangled (or memory ran out).
 */
char *tt_demangle(const char *name);

/*
 * Whether the function `sym` matches the glob `pattern` (fnmatch): by its
 * name as stored, by its demangled name, or by its demangled name without
 * the parameter list, without a template's return type and without a Rust
 * hash suffix ("::h0123abcd...").
 * When `demangled` is non-NULL it receives the demangled name (or NULL),
 * which the caller frees.
 */
bool tt_elf__glob_matches(const char *pattern, const char *name, char **demangled);

#endif /* TASKTAP_ELF_H */
