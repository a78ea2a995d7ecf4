// SPDX-License-Identifier: MIT
/*
 * The loader: the BPF object opened, loaded and freed, per-CPU rings, the
 * exit and exec tracepoints, holds at exec and the exec watch tables,
 * drain and statistics. Uprobes are attached in loader_attach.c, pinned
 * and adopted in loader_pins.c, USDT sites in loader_usdt.c, what each
 * hook runs in loader_progs.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfgen.h"
#include "log.h"
#include "elf.h"
#include "hold.h"
#include "loader.h"
#include "loader_internal.h"
#include "reaper.h"
#include "usdt.h"
#include "tasktap/usdt.h"
#include "tasktap.skel.h"

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

/*
 * The ring of `cpu`: the one pinned by an earlier agent (whatever its
 * size), else a new one, pinned when there is a pin directory. Returns
 * its fd or -errno.
 */
static int pinned_ring(struct tt_loader *l, int cpu, size_t bytes)
{
	char name[32], path[PATH_MAX];
	int fd, ret;

	if (!l->pin_dir) {
		fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "tt_ring", 0, 0, bytes, NULL);
		return fd < 0 ? -errno : fd;
	}
	snprintf(name, sizeof(name), "ring-%d", cpu);
	loader__pin_path(l, name, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "tt_ring", 0, 0, bytes, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Maps ring `cpu`'s consumer and producer pages read-only (libbpf's own
 * mapping is not reachable through its API): the drain reads there, with
 * no system call, whether a record is pending. 0 or -errno.
 */
static int map_positions(struct tt_loader *l, int cpu)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (!l->ring_pages) {
		l->ring_pages = calloc(l->ncpus, sizeof(*l->ring_pages));
		if (!l->ring_pages)
			return -ENOMEM;
	}
	p = mmap(NULL, 2 * (size_t)page, PROT_READ, MAP_SHARED, l->ring_fds[cpu], 0);
	if (p == MAP_FAILED)
		return -errno;
	l->ring_pages[cpu] = p;
	return 0;
}

