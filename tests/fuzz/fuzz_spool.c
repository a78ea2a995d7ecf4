// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: spool files left by an earlier run (or planted). The
 * input is up to four files, each a flags byte, a 2-byte length and its
 * bytes; flags pick the file's sequence number and whether the harness
 * fixes the header's length and CRC-32, so that runs get past the checks
 * too. The files go into a fresh directory under /dev/shm, then the spool
 * opens it, replays every batch, and takes one more.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "export/spool.h"

static char dir[64];

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[400];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static void put_file(uint8_t flags, uint8_t *bytes, size_t len)
{
	char path[400];
	int fd;

	if ((flags & 0x10) && len >= TT_SPOOL_HEADER) {
		uint64_t plen = len - TT_SPOOL_HEADER;
		uint32_t crc = (uint32_t)crc32(0L, bytes + TT_SPOOL_HEADER, (uInt)plen);

		memcpy(bytes, TT_SPOOL_MAGIC, 8);
		memcpy(bytes + 16, &plen, 8);
		memcpy(bytes + 24, &crc, 4);
	}
	if (flags & 0x20)
		snprintf(path, sizeof(path), "%s/.%016x.tmp", dir, flags & 0xf);
	else
		snprintf(path, sizeof(path), "%s/%016x.tts", dir, flags & 0xf);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (len && write(fd, bytes, len) != (ssize_t)len)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tt_spool_stats st;
	struct tt_spool *s;
	char err[256];
	void *batch;
	size_t len;
	uint32_t count;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/dev/shm/tt-fuzz-spool-%d", (int)getpid());
		if (mkdir(dir, 0700) && errno != EEXIST)
			abort();
	}
	empty_dir();
	for (int i = 0; i < 4 && size >= 3; i++) {
		uint8_t flags = data[0];
		size_t n = (size_t)data[1] | (size_t)data[2] << 8;
		uint8_t *bytes;

		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		bytes = malloc(n ? n : 1);
		if (!bytes)
			abort();
		memcpy(bytes, data, n);
		put_file(flags, bytes, n);
		free(bytes);
		data += n;
		size -= n;
	}
	s = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	if (!s)
		return 0;
	for (int i = 0; i < 8 && !tt_spool__empty(s); i++) {
		if (tt_spool__peek(s, &batch, &len, &count) == 0)
			free(batch);
		tt_spool__pop(s);
	}
	tt_spool__push(s, "x", 1, 1);
	if (tt_spool__peek(s, &batch, &len, &count) == 0)
		free(batch);
	tt_spool__stats(s, &st);
	tt_spool__free(s);
	return 0;
}
