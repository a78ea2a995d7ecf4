/* SPDX-License-Identifier: MIT */
/*
 * Tests for user/python/offsets.c and pybin.c: which CPython a binary is,
 * against Debian 12's real /usr/bin/python3.11 and libpython3.11 (read
 * independently here with libelf for the build-id and _PyRuntime), and the
 * table's 3.13 row against the _Py_DebugOffsets block of a real CPython
 * 3.13.0 build (tests/fixtures/python3.13.0-debug-offsets.bin, the first
 * 576 bytes of its _PyRuntime).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "python/offsets.h"
#include "tmpdir.h"

#define DEBIAN_PYTHON	 "/usr/bin/python3.11"
#define DEBIAN_LIBPYTHON "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"

static char err[512];

/* `readelf -n` as the independent reader of a build-id. */
static void read_build_id(const char *path, char *out, size_t len)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -n '%s' | sed -n 's/.*Build ID: //p'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)len, p));
	out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

static uint64_t read_symbol(const char *path, const char *name)
{
	char cmd[512], line[256];
	uint64_t addr = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm -D '%s' | awk '$3 == \"%s\" {print $1}'", path, name);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(line, sizeof(line), p))
		addr = strtoull(line, NULL, 16);
	pclose(p);
	return addr;
}

static void test_debian_python311_is_known_with_its_version_and_build_id(void **state)
{
	struct tt_py_binary bin;
	char build_id[64];

	(void)state;
	assert_int_equal(tt_py__inspect(DEBIAN_PYTHON, &bin, err, sizeof(err)), 0);
	assert_string_equal(bin.version, "3.11.2");
	assert_int_equal(bin.version_hex, 0x030b02f0);
	read_build_id(DEBIAN_PYTHON, build_id, sizeof(build_id));
	assert_string_equal(bin.build_id, build_id);
	assert_true(bin.known_build);
	assert_false(bin.pie);
	assert_false(bin.debug_offsets);
	assert_string_equal(bin.path, DEBIAN_PYTHON);
	assert_int_equal(bin.runtime_addr, read_symbol(DEBIAN_PYTHON, "_PyRuntime"));
	assert_non_null(bin.offsets);
	assert_ptr_equal(bin.offsets, tt_py__offsets_for(0x030b0000));
	/* 3.11: the current thread state is a field of _PyRuntime */
	assert_int_equal(bin.offsets->runtime_tstate_current, 576);
	assert_int_equal(bin.offsets->tstate_cframe, 56);
	assert_int_equal(bin.offsets->frame_code, 32);
	assert_int_equal(bin.offsets->tstate_current_frame, TT_PY_ABSENT);
}

