// SPDX-License-Identifier: MIT
/* Discovery's pure helpers: the process names a binary: can run under, path globs. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "discover.h"

static void test_comm_prefix(void **state)
{
	char comm[TT_COMM_LEN];

	(void)state;
	/* a plain name: the whole of it and its NUL */
	assert_int_equal(tt_glob__comm_prefix("/usr/bin/worker", comm), 7);
	assert_string_equal(comm, "worker");
	/* a glob: the literal start of the base name */
	assert_int_equal(tt_glob__comm_prefix("/opt/*/img-*-worker", comm), 4);
	assert_memory_equal(comm, "img-", 4);
	/* a name the kernel cuts to 15 bytes: a prefix of 15 */
	assert_int_equal(tt_glob__comm_prefix("/bin/a-very-long-worker-name", comm), 15);
	assert_memory_equal(comm, "a-very-long-wor", 15);
	/* a base name that starts with a glob character: every process may be one */
	assert_int_equal(tt_glob__comm_prefix("/opt/workers/*", comm), 0);
}

static struct tt_comm_prefix pat(const char *path)
{
	struct tt_comm_prefix p;

	p.len = tt_glob__comm_prefix(path, p.comm);
	return p;
}

/* Whether some pattern of p[0..n) matches the process name `comm`. */
static bool matched(const struct tt_comm_prefix *p, int n, const char *comm)
{
	char name[TT_COMM_LEN] = {0};

	strncpy(name, comm, TT_COMM_LEN - 1);
	for (int i = 0; i < n; i++) {
		if (!memcmp(name, p[i].comm, p[i].len))
			return true;
	}
	return false;
}

static void test_prefixes_fit_the_table(void **state)
{
	static const char *const names[] = {"img-a",	  "img-b",     "img-c",
					    "zip-worker", "zip-retry", "mailer"};
	struct tt_comm_prefix p[8];
	int n = 0;

	(void)state;
	for (int i = 0; i < 6; i++)
		p[n++] = pat(names[i]);
	p[n++] = pat("/opt/*/img-*");	 /* covers the img-x names */
	p[n++] = pat("/usr/bin/mailer"); /* a duplicate */
	/* room enough: covered and duplicate patterns go, the rest stay exact */
	assert_int_equal(tt_comm_prefix__fit(p, n, 16), 4);
	for (int i = 0; i < 6; i++)
		assert_true(matched(p, 4, names[i]));
	assert_false(matched(p, 4, "zip"));	 /* zip-worker is exact */
	assert_false(matched(p, 4, "mailer-2")); /* and so is mailer */
	/* two slots: the zip- names share "zip-", and mailer cannot share with img- */
	n = tt_comm_prefix__fit(p, 4, 3);
	assert_int_equal(n, 3);
	for (int i = 0; i < 6; i++)
		assert_true(matched(p, n, names[i]));
	assert_true(matched(p, n, "zip-other"));
	assert_false(matched(p, n, "bash"));
	/* one slot: nothing all of them share */
	assert_int_equal(tt_comm_prefix__fit(p, n, 1), -1);
}

static void test_path_matches(void **state)
{
	(void)state;
	assert_true(tt_glob__path_matches("/opt/w/ttg-*-worker", "/opt/w/ttg-1-worker"));
	assert_false(tt_glob__path_matches("/opt/w/ttg-*-worker", "/opt/w/sub/ttg-1-worker"));
	assert_true(tt_glob__path_matches("/opt/*/worker", "/opt/a/worker"));
	assert_true(tt_glob__path_matches("/usr/bin/worker", "/usr/bin/worker"));
	assert_false(tt_glob__path_matches("/usr/bin/worker", "/usr/bin/worker2"));
	assert_true(tt_glob__is("/a/[ab]"));
	assert_false(tt_glob__is("/a/b"));
}

static void test_cgroup_from_proc(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(tt_cgroup__from_proc("0::/system.slice/jobs.service\n", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "/system.slice/jobs.service");
	/* a hybrid host: v1 hierarchies first */
	assert_int_equal(tt_cgroup__from_proc("12:cpu,cpuacct:/x\n1:name=systemd:/y\n0::/z", buf,
					      sizeof(buf)),
			 0);
	assert_string_equal(buf, "/z");
	assert_int_equal(tt_cgroup__from_proc("12:cpu:/x\n", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tt_cgroup__from_proc("0::/a/b/c\n", buf, 4), -ENAMETOOLONG);
}

static void test_cgroup_under(void **state)
{
	(void)state;
	assert_true(tt_cgroup__under("/a", "/a"));
	assert_true(tt_cgroup__under("/a", "/a/b"));
	assert_true(tt_cgroup__under("/a/", "/a/b"));
	assert_false(tt_cgroup__under("/a", "/ab"));
	assert_false(tt_cgroup__under("/a/b", "/a"));
	assert_true(tt_cgroup__under("/", "/anything"));
}

static void test_narrow_holds(void **state)
{
	struct tt_narrow none = {0};
	struct tt_narrow comm = {.comm = "php-fpm"};
	struct tt_narrow all = {.comm = "w", .exe = "/opt/*/w", .cgroup = "/jobs"};

	(void)state;
	assert_true(tt_narrow__holds(&none, "x", "/bin/x", NULL));
	assert_true(tt_narrow__holds(&comm, "php-fpm", "/usr/sbin/php-fpm8.2", NULL));
	assert_false(tt_narrow__holds(&comm, "php", "/usr/bin/php", NULL));
	assert_true(tt_narrow__holds(&all, "w", "/opt/a/w", "/jobs/1"));
	assert_false(tt_narrow__holds(&all, "w", "/opt/a/w", "/other"));
	assert_false(tt_narrow__holds(&all, "w", "/opt/a/w", NULL)); /* cgroup unknown */
	assert_false(tt_narrow__holds(&all, "w", "/usr/bin/w", "/jobs"));
	assert_false(tt_narrow__holds(&all, "v", "/opt/a/w", "/jobs"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_comm_prefix),
		cmocka_unit_test(test_path_matches),
		cmocka_unit_test(test_prefixes_fit_the_table),
		cmocka_unit_test(test_cgroup_from_proc),
		cmocka_unit_test(test_cgroup_under),
		cmocka_unit_test(test_narrow_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
