// SPDX-License-Identifier: MIT
/* The agent's spec files: --spec in order, --spec-dir by name, with digests. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
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
	out->ngiven = out->n;
	out->dir = dir;
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

const char *tt_spec_files__dir(const struct tt_spec_files *f, size_t i)
{
	return i >= f->ngiven ? f->dir : NULL;
}

static int read_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Writes a message about the file itself; returns ret. */
static int read_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/*
 * Opens `name` under the directory open at dirfd with `flags`, following
 * no link out of it (openat2 RESOLVE_BENEATH). A kernel without openat2
 * follows no link at all. Returns the fd, or -1 with errno set: EXDEV for
 * a link out of the directory, ELOOP for a link the fallback refused.
 */
static int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		return openat(dirfd, name, flags | O_NOFOLLOW);
	return (int)fd;
}

/* What a file that is not regular is, for a message. */
static const char *file_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISLNK(mode))
		return "a symbolic link"; /* as O_PATH | O_NOFOLLOW opens one without openat2 */
	return "of an unknown kind";
}

/*
 * Opens spec file `path` (in `dir` when not NULL) for reading, without
 * blocking and only when it is a regular file. It is first opened as a
 * path only (O_PATH runs no driver's open: a device is not touched), its
 * type checked, then opened for reading and checked to be the same file.
 * Returns the fd and fills *st, or -errno after a message.
 */
static int open_spec(const char *path, const char *dir, struct stat *st, char *err, size_t errlen)
{
	const int rd = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	size_t dlen = dir ? strlen(dir) : 0;
	const char *name = path;
	int dirfd = AT_FDCWD, pfd, fd = -1, ret;
	struct stat pst;

	if (dir) {
		if (strncmp(path, dir, dlen) || path[dlen] != '/')
			return read_fail(err, errlen, -EINVAL, "spec '%s' is not in '%s'", path,
					 dir);
		name = path + dlen + 1;
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			ret = -errno;
			return read_fail(err, errlen, ret, "cannot read spec directory '%s': %s",
					 dir, strerror(-ret));
		}
	}
	pfd = dir ? open_beneath(dirfd, name, O_PATH | O_CLOEXEC) : open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0 && errno == EXDEV) {
		ret = read_fail(err, errlen, -EPERM,
				"refusing spec '%s': a symbolic link out of the spec directory",
				path);
		goto out;
	}
	if (pfd < 0 && dir && errno == ELOOP) {
		ret = read_fail(
			err, errlen, -EPERM,
			"refusing spec '%s': a symbolic link that cannot be followed inside "
			"the spec directory",
			path);
		goto out;
	}
	if (pfd < 0) {
		ret = read_fail(err, errlen, -errno, "cannot open spec '%s': %s", path,
				strerror(errno));
		goto out;
	}
	if (fstat(pfd, &pst)) {
		ret = read_fail(err, errlen, -errno, "cannot open spec '%s': %s", path,
				strerror(errno));
		goto out;
	}
	if (!S_ISREG(pst.st_mode)) {
		ret = read_fail(err, errlen, -EINVAL, "spec '%s' is not a regular file (%s)", path,
				file_kind(pst.st_mode));
		goto out;
	}
	fd = dir ? open_beneath(dirfd, name, rd) : open(path, rd);
	if (fd < 0 || fstat(fd, st)) {
		ret = read_fail(err, errlen, -errno, "cannot open spec '%s': %s", path,
				strerror(errno));
		goto out;
	}
	if (!S_ISREG(st->st_mode) || st->st_dev != pst.st_dev || st->st_ino != pst.st_ino) {
		ret = read_fail(err, errlen, -EAGAIN, "spec '%s' changed while it was opened",
				path);
		goto out;
	}
	ret = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	if (dirfd >= 0)
		close(dirfd);
	return ret;
}

/* Refuses a spec that someone other than root or us could have written. */
static int check_owner(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return read_fail(err, errlen, -EPERM,
				 "refusing spec '%s': writable by users other than its owner",
				 path);
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return read_fail(err, errlen, -EPERM, "refusing spec '%s': owned by uid %u", path,
				 (unsigned int)st->st_uid);
	return 0;
}

/*
 * Reads the `size` bytes the file open at fd said it had, never asking for
 * more: a file in /proc that says 0 is not read at all. Returns how many
 * bytes came (fewer when it shrank), or -errno.
 */
static ssize_t read_sized(int fd, char *buf, size_t size)
{
	size_t used = 0;
	ssize_t n;

	while (used < size) {
		n = read(fd, buf + used, size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	return (ssize_t)used;
}

int tt_spec_file__read(const char *path, const char *dir, struct tt_spec_text *out, char *err,
		       size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd, ret;

	memset(out, 0, sizeof(*out));
	fd = open_spec(path, dir, &st, err, errlen);
	if (fd < 0)
		return fd;
	ret = check_owner(path, &st, err, errlen);
	if (ret)
		goto out;
	if (st.st_size > TT_SPEC_MAX_SIZE) {
		ret = read_fail(err, errlen, -EFBIG,
				"spec '%s' is larger than the limit of %d bytes", path,
				TT_SPEC_MAX_SIZE);
		goto out;
	}
	out->text = malloc((size_t)st.st_size + 1);
	if (!out->text) {
		ret = read_fail(err, errlen, -ENOMEM, "cannot read spec '%s': out of memory", path);
		goto out;
	}
	n = read_sized(fd, out->text, (size_t)st.st_size);
	if (n < 0) {
		ret = read_fail(err, errlen, (int)n, "cannot read spec '%s': %s", path,
				strerror((int)-n));
		goto out;
	}
	out->text[n] = '\0';
	out->len = (size_t)n;
	out->digest = XXH3_64bits(out->text, out->len) | 1; /* never 0 */
out:
	if (ret)
		tt_spec_text__release(out);
	close(fd);
	return ret;
}

void tt_spec_text__release(struct tt_spec_text *t)
{
	free(t->text);
	memset(t, 0, sizeof(*t));
}