static void test_the_same_from_an_open_file(void **state)
{
	struct tt_py_binary bin;
	int fd = open(DEBIAN_PYTHON, O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(tt_py__inspect_fd(fd, "python in a container", &bin, err, sizeof(err)), 0);
	close(fd);
	assert_string_equal(bin.version, "3.11.2");
	assert_string_equal(bin.path, "python in a container");
}

static void test_debian_libpython311_is_the_same_version_another_build(void **state)
{
	struct tt_py_binary bin;
	char build_id[64];

	(void)state;
	assert_int_equal(tt_py__inspect(DEBIAN_LIBPYTHON, &bin, err, sizeof(err)), 0);
	assert_string_equal(bin.version, "3.11.2");
	read_build_id(DEBIAN_LIBPYTHON, build_id, sizeof(build_id));
	assert_string_equal(bin.build_id, build_id);
	assert_false(bin.known_build);
	assert_true(bin.pie);
	assert_int_equal(bin.runtime_addr, read_symbol(DEBIAN_LIBPYTHON, "_PyRuntime"));
}

static void test_a_program_linking_libpython_is_inspected_through_it(void **state)
{
	char dir[256], src[300], prog[300], cmd[1024], real[PATH_MAX];
	struct tt_py_binary bin;
	FILE *f;

	(void)state;
	assert_int_equal(tmpdir__make(dir, sizeof(dir), "pyembed"), 0);
	snprintf(src, sizeof(src), "%s/embed.c", dir);
	snprintf(prog, sizeof(prog), "%s/embed", dir);
	f = fopen(src, "w");
	assert_non_null(f);
	fputs("extern void Py_Initialize(void);\nint main(void) { Py_Initialize(); return 0; }\n",
	      f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cc -o '%s' '%s' " DEBIAN_LIBPYTHON, prog, src);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(tt_py__inspect(prog, &bin, err, sizeof(err)), 0);
	assert_string_equal(bin.version, "3.11.2");
	/* found through the loader's cache: /lib or /usr/lib, the same file */
	assert_non_null(realpath(bin.path, real));
	assert_string_equal(real, DEBIAN_LIBPYTHON);
	tmpdir__remove(dir);
}

static void test_a_program_without_python_is_refused(void **state)
{
	struct tt_py_binary bin;

	(void)state;
	assert_int_equal(tt_py__inspect("/bin/true", &bin, err, sizeof(err)), -ESRCH);
	assert_string_equal(err, "'/bin/true' is not a python interpreter: no _PyRuntime, no "
				 "libpython");
}

static void test_files_that_cannot_be_read_are_refused(void **state)
{
	struct tt_py_binary bin;

	(void)state;
	assert_int_equal(tt_py__inspect("/nonexistent/python3", &bin, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot open '/nonexistent/python3': No such file or directory");
	assert_int_equal(tt_py__inspect("/etc/hostname", &bin, err, sizeof(err)), -ENOEXEC);
	assert_string_equal(err, "cannot read '/etc/hostname': not an ELF file");
}

static void test_versions_without_a_row_are_refused_by_name(void **state)
{
	(void)state;
	assert_null(tt_py__offsets_for(0x030a0cf0)); /* 3.10.12 */
	assert_null(tt_py__offsets_for(0x030e0000)); /* 3.14 */
	assert_non_null(tt_py__offsets_for(0x030c01f0));
	assert_non_null(tt_py__offsets_for(0x030d00f0));
	assert_string_equal(tt_py__known_versions(), "3.11, 3.12, 3.13");
}

static size_t read_debug_block(char *buf, size_t len)
{
	FILE *f = fopen("tests/fixtures/python3.13.0-debug-offsets.bin", "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len, f);
	fclose(f);
	return n;
}

static void test_the_313_row_agrees_with_a_real_313_debug_offsets_block(void **state)
{
	const struct tt_py_offsets *o = tt_py__offsets_for(0x030d0000);
	char block[1024];
	size_t n = read_debug_block(block, sizeof(block));

	(void)state;
	assert_int_equal(n, 576);
	assert_int_equal(tt_py__check_debug_offsets(o, block, n, err, sizeof(err)), 0);
}

static void test_a_debug_offsets_block_that_disagrees_is_named(void **state)
{
	const struct tt_py_offsets *o = tt_py__offsets_for(0x030d0000);
	const struct tt_py_offsets *o312 = tt_py__offsets_for(0x030c0000);
	char block[1024];
	size_t n = read_debug_block(block, sizeof(block));
	uint64_t v = 999;

	(void)state;
	/* the 3.12 row read against a 3.13 block: interpreters_head differs first */
	assert_int_equal(tt_py__check_debug_offsets(o312, block, n, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "_Py_DebugOffsets runtime_state.interpreters_head is 632, the "
				 "table says 40: a build tasktap does not know");
	/* a code object's qualname moved */
	memcpy(block + 24 + 24 + 104 + 72 + 48 + 3 * 8, &v, sizeof(v));
	assert_int_equal(tt_py__check_debug_offsets(o, block, n, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "_Py_DebugOffsets code_object.qualname is 999, the table says "
				 "128: a build tasktap does not know");
	assert_int_equal(tt_py__check_debug_offsets(o, block, 100, err, sizeof(err)), -EINVAL);
	block[0] = 'y';
	assert_int_equal(tt_py__check_debug_offsets(o, block, n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no _Py_DebugOffsets at the start of _PyRuntime");
}

static void test_usdt_probes_that_harm_311_are_refused_with_the_reason(void **state)
{
	(void)state;
	assert_non_null(strstr(tt_py__usdt_refused(0x030b02f0, "line"), "crashes CPython 3.11"));
	assert_non_null(strstr(tt_py__usdt_refused(0x030b07f0, "function__entry"), "gh-98894"));
	assert_null(tt_py__usdt_refused(0x030b02f0, "function__return"));
	assert_null(tt_py__usdt_refused(0x030c01f0, "line"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debian_python311_is_known_with_its_version_and_build_id),
		cmocka_unit_test(test_the_same_from_an_open_file),
		cmocka_unit_test(test_debian_libpython311_is_the_same_version_another_build),
		cmocka_unit_test(test_a_program_linking_libpython_is_inspected_through_it),
		cmocka_unit_test(test_a_program_without_python_is_refused),
		cmocka_unit_test(test_files_that_cannot_be_read_are_refused),
		cmocka_unit_test(test_versions_without_a_row_are_refused_by_name),
		cmocka_unit_test(test_the_313_row_agrees_with_a_real_313_debug_offsets_block),
		cmocka_unit_test(test_a_debug_offsets_block_that_disagrees_is_named),
		cmocka_unit_test(test_usdt_probes_that_harm_311_are_refused_with_the_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