int loader__create_rings(struct tt_loader *l, char *err, size_t errlen)
{
	size_t bytes = l->ring_bytes;

	l->ring_fds = calloc(l->ncpus, sizeof(*l->ring_fds));
	if (!l->ring_fds)
		return -ENOMEM;
	for (int cpu = 0; cpu < l->ncpus; cpu++)
		l->ring_fds[cpu] = -1;
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		int fd = pinned_ring(l, cpu, bytes), ret;

		if (fd < 0) {
			snprintf(err, errlen, "cannot create a %zu-byte ring buffer: %s", bytes,
				 strerror(-fd));
			return fd;
		}
		l->ring_fds[cpu] = fd;
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
		ret = map_positions(l, cpu);
		if (ret) {
			snprintf(err, errlen,
				 "cannot map the positions of ring buffer of cpu %d: %s", cpu,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int loader__install_rings(struct tt_loader *l, char *err, size_t errlen)
{
	int outer = bpf_map__fd(l->skel->maps.rings);
	__u32 *cpus, count = l->ncpus;
	int ret = 0;

	cpus = calloc(l->ncpus, sizeof(*cpus));
	if (!cpus)
		return -ENOMEM;
	for (int cpu = 0; cpu < l->ncpus; cpu++)
		cpus[cpu] = cpu;
	/*
	 * In one batch: the kernel waits for an RCU grace period (milliseconds)
	 * after each update of a map of maps, once per batch
	 */
	if (bpf_map_update_batch(outer, cpus, l->ring_fds, &count, NULL) == 0)
		goto out;
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		if (bpf_map_update_elem(outer, &cpu, &l->ring_fds[cpu], BPF_ANY)) {
			ret = -errno;
			snprintf(err, errlen, "cannot install ring buffer of cpu %d: %s", cpu,
				 strerror(-ret));
			goto out;
		}
	}
out:
	free(cpus);
	return ret;
}

/* The exit tracepoint: the pinned link of an earlier agent, else a new one (pinned). */
static int attach_exit(struct tt_loader *l)
{
	char path[PATH_MAX];

	if (l->pin_dir) {
		loader__pin_path(l, "link-exit", path, sizeof(path));
		l->exit_link = bpf_link__open(path);
		if (l->exit_link)
			return 0;
	}
	l->exit_link = bpf_program__attach(l->skel->progs.tt_exit);
	if (!l->exit_link)
		return -errno;
	if (l->pin_dir && bpf_link__pin(l->exit_link, path))
		return -errno;
	return 0;
}

/*
 * The per-CPU array of lost events per hook id, which the compiled programs
 * count into: the one pinned by an earlier agent, else a new one (pinned
 * when there is a pin directory). Its fd or -errno.
 */
static int hook_lost_map(struct tt_loader *l)
{
	char path[PATH_MAX];
	int fd, ret;

	if (l->pin_dir) {
		loader__pin_path(l, "map-hook_lost", path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0)
			return fd;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "hook_lost", sizeof(__u32), sizeof(__u64),
			    TT_MAX_PROBES + 1, NULL);
	if (fd < 0)
		return -errno;
	if (l->pin_dir && bpf_obj_pin(fd, path)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * How long BPF may hold a process at exec: TT_HOLD_NS, or TASKTAP_HOLD_MS
 * (1 to 60000) for tests that need an agent to be too late.
 */
static __u64 hold_ns(void)
{
	bool bad = false;
	__u64 ns = tt_hold__ns(&bad);

	if (bad)
		tt_warn("ignoring TASKTAP_HOLD_MS '%s': not a number of milliseconds from 1 to "
			"60000",
			getenv("TASKTAP_HOLD_MS"));
	return ns;
}

/*
 * Tells BPF who this agent is, so that holds wait for it while it is at
 * work. Its pid is the one BPF knows only in the initial pid namespace:
 * elsewhere (a container without the host's pids) BPF finds no such agent,
 * and holds are the shorter TT_HOLD_NS.
 */
static void agent_identity(struct tt_loader *l)
{
	unsigned long long ticks = 0;
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0 || tt_hold__start_ticks(getpid(), &ticks))
		return;
	l->skel->bss->tick_ns = 1000000000ULL / (unsigned long long)hz;
	l->skel->bss->agent_start_ticks = ticks;
	l->skel->bss->agent_tgid = (__u32)getpid();
	if (l->watchdog > 0 && tt_hold__start_ticks(l->watchdog, &ticks) == 0) {
		l->skel->bss->watchdog_start_ticks = ticks;
		l->skel->bss->watchdog_tgid = (__u32)l->watchdog;
	}
}

/*
 * Lets BPF hold processes at exec once the hold map outlives this agent
 * (pinned), so that their deadlines do: else none is held, and a fast
 * worker may run its first task before its probes are in.
 */
static void start_holding(struct tt_loader *l)
{
	char path[PATH_MAX], err[PATH_MAX + 128];

	if (!l->pin_dir) {
		if (tt_hold__pin(bpf_map__fd(l->skel->maps.holds), path, sizeof(path), err,
				 sizeof(err))) {
			tt_warn("%s: processes are not held at exec, their first tasks may run "
				"before their probes are in",
				err);
			return;
		}
		l->hold_pin = strdup(path);
	}
	agent_identity(l);
	l->skel->bss->hold_ns = hold_ns();
}

/* Opens the BPF object and asks for its shared maps to be pinned (--pin). 0 or -errno. */
static int open_object(struct tt_loader *l, size_t bytes, char *err, size_t errlen)
{
	int ret;

	l->skel = tasktap_bpf__open();
	if (!l->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-ret));
		return ret;
	}
	l->wakeup_watermark = bytes / 4;
	l->skel->rodata->wakeup_watermark = l->wakeup_watermark;
	/* loaded on first need only (loader__load_python(), loader__load_interpreter()) */
	bpf_program__set_autoload(l->skel->progs.tt_py_entry, false);
	bpf_program__set_autoload(l->skel->progs.tt_py_return, false);
	if (!l->interpret) {
		bpf_program__set_autoload(l->skel->progs.tt_entry, false);
		bpf_program__set_autoload(l->skel->progs.tt_return, false);
		bpf_program__set_autoload(l->skel->progs.tt_usdt_site, false);
	}
	if (l->pin_dir && (ret = loader__pin_maps(l))) {
		snprintf(err, errlen, "cannot pin maps in '%s': %s", l->pin_dir, strerror(-ret));
		return ret;
	}
	return 0;
}

/* Loads the opened object: the maps not made already, and its programs. 0 or -errno. */
static int load_object(struct tt_loader *l, char *err, size_t errlen)
{
	/* the rings are made apart, at their own size: ring maps in a map-of-maps need not
	 * match the template's size */
	int ret = tasktap_bpf__load(l->skel);

	if (ret)
		snprintf(err, errlen,
			 "cannot load the BPF programs: %s (set TASKTAP_DEBUG_LIBBPF=1 for the "
			 "verifier log%s)",
			 strerror(-ret),
			 l->pin_dir ? "; maps pinned by another version of tasktap are removed "
				      "with rm -r PIN_DIR"
				    : "");
	return ret;
}

/*
 * Lets BPF hold processes at exec and attaches the programs every agent
 * runs: process exits and execs. 0 or -errno.
 */
static int attach_tracepoints(struct tt_loader *l, char *err, size_t errlen)
{
	int ret;

	start_holding(l);
	ret = attach_exit(l);
	if (ret) {
		snprintf(err, errlen, "cannot attach to tracepoint sched_process_exit: %s",
			 strerror(-ret));
		return ret;
	}
	l->exec_link = bpf_program__attach(l->skel->progs.tt_exec);
	if (!l->exec_link) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach to tracepoint sched_process_exec: %s",
			 strerror(-ret));
		return ret;
	}
	return 0;
}

