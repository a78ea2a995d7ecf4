"""The spec-authoring commands, as a user new to a binary runs them:
`tasktap symbols` lists demangled functions and USDT probes (provider,
name, arguments, semaphore), checked against readelf; `tasktap check`
shows what a spec with globs and USDT probes would attach, and its exit
status says whether the spec is valid. No BPF is loaded by either."""
import os
import re
import signal
import subprocess
import tempfile
import unittest

from harness import run_tool, write_spec

CXX = os.path.abspath(".output/fixtures/cxx-prog")
USDT_WORKER = os.path.abspath(".output/usdt-worker")

RUN_METHODS = ["Worker::run_one(int)", "Worker::run_batch(long, char const*)",
               "Worker::run_batch(int)", "Worker::run_const() const",
               "int Worker::run_typed<int>(int)", "double Worker::run_typed<double>(double)"]

GOOD_SPEC = """\
targets:
  - binary: {cxx}
    probes:
      - role: task
        symbol: "Worker::run_*"
        key: arg1
  - binary: {usdt}
    probes:
      - role: task
        usdt: ttw:job_start
        end: ttw:job_end
        key: arg0
      - role: span
        usdt: ttw:expensive
"""


def readelf_notes(path):
    """(provider, name) -> (arguments, semaphore) from binutils' readelf."""
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True,
                         check=True).stdout
    notes = {}
    for m in re.finditer(r"Provider: (\S+)\n\s+Name: (\S+)\n\s+Location: (0x[0-9a-f]+), "
                         r"Base: 0x[0-9a-f]+, Semaphore: (0x[0-9a-f]+)\n\s+Arguments: ?(.*)",
                         out):
        notes[(m.group(1), m.group(2))] = (m.group(5).strip(), int(m.group(4), 16),
                                           int(m.group(3), 16))
    return notes


