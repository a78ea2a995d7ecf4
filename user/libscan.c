// SPDX-License-Identifier: MIT
/* Where else a library's code runs: executable mappings that define its probed functions. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "elf.h"
#include "libscan.h"
#include "log.h"
#include "proc.h"
#include "table.h"

struct scan {
	const char *const *symbols;
	int n;
	dev_t skip_dev;
	ino_t skip_ino;
	struct tt_table seen; /* (dev, inode) of files already looked at */
	int (*cb)(const char *path, void *ctx);
	void *ctx;
};

static uint64_t file_key(dev_t dev, ino_t ino)
{
	uint64_t k = ((uint64_t)dev << 40) ^ (uint64_t)ino;

	return k ? k : 1;
}

/* Whether the ELF file at path defines every symbol of the scan. */
static bool defines_all(const struct scan *s, const char *path)
{
	struct tt_elf *elf = tt_elf__open(path);
	bool all = elf != NULL;

	for (int i = 0; all && i < s->n; i++) {
		uint64_t off;

		all = tt_elf__func_offset(elf, s->symbols[i], &off, NULL) == 0;
	}
	tt_elf__free(elf);
	return all;
}

/*
 * Hands a copy found to cb. A copy that went while it was looked at (its
 * process exited, taking /proc/PID/root with it, or the file was removed or
 * replaced) is skipped, not an error: a scan of every process must not fail
 * because one of them ended during it.
 */
static int copy_found(const struct scan *s, const char *path, const struct stat *was)
{
	struct stat now;
	int ret = s->cb(path, s->ctx);

	if (!ret || ret == -ENOMEM)
		return ret;
	if (stat(path, &now) == 0 && now.st_dev == was->st_dev && now.st_ino == was->st_ino)
		return ret;
	tt_info("skipped '%s': it went while it was scanned (its process exited, or the file "
		"was removed)",
		path);
	return 0;
}

/* One executable mapping: a regular file not seen yet that defines every symbol goes to cb. */
static int scan_mapping(const char *path, void *ctx)
{
	struct scan *s = ctx;
	struct stat st;
	uint64_t key;

	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return 0;
	if (st.st_dev == s->skip_dev && st.st_ino == s->skip_ino)
		return 0;
	key = file_key(st.st_dev, st.st_ino);
	if (tt_table__get(&s->seen, key))
		return 0;
	if (tt_table__put(&s->seen, key, 0, 0))
		return -ENOMEM;
	if (!defines_all(s, path))
		return 0;
	return copy_found(s, path, &st);
}

/* Looks at the executable mappings of one process. */
static int scan_process(pid_t pid, void *ctx)
{
	return tt_proc__for_each_mapping(pid, true, scan_mapping, ctx);
}

int tt_libscan__find(const char *const *symbols, int n, const char *skip, pid_t pid,
		     int (*cb)(const char *path, void *ctx), void *ctx)
{
	struct scan s = {.symbols = symbols, .n = n, .cb = cb, .ctx = ctx};
	struct stat st;
	int ret;

	if (n <= 0)
		return 0;
	if (skip && stat(skip, &st) == 0) {
		s.skip_dev = st.st_dev;
		s.skip_ino = st.st_ino;
	}
	if (tt_table__init(&s.seen, 256))
		return -ENOMEM;
	ret = pid > 0 ? scan_process(pid, &s) : tt_proc__for_each(NULL, scan_process, &s);
	tt_table__release(&s.seen);
	return ret;
}