int loader__finish_object(struct tt_loader *l, char *err, size_t errlen)
{
	int ret = load_object(l, err, errlen);

	return ret ? ret : attach_tracepoints(l, err, errlen);
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
	l->hook_lost_fd = -1;
	l->reaper = tt_reaper__new(); /* NULL: such probes are closed at once instead */
	l->site_progs_fd = -1;
	l->interpret = opts->interpret;
	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0 || l->ncpus > TT_MAX_CPUS) {
		snprintf(err, errlen, "unsupported number of possible CPUs: %d", l->ncpus);
		ret = -ENOTSUP;
		goto fail;
	}
	l->watchdog = opts->watchdog;
	if (opts->pin_dir) {
		ret = loader__make_pin_dir(opts->pin_dir, err, errlen);
		if (ret)
			goto fail;
		l->pin_dir = strdup(opts->pin_dir);
		if (!l->pin_dir) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	l->ring_bytes = bytes;
	ret = open_object(l, bytes, err, errlen);
	if (!ret && l->pin_dir)
		ret = load_object(l, err, errlen); /* libbpf makes or reuses the pinned maps */
	if (!ret && l->pin_dir)
		ret = loader__create_rings(l, err, errlen); /* else on the rings' thread */
	if (ret)
		goto fail;
	l->hook_lost_fd = hook_lost_map(l);
	if (l->hook_lost_fd < 0) {
		ret = l->hook_lost_fd;
		snprintf(err, errlen, "cannot create the map of lost events per hook: %s",
			 strerror(-ret));
		goto fail;
	}
	/* without pins, the object loads beside the hooks' attachment (loader_start.c) */
	ret = l->pin_dir ? loader__install_rings(l, err, errlen)
			 : loader__start_in_background(l, err, errlen);
	if (!ret && l->pin_dir)
		ret = attach_tracepoints(l, err, errlen);
	if (ret)
		goto fail;
	return l;
fail:
	tt_loader__free(l);
	errno = -ret;
	return NULL;
}

