"""Threads for tests/e2e/test_python.py: three threads call Worker.perform
(which calls job) at the same time, each holding the GIL in turn; prints,
as JSON, each thread's native id and how many performs it ran."""
import json
import sys
import threading
import time


def job(n):
    time.sleep(0.001)  # lets the other threads run
    return n * 2


class Worker:
    def perform(self, n):
        time.sleep(0.001)
        return job(n)


def work(w, count, out):
    out[threading.get_native_id()] = count
    for i in range(count):
        w.perform(i)


def main():
    sys.stdin.readline()
    w, out = Worker(), {}
    threads = [threading.Thread(target=work, args=(w, 4 + k, out)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out), flush=True)


main()
