"""A tiny Python worker for tests/e2e/test_python_return.py: calls
functions that return a constant str (3.12+ compile it to RETURN_CONST), a
str made at run time, an int, an object whose attributes a spec reads, None
and a dict, and one that raises, once a line arrives on stdin; prints what
each call returned, as one JSON line, to compare with the spans'
py(return…) attributes: {"calls": [{"fn", "n", "ret", "raised"}, ...]}."""
import json
import sys

calls = []


class Result:
    def __init__(self, n):
        self.status = "done-%d" % n
        self.count = n * 7


def const(n):
    return "finished"


def made(n):
    return "job-%d-%s" % (n, "x" * n)


def number(n):
    return n * 1000003 - 5


def result(n):
    many = [n, n + 1, n + 2]  # locals before the value stack
    total = sum(many)
    return Result(total)


def nothing(n):
    pass


def failing(n):
    raise KeyError("job %d" % n)


def main():
    sys.stdin.readline()
    for n in range(3):
        for fn in (const, made, number, result, nothing, failing):
            try:
                r = fn(n)
                out = r.__dict__ if isinstance(r, Result) else r
                calls.append({"fn": fn.__name__, "n": n, "ret": out, "raised": False})
            except KeyError:
                calls.append({"fn": fn.__name__, "n": n, "ret": None, "raised": True})
    print(json.dumps({"calls": calls}), flush=True)


main()