/* Closes this agent's handle of a link; a pinned one stays in the kernel when `keep`. */
static void drop_link(struct bpf_link *link, bool keep)
{
	if (!link)
		return;
	if (keep && bpf_link__pin_path(link))
		bpf_link__disconnect(link); /* no detach: the pin keeps it attached */
	bpf_link__destroy(link);
}

void loader__free_progs(struct tt_loader *l, uint32_t id, bool all)
{
	struct gen_prog **pp = &l->progs;

	while (*pp) {
		struct gen_prog *p = *pp;

		if (!all && p->id != id) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (p->fd >= 0)
			close(p->fd); /* links attached keep the program */
		free(p->insns);
		free(p);
	}
}

void tt_loader__free(struct tt_loader *l)
{
	if (!l)
		return;
	loader__ready(l); /* what runs in the background uses l */
	tt_loader__detach(l, true);
	tt_reaper__free(l->reaper); /* the probes of exited processes it still holds */
	drop_link(l->exit_link, true);
	bpf_link__destroy(l->exec_link);
	bpf_link__destroy(l->fork_link);
	/* no more holds: continue what is held, or the pin would outlive its use */
	if (l->skel && l->skel->maps.holds && bpf_map__fd(l->skel->maps.holds) >= 0)
		tt_hold__release_all(bpf_map__fd(l->skel->maps.holds));
	if (l->hold_pin)
		unlink(l->hold_pin);
	free(l->hold_pin);
	ring_buffer__free(l->rb);
	for (int cpu = 0; l->ring_fds && cpu < l->ncpus; cpu++) {
		if (l->ring_fds[cpu] >= 0)
			close(l->ring_fds[cpu]);
	}
	free(l->ring_fds);
	for (int cpu = 0; l->ring_pages && cpu < l->ncpus; cpu++) {
		if (l->ring_pages[cpu])
			munmap((void *)l->ring_pages[cpu], 2 * (size_t)sysconf(_SC_PAGESIZE));
	}
	free(l->ring_pages);
	if (l->hook_lost_fd >= 0)
		close(l->hook_lost_fd);
	if (l->site_progs_fd >= 0)
		close(l->site_progs_fd);
	loader__free_progs(l, 0, true);
	for (int i = 0; i <= TT_MAX_PROBES; i++)
		free(l->hooks[i]);
	tasktap_bpf__destroy(l->interp);
	tasktap_bpf__destroy(l->py);
	tasktap_bpf__destroy(l->skel);
	free(l->pin_dir);
	free(l);
}

int tt_loader__continue(struct tt_loader *l, pid_t pid)
{
	int ret = loader__ready(l);

	if (ret)
		return ret;
	return tt_hold__release(bpf_map__fd(l->skel->maps.holds), pid);
}

bool tt_loader__held(struct tt_loader *l, pid_t pid)
{
	return loader__ready(l) == 0 && tt_hold__held(bpf_map__fd(l->skel->maps.holds), pid);
}

int tt_loader__continue_held(struct tt_loader *l)
{
	int ret = loader__ready(l);

	if (ret)
		return ret;
	return tt_hold__release_all(bpf_map__fd(l->skel->maps.holds)) + tt_hold__sweep();
}

int tt_loader__follow(struct tt_loader *l, pid_t pid)
{
	__u32 key = (__u32)pid;
	int ret = loader__ready(l);
	__u8 one = 1;

	if (ret)
		return ret;
	/* it runs on every fork of the host: attached only when needed */
	if (!l->fork_link) {
		l->fork_link = bpf_program__attach(l->skel->progs.tt_fork);
		if (!l->fork_link)
			return -errno;
	}
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.follow), &key, &one, BPF_ANY))
		return -errno;
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

