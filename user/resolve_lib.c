// SPDX-License-Identifier: MIT
/*
 * resolve_lib.c: a library found as the dynamic loader would find it (for
 * `library:` targets and `tasktap symbols`): a path, LD_LIBRARY_PATH, the
 * loader's cache (/etc/ld.so.cache, read here), the system's directories;
 * and the same inside a container's root.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"

static const char *const lib_dirs[] = {
	"/lib/x86_64-linux-gnu",
	"/usr/lib/x86_64-linux-gnu",
	"/lib64",
	"/usr/lib64",
	"/lib",
	"/usr/lib",
	"/usr/local/lib",
	NULL,
};

static bool try_dir(const char *dir, size_t dlen, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%.*s/%s", (int)dlen, dir, name);

	return n > 0 && (size_t)n < len && access(buf, R_OK) == 0;
}

/* The loader's cache, as ldconfig writes it (glibc's new format, "glibc-ld.so.cache1.1"). */
#define LD_CACHE_MAGIC	"glibc-ld.so.cache1.1"
#define LD_CACHE_HEADER 48    /* magic, version, nlibs, len_strings, flags, extension, unused */
#define LD_CACHE_ENTRY	24    /* flags, key, value, osversion, hwcap */
#define LD_CACHE_X86_64 0x303 /* FLAG_ELF_LIBC6 | FLAG_X8664_LIB64: a 64-bit library */
#define LD_CACHE_MAX	(16 << 20)

static uint32_t read_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Whether the NUL-terminated string at offset `off` of data[0..n) is `name`. */
static bool cache_string_is(const unsigned char *data, size_t n, uint32_t off, const char *name)
{
	size_t len = strlen(name);

	return off < n && n - off > len && !memcmp(data + off, name, len + 1);
}

int tt_ld_cache__find(const char *cache, const char *name, char *buf, size_t len)
{
	unsigned char *data = NULL;
	int ret = -ENOENT;
	uint32_t nlibs;
	struct stat st;
	size_t n = 0;
	FILE *f;

	f = fopen(cache, "rb");
	if (!f)
		return -ENOENT;
	if (fstat(fileno(f), &st) == 0 && st.st_size >= LD_CACHE_HEADER &&
	    st.st_size <= LD_CACHE_MAX) {
		data = malloc((size_t)st.st_size);
		if (data)
			n = fread(data, 1, (size_t)st.st_size, f);
	}
	fclose(f);
	if (!data || n < LD_CACHE_HEADER || memcmp(data, LD_CACHE_MAGIC, strlen(LD_CACHE_MAGIC)))
		goto out;
	nlibs = read_u32(data + 20);
	if (nlibs > (n - LD_CACHE_HEADER) / LD_CACHE_ENTRY)
		goto out;
	/* the entries are sorted for the loader; few enough to read them all */
	for (uint32_t i = 0; i < nlibs && ret; i++) {
		const unsigned char *e = data + LD_CACHE_HEADER + (size_t)i * LD_CACHE_ENTRY;
		uint32_t value = read_u32(e + 8);

		if (read_u32(e) != LD_CACHE_X86_64 ||
		    !cache_string_is(data, n, read_u32(e + 4), name))
			continue;
		if (value >= n || !memchr(data + value, '\0', n - value))
			continue;
		snprintf(buf, len, "%s", (const char *)data + value);
		ret = 0;
	}
out:
	free(data);
	return ret;
}

int tt_find_library(const char *name, char *buf, size_t len)
{
	const char *env = getenv("LD_LIBRARY_PATH");

	if (strchr(name, '/')) {
		snprintf(buf, len, "%s", name);
		return access(buf, R_OK) == 0 ? 0 : -ENOENT;
	}
	while (env && *env) {
		const char *colon = strchr(env, ':');
		size_t dlen = colon ? (size_t)(colon - env) : strlen(env);

		if (dlen && try_dir(env, dlen, name, buf, len))
			return 0;
		env = colon ? colon + 1 : NULL;
	}
	/* then as the loader goes on: its cache (ld.so.conf's directories), the system's */
	if (tt_ld_cache__find("/etc/ld.so.cache", name, buf, len) == 0 && access(buf, R_OK) == 0)
		return 0;
	for (int i = 0; lib_dirs[i]; i++) {
		if (try_dir(lib_dirs[i], strlen(lib_dirs[i]), name, buf, len))
			return 0;
	}
	return -ENOENT;
}

int tt_find_library_in(const char *root, const char *name, char *buf, size_t len)
{
	char dir[PATH_MAX], file[PATH_MAX];

	if (strchr(name, '/')) {
		snprintf(buf, len, "%s%s", root, name);
		return access(buf, R_OK) == 0 ? 0 : -ENOENT;
	}
	/* the process's own loader cache, its paths inside its root */
	snprintf(dir, sizeof(dir), "%s/etc/ld.so.cache", root);
	if (tt_ld_cache__find(dir, name, file, sizeof(file)) == 0) {
		snprintf(buf, len, "%s%s", root, file);
		if (access(buf, R_OK) == 0)
			return 0;
	}
	for (int i = 0; lib_dirs[i]; i++) {
		snprintf(dir, sizeof(dir), "%s%s", root, lib_dirs[i]);
		if (try_dir(dir, strlen(dir), name, buf, len))
			return 0;
	}
	return -ENOENT;
}
