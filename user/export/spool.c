// SPDX-License-Identifier: MIT
/* The on-disk spool of encoded batches the collector could not take yet. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"

#define NAME_LEN 32

struct entry {
	uint64_t seq;
	uint64_t size; /* on disk, header included */
	uint32_t count;
};

struct tt_spool {
	char dir[4096];
	int dirfd; /* the directory checked at open: every file is reached through it */
	uint64_t max_bytes;
	uint64_t next_seq;
	struct entry *at; /* at[first .. n) are the files, oldest first */
	size_t first, n, cap;
	struct tt_spool_stats st;
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The name of batch `seq` in the spool's directory. */
static void file_name(uint64_t seq, const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 "%s", seq, ext);
}

/* How a batch file is opened for reading: never blocking, never through a link. */
#define READ_FLAGS (O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		path[i] = i < n ? '/' : '\0';
	}
	return 0;
}

static int add_entry(struct tt_spool *s, uint64_t seq, uint64_t size, uint32_t count)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct entry *grown;

		/* compact first: entries before `first` are gone */
		if (s->first) {
			memmove(s->at, s->at + s->first, (s->n - s->first) * sizeof(*s->at));
			s->n -= s->first;
			s->first = 0;
		}
		if (s->n == s->cap) {
			grown = realloc(s->at, cap * sizeof(*s->at));
			if (!grown)
				return -ENOMEM;
			s->at = grown;
			s->cap = cap;
		}
	}
	s->at[s->n++] = (struct entry){.seq = seq, .size = size, .count = count};
	s->st.files++;
	s->st.bytes += size;
	s->st.items += count;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Whether a file found in the spool can be a batch: a regular file no
 * larger than the spool may hold, with room for a header. Its size bounds
 * everything read from it.
 */
static bool usable_file(const struct tt_spool *s, const struct stat *sb)
{
	return S_ISREG(sb->st_mode) && sb->st_size >= TT_SPOOL_HEADER &&
	       (uint64_t)sb->st_size <= s->max_bytes;
}

/* Reads and checks a header. Returns the payload length, or -EBADMSG. */
static int64_t check_header(const uint8_t *h, uint64_t file_size, uint32_t *count)
{
	uint64_t len;

	if (memcmp(h, TT_SPOOL_MAGIC, 8) || get32(h + 8) != TT_SPOOL_VERSION)
		return -EBADMSG;
	len = get64(h + 16);
	if (len != file_size - TT_SPOOL_HEADER)
		return -EBADMSG;
	*count = get32(h + 12);
	return (int64_t)len;
}

static int scan(struct tt_spool *s)
{
	int fd = dup(s->dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	int ret = 0;

	if (!d) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		return ret;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		uint8_t h[TT_SPOOL_HEADER];
		struct stat sb;
		uint64_t seq;
		uint32_t count = 0;
		char *end;
		int fd;

		if (name[0] == '.' && strstr(name, ".tmp")) {
			/* a write that never finished */
			unlinkat(s->dirfd, name, 0);
			continue;
		}
		if (strlen(name) != 20 || strcmp(name + 16, ".tts"))
			continue;
		errno = 0;
		seq = strtoull(name, &end, 16);
		if (errno || end != name + 16)
			continue;
		fd = openat(s->dirfd, name, READ_FLAGS);
		if (fd < 0) {
			if (errno == ELOOP) { /* a link where a batch should be */
				unlinkat(s->dirfd, name, 0);
				s->st.corrupt++;
			}
			continue;
		}
		if (fstat(fd, &sb) || !usable_file(s, &sb) ||
		    pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
		    check_header(h, (uint64_t)sb.st_size, &count) < 0) {
			close(fd);
			unlinkat(s->dirfd, name, 0);
			s->st.corrupt++;
			continue;
		}
		close(fd);
		ret = add_entry(s, seq, (uint64_t)sb.st_size, count);
		if (ret)
			break;
		if (seq >= s->next_seq)
			s->next_seq = seq + 1;
	}
	closedir(d);
	if (s->n > s->first) /* an empty spool has no array at all */
		qsort(s->at + s->first, s->n - s->first, sizeof(*s->at), cmp_entry);
	return ret;
}