void tt_loader__unwatch_comm(struct tt_loader *l, const char *comm)
{
	char key[TT_COMM_LEN] = {0};

	memcpy(key, comm, strnlen(comm, sizeof(key) - 1));
	bpf_map_delete_elem(bpf_map__fd(l->skel->maps.watch_comms), key);
}

int tt_loader__watch_dir(struct tt_loader *l, uint32_t slot, const char *path, uint32_t len,
			 uint32_t flags)
{
	struct tt_watch_dir d = {.len = len, .flags = flags};

	if (slot >= TT_MAX_WATCH_DIRS || len > TT_WATCH_DIR_LEN)
		return -ERANGE;
	memcpy(d.path, path, strnlen(path, len));
	memset(d.mask, 0xff, len); /* the bytes that count, in the words BPF compares */
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.watch_dirs), &slot, &d, BPF_ANY))
		return -errno;
	return 0;
}

int tt_loader__watch_prefix(struct tt_loader *l, uint32_t slot, const char *comm, uint32_t len,
			    uint32_t flags)
{
	struct tt_watch_prefix p = {.len = len > TT_COMM_LEN ? TT_COMM_LEN : len, .flags = flags};

	if (slot >= TT_MAX_WATCH_PREFIXES)
		return -ERANGE;
	memcpy(p.comm, comm, strnlen(comm, p.len));
	memset(p.mask, 0xff, p.len); /* the bytes that count, in the words BPF compares */
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.watch_prefixes), &slot, &p, BPF_ANY))
		return -errno;
	return 0;
}

int tt_loader__watch_cgroup(struct tt_loader *l, uint32_t slot, uint64_t id, uint32_t flags)
{
	struct tt_watch_cgroup c = {.id = id, .flags = flags};

	if (slot >= TT_MAX_WATCH_CGROUPS)
		return -ERANGE;
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.watch_cgroups), &slot, &c, BPF_ANY))
		return -errno;
	return 0;
}

void tt_loader__watch_all_execs(struct tt_loader *l, bool on)
{
	if (loader__ready(l))
		return; /* tt_loader__ready() says why */
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

int tt_loader__ring_pos(const struct tt_loader *l, int ring, uint64_t *cons, uint64_t *prod)
{
	const volatile uint64_t *pages;

	if (ring < 0 || ring >= l->ncpus || !l->ring_pages || !l->ring_pages[ring])
		return -ENOENT;
	pages = l->ring_pages[ring];
	/* the consumer's page, then the producer's: both positions at their start */
	*cons = __atomic_load_n(&pages[0], __ATOMIC_ACQUIRE);
	*prod = __atomic_load_n(&pages[sysconf(_SC_PAGESIZE) / sizeof(*pages)], __ATOMIC_ACQUIRE);
	return 0;
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

uint64_t tt_loader__hook_lost(const struct tt_loader *l, uint32_t id)
{
	uint64_t vals[TT_MAX_CPUS] = {0};
	uint64_t sum = 0;

	if (l->hook_lost_fd < 0 || bpf_map_lookup_elem(l->hook_lost_fd, &id, vals))
		return 0;
	for (int cpu = 0; cpu < l->ncpus; cpu++)
		sum += vals[cpu];
	return sum;
}

int tt_loader__shared_sites(const struct tt_loader *l, int *members)
{
	int n = 0;

	*members = 0;
	for (const struct shared_site *s = l->shared; s; s = s->next) {
		n++;
		*members += (int)s->n;
	}
	return n;
}

void tt_loader__programs(const struct tt_loader *l, int *compiled, int *interpreted)
{
	*compiled = *interpreted = 0;
	for (const struct gen_prog *p = l->progs; p; p = p->next) {
		if (p->fd >= 0)
			(*compiled)++;
		else
			(*interpreted)++;
	}
}

int tt_loader__attached(const struct tt_loader *l)
{
	return l->nattached;
}
