// SPDX-License-Identifier: MIT
/*
 * The /proc reader: this test process as the kernel shows it, a fake /proc
 * root built here (comm, exe, status, stat of pid 4242), and the parsers
 * of /proc text.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "proc.h"
#include "tmpdir.h"

#define NO_PID 0x7ffffff0

static void test_nspid_is_the_innermost(void **state)
{
	assert_int_equal(tt_status__nspid("Name:\tw\nNSpid:\t4242\t7\t1\nNSpgid:\t1\n"), 1);
	assert_int_equal(tt_status__nspid("Name:\tw\nNSpid:\t4242\n"), 4242);
	assert_int_equal(tt_status__nspid("Name:\tw\nPid:\t4242\n"), 0);
}

static void test_start_time_is_field_22(void **state)
{
	/* a name with spaces and parentheses: fields count from the last ')' */
	assert_int_equal(tt_stat__start_time("4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
					     "1 2 0 0 20 0 1 0 987654 1234 56"),
			 987654);
	assert_int_equal(tt_stat__start_time("4242 (w) S 1 2 3"), 0); /* cut short */
	assert_int_equal(tt_stat__start_time("no parenthesis"), 0);
	assert_int_equal(tt_stat__start_time("4242 (w)"), 0);
}

static void test_this_process(void **state)
{
	struct tt_proc_info pi;
	char path[64], shown[PATH_MAX], self[PATH_MAX];

	assert_non_null(realpath("/proc/self/exe", self));
	assert_int_equal(tt_proc__info(NULL, getpid(), &pi), 0);
	assert_string_equal(pi.comm, "test_proc");
	assert_string_equal(pi.exe, self);
	assert_int_equal(pi.vpid, getpid());
	assert_false(pi.other_mnt_ns);
	assert_int_equal(tt_proc__info(NULL, NO_PID, &pi), -ESRCH);

	assert_int_equal(tt_proc__exe(getpid(), path, sizeof(path), shown, sizeof(shown)), 0);
	assert_string_equal(shown, self);
	assert_int_equal(tt_proc__exe(NO_PID, path, sizeof(path), shown, sizeof(shown)), -ESRCH);
	assert_true(tt_proc__alive(getpid()));
	assert_false(tt_proc__alive(NO_PID));
}

struct mapped {
	const char *want; /* the file to find, as this process opens it */
	int found;
};