/*
 * Whether the directory `st` (named `name`) may hold the spool, or a
 * directory above it: one that someone else could write to would let them
 * plant or remove batches (replayed to the collector as the agent's) or
 * swap the spool itself. The spool's own directory must be the agent
 * user's and writable by it alone; one above it, root's or the agent
 * user's, and writable by others only with the sticky bit (as /tmp), which
 * keeps them from renaming what is not theirs. Returns 0, or -EPERM with
 * the reason in err.
 */
static int check_dir(const char *dir, const char *name, const struct stat *st, bool own, char *err,
		     size_t len)
{
	uid_t me = geteuid();

	if (own && st->st_uid != me) {
		snprintf(err, len, "refusing spool directory '%s': owned by uid %u, not by uid %u",
			 dir, (unsigned int)st->st_uid, (unsigned int)me);
		return -EPERM;
	}
	if (own && (st->st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, len,
			 "refusing spool directory '%s': writable by users other than its owner "
			 "(mode %03o)",
			 dir, (unsigned int)(st->st_mode & 0777));
		return -EPERM;
	}
	if (!own && st->st_uid != 0 && st->st_uid != me) {
		snprintf(err, len,
			 "refusing spool directory '%s': '%s' above it is owned by uid %u", dir,
			 name, (unsigned int)st->st_uid);
		return -EPERM;
	}
	if (!own && (st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX)) {
		snprintf(err, len,
			 "refusing spool directory '%s': '%s' above it is writable by other users",
			 dir, name);
		return -EPERM;
	}
	return 0;
}

/*
 * Opens the spool's directory `dir` (s->dir) and checks it and every
 * directory above it, walking up through ".." from the opened directory
 * itself so that what is checked is what holds the spool, whatever a path
 * or a link says. The directory itself must not be a symbolic link.
 * Returns 0 with s->dirfd open, or -errno with the reason in err.
 */
static int open_dir(struct tt_spool *s, char *err, size_t len)
{
	char above[sizeof(s->dir)];
	struct stat st, up;
	int fd, parent, ret;
	char *slash;

	fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* a link fails as ELOOP or, O_DIRECTORY checked first, as ENOTDIR */
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) && !lstat(s->dir, &st) &&
	    S_ISLNK(st.st_mode)) {
		snprintf(err, len, "refusing spool directory '%s': a symbolic link", s->dir);
		return -EPERM;
	}
	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, len, "cannot use spool directory '%s': %s", s->dir, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	ret = check_dir(s->dir, s->dir, &st, true, err, len);
	s->dirfd = fd;
	snprintf(above, sizeof(above), "%s", s->dir);
	fd = dup(fd);
	while (!ret && fd >= 0) {
		/* the name a person knows the directory above by, for messages */
		slash = strrchr(above, '/');
		if (slash && slash != above)
			*slash = '\0';
		else
			snprintf(above, sizeof(above), "/");
		parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = parent;
		if (fd < 0 || fstat(fd, &up)) {
			ret = -errno;
			snprintf(err, len, "cannot use spool directory '%s': %s", s->dir,
				 strerror(-ret));
			break;
		}
		ret = check_dir(s->dir, above, &up, false, err, len);
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino)
			break; /* the root: its ".." is itself */
		st = up;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

