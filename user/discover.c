// SPDX-License-Identifier: MIT
/* Discovery: which processes a spec's comm: and binary: targets apply to (see discover.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover.h"

/* Reads up to len - 1 bytes of the file at path, NUL-terminated. Returns bytes or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (ssize_t)n;
}

pid_t tt_status__nspid(const char *status)
{
	const char *line = strstr(status, "\nNSpid:");
	const char *p;
	long last = 0;

	if (!line)
		return 0;
	p = line + strlen("\nNSpid:");
	while (*p && *p != '\n') {
		char *end;
		long v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			break;
		v = strtol(p, &end, 10);
		last = v;
		p = end;
	}
	return (pid_t)last;
}

/* Whether process `pid` is in a mount namespace other than ours (a container's). */
static bool other_mnt_ns(const char *root, pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "%s/%d/ns/mnt", root, (int)pid);
	if (stat(path, &a) || stat("/proc/self/ns/mnt", &b))
		return false;
	return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
}

int tt_proc__info(const char *proc_root, pid_t pid, struct tt_proc_info *info)
{
	const char *root = proc_root ? proc_root : "/proc";
	char path[96], status[4096];
	struct stat st;
	ssize_t n;

	memset(info, 0, sizeof(*info));
	info->pid = pid;
	snprintf(path, sizeof(path), "%s/%d/comm", root, (int)pid);
	n = read_small(path, status, sizeof(status));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	status[strcspn(status, "\n")] = '\0';
	snprintf(info->comm, sizeof(info->comm), "%s", status);
	snprintf(info->open, sizeof(info->open), "%s/%d/exe", root, (int)pid);
	n = readlink(info->open, info->exe, sizeof(info->exe) - 1);
	if (n < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	info->exe[n] = '\0';
	if (n > 10 && !strcmp(info->exe + n - 10, " (deleted)"))
		info->exe[n - 10] = '\0';
	if (stat(info->open, &st))
		return errno == ENOENT ? -ESRCH : -errno;
	info->dev = st.st_dev;
	info->ino = st.st_ino;
	snprintf(path, sizeof(path), "%s/%d/status", root, (int)pid);
	info->vpid = read_small(path, status, sizeof(status)) > 0 ? tt_status__nspid(status) : 0;
	if (!info->vpid)
		info->vpid = pid;
	info->other_mnt_ns = other_mnt_ns(root, pid);
	return 0;
}

int tt_proc__for_each(const char *proc_root, int (*fn)(pid_t pid, void *ctx), void *ctx)
{
	DIR *d = opendir(proc_root ? proc_root : "/proc");
	struct dirent *de;
	int ret = 0;

	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		ret = fn((pid_t)pid, ctx);
	}
	closedir(d);
	return ret;
}

bool tt_glob__is(const char *path)
{
	return strpbrk(path, "*?[") != NULL;
}

uint32_t tt_glob__comm_prefix(const char *path, char comm[TT_COMM_LEN])
{
	const char *base = strrchr(path, '/');
	size_t lit;

	base = base ? base + 1 : path;
	lit = strcspn(base, "*?[\\");
	memset(comm, 0, TT_COMM_LEN);
	if (lit >= TT_COMM_LEN - 1) {
		memcpy(comm, base, TT_COMM_LEN - 1);
		return TT_COMM_LEN - 1; /* the kernel cut the name: a prefix */
	}
	memcpy(comm, base, lit);
	if (base[lit] == '\0')
		return (uint32_t)lit + 1; /* the whole name, and its NUL */
	return (uint32_t)lit;
}

/* How many of the first bytes of a and b match (the NUL of an exact name is one of them). */
static uint32_t shared_start(const struct tt_comm_prefix *a, const struct tt_comm_prefix *b)
{
	uint32_t n = 0, max = a->len < b->len ? a->len : b->len;

	while (n < max && a->comm[n] == b->comm[n])
		n++;
	return n;
}

/* Whether pattern a matches every name pattern b does. */
static bool covers(const struct tt_comm_prefix *a, const struct tt_comm_prefix *b)
{
	return shared_start(a, b) == a->len;
}

/* Drops p[i] by moving the last pattern into its place; returns the new count. */
static int drop(struct tt_comm_prefix *p, int n, int i)
{
	p[i] = p[n - 1];
	return n - 1;
}

/* Drops every pattern that another one covers (of two equal ones, the later). */
static int drop_covered(struct tt_comm_prefix *p, int n)
{
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			if (i != j && covers(&p[j], &p[i])) {
				n = drop(p, n, i);
				i = -1; /* start again: the order changed */
				break;
			}
		}
	}
	return n;
}

int tt_comm_prefix__fit(struct tt_comm_prefix *p, int n, int max)
{
	n = drop_covered(p, n);
	while (n > max) {
		int bi = -1, bj = -1;
		uint32_t best = 0;

		for (int i = 0; i < n; i++) {
			for (int j = i + 1; j < n; j++) {
				uint32_t c = shared_start(&p[i], &p[j]);

				if (c > best) {
					best = c;
					bi = i;
					bj = j;
				}
			}
		}
		if (!best)
			return -1;
		memset(p[bi].comm + best, 0, TT_COMM_LEN - best);
		p[bi].len = best;
		n = drop(p, n, bj);
		n = drop_covered(p, n);
	}
	return n;
}

bool tt_glob__path_matches(const char *pattern, const char *exe)
{
	if (!tt_glob__is(pattern))
		return strcmp(pattern, exe) == 0;
	return fnmatch(pattern, exe, FNM_PATHNAME) == 0;
}
