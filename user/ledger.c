// SPDX-License-Identifier: MIT
/* The span ledger pinned in --pin (ledger.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "ledger.h"

#define LEDGER_NAME  "ledger"
#define LEDGER_MAGIC 0x31726567646c7474ULL /* "ttldger1" */
#define LEDGER_SIZE  4096		   /* one page: what mmap maps */

struct tt_ledger {
	int fd;
	struct tt_ledger_page *page; /* mmap'd: LEDGER_SIZE bytes */
};

/* Opens the pinned map, or creates and pins one. Returns its fd, or -errno with a message. */
static int ledger_map(const char *path, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path), ret;

	if (fd >= 0) {
		/* another version's, or not a ledger: made anew */
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_MAP_TYPE_ARRAY &&
		    info.value_size == LEDGER_SIZE && info.max_entries == 1 &&
		    (info.map_flags & BPF_F_MMAPABLE))
			return fd;
		close(fd);
		unlink(path);
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tt_ledger", sizeof(__u32), LEDGER_SIZE, 1, &o);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the span ledger: %s", strerror(-ret));
		return ret;
	}
	if (bpf_obj_pin(fd, path)) {
		ret = -errno;
		snprintf(err, errlen, "cannot pin the span ledger as '%s': %s", path,
			 strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

/* What the page says of the agent before; a page of zeros (new) says nothing. */
static void read_prev(const struct tt_ledger_page *p, struct tt_ledger_prev *prev)
{
	memset(prev, 0, sizeof(*prev));
	if (p->magic != LEDGER_MAGIC)
		return;
	prev->found = true;
	prev->pid = p->pid;
	prev->killed = p->running != 0;
	if (p->spans.queued > p->spans.settled)
		prev->unsent = p->spans.queued - p->spans.settled;
	/* their spans never reached the queue; a killed agent took their ends with it */
	if (prev->killed)
		prev->unsent += p->ends_unread;
	prev->counted_lost = prev->killed ? p->counted_lost : 0;
}

struct tt_ledger *tt_ledger__open(const char *pin_dir, struct tt_ledger_prev *prev, char *err,
				  size_t errlen)
{
	struct tt_ledger *lg = calloc(1, sizeof(*lg));
	char path[PATH_MAX];
	int ret;

	memset(prev, 0, sizeof(*prev));
	if (!lg) {
		snprintf(err, errlen, "cannot open the span ledger: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", pin_dir, LEDGER_NAME);
	lg->fd = ledger_map(path, err, errlen);
	if (lg->fd < 0) {
		ret = lg->fd;
		free(lg);
		errno = -ret;
		return NULL;
	}
	lg->page = mmap(NULL, LEDGER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, lg->fd, 0);
	if (lg->page == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "cannot map the span ledger '%s': %s", path, strerror(-ret));
		close(lg->fd);
		free(lg);
		errno = -ret;
		return NULL;
	}
	read_prev(lg->page, prev);
	memset(lg->page, 0, sizeof(*lg->page));
	lg->page->pid = (uint64_t)getpid();
	lg->page->running = 1;
	__atomic_store_n(&lg->page->magic, LEDGER_MAGIC, __ATOMIC_RELEASE);
	return lg;
}

struct tt_ledger_page *tt_ledger__page(struct tt_ledger *lg)
{
	return lg->page;
}

void tt_ledger__free(struct tt_ledger *lg, bool clean)
{
	if (!lg)
		return;
	if (clean)
		__atomic_store_n(&lg->page->running, 0, __ATOMIC_RELEASE);
	munmap(lg->page, LEDGER_SIZE);
	close(lg->fd);
	free(lg);
}
