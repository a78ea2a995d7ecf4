"""Python function probes on CPython 3.11, 3.12 and 3.13 as pyenv builds
them (DESIGN §10): position-independent executables whose interpreter loop
is in a shared libpython, built without USDT probes, so that calls end at
_PyThreadState_PopFrame, and each version reads its own structures. The
tests of test_python.py run again on each: calls from Python and from C,
nested and recursive, compared call by call with what the worker did
(count, parent, duration within 1 ms, raised and the exception's type), in
threads, py() values, the last call before the worker exits. An
interpreter that is missing fails the tests that need it, naming it; one
tasktap does not know (a shared 3.10) is refused with the version found."""
import os
import unittest

import test_python as base
from harness import run_tool, write_spec

PYENV = "/root/.pyenv/versions"
VERSIONS = {"3.11": "3.11.7", "3.12": "3.12.1", "3.13": "3.13.0"}


def pyenv_python(minor):
    return os.path.join(PYENV, VERSIONS[minor], "bin", "python" + minor)


def libpython(minor):
    return os.path.join(PYENV, VERSIONS[minor], "lib", "libpython%s.so.1.0" % minor)


class Calls311(base.PythonCallsTest):
    python = pyenv_python("3.11")


class Calls312(base.PythonCallsTest):
    python = pyenv_python("3.12")


class Calls313(base.PythonCallsTest):
    python = pyenv_python("3.13")


class Values311(base.PythonValuesTest):
    python = pyenv_python("3.11")


class Values312(base.PythonValuesTest):
    python = pyenv_python("3.12")


class Values313(base.PythonValuesTest):
    python = pyenv_python("3.13")


class LastCall312(base.PythonLastCallTest):
    python = pyenv_python("3.12")


class LastCall313(base.PythonLastCallTest):
    python = pyenv_python("3.13")


FORK_WORKER = os.path.abspath("tests/workers/python-fork.py")

FORK_SPEC = """\
service: python-fork
targets:
  - binary: {python}
    runtime: python
    probes:
      - role: task
        function: __main__:job
"""


class ForkTest(unittest.TestCase):
    """`--pid` of a fork-per-job worker covers the children it forks: the
    probes in the shared libpython follow each child, at the same load
    address as its parent's."""

    def test_children_forked_per_job(self):
        for minor in VERSIONS:
            python = pyenv_python(minor)
            base.need_python(self, python)
            with base.tempfile.TemporaryDirectory() as d:
                spec = write_spec(FORK_SPEC.format(python=python), d)
                w = base.subprocess.Popen([python, FORK_WORKER], stdin=base.subprocess.PIPE,
                                          stdout=base.subprocess.PIPE, text=True)
                self.addCleanup(lambda w=w: w.poll() is None and (w.kill(), w.wait()))
                agent = base.Agent([spec, "--json", "--pid", str(w.pid)])
                self.addCleanup(agent.stop)
                agent.wait_attached()
                out, _ = w.communicate("go\n", timeout=60)
                self.assertEqual(w.returncode, 0, minor)
                self.assertEqual(agent.stop(), 0, agent.stderr())
            calls = {int(pid): n for pid, n in base.json.loads(out).items()}
            got = {}
            for s in agent.spans():
                self.assertEqual(s["name"], "__main__:job", minor)
                pid = s["resource"]["process.pid"]
                got[pid] = got.get(pid, 0) + 1
            self.assertEqual(got, calls, minor)


