// SPDX-License-Identifier: MIT
/* The records an agent hands to the next one (see handover.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "handover.h"

#define HANDOVER_NAME "handover"

static void handover_path(const char *dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, HANDOVER_NAME);
}

int tt_handover__put(const char *dir, const void *recs, size_t size, size_t n, char *err,
		     size_t errlen)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	handover_path(dir, path, sizeof(path));
	unlink(path);
	if (!n)
		return 0;
	if (size > UINT_MAX || n > UINT_MAX) {
		snprintf(err, errlen, "cannot hand over %zu records of %zu bytes", n, size);
		return -E2BIG;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tt_handover", sizeof(__u32), (__u32)size, (__u32)n,
			    NULL);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the handover map (%zu x %zu bytes): %s", n,
			 size, strerror(-ret));
		return ret;
	}
	for (__u32 i = 0; !ret && i < n; i++) {
		if (bpf_map_update_elem(fd, &i, (const char *)recs + i * size, BPF_ANY))
			ret = -errno;
	}
	if (!ret && bpf_obj_pin(fd, path))
		ret = -errno;
	if (ret)
		snprintf(err, errlen, "cannot store the handover in '%s': %s", path,
			 strerror(-ret));
	close(fd);
	return ret;
}

int tt_handover__take(const char *dir, size_t size, void (*fn)(const void *rec, void *ctx),
		      void *ctx, char *err, size_t errlen)
{
	struct bpf_map_info info = {0};
	__u32 info_len = sizeof(info);
	char path[PATH_MAX];
	void *rec = NULL;
	int fd, ret;

	handover_path(dir, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(-ret));
		return ret;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		ret = -errno;
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-ret));
	} else if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != size) {
		ret = -EPROTO;
		snprintf(err, errlen,
			 "'%s' holds %u records of %u bytes from another version of tasktap "
			 "(this one reads %zu bytes): left alone",
			 path, info.max_entries, info.value_size, size);
	} else if (!(rec = malloc(size))) {
		ret = -ENOMEM;
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(ENOMEM));
	} else {
		for (__u32 i = 0; i < info.max_entries; i++) {
			if (bpf_map_lookup_elem(fd, &i, rec) == 0)
				fn(rec, ctx);
		}
		ret = (int)info.max_entries;
		unlink(path);
	}
	free(rec);
	close(fd);
	return ret;
}
