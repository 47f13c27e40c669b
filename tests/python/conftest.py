"""Shared helpers of parmill's Python tests: the backends every test is swept over, and a look at
the processes this test process has left behind."""

import os

import parmill
import pytest

# Every test that applies runs on each of these (issue 17: inline, threads(1/2/8), processes(1/2/8)).
BACKENDS = {
    "inline": parmill.inline(),
    "threads1": parmill.threads(1),
    "threads2": parmill.threads(2),
    "threads8": parmill.threads(8),
    "processes1": parmill.processes(1),
    "processes2": parmill.processes(2),
    "processes8": parmill.processes(8),
}
PARALLEL = {name: b for name, b in BACKENDS.items() if b.workers >= 2}
PROCESSES = {name: b for name, b in BACKENDS.items() if b.kind == "processes"}


@pytest.fixture(params=list(BACKENDS), ids=list(BACKENDS))
def backend(request):
    return BACKENDS[request.param]


@pytest.fixture(params=list(PARALLEL), ids=list(PARALLEL))
def parallel_backend(request):
    return PARALLEL[request.param]


@pytest.fixture(params=list(PROCESSES), ids=list(PROCESSES))
def process_backend(request):
    return PROCESSES[request.param]


def descendants(root=None):
    """The pids of every live process descended from `root` (default: this process), from /proc."""
    root = os.getpid() if root is None else root
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":  # a zombie is dead; its parent has not reaped it yet
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.fixture(autouse=True)
def no_process_left():
    """Every test must leave no worker or spawner process behind."""
    yield
    assert descendants() == [], "a test left processes running"
