"""Workers held at exec (issue 12, item 1): a comm: target stops a new
process until the agent attaches, with a deadline the kernel keeps, so
that no worker stays stopped whether the agent is alive, stalled, dead or
restarting; and a new agent continues what an earlier one left held."""
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

from harness import Agent, AgentsAndProcesses, WORKER, attrs
from test_node_agent import ONE_TASK, names, spec_text, tag, write
from test_otlp import wait_for

WORKERS = 30


def state(pid):
    """The state letter of process `pid` (R, S, T, Z...), or None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def watchdogs(agent_pid):
    """The pids of the hold watchdogs agent `agent_pid` forked (its children named tasktap-holds)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm == "tasktap-holds" and int(stat.rsplit(")", 1)[1].split()[1]) == agent_pid:
            found.append(int(pid))
    return found


def gone(pid):
    return state(pid) in (None, "Z")


def private_bpffs(test):
    """A mount namespace of the test's own, with a bpffs of its own at /sys/fs/bpf (kept by a
    process sleeping in it until the test ends). Returns the command prefix that runs a
    program in it: an agent run so pins its hold map where no agent of the host looks."""
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               "mount -t bpf bpf /sys/fs/bpf && echo ready && exec sleep 600"],
                              stdout=subprocess.PIPE, text=True)
    test.addCleanup(lambda: (holder.kill(), holder.wait()))
    test.assertEqual(holder.stdout.readline(), "ready\n")
    return ["nsenter", "--mount=/proc/%d/ns/mnt" % holder.pid, "--"]


