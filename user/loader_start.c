// SPDX-License-Identifier: MIT
/*
 * The loader's start without a pin directory, in parallel. Most of the
 * time from exec to "attached" is waiting: libbpf parses the kernel's BTF
 * (~10 ms, for the exec and exit programs' CO-RE reads and kfuncs) and the
 * verifier checks those programs (~10 ms); installing the rings in their
 * map of maps waits for an RCU grace period (~13 ms); so does the first
 * uprobe the agent creates. So the maps the hooks' programs use are made
 * here, before libbpf loads the object, and given to it; then one thread
 * loads the object and attaches its tracepoints, and another makes the
 * rings (zeroing their pages: milliseconds a CPU, which kept the load from
 * starting while they were made here) and installs them, while the agent
 * compiles, loads and attaches its hooks.
 * A uprobe's link waits for the rings (loader__rings_ready(): no hit may find a
 * CPU without its ring); what needs the object's programs, its .bss or
 * the `holds` map waits for the load (loader__ready()), and the agent waits
 * for both before it watches execs and scans /proc, so that no exec falls
 * between the scan and the exec program.
 *
 * With a pin directory, libbpf makes or reuses the pinned maps and the
 * start runs in line (tt_loader__new()).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "loader_internal.h"
#include "tasktap.skel.h"

/*
 * A map like `m` made here and given to the object, which will use it
 * instead of making one. `inner_fd`: the template of a map of maps, else
 * -1. 0 or -errno.
 */
static int make_map(struct bpf_map *m, int inner_fd)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(m),
		    .inner_map_fd = inner_fd >= 0 ? (__u32)inner_fd : 0);
	int fd, ret;

	fd = bpf_map_create(bpf_map__type(m), bpf_map__name(m), bpf_map__key_size(m),
			    bpf_map__value_size(m), bpf_map__max_entries(m), &opts);
	if (fd < 0)
		return -errno;
	ret = bpf_map__reuse_fd(m, fd); /* it holds a copy of the fd */
	close(fd);
	return ret;
}

/*
 * `frames` (task local storage) made here as make_map() makes the others,
 * early enough for the session programs built while the object loads: the
 * kernel takes such a map only with a BTF saying its key is an int, so a
 * BTF of an int and a byte array of the value's size is made for it.
 */
static int make_storage_map(struct bpf_map *m)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(m));
	struct btf *btf = btf__new_empty();
	int key, byte, value, fd, ret;

	if (!btf)
		return -ENOMEM;
	key = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	byte = btf__add_int(btf, "unsigned char", 1, 0);
	value = key > 0 && byte > 0 ? btf__add_array(btf, key, byte, bpf_map__value_size(m)) : -1;
	if (value < 0 || btf__load_into_kernel(btf)) {
		ret = value < 0 ? value : -errno;
		btf__free(btf);
		return ret;
	}
	opts.btf_fd = (__u32)btf__fd(btf);
	opts.btf_key_type_id = (__u32)key;
	opts.btf_value_type_id = (__u32)value;
	fd = bpf_map_create(bpf_map__type(m), bpf_map__name(m), bpf_map__key_size(m),
			    bpf_map__value_size(m), 0, &opts);
	ret = fd < 0 ? -errno : bpf_map__reuse_fd(m, fd);
	if (fd >= 0)
		close(fd);
	btf__free(btf);
	return ret;
}

/*
 * `rings`, the array of the rings, made with a ring of one page as its
 * template: the rings themselves are made on the rings' thread, and a ring
 * in the array need not have the template's size (with --pin, libbpf makes
 * the array from the object's one-page template too).
 */
static int make_rings_array(struct bpf_map *m)
{
	int tmpl =
		bpf_map_create(BPF_MAP_TYPE_RINGBUF, "tt_ring", 0, 0, (__u32)getpagesize(), NULL);
	int ret;

	if (tmpl < 0)
		return -errno;
	ret = make_map(m, tmpl);
	close(tmpl);
	return ret;
}

/* The maps make_maps() makes, taken one at a time by the two threads that make them. */
struct map_work {
	struct tt_loader *l;
	struct bpf_map **maps;
	int n;
	int next; /* the next one to take (atomic) */
	int err;  /* the helper's: 0, or -errno with msg */
	char msg[256];
};

/* Makes map m for the object. 0 or -errno. */
static int make_one(struct tt_loader *l, struct bpf_map *m)
{
	if (m == l->skel->maps.frames)
		return make_storage_map(m);
	if (m == l->skel->maps.rings)
		return make_rings_array(m);
	return make_map(m, -1);
}

