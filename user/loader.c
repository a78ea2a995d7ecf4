// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "tasktap.skel.h"

struct tt_loader {
	struct tasktap_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *exit_link;
	struct bpf_link *exec_link;
	struct bpf_link **links; /* entry and return links, two per probe */
	size_t nlinks;
	size_t cap_links;
	int nattached; /* hooks attached */
	int ncpus;
	int *ring_fds;
	tt_event_fn on_event;
	void *ctx;
};

static int ring_sample(void *ctx, void *data, size_t size)
{
	struct tt_loader *l = ctx;

	return l->on_event(data, size, l->ctx);
}

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("TASKTAP_DEBUG_LIBBPF"))
		return vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_DEBUG && getenv("TASKTAP_DEBUG_LIBBPF"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* Creates one ring per possible CPU and plugs it into the `rings` array. */
static int make_rings(struct tt_loader *l, size_t bytes, char *err, size_t errlen)
{
	int outer = bpf_map__fd(l->skel->maps.rings);

	l->ring_fds = calloc(l->ncpus, sizeof(*l->ring_fds));
	if (!l->ring_fds)
		return -ENOMEM;
	for (int cpu = 0; cpu < l->ncpus; cpu++)
		l->ring_fds[cpu] = -1;
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "tt_ring", 0, 0, bytes, NULL);
		int ret;

		if (fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot create a %zu-byte ring buffer: %s", bytes,
				 strerror(-ret));
			return ret;
		}
		l->ring_fds[cpu] = fd;
		if (bpf_map_update_elem(outer, &cpu, &fd, BPF_ANY)) {
			ret = -errno;
			snprintf(err, errlen, "cannot install ring buffer of cpu %d: %s", cpu,
				 strerror(-ret));
			return ret;
		}
		if (!l->rb)
			l->rb = ring_buffer__new(fd, ring_sample, l, NULL);
		else if (ring_buffer__add(l->rb, fd, ring_sample, l))
			l->rb = NULL;
		if (!l->rb) {
			ret = -errno;
			snprintf(err, errlen, "cannot map ring buffer of cpu %d: %s", cpu,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

struct tt_loader *tt_loader__new(const struct tt_loader_opts *opts, char *err, size_t errlen)
{
	size_t bytes = opts->ring_bytes ? opts->ring_bytes : TT_DEFAULT_RING_BYTES;
	struct tt_loader *l;
	int ret;

	libbpf_set_print(silent_print);
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->on_event = opts->on_event;
	l->ctx = opts->ctx;
	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0 || l->ncpus > TT_MAX_CPUS) {
		snprintf(err, errlen, "unsupported number of possible CPUs: %d", l->ncpus);
		ret = -ENOTSUP;
		goto fail;
	}

	l->skel = tasktap_bpf__open();
	if (!l->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-ret));
		goto fail;
	}
	l->skel->rodata->wakeup_watermark = bytes / 4;
	/* the rings are made below, at their own size: ring maps in a map-of-maps need not
	 * match the template's size */
	ret = tasktap_bpf__load(l->skel);
	if (ret) {
		snprintf(err, errlen,
			 "cannot load the BPF programs: %s (set TASKTAP_DEBUG_LIBBPF=1 for the "
			 "verifier log)",
			 strerror(-ret));
		goto fail;
	}
	ret = make_rings(l, bytes, err, errlen);
	if (ret)
		goto fail;
	l->exit_link = bpf_program__attach(l->skel->progs.tt_exit);
	if (!l->exit_link) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach to tracepoint sched_process_exit: %s",
			 strerror(-ret));
		goto fail;
	}
	l->exec_link = bpf_program__attach(l->skel->progs.tt_exec);
	if (!l->exec_link) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach to tracepoint sched_process_exec: %s",
			 strerror(-ret));
		goto fail;
	}
	return l;
fail:
	tt_loader__free(l);
	errno = -ret;
	return NULL;
}

void tt_loader__free(struct tt_loader *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nlinks; i++)
		bpf_link__destroy(l->links[i]);
	free(l->links);
	bpf_link__destroy(l->exit_link);
	bpf_link__destroy(l->exec_link);
	ring_buffer__free(l->rb);
	for (int cpu = 0; l->ring_fds && cpu < l->ncpus; cpu++) {
		if (l->ring_fds[cpu] >= 0)
			close(l->ring_fds[cpu]);
	}
	free(l->ring_fds);
	tasktap_bpf__destroy(l->skel);
	free(l);
}