class HoldTest(AgentsAndProcesses, unittest.TestCase):
    def setUp(self):
        super().setUp()
        # a name of its own: agents of other tests hold only their own workers
        self.name = "tth-" + tag()
        self.worker = os.path.join(self.dir, self.name)
        shutil.copy(WORKER, self.worker)
        self.spec = write(os.path.join(self.dir, "hold.yaml"), spec_text("comm: " + self.name))

    def agent(self, args, env=None, prefix=()):
        a = Agent([self.spec, "--json"] + args, env=env, prefix=prefix)
        self.agents.append(a)
        a.wait_attached()
        a.get("/health")  # answered from the event loop: the agent is in it
        return a

    def start_worker(self, first_id=1001):
        p = subprocess.Popen([self.worker, "--tasks", "1", "--scale", "0.02",
                              "--first-id", str(first_id)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def assert_all_ran(self, procs):
        """Every worker ran to its end: none was left stopped."""
        stuck = []
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                self.assertEqual(p.wait(max(0.1, deadline - time.monotonic())), 0)
            except subprocess.TimeoutExpired:
                stuck.append("%d (state %s)" % (p.pid, state(p.pid)))
        self.assertEqual(stuck, [], "workers left stopped")

    def wait_stopped(self, p):
        wait_for(lambda: state(p.pid) == "T", what="the worker held at exec")

    def test_workers_started_while_the_agent_is_killed_run(self):
        a = self.agent([])
        procs = []
        for i in range(WORKERS):
            procs.append(self.start_worker(1001 + 10 * i))
            if i == WORKERS // 2:
                a.proc.kill()  # SIGKILL: no cleanup, its held workers wait for their deadline
        a.proc.wait()
        self.assert_all_ran(procs)

    def test_workers_of_a_stalled_agent_run_after_the_deadline(self):
        a = self.agent([])
        a.proc.send_signal(signal.SIGSTOP)  # alive, but answers nothing
        procs = [self.start_worker(1001 + 10 * i) for i in range(WORKERS)]
        self.assert_all_ran(procs)
        a.proc.send_signal(signal.SIGCONT)
        self.assertEqual(a.stop(), 0, a.stderr())
        self.assertIn("reached its deadline at exec before its probes were in", a.stderr())

    def test_the_watchdog_keeps_the_deadlines_of_a_stalled_then_killed_agent(self):
        """The hold watchdog, a process each agent forks before it loads,
        keeps the holds' deadlines from process context (BPF's timer cannot
        signal while it interrupts an idle CPU, and then retries): workers
        held by an agent that stalls and is then killed are continued by
        it, each said on stderr, and it exits once nothing it kept is held."""
        a = self.agent([])
        dogs = watchdogs(a.proc.pid)
        self.assertEqual(len(dogs), 1)
        a.proc.send_signal(signal.SIGSTOP)
        stalled = [self.start_worker(1001 + 10 * i) for i in range(5)]
        self.assert_all_ran(stalled)
        a.proc.kill()
        a.proc.wait()
        killed = [self.start_worker(2001 + 10 * i) for i in range(5)]  # no agent: not held
        self.assert_all_ran(killed)
        wait_for(lambda: gone(dogs[0]), what="the watchdog gone with its agent and holds")
        a.reader.join(10)  # its stderr is the agent's: read to its end
        for p in stalled:
            self.assertRegex(a.stderr(), r"hold watchdog: continued process %d, held "
                             r"0\.\d+ s at exec \(its agent is stopped\)" % p.pid)

    def test_the_watchdog_continues_what_its_killed_agent_held(self):
        # pinned in its --pin directory, not in /sys/fs/bpf/tasktap-holds: another agent
        # starting meanwhile (on this host, of another test) would continue it first
        pin = "/sys/fs/bpf/tasktap-test-hold-" + tag()
        self.addCleanup(shutil.rmtree, pin, True)
        first = self.agent(["--pin", pin], env={"TASKTAP_HOLD_MS": "3000"})
        dog = watchdogs(first.proc.pid)[0]
        first.proc.send_signal(signal.SIGSTOP)
        p = self.start_worker()
        self.wait_stopped(p)
        first.proc.kill()  # its watchdog outlives it: the hold is still to keep
        first.proc.wait()
        self.assertEqual(state(p.pid), "T")
        self.assertIsNotNone(state(dog))
        self.assert_all_ran([p])
        wait_for(lambda: gone(dog), what="the watchdog gone once it kept the deadline")
        first.reader.join(10)
        self.assertRegex(first.stderr(), r"hold watchdog: continued process %d, held "
                         r"[34]\.\d+ s at exec \(its agent is gone\)" % p.pid)

    def left_held_then_restarted(self, args, prefix=()):
        """An agent holds a worker with a long deadline, stalls and is
        killed; the next agent continues the worker, after attaching to it
        (so its first task is traced). Returns the second agent."""
        first = self.agent(args, env={"TASKTAP_HOLD_MS": "60000"}, prefix=prefix)
        first.proc.send_signal(signal.SIGSTOP)
        p = self.start_worker()
        self.wait_stopped(p)
        first.proc.kill()
        first.proc.wait()
        time.sleep(0.5)
        self.assertEqual(state(p.pid), "T")  # nobody continues it but a new agent
        second = self.agent(args, prefix=prefix)
        self.assert_all_ran([p])
        wait_for(lambda: len(second.spans()) >= 5, what="the held worker's spans")
        self.assertEqual(second.stop(), 0, second.stderr())
        self.assertIn("continued 1 processes that an earlier agent left stopped at exec",
                      second.stderr())
        self.assertEqual(names(second.spans()), ONE_TASK)
        for s in second.spans():
            self.assertNotIn("tasktap.cut", attrs(s))
        return second

    def test_restart_continues_what_a_killed_agent_left_held(self):
        # the hold map pinned in /sys/fs/bpf/tasktap-holds: any agent starting on the host
        # (of another test) continues what it holds once its agent is gone, before the
        # second agent here could; so both run with a bpffs of their own
        self.left_held_then_restarted([], prefix=private_bpffs(self))

    def test_restart_with_pin_continues_what_a_killed_agent_left_held(self):
        pin = "/sys/fs/bpf/tasktap-test-hold-" + tag()
        self.addCleanup(shutil.rmtree, pin, True)
        self.left_held_then_restarted(["--pin", pin])

    def test_workers_exiting_as_the_agent_stops_leave_it_whole(self):
        """Workers attached one by one die just as the agent stops: their
        exits reach the agent's last drain after it let go of their probes
        (before: it detached them again, a use after free, and the agent
        died in free() without its summary, with what it had not sent)."""
        a = self.agent([])
        procs = []
        for i in range(10):
            p = subprocess.Popen([self.worker, "--wait-signal", "--first-id", str(1001 + i)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(p)
            procs.append(p)
        wait_for(lambda: json.loads(a.get("/health")[2])["processes_discovered"] >= 10,
                 what="the ten workers attached")
        a.proc.send_signal(signal.SIGTERM)
        for p in procs:
            p.kill()
        self.assertEqual(a.stop(signal.SIGTERM), 0, a.stderr())
        self.assertRegex(a.stderr(), r"\d+ spans, \d+ events")

    def test_held_worker_is_traced_from_its_first_task(self):
        a = self.agent([])
        p = self.start_worker()
        self.assert_all_ran([p])
        wait_for(lambda: len(a.spans()) >= 5, what="the first task's spans")
        self.assertEqual(a.stop(), 0, a.stderr())
        self.assertEqual(names(a.spans()), ONE_TASK)
        self.assertNotIn("reached its deadline", a.stderr())


if __name__ == "__main__":
    unittest.main()
