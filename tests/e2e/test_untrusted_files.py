"""Files from outside never hang the agent and are never quoted back (issue 12,
items 2, 5 and 6): a FIFO, /proc/kmsg or a device as a spec; links out of
--spec-dir (another user's link to a secret); a file that is no spec; the
default spool directory in /tmp planted by another user."""
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest

from harness import Agent, TASKTAP, WORKER, run_tool
from test_otlp import free_port, wait_for

# what must never appear in a message: the "hash" of a shadow-like file
SECRET = "S3cretHash%05d" % random.randrange(100000)
SHADOW_LINE = "root:$6$Zq3$%s:19000:0:99999:7:::\n" % SECRET

GOOD = """service: demo-worker
keyspace: demo
targets:
  - comm: %s
    probes:
      - role: task
        symbol: run_task
        key: arg0
"""


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class UntrustedFilesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_fifo_as_a_spec_returns_at_once(self):
        fifo = os.path.join(self.dir, "f.yaml")
        os.mkfifo(fifo, 0o644)
        # each of these waited forever in open() for a writer
        for args in (["check", fifo], ["run", fifo], ["run", "--spec", fifo]):
            rc, out, err = run_tool(args, timeout=20)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
            self.assertIn("spec '%s' is not a regular file (a FIFO)" % fifo, err)
            self.assertEqual(out, "")

    def test_blocking_proc_file_and_device_as_a_spec(self):
        # /proc/kmsg is a regular file that says it holds 0 bytes and then blocks
        rc, out, err = run_tool(["check", "/proc/kmsg"], timeout=20)
        self.assertEqual(rc, 2, err)
        self.assertIn("/proc/kmsg:1:1: spec is empty", err)
        rc, out, err = run_tool(["check", "/dev/zero"], timeout=20)
        self.assertEqual(rc, 2, err)
        self.assertIn("spec '/dev/zero' is not a regular file (a character device)", err)

    def test_spec_dir_refuses_links_out_fifos_and_quotes_nothing(self):
        # a world-writable spec dir (sticky, as /tmp) where another user planted things
        specs = os.path.join(self.dir, "specs")
        os.makedirs(specs)
        os.chmod(specs, 0o1777)
        secret = write(os.path.join(self.dir, "shadow"), SHADOW_LINE, 0o600)
        os.mkfifo(os.path.join(specs, "a-fifo.yaml"), 0o644)
        os.symlink("/proc/kmsg", os.path.join(specs, "b-kmsg.yaml"))
        os.symlink(secret, os.path.join(specs, "c-shadow.yaml"))
        os.symlink("../shadow", os.path.join(specs, "d-climb.yaml"))
        # a secret file that is in the directory (a hard link, say): parsed, never quoted
        write(os.path.join(specs, "e-notspec.yaml"), SHADOW_LINE)
        name = "ttu-%05d" % random.randrange(100000)
        worker = os.path.join(self.dir, name)
        shutil.copy(WORKER, worker)
        write(os.path.join(specs, "f-good.yaml"), GOOD % name)
        a = Agent(["--spec-dir", specs, "--json"])
        self.addCleanup(lambda: a.proc.poll() is None and a.stop())
        a.wait_attached()  # a FIFO in the directory blocked the agent here
        err = a.stderr()
        self.assertIn("spec '%s/a-fifo.yaml' is not a regular file (a FIFO)" % specs, err)
        for link in ("b-kmsg", "c-shadow", "d-climb"):
            self.assertIn("refusing spec '%s/%s.yaml': a symbolic link out of the spec "
                          "directory" % (specs, link), err)
        self.assertIn("%s/e-notspec.yaml:1:1: unknown key in spec" % specs, err)
        self.assertIn("5 of 6 spec files have problems", err)
        # the good spec works alongside
        subprocess.run([worker, "--tasks", "1", "--scale", "0.02"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60, check=True)
        wait_for(lambda: len(a.spans()) >= 1, what="the good spec's span")
        health = a.get("/health")[2]
        self.assertEqual([s["ok"] for s in json.loads(health)["specs"]],
                         [False] * 5 + [True])
        self.assertIn("a symbolic link out of the spec directory", health)
        self.assertEqual(a.stop(), 0, a.stderr())
        for text in (a.stderr(), health, a.stdout()):
            self.assertNotIn(SECRET, text)
            self.assertNotIn("19000:0:99999", text)

    def run_unprivileged(self, uid, specs):
        """Runs an agent as `uid` with the capabilities it needs (so its default
        spool is /tmp/tasktap-UID/spool) for a moment; returns (exit code, stderr)."""
        caps = "+bpf,+perfmon,+sys_ptrace,+dac_read_search"
        p = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
                            "--clear-groups", "--inh-caps=" + caps, "--ambient-caps=" + caps,
                            TASKTAP, "run", "--spec-dir", specs, "--http", "0",
                            "--otlp-endpoint", "http://127.0.0.1:%d" % free_port(),
                            "--duration", "1"],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stderr

    def test_default_spool_planted_by_another_user_is_refused(self):
        uid = 40000 + random.randrange(10000)
        top = "/tmp/tasktap-%d" % uid
        spool = top + "/spool"
        self.addCleanup(shutil.rmtree, top, True)
        specs = os.path.join(self.dir, "specs")
        os.makedirs(specs)
        os.chmod(specs, 0o755)
        # another user (4321) made the directory first, open to all, with a batch in it
        os.makedirs(spool)
        for d in (top, spool):
            os.chown(d, 4321, 4321)
            os.chmod(d, 0o777)
        planted = write(os.path.join(spool, "0000000000000000.tts"), "TTSPOOL1" + "x" * 40)
        rc, err = self.run_unprivileged(uid, specs)
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing spool directory '%s': owned by uid 4321, not by uid %d"
                      % (spool, uid), err)
        self.assertTrue(os.path.exists(planted))  # never read, never replayed
        # only the directory above: the spool the agent makes in it is refused
        shutil.rmtree(spool)
        rc, err = self.run_unprivileged(uid, specs)
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing spool directory '%s': '%s' above it is owned by uid 4321"
                      % (spool, top), err)
        # ours but open to all: refused too
        for d in (top, spool):
            os.chown(d, uid, uid)
            os.chmod(d, 0o777)
        rc, err = self.run_unprivileged(uid, specs)
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing spool directory '%s': writable by users other than its "
                      "owner (mode 777)" % spool, err)
        # gone: the agent makes it itself, the user's alone
        shutil.rmtree(top)
        rc, err = self.run_unprivileged(uid, specs)
        self.assertEqual(rc, 0, err)
        for d in (top, spool):
            st = os.lstat(d)
            self.assertEqual((st.st_uid, st.st_mode & 0o7777), (uid, 0o700), d)


if __name__ == "__main__":
    unittest.main()
