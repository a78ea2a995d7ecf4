"""The command line as people expect it: `tasktap --help`, `tasktap COMMAND
--help`, `-h` and `tasktap help COMMAND` print the usage with examples on
stdout and exit 0; a bad command line prints the short usage on stderr and
exits 2; the tasktap(8) manual page is built from the same texts, reads
without a warning from groff, and `make install` puts it in man8."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import TASKTAP, run_tool

COMMANDS = ["run", "status", "check", "symbols", "version", "help"]
# The commands whose usage has options and examples (version has no examples).
WITH_EXAMPLES = ["run", "status", "check", "symbols", "help"]
MAN = os.path.abspath(".output/tasktap.8")


class HelpTest(unittest.TestCase):
    def test_top_level_help(self):
        for flag in (["--help"], ["-h"], ["help"]):
            rc, out, err = run_tool(flag)
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith("usage: tasktap COMMAND [ARGS]\n"), out)
            for cmd in COMMANDS:
                self.assertRegex(out, r"\n  %s +\S" % cmd)
            self.assertIn("\nexamples:\n  tasktap ", out)
            self.assertIn("\n  tasktap check worker.yaml\n", out)
            self.assertEqual(err, "")

    def test_no_command_is_usage_on_stderr(self):
        rc, out, err = run_tool([])
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("usage: tasktap COMMAND [ARGS]\n"), err)

    def test_each_command_help(self):
        for cmd in COMMANDS:
            for args in ([cmd, "--help"], [cmd, "-h"], ["help", cmd]):
                with self.subTest(args=args):
                    rc, out, err = run_tool(args)
                    self.assertEqual(rc, 0, err)
                    self.assertTrue(out.startswith("usage: tasktap %s" % cmd), out)
                    self.assertEqual(err, "")
                    if cmd in WITH_EXAMPLES:
                        self.assertIn("\noptions:\n", out)
                        self.assertIn("\nexamples:\n  tasktap %s" % cmd, out)

    def test_bad_option_is_short_usage_on_stderr(self):
        for cmd in COMMANDS:
            with self.subTest(cmd=cmd):
                rc, out, err = run_tool([cmd, "--no-such-option"])
                self.assertEqual(rc, 2, err)
                self.assertEqual(out, "")
                self.assertIn("usage: tasktap %s" % cmd, err)
                self.assertIn("Run 'tasktap %s --help'" % cmd, err)

    def test_run_help_lists_every_option(self):
        rc, out, err = run_tool(["run", "--help"])
        self.assertEqual(rc, 0, err)
        for opt in ["--pid PID", "--binary PATH", "--json", "--duration SECONDS",
                    "--ring-size BYTES", "--no-color", "--otlp-endpoint URL",
                    "--otlp-protocol PROTOCOL", "--otlp-header K=V", "--otlp-compression",
                    "--otlp-timeout MS", "--otlp-inflight N", "--spool DIR", "--spool-size BYTES", "--no-spool",
                    "--sampler NAME", "--sampler-arg RATIO", "--logs", "--log-steps",
                    "--http ADDR", "--no-http", "--http-allow-remote", "--stuck-after SECONDS",
                    "--recent-traces N", "--spec FILE", "--spec-dir DIR", "--pin DIR"]:
            self.assertRegex(out, r"\n  (-\w, )?%s" % re.escape(opt))
        self.assertTrue(all(len(line) <= 80 for line in out.splitlines()
                            if not line.startswith("  tasktap ")), out)

    def test_unknown_command(self):
        rc, out, err = run_tool(["frobnicate"])
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("tasktap: unknown command 'frobnicate' (try 'tasktap --help')", err)
        rc, out, err = run_tool(["help", "frobnicate"])
        self.assertEqual(rc, 2)
        self.assertIn("tasktap: unknown command 'frobnicate' (try 'tasktap --help')", err)

    def test_man_page_is_built_from_the_usage(self):
        rc, out, err = run_tool(["help", "--man"])
        self.assertEqual(rc, 0, err)
        with open(MAN) as f:
            self.assertEqual(f.read(), out)  # make built it from the same text
        self.assertTrue(out.startswith(".TH TASKTAP 8 "), out[:80])
        for cmd in COMMANDS:
            self.assertIn('.SS "%s"\n' % cmd, out)
        # run's options come from its table of options, each with its text
        self.assertIn(".B \\-\\-spec\\-dir DIR\nevery *.yaml, *.yml of DIR, watched for changes.\n",
                      out)
        groff = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", MAN],
                               capture_output=True, text=True)
        self.assertEqual(groff.returncode, 0, groff.stderr)
        self.assertEqual(groff.stderr, "")
        text = subprocess.run(["groff", "-man", "-Tutf8", MAN], capture_output=True,
                              text=True, check=True).stdout
        text = re.sub(".\b", "", text)  # overstrikes for bold
        text = text.replace("\u2010", "-").replace("\u2212", "-")
        self.assertIn("tasktap check SPEC [--pid PID | --binary PATH]", text)

    def test_make_install_puts_the_man_page_in_man8(self):
        dest = tempfile.mkdtemp()
        try:
            subprocess.run(["make", "--no-print-directory", "install", "DESTDIR=" + dest,
                            "PREFIX=/usr"], check=True, capture_output=True, text=True)
            man = os.path.join(dest, "usr/share/man/man8/tasktap.8")
            exe = os.path.join(dest, "usr/bin/tasktap")
            self.assertTrue(os.access(exe, os.X_OK))
            with open(man) as f, open(MAN) as built:
                self.assertEqual(f.read(), built.read())
            self.assertEqual(os.stat(man).st_mode & 0o777, 0o644)
        finally:
            shutil.rmtree(dest)


if __name__ == "__main__":
    unittest.main()