class MatchTest(unittest.TestCase):
    """`match:` on an interpreter whose probes are in a libpython every
    process of that version shares: only the processes it names, started
    before the agent or after it (held at exec, before the libpython is
    mapped), make spans; the others run untouched. The interpreters are
    the shared pyenv ones: the processes it picks are named by a word of
    this run's own, for an agent traces every process on the host that
    `match:` names (those of a test run alongside, which would make spans
    here, and this agent's there)."""

    def worker(self, python, arg):
        w = base.subprocess.Popen([python, base.WORKER, arg], stdin=base.subprocess.PIPE,
                                  stdout=base.subprocess.PIPE, text=True)
        self.addCleanup(lambda: w.poll() is None and (w.kill(), w.wait()))
        return w

    def test_only_matching_processes(self):
        for minor in VERSIONS:
            python = pyenv_python(minor)
            base.need_python(self, python)
            with base.tempfile.TemporaryDirectory() as d:
                picked = "picked-" + os.path.basename(d)
                text = base.MATCH_SPEC.format(python=python).replace(
                    "python-calls.py picked*", "python-calls.py %s*" % picked)
                self.assertIn(picked, text)
                spec = write_spec(text, d)
                before = [self.worker(python, picked), self.worker(python, "other")]
                agent = base.Agent([spec, "--json"])
                self.addCleanup(agent.stop)
                agent.wait_attached()
                after = [self.worker(python, picked), self.worker(python, "other")]
                for w in before + after:
                    base.wait_for(lambda: base.exe(w.pid) == os.path.realpath(python),
                                  what="worker %d running %s" % (w.pid, python))
                calls = {}
                for w in before + after:
                    out, _ = w.communicate("go\n", timeout=60)
                    self.assertEqual(w.returncode, 0, minor)
                    calls[w.pid] = [c for c in base.json.loads(out)["calls"]
                                    if c["name"] == "Worker.perform"]
                self.assertEqual(agent.stop(), 0, agent.stderr())
            by_pid = {}
            for s in agent.spans():
                by_pid.setdefault(s["resource"]["process.pid"], []).append(s)
            self.assertEqual(sorted(by_pid), sorted([before[0].pid, after[0].pid]),
                             "%s: picked %s, other %s\n%s" % (
                                 minor, [before[0].pid, after[0].pid],
                                 [before[1].pid, after[1].pid], agent.stderr()))
            for pid, spans in by_pid.items():
                self.assertEqual(len(spans), len(calls[pid]), minor)


FAKE_LIBPYTHON = """
const char prefix[] = "/root/.pyenv/versions/3.10.13";
char _PyRuntime[4096] = {1};
int Py_BytesMain(void) { return _PyRuntime[0] - 1; }
"""


class CheckTest(unittest.TestCase):
    """`tasktap check` finds each interpreter's libpython and says what it is."""

    def test_each_version_is_found_in_its_libpython(self):
        with base.tempfile.TemporaryDirectory() as d:
            for minor in VERSIONS:
                python = pyenv_python(minor)
                base.need_python(self, python)
                spec = write_spec(base.for_python(base.SPEC, python), d)
                code, out, err = run_tool(["check", spec])
                self.assertEqual(code, 0, err)
                self.assertIn("__main__:Worker.perform (python %s, frames end at "
                              "_PyThreadState_PopFrame, in %s; generators and coroutines: "
                              "counted, not traced)" % (VERSIONS[minor], libpython(minor)),
                              out)

    def test_an_unknown_version_is_refused_with_the_version_found(self):
        """A --enable-shared 3.10 (no Py_Version): its PY_VERSION string is
        the tail of another in its libpython (the linker merges "3.10.13"
        into "/root/.pyenv/versions/3.10.13", as in pyenv's build); the
        executable finds the library through its $ORIGIN run path."""
        with base.tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o755)
            lib, exe = os.path.join(d, "libpython3.10.so.1.0"), os.path.join(d, "python3.10")
            with open(lib + ".c", "w") as f:
                f.write(FAKE_LIBPYTHON)
            with open(exe + ".c", "w") as f:
                f.write("int Py_BytesMain(void);\n"
                        "int main(void) { return Py_BytesMain(); }\n")
            base.subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libpython3.10.so.1.0",
                                 "-o", lib, lib + ".c"], check=True)
            base.subprocess.run(["cc", "-o", exe, exe + ".c", lib, "-Wl,--no-as-needed",
                                 "-Wl,-rpath,$ORIGIN"], check=True)
            spec = write_spec(base.for_python(base.SPEC, exe), d)
            code, out, err = run_tool(["check", spec])
        self.assertEqual(code, 2, err)
        self.assertIn("python 3.10.13 at '%s': no offsets for this version; tasktap knows "
                      "3.11, 3.12, 3.13" % lib, err)
        self.assertEqual(out, "")

if __name__ == "__main__":
    unittest.main()
