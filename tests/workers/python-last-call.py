"""A Python worker for tests/e2e/test_python.py: once the agent's pid
arrives on stdin, calls outer(), which calls inner() and returns 30 ms
later, then stops the agent (SIGINT) and exits at once. Its last events are
still held in the agent's reorder buffer as the agent stops and finds it
gone: the agent must end both spans by their returns, not cut them for the
process's absence."""
import os
import signal
import sys
import time


def inner():
    time.sleep(0.001)


def outer():
    inner()
    time.sleep(0.03)


agent = int(sys.stdin.readline())
outer()
os.kill(agent, signal.SIGINT)
os._exit(0)
