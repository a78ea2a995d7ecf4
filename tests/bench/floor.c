// SPDX-License-Identifier: MIT
/*
 * floor: attaches the reference programs of floor.bpf.c at OFFSET in the
 * file BINARY (entry and return, every process), says "attached" on stderr
 * and waits for SIGINT or SIGTERM. The bench gives it the offset `tasktap
 * check` prints, so that the references and tasktap probe the same
 * instruction.
 *
 * usage: floor [--ring | --entry] BINARY OFFSET
 *   (default)  the empty uprobe + uretprobe
 *   --entry    the empty uprobe alone (a USDT site: a nop, no return)
 *   --ring     the minimal two-event tracer, drained every 1 ms; prints
 *              "floor: N events" on stderr when stopped
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "floor.skel.h"

static volatile sig_atomic_t stop;
static unsigned long long events;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	events++;
	return 0;
}

int main(int argc, char **argv)
{
	struct floor_bpf *skel = NULL;
	struct bpf_link *entry = NULL, *ret = NULL;
	struct ring_buffer *rb = NULL;
	struct timespec ms = {0, 1000000};
	unsigned long long offset;
	bool ring = argc > 1 && !strcmp(argv[1], "--ring");
	bool only_entry = argc > 1 && !strcmp(argv[1], "--entry");
	int shift = ring || only_entry;
	char *end;
	int rc = 1;

	if (argc != 3 + shift) {
		fprintf(stderr, "usage: floor [--ring | --entry] BINARY OFFSET\n");
		return 2;
	}
	offset = strtoull(argv[2 + shift], &end, 0);
	if (*end) {
		fprintf(stderr, "floor: invalid offset '%s'\n", argv[2 + shift]);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	skel = floor_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "floor: cannot load the BPF programs: %s\n", strerror(errno));
		goto cleanup;
	}
	entry = bpf_program__attach_uprobe(ring ? skel->progs.ring_entry : skel->progs.floor_entry,
					   false, -1, argv[1 + shift], offset);
	if (!only_entry)
		ret = bpf_program__attach_uprobe(ring ? skel->progs.ring_return
						      : skel->progs.floor_return,
						 true, -1, argv[1 + shift], offset);
	if (!entry || (!only_entry && !ret)) {
		fprintf(stderr, "floor: cannot attach to '%s' at 0x%llx: %s\n", argv[1 + shift],
			offset, strerror(errno));
		goto cleanup;
	}
	if (ring) {
		rb = ring_buffer__new(bpf_map__fd(skel->maps.ring), on_event, NULL, NULL);
		if (!rb) {
			fprintf(stderr, "floor: cannot map the ring buffer: %s\n", strerror(errno));
			goto cleanup;
		}
	}
	fprintf(stderr, "floor: attached\n");
	while (!stop) {
		if (!rb) {
			pause();
			continue;
		}
		nanosleep(&ms, NULL);
		ring_buffer__consume(rb);
	}
	if (rb) {
		ring_buffer__consume(rb);
		fprintf(stderr, "floor: %llu events\n", events);
	}
	rc = 0;
cleanup:
	ring_buffer__free(rb);
	bpf_link__destroy(ret);
	bpf_link__destroy(entry);
	floor_bpf__destroy(skel);
	return rc;
}
