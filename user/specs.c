// SPDX-License-Identifier: MIT
/* The agent's spec files: --spec in order, --spec-dir by name, with digests. */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "specs.h"

static int add(struct tt_spec_files *f, const char *path)
{
	char **more = realloc(f->paths, (f->n + 1) * sizeof(*more));

	if (!more)
		return -ENOMEM;
	f->paths = more;
	f->paths[f->n] = strdup(path);
	if (!f->paths[f->n])
		return -ENOMEM;
	f->n++;
	return 0;
}

static bool is_spec_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tt_spec_files__collect(const char *const *files, size_t nfiles, const char *dir,
			   struct tt_spec_files *out, char *err, size_t errlen)
{
	struct dirent **names = NULL;
	char path[4096];
	size_t first;
	int ret = 0, n;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; !ret && i < nfiles; i++)
		ret = add(out, files[i]);
	if (ret || !dir)
		goto out;
	n = scandir(dir, &names, NULL, NULL);
	if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot read spec directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	first = out->n;
	for (int i = 0; i < n; i++) {
		if (!ret && is_spec_name(names[i]->d_name)) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			ret = add(out, path);
		}
		free(names[i]);
	}
	free(names);
	if (!ret && out->n > first)
		qsort(out->paths + first, out->n - first, sizeof(*out->paths), by_name);
out:
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory listing the spec files");
	if (ret)
		tt_spec_files__release(out);
	return ret;
}

void tt_spec_files__release(struct tt_spec_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->paths[i]);
	free(f->paths);
	memset(f, 0, sizeof(*f));
}

uint64_t tt_spec_file__digest(const char *path)
{
	XXH3_state_t *st = XXH3_createState();
	FILE *f = fopen(path, "rb");
	char buf[8192];
	uint64_t h = 0;
	size_t n;

	if (st && f && XXH3_64bits_reset(st) == XXH_OK) {
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			XXH3_64bits_update(st, buf, n);
		h = XXH3_64bits_digest(st) | 1; /* never 0: 0 means unreadable */
	}
	if (f)
		fclose(f);
	XXH3_freeState(st);
	return h;
}
