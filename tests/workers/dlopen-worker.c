/* SPDX-License-Identifier: MIT */
/*
 * Target of the library test (tests/e2e/test_library.py): loads
 * libttjob.so by name with dlopen (found through LD_LIBRARY_PATH, as the
 * dynamic loader finds it) and runs jobs through it. No tracing code.
 *
 *	dlopen-worker [N]      N jobs (default 4), ids 10, 11, ...
 *
 * Prints one JSON object on stdout: its pid, the library's path as mapped,
 * and every job (id, name, milliseconds, return value).
 */
#define _GNU_SOURCE /* dlinfo */
#include <dlfcn.h>
#include <inttypes.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_JOBS 32

typedef int (*run_fn)(uint64_t id, const char *name, long ms);

static const char *const names[] = {"Render", "Transcode"};

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 4;
	struct link_map *map = NULL;
	int rcs[MAX_JOBS];
	void *lib;
	run_fn run;

	if (n < 0 || n > MAX_JOBS)
		n = MAX_JOBS;
	lib = dlopen("libttjob.so", RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopen-worker: %s\n", dlerror());
		return 1;
	}
	run = (run_fn)dlsym(lib, "ttjob_run");
	if (!run || dlinfo(lib, RTLD_DI_LINKMAP, &map)) {
		fprintf(stderr, "dlopen-worker: %s\n", dlerror());
		return 1;
	}
	/* the names are read before use, as a worker reads its jobs */
	for (int i = 0; i < 2; i++)
		fprintf(stderr, "job type %s\n", names[i]);
	for (long i = 0; i < n; i++)
		rcs[i] = run((uint64_t)(10 + i), names[i % 2], 20 + 10 * (i % 2));
	printf("{\"pid\": %d, \"library\": \"%s\", \"jobs\": [", (int)getpid(), map->l_name);
	for (long i = 0; i < n; i++)
		printf("{\"id\": %ld, \"name\": \"%s\", \"ms\": %ld, \"rc\": %d}%s", 10 + i,
		       names[i % 2], 20 + 10 * (i % 2), rcs[i], i + 1 < n ? ", " : "");
	printf("]}\n");
	dlclose(lib);
	return 0;
}
