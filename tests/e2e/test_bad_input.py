"""Bad input gets one clear message and a non-zero exit, never a crash."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Agent, RECIPE, TASKTAP, WORKER, run_tool, write_spec

SPEC = """service: demo-worker
targets:
  - binary: %s
    probes:
      - role: task
        symbol: %s
        key: arg0
"""


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        os.chmod(self.dir, 0o755)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def assertFails(self, args, message, code=None, env=None):
        if args[0] == "run" and "--http" not in args and "--no-http" not in args:
            args = args + ["--http", "0"]  # another agent may hold 9464 meanwhile
        rc, out, err = run_tool(args, env=env)
        self.assertNotEqual(rc, 0, err)
        if code is not None:
            self.assertEqual(rc, code, err)
        self.assertIn(message, err)
        self.assertNotIn("Segmentation", err)
        self.assertEqual(out, "")  # diagnostics never go to stdout
        return err

    def test_bad_annotate_and_error_unless_attach_nothing(self):
        # each refused at file:line:col, exit 2, before anything is attached
        cases = [
            ("      - role: annotate\n        symbol: run_task\n        status: error\n",
             "%s:8:9: an annotate probe needs 'of'"),
            ("      - role: annotate\n        of: consume\n        symbol: run_task\n"
             "        status: fail\n", "%s:11:17: expected 'error' or 'ok' for 'status'"),
            ("      - role: task\n        symbol: execute_step\n        error_unless: ack\n",
             "%s:10:23: no annotate probe named 'ack'"),
        ]
        for probe, message in cases:
            spec = write_spec(SPEC % (WORKER, "run_task") + probe, self.dir)
            err = self.assertFails(["run", spec, "--no-http"], message % spec, 2)
            self.assertNotIn("attached", err)

    def test_bad_predicates_attach_nothing(self):
        # compound when:, when: on an end, error: naming an attribute: file:line:col, exit 2
        cases = [
            ("        when: (arg0 == 1 || arg1 == 2\n",
             "%s:8:38: unbalanced parentheses: '(' at column 0 is not closed"),
            ("        when: 'ends_with(arg1, \"x\")'\n",
             "%s:8:26: ends_with() tests a string: ends_with(str(EXPR), \"literal\")"),
            ("        when: str(arg1, arg2) == \"x\"\n",
             "%s:8:25: the limit of str(EXPR, N) is a number of bytes; for a length read at "
             "run time, capture bytes(ptr, len)"),
            ("        attributes: { s: str(arg1) }\n        error: s == 5\n",
             "%s:9:16: error: 's' is a string, and is compared with a number"),
            ("        error: arg0 == 1 || nosuch > 2\n", "%s:8:29: unknown name 'nosuch'"),
        ]
        for probe, message in cases:
            spec = write_spec(SPEC % (WORKER, "run_task") + probe, self.dir)
            err = self.assertFails(["run", spec, "--no-http"], message % spec, 2)
            self.assertNotIn("attached", err)
            self.assertFails(["check", spec], message % spec, 2)
        spec = write_spec((SPEC % (WORKER, "run_task")).replace(
            "      - role: task\n        symbol: run_task\n        key: arg0\n",
            "      - role: step\n        begin: { symbol: run_task, key: arg0 }\n"
            "        end: { symbol: execute_step, key: arg0, when: arg1 = 2 }\n"), self.dir)
        self.assertFails(["check", spec],
                         "%s:7:60: expected a comparison (==, !=, <, <=, >, >=), found '='"
                         % spec, 2)

    def test_bad_narrowing_attaches_nothing(self):
        # a library: target narrowed by comm:, binary:, cgroup:: refused at file:line:col, exit 2
        cases = [
            ("  - library: libc.so.6\n    binary: worker\n",
             "%s:9:13: 'binary' narrowing a library must be an absolute path or glob"),
            ("  - library: libc.so.6\n    cgroup: jobs.service\n",
             "%s:9:13: 'cgroup' must be a cgroup path starting with '/'"),
            ("  - comm: worker\n    cgroup: /jobs\n",
             "%s:9:5: 'cgroup' narrows a library target only"),
            ("  - library: libc.so.6\n    comm: a-name-too-long-for-linux\n",
             "%s:9:11: 'comm' is 25 characters long, more than the kernel keeps (15)"),
        ]
        for target, message in cases:
            text = SPEC % (WORKER, "run_task") + target + "    probes: [{role: span, symbol: getpid}]\n"
            spec = write_spec(text, self.dir)
            err = self.assertFails(["run", spec, "--no-http"], message % spec, 2)
            self.assertNotIn("attached", err)
            self.assertFails(["check", spec], message % spec, 2)

    def test_not_root(self):
        # an unprivileged user lacks every capability tasktap needs
        spec = write_spec(SPEC % (WORKER, "run_task"), self.dir)
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", TASKTAP, "run", spec],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("missing capabilities: CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE", p.stderr)

    def test_missing_one_capability_is_named(self):
        spec = write_spec(SPEC % (WORKER, "run_task"), self.dir)
        p = subprocess.run(["setpriv", "--inh-caps=-perfmon", "--bounding-set=-perfmon",
                            TASKTAP, "run", spec], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("missing capabilities: CAP_PERFMON (", p.stderr)

    def test_no_btf(self):
        spec = write_spec(SPEC % (WORKER, "run_task"), self.dir)
        self.assertFails(["run", spec], "no kernel BTF at '/nonexistent/vmlinux'", 1,
                         env={"TASKTAP_BTF": "/nonexistent/vmlinux"})

    def test_binary_not_found(self):
        spec = write_spec(SPEC % ("nonexistent/worker", "run_task"), self.dir)
        self.assertFails(["run", spec],
                         "cannot open binary 'nonexistent/worker' (%s:3:5): No such file" % spec, 2)

    def test_absolute_binary_not_on_this_host_is_waited_for(self):
        # it may exist only in containers' images: said, and then looked for as processes start
        spec = write_spec(SPEC % ("/nonexistent/worker", "run_task"), self.dir)
        rc, out, err = run_tool(["check", spec])
        self.assertEqual(rc, 0, err)
        self.assertIn("binary /nonexistent/worker: not on this host; 1 probes", out)
        a = Agent([spec])
        a.wait_attached()
        self.assertIn("%s:3:5: '/nonexistent/worker' is not on this host" % spec, a.stderr())
        time.sleep(0.3)
        self.assertIsNone(a.proc.poll(), a.stderr())
        self.assertEqual(a.stop(), 0, a.stderr())

    def test_binary_not_elf(self):
        spec = write_spec(SPEC % ("/etc/passwd", "run_task"), self.dir)
        self.assertFails(["run", spec], "'/etc/passwd' is not an ELF file", 2)

    def test_symbol_not_found_lists_closest(self):
        spec = write_spec(SPEC % (WORKER, "run_tsak"), self.dir)
        self.assertFails(["run", spec],
                         "%s:6:17: symbol 'run_tsak' not found in '%s'; closest: run_task"
                         % (spec, WORKER), 2)

    def test_pid_gone(self):
        p = subprocess.Popen(["true"])
        p.wait()
        self.assertFails(["run", RECIPE, "--pid", str(p.pid)], "no process with pid %d" % p.pid, 2)

    def test_bad_pid_argument(self):
        self.assertFails(["run", RECIPE, "--pid", "12x"], "invalid pid '12x'", 2)

    def test_ring_size_overflow_refused(self):
        # 2^52 + 1 MiB once wrapped to 1 MiB and was taken
        self.assertFails(["run", RECIPE, "--ring-size", "4503599627370497M"],
                         "invalid ring size '4503599627370497M'", 2)
        self.assertFails(["run", RECIPE, "--ring-size", "2G"], "invalid ring size '2G'", 2)
        # 1G is a size: what fails next is the missing spec, not the option
        err = self.assertFails(["run", "/nonexistent/spec.yaml", "--ring-size", "1G"],
                               "cannot open spec '/nonexistent/spec.yaml'", 2)
        self.assertNotIn("ring size", err)

    def test_malformed_spec_names_line_and_column(self):
        spec = write_spec(SPEC.replace("symbol:", "symbl:") % (WORKER, "run_task"), self.dir)
        self.assertFails(["run", spec], "%s:6:9: unknown key 'symbl'" % spec, 2)

    def test_spec_writable_by_others_is_refused(self):
        spec = write_spec(SPEC % (WORKER, "run_task"), self.dir)
        os.chmod(spec, 0o666)
        self.assertFails(["run", spec], "refusing spec '%s'" % spec, 2)

    def test_missing_spec(self):
        self.assertFails(["run", "/nonexistent/spec.yaml"],
                         "cannot open spec '/nonexistent/spec.yaml'", 2)

    def test_check_validates_without_bpf(self):
        rc, out, err = run_tool(["check", RECIPE])
        self.assertEqual(rc, 0, err)
        self.assertIn("run_task", out)
        self.assertIn("execute_step", out)
        self.assertIn("ok, 2 attachments", out)
        spec = write_spec(SPEC % (WORKER, "nope"), self.dir)
        rc, out, err = run_tool(["check", spec])
        self.assertEqual(rc, 2)  # bad input, as the README says
        self.assertIn("symbol 'nope' not found", err)

    def test_long_symbol_keeps_the_end_of_the_message(self):
        # the message once stopped inside the symbol: what was wrong was cut off
        spec = write_spec(SPEC % (WORKER, "A" * 3000), self.dir)
        for cmd in ("check", "run"):
            err = self.assertFails([cmd, spec], "symbol '%s... (3000 bytes)' not found in '%s'"
                                   % ("A" * 64, WORKER), 2)
            self.assertNotIn("A" * 65, err)

    def test_check_exits_2_on_a_malformed_spec(self):
        spec = write_spec(SPEC.replace("symbol:", "symbl:") % (WORKER, "run_task"), self.dir)
        self.assertFails(["check", spec], "%s:6:9: unknown key 'symbl'" % spec, 2)

    def test_empty_spec_refused_before_bpf_is_loaded(self):
        spec = write_spec("", self.dir)
        pin = "/sys/fs/bpf/tt-empty-%d" % os.getpid()
        self.addCleanup(shutil.rmtree, pin, True)
        self.assertFails(["run", spec, "--pin", pin], "%s:1:1: spec is empty" % spec, 2)
        # --pin makes its directory when BPF is loaded: it never was
        self.assertFalse(os.path.exists(pin))

    def test_symbols_lists_functions(self):
        rc, out, err = run_tool(["symbols", WORKER, "--match", "*_task"])
        self.assertEqual(rc, 0, err)
        self.assertIn("run_task", out)
        self.assertNotIn("execute_step", out)


class ConsoleTest(unittest.TestCase):
    def test_waterfall(self):
        agent = Agent([RECIPE, "--no-color"])
        agent.wait_attached()
        subprocess.run([WORKER, "--tasks", "2", "--scale", "0.2"], check=True,
                       stderr=subprocess.DEVNULL, timeout=60)
        time.sleep(0.1)
        self.assertEqual(agent.stop(), 0)
        lines = agent.stdout().splitlines()
        self.assertEqual(len(lines), 10, agent.stdout())
        self.assertRegex(lines[0], r"^CreateZip [0-9a-f]{8} +\[={30}\] +[0-9.]+ms$")
        self.assertRegex(lines[1], r"^  ├── CreateZip.UploadSourceFiles +\[=+\] +[0-9.]+ms$")
        self.assertRegex(lines[2], r"^  ├── CreateZip.CreateZipArchive #1 ERROR +\[=*\]")
        self.assertRegex(lines[3], r"^  ├── CreateZip.CreateZipArchive #2 +\[=+\]")
        self.assertRegex(lines[4], r"^  └── CreateZip.UploadResult +\[=+\] +[0-9.]+ms$")
        self.assertRegex(lines[5], r"^Thumbnail [0-9a-f]{8} +\[={30}\]")
        self.assertRegex(lines[9], r"^  └── Thumbnail.Store ")
        self.assertEqual(sorted(l.split()[1] for l in lines[6:9]),
                         ["Thumbnail.Decode", "Thumbnail.ResizeLarge", "Thumbnail.ResizeSmall"])
        # root bars start in the same column and span the full width
        self.assertEqual(lines[0].index("["), lines[5].index("["))
        self.assertNotIn("Segmentation", agent.stderr())

if __name__ == "__main__":
    unittest.main()
