"""Python hooks on one interpreter share their uprobes (include/tasktap/pyhook.h):
a spec with three Python probes on Debian's /usr/bin/python3.11 attaches one
uprobe per site (each RESUME handler, the frames' end), not one per probe
per site, and each probe still makes one span per call of its function."""
import os
import tempfile
import unittest

from harness import write_spec
from test_python import PYTHON, SPEC, WORKER, need_python, trace_worker


def uprobe_links(pid, kinds=("uprobe",)):
    """The links of `kinds` (uprobe, uretprobe: their perf events' types and their _multi
    links') process `pid` holds: a list of (file, offset), from their fdinfo."""
    links = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if "bpf_link" not in os.readlink("/proc/%d/fd/%s" % (pid, fd)):
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        except OSError:
            continue  # closed meanwhile
        info = {k.strip(): v.strip() for k, v in info.items()}
        if info.get("link_type") in [k + "_multi" for k in kinds]:
            links.append((info.get("path", "?"), info.get("offset", fd)))
        elif info.get("event_type") in kinds:
            links.append((info.get("name"), info.get("offset")))
    return links


class PythonShareTest(unittest.TestCase):
    def test_one_uprobe_per_site(self):
        need_python(self, PYTHON)
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        spec = write_spec(SPEC, d.name)  # three Python probes
        links = []
        record, agent = trace_worker(self, PYTHON, spec, WORKER,
                                     attached=lambda a: links.extend(uprobe_links(a.proc.pid)))
        # 3.11 has two RESUME handlers and a function__return site: 3 uprobes, not 9
        self.assertEqual(len(links), 3, links)
        self.assertEqual(len(set(links)), len(links), links)
        calls = record["calls"]
        spans = agent.spans()
        for fn, name in (("Worker.perform", "__main__:Worker.perform"),
                         ("job", "__main__:job"), ("rec", "__main__:re*")):
            want = [c for c in calls if c["name"] == fn]
            got = [s for s in spans if s["name"].endswith(name)]
            self.assertTrue(want, fn)
            self.assertEqual(len(got), len(want), (fn, [s["name"] for s in spans]))
        self.assertEqual(len(spans), len(calls))


if __name__ == "__main__":
    unittest.main()