/* Makes the maps of w no thread took yet, until none is left. 0 or -errno with a message. */
static int make_some(struct map_work *w, char *err, size_t errlen)
{
	for (;;) {
		int i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED);
		int ret;

		if (i >= w->n)
			return 0;
		ret = make_one(w->l, w->maps[i]);
		if (ret) {
			snprintf(err, errlen, "cannot create BPF map '%s': %s",
				 bpf_map__name(w->maps[i]), strerror(-ret));
			return ret;
		}
	}
}

static void *maps_main(void *arg)
{
	struct map_work *w = arg;

	w->err = make_some(w, w->msg, sizeof(w->msg));
	return NULL;
}

/*
 * Makes every map of the object but its data sections (libbpf maps those
 * into .bss and .rodata) and `holds`, whose values hold a bpf_timer: the
 * kernel takes such a map only with its BTF, which libbpf loads. The other
 * maps need none but `frames` (make_storage_map()). Two threads make them
 * (this one and a helper, when it starts): the preallocated hashes take
 * milliseconds each (~11 ms for all on one thread), and the load waits for
 * them all. 0 or -errno with a message.
 */
static int make_maps(struct tt_loader *l, char *err, size_t errlen)
{
	struct map_work w = {.l = l};
	struct bpf_map *m;
	pthread_t helper;
	bool helped;
	int ret;

	bpf_object__for_each_map(m, l->skel->obj)
	{
		w.n++;
	}
	w.maps = calloc((size_t)w.n, sizeof(*w.maps));
	if (!w.maps)
		return -ENOMEM;
	w.n = 0;
	bpf_object__for_each_map(m, l->skel->obj)
	{
		if (!bpf_map__is_internal(m) && m != l->skel->maps.holds)
			w.maps[w.n++] = m;
	}
	helped = pthread_create(&helper, NULL, maps_main, &w) == 0; /* else all made here */
	ret = make_some(&w, err, errlen);
	if (helped) {
		pthread_join(helper, NULL);
		if (!ret && w.err) {
			ret = w.err;
			snprintf(err, errlen, "%s", w.msg);
		}
	}
	free(w.maps);
	return ret;
}

/* The rings made and installed: making them zeroes their pages (milliseconds), on this thread. */
static void *rings_main(void *arg)
{
	struct tt_loader *l = arg;
	struct bg_step *s = &l->rings_step;

	s->err = loader__create_rings(l, s->msg, sizeof(s->msg));
	if (!s->err)
		s->err = loader__install_rings(l, s->msg, sizeof(s->msg));
	return NULL;
}

static void *load_main(void *arg)
{
	struct tt_loader *l = arg;

	l->load_step.err = loader__finish_object(l, l->load_step.msg, sizeof(l->load_step.msg));
	return NULL;
}

/* Starts `step` on a thread of its own running `fn`. 0 or -errno with a message. */
static int start_step(struct tt_loader *l, struct bg_step *step, void *(*fn)(void *), char *err,
		      size_t errlen)
{
	int ret = pthread_create(&step->thread, NULL, fn, l);

	if (ret) {
		snprintf(err, errlen, "cannot start a thread to load BPF: %s", strerror(ret));
		return -ret;
	}
	step->running = true;
	return 0;
}

int loader__start_in_background(struct tt_loader *l, char *err, size_t errlen)
{
	int ret = make_maps(l, err, errlen);

	/* the load first: the longest of the two */
	if (!ret)
		ret = start_step(l, &l->load_step, load_main, err, errlen);
	if (!ret)
		ret = start_step(l, &l->rings_step, rings_main, err, errlen);
	return ret;
}

/* Waits for `step` if it runs. Its result: 0 or -errno (the message stays in step->msg). */
static int join_step(struct bg_step *step)
{
	if (step->running) {
		pthread_join(step->thread, NULL);
		step->running = false;
	}
	return step->err;
}

int loader__rings_ready(struct tt_loader *l)
{
	return join_step(&l->rings_step);
}

int loader__ready(struct tt_loader *l)
{
	int ret = join_step(&l->rings_step);
	int load = join_step(&l->load_step);

	return ret ? ret : load;
}

int tt_loader__ready(struct tt_loader *l, char *err, size_t errlen)
{
	int ret = loader__ready(l);

	if (ret)
		snprintf(err, errlen, "%s",
			 l->rings_step.err ? l->rings_step.msg : l->load_step.msg);
	return ret;
}