class SymbolsTest(unittest.TestCase):
    def test_demangled_functions(self):
        rc, out, err = run_tool(["symbols", CXX])
        self.assertEqual(rc, 0, err)
        self.assertIn("Worker::run_one(int)  [_ZN6Worker7run_oneEi]", out)
        self.assertIn("shop::Worker::run_one(int)  [_ZN4shop6Worker7run_oneEi]", out)
        self.assertRegex(out, r"\n0x[0-9a-f]+ +\d+ run_free\n")  # a C name as it is

    def test_match_is_a_glob_over_demangled_names(self):
        rc, out, err = run_tool(["symbols", CXX, "--match", "Worker::run_*"])
        self.assertEqual(rc, 0, err)
        lines = [l for l in out.splitlines() if not l.startswith("#")]
        names = [re.match(r"0x[0-9a-f]+ +\d+ (.*)  \[", l).group(1) for l in lines]
        self.assertEqual(sorted(names), sorted(RUN_METHODS))
        rc, out, err = run_tool(["symbols", CXX, "--match", "nothing_*"])
        self.assertEqual(rc, 1)

    def test_usdt_probes_with_arguments_and_semaphores(self):
        rc, out, err = run_tool(["symbols", USDT_WORKER])
        self.assertEqual(rc, 0, err)
        self.assertIn("# USDT probes in %s" % USDT_WORKER, out)
        notes = readelf_notes(USDT_WORKER)
        self.assertEqual(sorted(n for _, n in notes),
                         ["expensive", "job_end", "job_start", "tick"])
        for (provider, name), (args, sema, pc) in notes.items():
            nargs = len(args.split())
            line = "0x%08x %s:%s  %d arg%s: %s  semaphore: 0x%x" % (
                pc, provider, name, nargs, "" if nargs == 1 else "s", args, sema)
            self.assertIn(line + "\n", out)
        rc, out, err = run_tool(["symbols", USDT_WORKER, "--match", "ttw:job_*"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(re.findall(r" ttw:job_(start|end) ", out)), 2)
        self.assertNotIn("ttw:tick", out)

    def test_library_by_the_name_a_library_target_gives(self):
        lib_dir = os.path.abspath(".output/lib")
        env = {"LD_LIBRARY_PATH": "/nonexistent:" + lib_dir}
        rc, out, err = run_tool(["symbols", "libttjob.so", "--match", "ttjob_*"], env=env)
        self.assertEqual(rc, 0, err)
        self.assertIn("# functions in libttjob.so (%s/libttjob.so)" % lib_dir, out)
        self.assertRegex(out, r"\n0x[0-9a-f]+ +\d+ ttjob_run\n")
        # a soname in the system directories, as library: finds libc
        rc, out, err = run_tool(["symbols", "libc.so.6", "--match", "getpid"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"\n0x[0-9a-f]+ +\d+ getpid\n")
        rc, out, err = run_tool(["symbols", "libttjob.so"], env={"LD_LIBRARY_PATH": ""})
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("library 'libttjob.so' not found (searched LD_LIBRARY_PATH, the loader's cache", err)

    def test_running_process_by_pid(self):
        worker = subprocess.Popen([USDT_WORKER, "--wait-signal"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(worker.stderr.readline().strip(), "ready")
            rc, out, err = run_tool(["symbols", "--pid", str(worker.pid), "--match",
                                     "ttw:expensive"])
        finally:
            worker.send_signal(signal.SIGUSR1)
            worker.wait(30)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"ttw:expensive  2 args: .*  semaphore: 0x[0-9a-f]+\n")


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def check(self, text):
        return run_tool(["check", write_spec(text, self.dir.name)])

    def test_globs_and_usdt(self):
        rc, out, err = self.check(GOOD_SPEC.format(cxx=CXX, usdt=USDT_WORKER))
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[-1], "%s: ok, 9 attachments" %
                         os.path.join(self.dir.name, "spec.yaml"))
        # one hook per method the glob matched, each at its function's offset
        rc2, syms, _ = run_tool(["symbols", CXX, "--match", "Worker::run_*"])
        offsets = {m.group(2): int(m.group(1), 16)
                   for m in re.finditer(r"(0x[0-9a-f]+) +\d+ (.*)  \[", syms)}
        ids = set()
        for name in RUN_METHODS:
            m = re.search(r"^hook (\d+) +task +start entry\+return +%s\+0x([0-9a-f]+) in %s "
                          r"\(every process\)" % (re.escape(name), re.escape(CXX)), out, re.M)
            self.assertIsNotNone(m, name + "\n" + out)
            self.assertIn(int(m.group(2), 16) - offsets[name], (0, 4))  # past an endbr64
            ids.add(int(m.group(1)))
        self.assertEqual(len(ids), 6)
        self.assertRegex(out, r"hook \d+ +task +start per thread +usdt ttw:job_start \(semaphore\) "
                              r"in %s \(every process\)" % re.escape(USDT_WORKER))
        self.assertRegex(out, r"hook \d+ +task +end +per thread +usdt ttw:job_end \(semaphore\)")
        self.assertRegex(out, r"hook \d+ +span +start usdt point +usdt ttw:expensive "
                              r"\(semaphore\)")
        self.assertEqual(err, "")

    def test_missing_usdt_probe_fails(self):
        rc, out, err = self.check(GOOD_SPEC.format(cxx=CXX, usdt=USDT_WORKER)
                                  .replace("ttw:expensive", "ttw:expensiv"))
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("spec.yaml:14:15: USDT probe 'ttw:expensiv' not found in '%s'; it has: "
                      % USDT_WORKER, err)
        for probe in ("ttw:job_start", "ttw:job_end", "ttw:tick", "ttw:expensive"):
            self.assertIn(probe, err)

    def test_missing_symbol_fails_with_closest(self):
        rc, out, err = self.check(GOOD_SPEC.format(cxx=CXX, usdt=USDT_WORKER)
                                  .replace('"Worker::run_*"', "run_fre"))
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("spec.yaml:5:17: symbol 'run_fre' not found", err)
        self.assertIn("closest: run_free", err)

    def test_glob_without_match_fails(self):
        rc, out, err = self.check(GOOD_SPEC.format(cxx=CXX, usdt=USDT_WORKER)
                                  .replace("Worker::run_*", "Worker::walk_*"))
        self.assertEqual(rc, 2)
        self.assertIn("no function in '%s' matches 'Worker::walk_*'" % CXX, err)

    def test_two_probes_may_end_at_one_return(self):
        spec = GOOD_SPEC.format(cxx=CXX, usdt=USDT_WORKER).replace(
            "  - binary: " + USDT_WORKER,
            "      - role: span\n        symbol: \"Worker::run_one(int)\"\n"
            "  - binary: " + USDT_WORKER)
        rc, out, err = self.check(spec)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len([l for l in out.splitlines() if "Worker::run_one(int)+" in l]), 2,
                         out)

    def test_two_probes_ending_at_one_return_with_a_filter_fail(self):
        # the kernel runs their return handlers in entry order, not nested
        rc, out, err = self.check(GOOD_SPEC.format(cxx=CXX, usdt=USDT_WORKER).replace(
            "  - binary: " + USDT_WORKER,
            "      - role: span\n        symbol: \"Worker::run_one(int)\"\n"
            "        when: arg1 > 0\n"
            "  - binary: " + USDT_WORKER))
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("spec.yaml:8:17: 'Worker::run_one(int)' in '%s' is already probed at "
                      "line 5: probes that end at one function's return may not have 'when:' "
                      "filters" % CXX, err)

    def test_a_begin_filtered_at_return_may_share_a_return(self):
        # its filter runs at the return, on the arguments saved at entry: it
        # keeps no verdict that the other probe's return could pop
        spec = GOOD_SPEC.format(cxx=CXX, usdt=USDT_WORKER).replace(
            "  - binary: " + USDT_WORKER,
            "      - role: span\n"
            "        begin: { symbol: \"Worker::run_one(int)\", at: return, when: arg1 > 0 }\n"
            "        end: { symbol: \"Worker::run_one(int)\" }\n"
            "  - binary: " + USDT_WORKER)
        rc, out, err = self.check(spec)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len([l for l in out.splitlines() if "Worker::run_one(int)+" in l]), 3,
                         out)

    def test_bad_expression_fails(self):
        rc, out, err = self.check(GOOD_SPEC.format(cxx=CXX, usdt=USDT_WORKER)
                                  .replace("key: arg1", "key: arg99"))
        self.assertEqual(rc, 2)
        self.assertIn("spec.yaml:6:14: argument slot 99 out of range", err)


if __name__ == "__main__":
    unittest.main()