struct tt_spool *tt_spool__open(const char *dir, uint64_t max_bytes, char *err, size_t len)
{
	struct tt_spool *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	s->dirfd = -1;
	if (strlen(dir) >= sizeof(s->dir)) {
		snprintf(err, len, "spool directory '%s': name too long", dir);
		free(s);
		errno = ENAMETOOLONG;
		return NULL;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->max_bytes = max_bytes;
	ret = make_dirs(dir);
	if (ret) {
		snprintf(err, len, "cannot use spool directory '%s': %s", dir, strerror(-ret));
		goto fail;
	}
	ret = open_dir(s, err, len);
	if (ret)
		goto fail;
	ret = scan(s);
	if (!ret && faccessat(s->dirfd, ".", W_OK, AT_EACCESS))
		ret = -errno;
	if (ret) {
		snprintf(err, len, "cannot use spool directory '%s': %s", dir, strerror(-ret));
		goto fail;
	}
	return s;
fail:
	tt_spool__free(s);
	errno = -ret;
	return NULL;
}

void tt_spool__free(struct tt_spool *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->at);
	free(s);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tt_spool__push(struct tt_spool *s, const void *data, size_t len, uint32_t count)
{
	uint8_t h[TT_SPOOL_HEADER];
	char tmp[NAME_LEN], name[NAME_LEN];
	struct timespec now;
	uint64_t seq = s->next_seq;
	int fd, ret;

	if (s->st.bytes + len + TT_SPOOL_HEADER > s->max_bytes) {
		s->st.full++;
		return -ENOSPC;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	memcpy(h, TT_SPOOL_MAGIC, 8);
	put32(h + 8, TT_SPOOL_VERSION);
	put32(h + 12, count);
	put64(h + 16, len);
	put32(h + 24, (uint32_t)crc32(0L, data, (uInt)len));
	put32(h + 28, (uint32_t)now.tv_sec);
	snprintf(tmp, sizeof(tmp), ".%016" PRIx64 ".tmp", seq);
	file_name(seq, ".tts", name, sizeof(name));
	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = write_all(fd, h, sizeof(h));
	if (!ret)
		ret = write_all(fd, data, len);
	if (!ret && fdatasync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && renameat(s->dirfd, tmp, s->dirfd, name))
		ret = -errno;
	if (ret) {
		unlinkat(s->dirfd, tmp, 0);
		return ret;
	}
	ret = add_entry(s, seq, len + TT_SPOOL_HEADER, count);
	if (ret)
		return ret;
	s->next_seq = seq + 1;
	s->st.written++;
	return 0;
}

/* Forgets the oldest entry, deleting its file. */
static void drop_oldest(struct tt_spool *s)
{
	struct entry *e = &s->at[s->first];
	char name[NAME_LEN];

	file_name(e->seq, ".tts", name, sizeof(name));
	unlinkat(s->dirfd, name, 0);
	s->st.files--;
	s->st.bytes -= e->size;
	s->st.items -= e->count;
	s->first++;
	if (s->first == s->n)
		s->first = s->n = 0;
}

/* Reads the oldest file whole and checks it. Returns 0, -EBADMSG, or -errno. */
static int read_oldest(struct tt_spool *s, void **data, size_t *len, uint32_t *count)
{
	const struct entry *e = &s->at[s->first];
	uint8_t h[TT_SPOOL_HEADER];
	char name[NAME_LEN];
	struct stat sb;
	int64_t n;
	uint8_t *buf;
	int fd, ret = 0;

	file_name(e->seq, ".tts", name, sizeof(name));
	fd = openat(s->dirfd, name, READ_FLAGS);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &sb) || !usable_file(s, &sb) ||
	    pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		close(fd);
		return -EBADMSG;
	}
	n = check_header(h, (uint64_t)sb.st_size, count);
	if (n < 0) {
		close(fd);
		return -EBADMSG;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	if (pread(fd, buf, (size_t)n, TT_SPOOL_HEADER) != n ||
	    (uint32_t)crc32(0L, buf, (uInt)n) != get32(h + 24))
		ret = -EBADMSG;
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	*data = buf;
	*len = (size_t)n;
	return 0;
}

int tt_spool__peek(struct tt_spool *s, void **data, size_t *len, uint32_t *count)
{
	while (s->first < s->n) {
		int ret = read_oldest(s, data, len, count);

		if (ret != -EBADMSG)
			return ret;
		drop_oldest(s);
		s->st.corrupt++;
	}
	return -ENOENT;
}

int tt_spool__pop(struct tt_spool *s)
{
	if (s->first == s->n)
		return -ENOENT;
	drop_oldest(s);
	s->st.removed++;
	return 0;
}

bool tt_spool__empty(const struct tt_spool *s)
{
	return s->first == s->n;
}

void tt_spool__stats(const struct tt_spool *s, struct tt_spool_stats *st)
{
	*st = s->st;
}
