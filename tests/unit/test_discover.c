// SPDX-License-Identifier: MIT
/* Discovery's pure helpers: NSpid, the process names a binary: can run under, path globs. */
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "discover.h"

static void test_nspid_is_the_innermost(void **state)
{
	(void)state;
	assert_int_equal(tt_status__nspid("Name:\tw\nNSpid:\t4242\t7\t1\nNSpgid:\t1\n"), 1);
	assert_int_equal(tt_status__nspid("Name:\tw\nNSpid:\t4242\n"), 4242);
	assert_int_equal(tt_status__nspid("Name:\tw\nPid:\t4242\n"), 0);
}

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

static void test_info_of_this_process(void **state)
{
	struct tt_proc_info pi;

	(void)state;
	assert_int_equal(tt_proc__info(NULL, getpid(), &pi), 0);
	assert_string_equal(pi.comm, "test_discover");
	assert_non_null(strstr(pi.exe, "test_discover"));
	assert_false(pi.other_mnt_ns);
	assert_int_equal(tt_proc__info(NULL, 0x7ffffff0, &pi), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nspid_is_the_innermost),
		cmocka_unit_test(test_comm_prefix),
		cmocka_unit_test(test_path_matches),
		cmocka_unit_test(test_info_of_this_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
