"""scripts/run-unit.sh, what `make unit` and `make check` run: every binary
runs even after one fails, one summary line counts passes, failures and
skips, a binary that dies before its summary is a failure, and a skip fails
the run where nothing may skip (CI set). The binaries are small cmocka
programs built here."""
import os
import shutil
import subprocess
import tempfile
import unittest

PROGRAM = r"""
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
static void passes(void **s) { assert_int_equal(1, 1); }
static void fails(void **s) { assert_int_equal(1, 2); }
static void skips(void **s) { skip(); }
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(passes),
#if WITH_FAIL
		cmocka_unit_test(fails),
#endif
#if WITH_SKIP
		cmocka_unit_test(skips),
#endif
	};
#if CRASH
	abort();
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
"""


class UnitRunnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        src = os.path.join(cls.dir, "t.c")
        with open(src, "w") as f:
            f.write(PROGRAM)
        cls.bins = {}
        for name, defs in [("ok", []), ("fail", ["-DWITH_FAIL=1"]), ("skip", ["-DWITH_SKIP=1"]),
                           ("crash", ["-DCRASH=1"])]:
            out = os.path.join(cls.dir, "test_" + name)
            subprocess.run(["cc", "-Wno-unused-function", *defs, src, "-lcmocka", "-o", out],
                           check=True)
            cls.bins[name] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def run_units(self, names, ci=False):
        env = dict(os.environ)
        env.pop("CI", None)
        if ci:
            env["CI"] = "1"
        p = subprocess.run(["scripts/run-unit.sh"] + [self.bins[n] for n in names],
                           capture_output=True, text=True, env=env)
        return p.returncode, p.stdout.splitlines()[-1], p.stdout + p.stderr

    def test_all_pass(self):
        rc, last, out = self.run_units(["ok", "ok"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(last, "unit: 2 passed, 0 failed, 0 skipped")

    def test_a_failure_does_not_stop_the_others(self):
        rc, last, out = self.run_units(["fail", "ok"])
        self.assertEqual(rc, 1, out)
        self.assertEqual(last, "unit: 2 passed, 1 failed, 0 skipped")
        self.assertEqual(out.count("== "), 2)

    def test_a_crash_before_the_summary_is_a_failure(self):
        rc, last, out = self.run_units(["crash", "ok"])
        self.assertEqual(rc, 1, out)
        self.assertEqual(last, "unit: 1 passed, 1 failed, 0 skipped")

    def test_a_skip_shows_and_fails_in_ci(self):
        rc, last, out = self.run_units(["skip"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(last, "unit: 1 passed, 0 failed, 1 skipped")
        rc, last, out = self.run_units(["skip"], ci=True)
        self.assertEqual(rc, 1, out)
        self.assertIn("nothing may skip in CI", out)


if __name__ == "__main__":
    unittest.main()
