"""The deployment files: the systemd unit passes systemd-analyze verify; the
Kubernetes manifests parse, ask for exactly what the agent needs, and the
spec they embed passes `tasktap check`."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import TASKTAP, run_tool

UNIT = os.path.abspath("deploy/tasktap.service")
MANIFESTS = os.path.abspath("deploy/kubernetes/tasktap.yaml")
COLLECTOR = os.path.abspath("deploy/otel-collector.yaml")
# Debian's python3 has PyYAML (python3-yaml); the test runner's python may not
PARSE = ("import json, sys, yaml; "
         "print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))")


class DeployTest(unittest.TestCase):
    def test_systemd_unit_verifies(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        with open(UNIT) as f:
            unit = f.read().replace("/usr/local/bin/tasktap", TASKTAP)
        path = os.path.join(d, "tasktap.service")
        with open(path, "w") as f:
            f.write(unit)
        p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.strip(), "")
        self.assertIn("AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_SYS_PTRACE", unit)
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", unit)

    def test_kubernetes_manifests(self):
        p = subprocess.run(["/usr/bin/python3", "-c", PARSE, MANIFESTS], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        docs = {d["kind"]: d for d in json.loads(p.stdout)}
        self.assertEqual(sorted(docs), ["ConfigMap", "DaemonSet", "Namespace"])
        pod = docs["DaemonSet"]["spec"]["template"]["spec"]
        self.assertTrue(pod["hostPID"])
        [c] = pod["containers"]
        caps = c["securityContext"]["capabilities"]
        self.assertEqual(caps["drop"], ["ALL"])
        self.assertEqual(sorted(caps["add"]),
                         ["BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE"])
        self.assertFalse(c["securityContext"]["privileged"])
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        self.assertTrue({"/sys/kernel/btf", "/sys/fs/bpf", "/etc/tasktap/specs"} <= mounts)
        self.assertIn("--spec-dir=/etc/tasktap/specs", c["args"])
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/health/live")
        # every spec in the ConfigMap is valid here, where its targets exist
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        specs = docs["ConfigMap"]["data"]
        self.assertTrue(specs)
        for name, text in specs.items():
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            rc, out, err = run_tool(["check", path])
            self.assertEqual(rc, 0, err)
            self.assertIn("ok,", out)

    def test_collector_has_a_pipeline_per_signal(self):
        # no collector binary is packaged for Debian: its structure is checked
        # here as `otelcol validate` would (every component named is defined)
        p = subprocess.run(["/usr/bin/python3", "-c", PARSE, COLLECTOR], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        [cfg] = json.loads(p.stdout)
        pipelines = cfg["service"]["pipelines"]
        self.assertEqual(sorted(pipelines), ["logs", "metrics", "traces"])
        for name, pipe in pipelines.items():
            self.assertEqual(pipe["receivers"], ["otlp"], name)
            for kind in ("receivers", "processors", "exporters"):
                for component in pipe.get(kind, []):
                    self.assertIn(component, cfg[kind], "%s: %s" % (name, component))
            self.assertEqual(pipe["processors"][0], "memory_limiter", name)
        protocols = cfg["receivers"]["otlp"]["protocols"]
        self.assertEqual(protocols["grpc"]["endpoint"], "0.0.0.0:4317")
        self.assertEqual(protocols["http"]["endpoint"], "0.0.0.0:4318")
        self.assertIn("prometheus", pipelines["metrics"]["exporters"])


if __name__ == "__main__":
    unittest.main()
