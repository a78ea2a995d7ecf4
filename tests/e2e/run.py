#!/usr/bin/env python3
"""Runs every end-to-end test (tests/e2e/test_*.py) and ends with one line
"e2e: N passed, N failed". The tests load real BPF programs into the kernel:
they need root and a kernel with BTF, and fail (never skip) without them.

usage: run.py [FILE [Class[.method]]]
  FILE                 the test files to run, a name or a glob (default test_*.py)
  Class[.method]       only that class of FILE, or only that test of it"""
import importlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def named(path, name):
    """The tests Class or Class.method of test file `path`, or None after saying why not."""
    module = os.path.basename(path)
    if not module.endswith(".py") or not os.path.isfile(os.path.join(HERE, module)):
        print("e2e: no test file '%s' in tests/e2e (a class is named with one file)" % path,
              file=sys.stderr)
        return None
    obj = importlib.import_module(module[:-3])
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if obj is None or name.count(".") > 1:
        print("e2e: no test '%s' in '%s' (Class or Class.method)" % (name, path),
              file=sys.stderr)
        return None
    return unittest.defaultTestLoader.loadTestsFromName(module[:-3] + "." + name)


def main():
    os.chdir(os.path.dirname(os.path.dirname(HERE)))
    sys.path.insert(0, HERE)
    if os.geteuid() != 0:
        print("e2e: the end-to-end tests load BPF programs and need root", file=sys.stderr)
        print("e2e: 0 passed, 1 failed")
        return 1
    if len(sys.argv) > 3 or (len(sys.argv) == 3 and not sys.argv[2]):
        print("usage: run.py [FILE [Class[.method]]]", file=sys.stderr)
        return 2
    pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
    if len(sys.argv) == 3:
        suite = named(pattern, sys.argv[2])
        if suite is None:
            print("e2e: 0 passed, 1 failed")
            return 1
    else:
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