static int count_if_same(const char *path, void *ctx)
{
	struct mapped *m = ctx;
	struct stat a, b;

	if (stat(path, &a) == 0 && stat(m->want, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		m->found++;
	return 0;
}

static int stop_at_first(const char *path, void *ctx)
{
	(*(int *)ctx)++;
	return 7;
}

static void test_mappings_of_this_process(void **state)
{
	struct mapped exec = {.want = "/proc/self/exe"}, all = {.want = "/proc/self/exe"};
	int calls = 0;

	assert_int_equal(tt_proc__for_each_mapping(getpid(), true, count_if_same, &exec), 0);
	assert_int_equal(tt_proc__for_each_mapping(getpid(), false, count_if_same, &all), 0);
	assert_true(exec.found >= 1);	     /* its code */
	assert_true(all.found > exec.found); /* and its data */
	assert_int_equal(tt_proc__for_each_mapping(getpid(), false, stop_at_first, &calls), 7);
	assert_int_equal(calls, 1);
	assert_int_equal(tt_proc__for_each_mapping(NO_PID, false, stop_at_first, &calls), 0);
}

static void test_root_opens_what_the_process_sees(void **state)
{
	char root[64], self[PATH_MAX], inside[PATH_MAX + 64];
	struct stat a, b;

	assert_non_null(realpath("/proc/self/exe", self));
	tt_proc__root(getpid(), root, sizeof(root));
	snprintf(inside, sizeof(inside), "%s%s", root, self);
	assert_int_equal(stat(inside, &a), 0);
	assert_int_equal(stat(self, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
}

/* ---- a /proc of our own -------------------------------------------------- */

struct fake {
	char root[64];
	char prog[96]; /* the executable of 4242, as it was before it was replaced */
	char exe[96];  /* root/4242/exe */
};

static void put(const struct fake *f, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", f->root, name);
	out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	fclose(out);
}

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	char path[PATH_MAX];

	if (!f)
		return -1;
	if (tmpdir__make(f->root, sizeof(f->root), "proc"))
		return -1;
	snprintf(path, sizeof(path), "%s/4242", f->root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/self", f->root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/17", f->root);
	mkdir(path, 0755);
	/* a replaced executable: the link says so, and still opens what it was */
	snprintf(f->prog, sizeof(f->prog), "%s/prog", f->root);
	snprintf(path, sizeof(path), "%s (deleted)", f->prog);
	put(f, "prog (deleted)", "");
	snprintf(f->exe, sizeof(f->exe), "%s/4242/exe", f->root);
	if (symlink(path, f->exe))
		return -1;
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;
	int ret = tmpdir__remove(f->root);

	free(f);
	return ret;
}

static void test_fake_root_files(void **state)
{
	struct fake *f = *state;
	char buf[64], exe[PATH_MAX];

	put(f, "4242/stat", "4242 (worker) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 1\n");
	assert_int_equal(tt_proc__read(f->root, 4242, "stat", buf, sizeof(buf)), 63);
	assert_int_equal(strlen(buf), 63); /* cut to the buffer, NUL-terminated */
	assert_int_equal(tt_proc__read(f->root, 4242, "cgroup", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tt_proc__exe_path(f->root, 4242, exe, sizeof(exe)), strlen(f->prog));
	assert_string_equal(exe, f->prog);
	assert_int_equal(tt_proc__exe_path(f->root, 17, exe, sizeof(exe)), -ENOENT);
}

static void test_fake_root_info(void **state)
{
	struct fake *f = *state;
	struct tt_proc_info pi;

	put(f, "4242/comm", "worker\n");
	put(f, "4242/status", "Name:\tworker\nNSpid:\t4242\t9\n");
	assert_int_equal(tt_proc__info(f->root, 4242, &pi), 0);
	assert_string_equal(pi.comm, "worker");
	assert_string_equal(pi.exe, f->prog);
	assert_string_equal(pi.open, f->exe);
	assert_int_equal(pi.vpid, 9);
	assert_int_equal(pi.pid, 4242);
	assert_int_equal(tt_proc__info(f->root, 5, &pi), -ESRCH);
	/* a kernel thread: a name, no executable */
	put(f, "17/comm", "kworker/0:1\n");
	assert_int_equal(tt_proc__info(f->root, 17, &pi), -ENOENT);
}

static int collect(pid_t pid, void *ctx)
{
	pid_t *seen = ctx;

	seen[seen[0] + 1] = pid;
	seen[0]++;
	return 0;
}

static void test_fake_root_processes(void **state)
{
	struct fake *f = *state;
	pid_t seen[8] = {0};

	/* numbered entries only: not "self" */
	assert_int_equal(tt_proc__for_each(f->root, collect, seen), 0);
	assert_int_equal(seen[0], 2);
	assert_true((seen[1] == 4242 && seen[2] == 17) || (seen[1] == 17 && seen[2] == 4242));
	assert_int_equal(tt_proc__for_each("/nonexistent", collect, seen), -ENOENT);
}

/* A child, and the child of that child, descend from this process; not the other way round. */
static void test_descends(void **state)
{
	int ready[2];
	pid_t child, grandchild = 0;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pid_t g = fork();

		if (g == 0) {
			pause();
			_exit(0);
		}
		if (write(ready[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(ready[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
	assert_true(tt_proc__descends(child, getpid()));
	assert_true(tt_proc__descends(grandchild, getpid()));
	assert_true(tt_proc__descends(grandchild, child));
	assert_false(tt_proc__descends(getpid(), child));
	assert_false(tt_proc__descends(child, grandchild));
	kill(grandchild, SIGKILL);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nspid_is_the_innermost),
		cmocka_unit_test(test_start_time_is_field_22),
		cmocka_unit_test(test_this_process),
		cmocka_unit_test(test_mappings_of_this_process),
		cmocka_unit_test(test_root_opens_what_the_process_sees),
		cmocka_unit_test(test_descends),
		cmocka_unit_test_setup_teardown(test_fake_root_files, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fake_root_info, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fake_root_processes, fake_setup,
						fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