int tt_loader__set_hook(struct tt_loader *l, uint32_t id, const struct tt_hook_prog *prog)
{
	if (id == 0 || id > TT_MAX_PROBES)
		return -ERANGE;
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.probes), &id, prog, BPF_ANY))
		return -errno;
	return 0;
}

static int keep_link(struct tt_loader *l, struct bpf_link *link)
{
	if (l->nlinks == l->cap_links) {
		size_t cap = l->cap_links ? l->cap_links * 2 : 16;
		struct bpf_link **links = realloc(l->links, cap * sizeof(*links));

		if (!links)
			return -ENOMEM;
		l->links = links;
		l->cap_links = cap;
	}
	l->links[l->nlinks++] = link;
	return 0;
}

static int attach_one(struct tt_loader *l, const struct bpf_program *prog, bool retprobe,
		      uint32_t id, const char *path, uint64_t offset, pid_t pid)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe, .bpf_cookie = id);
	struct bpf_link *link;
	int ret;

	link = bpf_program__attach_uprobe_opts(prog, pid, path, offset, &opts);
	if (!link)
		return -errno;
	ret = keep_link(l, link);
	if (ret)
		bpf_link__destroy(link);
	return ret;
}

int tt_loader__attach(struct tt_loader *l, uint32_t id, const char *path, uint64_t offset,
		      bool retprobe, pid_t pid, char *err, size_t errlen)
{
	int ret;

	ret = attach_one(l, l->skel->progs.tt_entry, false, id, path, offset, pid);
	if (!ret && retprobe) {
		ret = attach_one(l, l->skel->progs.tt_return, true, id, path, offset, pid);
		if (ret)
			bpf_link__destroy(l->links[--l->nlinks]);
	}
	if (ret)
		snprintf(err, errlen, "cannot attach uprobe to '%s' at offset 0x%llx: %s", path,
			 (unsigned long long)offset, strerror(-ret));
	else
		l->nattached++;
	return ret;
}

int tt_loader__attach_usdt(struct tt_loader *l, uint32_t id, const char *path, const char *provider,
			   const char *name, pid_t pid, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_usdt_opts, opts, .usdt_cookie = id);
	struct bpf_link *link;
	int ret;

	link = bpf_program__attach_usdt(l->skel->progs.tt_usdt, pid, path, provider, name, &opts);
	if (!link) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach to USDT probe %s:%s in '%s': %s", provider,
			 name, path, strerror(-ret));
		return ret;
	}
	ret = keep_link(l, link);
	if (ret) {
		bpf_link__destroy(link);
		return ret;
	}
	l->nattached++;
	return 0;
}

int tt_loader__watch_comm(struct tt_loader *l, const char *comm, bool stop)
{
	char key[TT_COMM_LEN] = {0};
	__u32 val = TT_WATCH_REPORT | (stop ? TT_WATCH_STOP : 0);

	memcpy(key, comm, strnlen(comm, sizeof(key) - 1)); /* NUL-padded, as the kernel's */
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.watch_comms), key, &val, BPF_ANY))
		return -errno;
	return 0;
}

void tt_loader__watch_all_execs(struct tt_loader *l, bool on)
{
	l->skel->bss->watch_all_execs = on;
}

int tt_loader__epoll_fd(const struct tt_loader *l)
{
	return ring_buffer__epoll_fd(l->rb);
}

int tt_loader__drain(struct tt_loader *l)
{
	return ring_buffer__consume(l->rb);
}

uint64_t tt_loader__stat(const struct tt_loader *l, enum tt_stat which)
{
	uint64_t vals[TT_MAX_CPUS] = {0};
	uint64_t sum = 0;
	__u32 key = which;

	if (bpf_map_lookup_elem(bpf_map__fd(l->skel->maps.stats), &key, vals))
		return 0;
	for (int cpu = 0; cpu < l->ncpus; cpu++)
		sum += vals[cpu];
	return sum;
}

int tt_loader__attached(const struct tt_loader *l)
{
	return l->nattached;
}

void tt_loader__detach(struct tt_loader *l)
{
	for (size_t i = 0; i < l->nlinks; i++)
		bpf_link__destroy(l->links[i]);
	l->nlinks = 0;
	l->nattached = 0;
}
