// SPDX-License-Identifier: MIT
/*
 * holdmeter: times how long processes stay stopped at exec for discovery,
 * from their exec to the SIGCONT that continues them, whoever sends it.
 * Says "attached" on stderr, and when stopped (SIGINT, SIGTERM) prints
 *
 *   holdmeter: N continued, longest stop X ms, mean Y ms, M never continued
 *
 * where "never continued" counts processes still without a SIGCONT (they
 * may have exited after one from elsewhere, or be stopped still).
 *
 * usage: holdmeter PREFIX     processes whose name starts with PREFIX
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "holdmeter.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Entries left in the map: processes with an exec and no SIGCONT. */
static int left(int fd)
{
	__u32 key, next;
	int n = 0;

	for (int ret = bpf_map_get_next_key(fd, NULL, &next); ret == 0;
	     ret = bpf_map_get_next_key(fd, &key, &next)) {
		key = next;
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct holdmeter_bpf *skel;
	size_t len;
	int err;

	if (argc != 2 || !argv[1][0]) {
		fprintf(stderr, "usage: %s PREFIX\n", argv[0]);
		return 2;
	}
	len = strnlen(argv[1], 15);
	skel = holdmeter_bpf__open();
	if (!skel) {
		fprintf(stderr, "holdmeter: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	memcpy((char *)skel->rodata->prefix, argv[1], len);
	skel->rodata->prefix_len = (__u32)len;
	err = holdmeter_bpf__load(skel);
	if (!err)
		err = holdmeter_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "holdmeter: cannot load or attach: %s\n", strerror(-err));
		holdmeter_bpf__destroy(skel);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "holdmeter: attached\n");
	while (!stop)
		pause();
	printf("holdmeter: %llu continued, longest stop %.1f ms, mean %.1f ms, %d never "
	       "continued\n",
	       (unsigned long long)skel->bss->continued, skel->bss->longest_ns / 1e6,
	       skel->bss->continued ? skel->bss->total_ns / 1e6 / skel->bss->continued : 0.0,
	       left(bpf_map__fd(skel->maps.execs)));
	holdmeter_bpf__destroy(skel);
	return 0;
}
