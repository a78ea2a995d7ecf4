// SPDX-License-Identifier: MIT
/* The agent's spec files: --spec in order, then --spec-dir's *.yaml by name; digests. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <cmocka.h>

#include "specs.h"

static char dir[64];

static void touch(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0); /* whatever the umask: only its owner writes it */
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tt-specs-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[96];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_files_then_dir_by_name(void **state)
{
	const char *files[] = {"/etc/one.yaml", "/etc/two.yaml"};
	struct tt_spec_files f;
	char err[256], want[128];

	(void)state;
	touch("b.yaml", "x");
	touch("a.yml", "x");
	touch("notes.txt", "x");
	touch("..data.yaml", "x"); /* a ConfigMap volume's own entries */
	assert_int_equal(tt_spec_files__collect(files, 2, dir, &f, err, sizeof(err)), 0);
	assert_int_equal(f.n, 4);
	assert_string_equal(f.paths[0], "/etc/one.yaml");
	assert_string_equal(f.paths[1], "/etc/two.yaml");
	snprintf(want, sizeof(want), "%s/a.yml", dir);
	assert_string_equal(f.paths[2], want);
	snprintf(want, sizeof(want), "%s/b.yaml", dir);
	assert_string_equal(f.paths[3], want);
	tt_spec_files__release(&f);
	assert_int_equal(tt_spec_files__collect(NULL, 0, "/nonexistent-dir", &f, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "cannot read spec directory '/nonexistent-dir'"));
}

/* Reads dir/name as a --spec-dir file (in_dir) or as a file given by name. */
static int read_one(const char *name, bool in_dir, struct tt_spec_text *t, char *err, size_t len)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return tt_spec_file__read(path, in_dir ? dir : NULL, t, err, len);
}

