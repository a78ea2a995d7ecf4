#!/usr/bin/env python3
"""Runs every end-to-end test (tests/e2e/test_*.py) and ends with one line
"e2e: N passed, N failed". The tests load real BPF programs into the kernel:
they need root and a kernel with BTF, and fail (never skip) without them."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    os.chdir(os.path.dirname(os.path.dirname(HERE)))
    sys.path.insert(0, HERE)
    if os.geteuid() != 0:
        print("e2e: the end-to-end tests load BPF programs and need root", file=sys.stderr)
        print("e2e: 0 passed, 1 failed")
        return 1
    pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
    suite = unittest.defaultTestLoader.discover(HERE, pattern=pattern)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    # a skip would hide a test that could not run: count it as a failure
    bad += len(result.skipped)
    # a class whose setup failed ran no test but counts an error
    print("e2e: %d passed, %d failed" % (max(result.testsRun - bad, 0), bad))
    return 0 if bad == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
