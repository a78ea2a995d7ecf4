"""Narrowing with real BPF: a `library:` target that also names `comm:`,
`binary:` or `cgroup:` is attached in the processes it names alone, each
with the kernel's uprobe pid filter, so that another process mapping the
same library has no probe installed at all: the test reads the probed
function's first bytes through /proc/PID/mem (at the address the worker
itself prints) and finds the breakpoint (int3, 0xcc) only in the processes
meant, and the spans only from them. `--binary PATH` keeps a spec's library
targets, in the processes running PATH alone.

The worker is tests/workers/narrow-worker.c, copied under two names so that
the kernel names its processes differently; it loads libttjob.so with
dlopen and runs one job per line of its standard input."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, run_tool, write_spec

LIB_DIR = os.path.abspath(".output/lib")
NARROW_WORKER = os.path.abspath(".output/narrow-worker")
ENV = {"LD_LIBRARY_PATH": LIB_DIR}

SPEC = """\
service: narrow
targets:
  - library: libttjob.so
{narrowing}
    probes:
      - role: task
        symbol: ttjob_run
        key: arg0
"""

INT3 = 0xcc


class Worker:
    """A narrow-worker running under `path`, its jobs fed through stdin."""

    def __init__(self, path, cgroup_procs=None, fork=False, child=False):
        args = [path] + (["--fork"] if fork else []) + (["--child"] if child else [])
        if cgroup_procs:
            # enter the cgroup first, so that the worker's exec happens inside it
            args = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', cgroup_procs] + args
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=dict(os.environ, **ENV))
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.proc.kill()
            raise AssertionError("%s did not start" % path)
        self.pid, self.addr, self.parent = int(line[1]), int(line[2], 16), int(line[3])

    def code(self):
        """The first 8 bytes of ttjob_run in this process, as it runs them."""
        with open("/proc/%d/mem" % self.pid, "rb") as mem:
            mem.seek(self.addr)
            return mem.read(8)

    def probed(self):
        # at the function, or past a leading endbr64 (f3 0f 1e fa), as tasktap attaches
        code = self.code()
        return code[0] == INT3 or (code[:4] == b"\xf3\x0f\x1e\xfa" and code[4] == INT3)

    def run(self, ids):
        """Runs the jobs, then ends; returns {job id: pid that ran it}."""
        out, _ = self.proc.communicate("".join("%d\n" % i for i in ids), timeout=60)
        ran = {}
        for line in out.splitlines():
            _, job, pid, _ = line.split()
            ran[job] = int(pid)
        return ran

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class NarrowTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ttnarrow")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.workers = []
        # two names for one program: the kernel names each process after its file
        self.a = os.path.join(self.dir, "tt-narrow-a")
        self.b = os.path.join(self.dir, "tt-narrow-b")
        shutil.copy(NARROW_WORKER, self.a)
        shutil.copy(NARROW_WORKER, self.b)

    def start(self, path, cgroup_procs=None, fork=False):
        w = Worker(path, cgroup_procs, fork=fork)
        self.workers.append(w)
        self.addCleanup(w.kill)
        return w

    def agent(self, narrowing, extra=()):
        spec = write_spec(SPEC.format(narrowing=narrowing), self.dir)
        # a process waits, stopped, for the agent to attach in it (at exec or fork); on a
        # loaded machine (the suite run in parallel) the agent may take longer than the
        # default hold allows
        agent = Agent([spec, "--json"] + list(extra), env=dict(ENV, TASKTAP_HOLD_MS="20000"))
        self.addCleanup(agent.stop)
        agent.wait_attached()
        return agent

    def traced(self, agent, meant, others):
        """Runs jobs in every worker; checks the probes and the spans of each."""
        for w in meant:
            self.assertTrue(w.probed(), "no probe in pid %d: %s" % (w.pid, w.code().hex()))
        for w in others:
            self.assertFalse(w.probed(), "a probe in pid %d: %s" % (w.pid, w.code().hex()))
        want = {}
        for n, w in enumerate(meant + others):
            ran = w.run([100 * (n + 1) + 1, 100 * (n + 1) + 2])
            self.assertEqual(len(ran), 2)
            if w in meant:
                want.update(ran)
        time.sleep(0.3)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        spans = agent.spans()
        got = {attrs(s)["task.id"]: s["resource"]["process.pid"] for s in spans}
        self.assertEqual(got, want, agent.stderr())
        self.assertEqual(len(spans), len(want))

    def test_comm_narrows_to_those_processes(self):
        before_a, before_b = self.start(self.a), self.start(self.b)
        untouched = before_b.code()
        self.assertEqual(before_a.code(), untouched)
        agent = self.agent("    comm: tt-narrow-a")
        after_a, after_b = self.start(self.a), self.start(self.b)
        self.assertEqual(before_b.code(), untouched)
        self.assertEqual(after_b.code(), untouched)
        self.traced(agent, [before_a, after_a], [before_b, after_b])

    def test_comm_narrowing_follows_a_pre_forking_worker(self):
        # the children a matched process forks (no exec: the same name) are its workers too
        agent = self.agent("    comm: tt-narrow-a")
        forking, other = self.start(self.a, fork=True), self.start(self.b, fork=True)
        self.assertTrue(forking.probed())
        self.assertFalse(other.probed())
        ran = forking.run([1001, 1002, 1003])
        self.assertNotIn(forking.pid, ran.values())
        self.assertEqual(len(other.run([2001, 2002])), 2)
        time.sleep(0.3)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        got = {attrs(s)["task.id"]: s["resource"]["process.pid"] for s in agent.spans()}
        self.assertEqual(got, ran, agent.stderr())

    def test_binary_glob_narrows_to_those_processes(self):
        before_a, before_b = self.start(self.a), self.start(self.b)
        agent = self.agent("    binary: %s/*-a" % self.dir)
        after_a, after_b = self.start(self.a), self.start(self.b)
        self.traced(agent, [before_a, after_a], [before_b, after_b])

    def test_cgroup_narrows_to_the_processes_in_it(self):
        root = cgroup2_root()
        if root is None:
            self.fail("no cgroup2 hierarchy mounted: the cgroup narrowing cannot be tested")
        name = "tt-narrow-%d" % os.getpid()
        group = os.path.join(root, name)
        os.mkdir(group)
        self.addCleanup(os.rmdir, group)
        inside = self.start(self.b, os.path.join(group, "cgroup.procs"))
        outside = self.start(self.b)
        agent = self.agent("    cgroup: /%s" % name)
        # held at exec (BPF knows the cgroup) until its probes are in: probed when it is ready
        later = self.start(self.b, os.path.join(group, "cgroup.procs"))
        # the workers end before the group is removed (cleanups run last first)
        self.traced(agent, [inside, later], [outside])

    def test_binary_option_keeps_library_targets(self):
        a, b = self.start(self.a), self.start(self.b)
        agent = self.agent("", ["--binary", self.a])
        later = self.start(self.a)
        self.traced(agent, [a, later], [b])


class ForkTest(unittest.TestCase):
    """--pid N covers N's descendants: a worker that forks a child per job
    (each job runs in a new process) is traced in every child; a process
    of the same program that is not N's descendant is not."""

    def test_pid_follows_a_fork_per_job_worker(self):
        d = tempfile.mkdtemp(prefix="ttnarrow")
        self.addCleanup(shutil.rmtree, d, True)
        forking = Worker(NARROW_WORKER, fork=True)
        self.addCleanup(forking.kill)
        other = Worker(NARROW_WORKER)
        self.addCleanup(other.kill)
        spec = write_spec(SPEC.format(narrowing=""), d)
        # each child waits, stopped, for the agent to attach in it; on a loaded machine (the
        # suite run in parallel) the agent may take longer than the default hold allows
        agent = Agent([spec, "--json", "--pid", str(forking.pid)],
                      env=dict(ENV, TASKTAP_HOLD_MS="20000"))
        self.addCleanup(agent.stop)
        agent.wait_attached()
        self.assertTrue(forking.probed())
        self.assertFalse(other.probed())
        jobs = list(range(700, 706))
        ran = forking.run(jobs)
        self.assertEqual(sorted(ran), [str(j) for j in jobs])
        children = set(ran.values())
        self.assertEqual(len(children), len(jobs))  # one process per job
        self.assertNotIn(forking.pid, children)
        self.assertEqual(len(other.run([800, 801])), 2)
        time.sleep(0.3)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        spans = agent.spans()
        got = {attrs(s)["task.id"]: s["resource"]["process.pid"] for s in spans}
        self.assertEqual(got, ran, agent.stderr())


    def test_pid_covers_a_descendant_already_running(self):
        d = tempfile.mkdtemp(prefix="ttnarrow")
        self.addCleanup(shutil.rmtree, d, True)
        worker = Worker(NARROW_WORKER, child=True)  # the jobs run in a child of the parent
        self.addCleanup(worker.kill)
        self.assertNotEqual(worker.parent, worker.pid)
        spec = write_spec(SPEC.format(narrowing=""), d)
        agent = Agent([spec, "--json", "--pid", str(worker.parent)], env=ENV)
        self.addCleanup(agent.stop)
        agent.wait_attached()
        self.assertTrue(worker.probed())
        ran = worker.run([900, 901, 902])
        self.assertEqual(set(ran.values()), {worker.pid})
        time.sleep(0.3)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        self.assertIn("attached in 1 running descendant of process %d" % worker.parent,
                      agent.stderr())
        got = {attrs(s)["task.id"]: s["resource"]["process.pid"] for s in agent.spans()}
        self.assertEqual(got, ran, agent.stderr())


class CheckTest(unittest.TestCase):
    def test_check_says_where_a_narrowed_library_goes(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        spec = write_spec(SPEC.format(narrowing="    comm: tt-narrow-a\n    cgroup: /jobs"), d)
        rc, out, err = run_tool(["check", spec], env=ENV)
        self.assertEqual(rc, 0, err)
        self.assertIn("library libttjob.so: 1 probes, attached in each process named "
                      "tt-narrow-a in cgroup /jobs as it starts, and only there", out)
        self.assertIn(": ok, 0 attachments", out)
        # its symbols are resolved all the same
        spec = write_spec(SPEC.format(narrowing="    comm: tt-narrow-a").replace(
            "ttjob_run", "ttjob_walk"), d)
        rc, out, err = run_tool(["check", spec], env=ENV)
        self.assertEqual(rc, 2)
        self.assertIn("ttjob_walk", err)


def cgroup2_root():
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    return None


if __name__ == "__main__":
    unittest.main()
