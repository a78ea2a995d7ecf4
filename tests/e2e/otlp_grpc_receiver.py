#!/usr/bin/python3
"""A gRPC OTLP trace receiver for the end-to-end tests, on Debian's
python3-grpcio: an independent HTTP/2 and gRPC implementation, so the agent's
framing, headers and trailers are checked against a real peer. Requests are
decoded with a minimal protobuf wire reader (independent of protobuf-c).

Run by Debian's own interpreter (/usr/bin/python3, where python3-grpcio is
installed), as a process:

    otlp_grpc_receiver.py --port N --out FILE [--fail N]

Each accepted span is appended to FILE as one JSON line; each trace call as a
line {"call": n, "status": "...", "metadata": {...}}; each metrics or logs call
as {"signal": "metrics"|"logs", "bytes": n}. Stops on SIGTERM."""
import argparse
import json
import signal
import sys
import threading
from concurrent import futures

import grpc

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    """Yields (field number, wire type, value) of one message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
        elif wt == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def _attrs(kvs):
    out = {}
    for kv in kvs:
        f = {n: v for n, _, v in fields(kv)}
        val = {n: (v, wt) for n, wt, v in fields(f.get(2, b""))}
        if 1 in val:
            out[f[1].decode()] = val[1][0].decode()
        elif 3 in val:
            v = val[3][0]
            out[f[1].decode()] = v - (1 << 64) if v >= 1 << 63 else v
    return out


def decode_request(buf):
    """ExportTraceServiceRequest -> list of span dicts."""
    spans = []
    for n, _, rs in fields(buf):
        if n != 1:
            continue
        resource = {}
        for rn, _, rv in fields(rs):
            if rn == 1:
                resource = _attrs([v for k, _, v in fields(rv) if k == 1])
        for rn, _, ss in fields(rs):
            if rn != 2:
                continue
            for sn, _, sp in fields(ss):
                if sn != 2:
                    continue
                s = {"resource": resource, "attributes": {}}
                kvs = []
                for k, _, v in fields(sp):
                    if k == 1:
                        s["traceId"] = v.hex()
                    elif k == 2:
                        s["spanId"] = v.hex()
                    elif k == 4:
                        s["parentSpanId"] = v.hex()
                    elif k == 5:
                        s["name"] = v.decode()
                    elif k == 9:
                        kvs.append(v)
                s["attributes"] = _attrs(kvs)
                spans.append(s)
    return spans


class GrpcReceiver:
    """Serves TraceService/Export on 127.0.0.1:port. The first `fail`
    calls answer UNAVAILABLE; every call and accepted span goes to `out`."""

    def __init__(self, port, out, fail=0):
        self.out = out
        self.calls = 0
        self.failed = 0
        self.fail = fail
        self.lock = threading.Lock()
        handlers = [grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(self._export)})]
        for signal_name, service in (("metrics", "MetricsService"), ("logs", "LogsService")):
            handlers.append(grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.%s.v1.%s" % (signal_name, service),
                {"Export": grpc.unary_unary_rpc_method_handler(self._other(signal_name))}))
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                                  handlers=handlers)
        self.server.add_insecure_port("127.0.0.1:%d" % port)

    def _write(self, obj):
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()

    def _export(self, request, context):
        with self.lock:
            self.calls += 1
            meta = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            if self.failed < self.fail:
                self.failed += 1
                self._write({"call": self.calls, "status": "UNAVAILABLE", "metadata": meta})
                context.abort(grpc.StatusCode.UNAVAILABLE, "test receiver: not yet")
            self._write({"call": self.calls, "status": "OK", "metadata": meta})
            for span in decode_request(request):
                self._write(span)
        return b""  # an empty ExportTraceServiceResponse: full success

    def _other(self, signal_name):
        """Metrics and logs calls: counted as {"signal": name, "bytes": n}."""
        def export(request, context):
            with self.lock:
                self._write({"signal": signal_name, "bytes": len(request)})
            return b""
        return export

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fail", type=int, default=0)
    args = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(args.out, "a") as out:
        r = GrpcReceiver(args.port, out, args.fail).start()
        print("listening on %d" % args.port, flush=True)
        stop.wait()
        r.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