static void test_digest_follows_the_bytes(void **state)
{
	struct tt_spec_text t;
	char err[256];
	uint64_t a;

	(void)state;
	touch("s.yaml", "service: a\n");
	assert_int_equal(read_one("s.yaml", true, &t, err, sizeof(err)), 0);
	assert_string_equal(t.text, "service: a\n");
	assert_int_equal(t.len, 11);
	assert_int_not_equal(t.digest, 0);
	a = t.digest;
	tt_spec_text__release(&t);
	touch("s.yaml", "service: a\n");
	assert_int_equal(read_one("s.yaml", false, &t, err, sizeof(err)), 0);
	assert_int_equal(t.digest, a);
	tt_spec_text__release(&t);
	touch("s.yaml", "service: b\n");
	assert_int_equal(read_one("s.yaml", true, &t, err, sizeof(err)), 0);
	assert_int_not_equal(t.digest, a);
	tt_spec_text__release(&t);
	assert_int_equal(tt_spec_file__read("/nonexistent", NULL, &t, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot open spec '/nonexistent': No such file or directory");
	assert_null(t.text);
}

/* A FIFO is refused at once: opening or reading it used to wait for a writer forever. */
static void test_fifo_refused_without_blocking(void **state)
{
	struct tt_spec_text t;
	char err[256], path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/f.yaml", dir);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_int_equal(tt_spec_file__read(path, NULL, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not a regular file (a FIFO)"));
	assert_int_equal(tt_spec_file__read(path, dir, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not a regular file (a FIFO)"));
}

/* A device is refused without being opened for reading. */
static void test_device_refused(void **state)
{
	struct tt_spec_text t;
	char err[256];

	(void)state;
	assert_int_equal(tt_spec_file__read("/dev/zero", NULL, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "spec '/dev/zero' is not a regular file (a character device)");
	assert_int_equal(tt_spec_file__read("/tmp", NULL, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "spec '/tmp' is not a regular file (a directory)");
}

/*
 * A regular file whose reads block (/proc/kmsg says it holds 0 bytes, then
 * waits for kernel messages): read by its size, so not read at all. Needs
 * root (CAP_SYSLOG) to open it, as the agent has.
 */
static void test_blocking_proc_file_read_by_its_size(void **state)
{
	struct tt_spec_text t;
	char err[256];

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped, because opening /proc/kmsg needs root\n");
		skip();
	}
	assert_int_equal(tt_spec_file__read("/proc/kmsg", NULL, &t, err, sizeof(err)), 0);
	assert_int_equal(t.len, 0);
	assert_string_equal(t.text, "");
	tt_spec_text__release(&t);
}

/* In --spec-dir a link out of the directory is refused: another user's link to a secret. */
static void test_link_out_of_spec_dir_refused(void **state)
{
	struct tt_spec_text t;
	char err[256], path[128], want[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/shadow.yaml", dir);
	assert_int_equal(symlink("/etc/shadow", path), 0);
	assert_int_equal(tt_spec_file__read(path, dir, &t, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want),
		 "refusing spec '%s': a symbolic link out of the spec directory", path);
	assert_string_equal(err, want);
	assert_null(t.text);
	/* a relative one that climbs out is the same */
	snprintf(path, sizeof(path), "%s/up.yaml", dir);
	assert_int_equal(symlink("../../etc/passwd", path), 0);
	assert_int_equal(tt_spec_file__read(path, dir, &t, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "a symbolic link out of the spec directory"));
	/* given by name, the user chose the file and its link is followed */
	assert_int_equal(tt_spec_file__read(path, NULL, &t, err, sizeof(err)), 0);
	tt_spec_text__release(&t);
}

/* Links inside the directory, as a Kubernetes ConfigMap volume makes them, are followed. */
static void test_configmap_links_followed(void **state)
{
	struct tt_spec_text t;
	char err[256], path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/..2026_12_07", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	touch("..2026_12_07/w.yaml", "service: w\n");
	snprintf(path, sizeof(path), "%s/..data", dir);
	assert_int_equal(symlink("..2026_12_07", path), 0);
	snprintf(path, sizeof(path), "%s/w.yaml", dir);
	assert_int_equal(symlink("..data/w.yaml", path), 0);
	assert_int_equal(read_one("w.yaml", true, &t, err, sizeof(err)), 0);
	assert_string_equal(t.text, "service: w\n");
	tt_spec_text__release(&t);
}

/* Makes openat2 fail with ENOSYS in this process, as on a kernel before 5.6. */
static void without_openat2(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
		_exit(90);
}

/*
 * Without openat2 no link in --spec-dir is followed, in or out of it: a
 * link is refused, never a file read through it. Run in a child, whose
 * exit status says which check failed.
 */
static void test_no_openat2_follows_no_link(void **state)
{
	struct tt_spec_text t;
	char err[256], path[128];
	int status;
	pid_t pid;

	(void)state;
	touch("real.yaml", "service: r\n");
	snprintf(path, sizeof(path), "%s/in.yaml", dir);
	assert_int_equal(symlink("real.yaml", path), 0);
	snprintf(path, sizeof(path), "%s/out.yaml", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		without_openat2();
		if (read_one("real.yaml", true, &t, err, sizeof(err)) || strcmp(t.text, "service: r\n"))
			_exit(1);
		if (read_one("out.yaml", true, &t, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, "is not a regular file (a symbolic link)"))
			_exit(2);
		if (read_one("in.yaml", true, &t, err, sizeof(err)) != -EINVAL)
			_exit(3);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_writable_by_others_refused(void **state)
{
	struct tt_spec_text t;
	char err[256], path[128];

	(void)state;
	touch("g.yaml", "service: g\n");
	snprintf(path, sizeof(path), "%s/g.yaml", dir);
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(tt_spec_file__read(path, dir, &t, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable by users other than its owner"));
	assert_null(t.text);
}

static void test_larger_than_limit_refused(void **state)
{
	struct tt_spec_text t;
	char err[256], path[128];

	(void)state;
	touch("big.yaml", "");
	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	assert_int_equal(truncate(path, TT_SPEC_MAX_SIZE + 1), 0);
	assert_int_equal(tt_spec_file__read(path, dir, &t, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "is larger than the limit of 1048576 bytes"));
	assert_int_equal(truncate(path, TT_SPEC_MAX_SIZE), 0);
	assert_int_equal(tt_spec_file__read(path, dir, &t, err, sizeof(err)), 0);
	assert_int_equal(t.len, TT_SPEC_MAX_SIZE);
	tt_spec_text__release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_files_then_dir_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_follows_the_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_refused_without_blocking, setup, teardown),
		cmocka_unit_test(test_device_refused),
		cmocka_unit_test(test_blocking_proc_file_read_by_its_size),
		cmocka_unit_test_setup_teardown(test_link_out_of_spec_dir_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_configmap_links_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_openat2_follows_no_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_by_others_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_larger_than_limit_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
