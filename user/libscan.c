// SPDX-License-Identifier: MIT
/* Where else a library's code runs: executable mappings that define its probed functions. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "elf.h"
#include "libscan.h"
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

/* Looks at the executable mappings of one process. */
static int scan_process(struct scan *s, const char *pid)
{
	char maps[64], line[PATH_MAX + 128], path[PATH_MAX + 32];
	FILE *f;
	int ret = 0;

	snprintf(maps, sizeof(maps), "/proc/%s/maps", pid);
	f = fopen(maps, "r");
	if (!f)
		return 0; /* gone, or not ours to read */
	while (!ret && fgets(line, sizeof(line), f)) {
		char perms[8] = "";
		char *file = strchr(line, '/');
		struct stat st;
		uint64_t key;

		if (!file || sscanf(line, "%*s %7s", perms) != 1 || !strchr(perms, 'x'))
			continue;
		file[strcspn(file, "\n")] = '\0';
		snprintf(path, sizeof(path), "/proc/%s/root%s", pid, file);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (st.st_dev == s->skip_dev && st.st_ino == s->skip_ino)
			continue;
		key = file_key(st.st_dev, st.st_ino);
		if (tt_table__get(&s->seen, key))
			continue;
		if (tt_table__put(&s->seen, key, 0, 0)) {
			ret = -ENOMEM;
			break;
		}
		if (defines_all(s, path))
			ret = s->cb(path, s->ctx);
	}
	fclose(f);
	return ret;
}

int tt_libscan__find(const char *const *symbols, int n, const char *skip, pid_t pid,
		     int (*cb)(const char *path, void *ctx), void *ctx)
{
	struct scan s = {.symbols = symbols, .n = n, .cb = cb, .ctx = ctx};
	struct stat st;
	struct dirent *d;
	DIR *proc;
	int ret = 0;

	if (n <= 0)
		return 0;
	if (skip && stat(skip, &st) == 0) {
		s.skip_dev = st.st_dev;
		s.skip_ino = st.st_ino;
	}
	if (tt_table__init(&s.seen, 256))
		return -ENOMEM;
	if (pid > 0) {
		char one[16];

		snprintf(one, sizeof(one), "%d", (int)pid);
		ret = scan_process(&s, one);
		tt_table__release(&s.seen);
		return ret;
	}
	proc = opendir("/proc");
	if (!proc) {
		ret = -errno;
		tt_table__release(&s.seen);
		return ret;
	}
	while (!ret && (d = readdir(proc))) {
		if (isdigit((unsigned char)d->d_name[0]))
			ret = scan_process(&s, d->d_name);
	}
	closedir(proc);
	tt_table__release(&s.seen);
	return ret;
}
