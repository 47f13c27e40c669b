#!/usr/bin/python3
"""Issue 17 (b), (c), (d): the Python package on work that is not trivial, on Ctrl-C and on crashes.

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_bench_more.py [rounds]

(b) 2,000 items of 1 ms of GIL-holding Python work (a busy loop) on processes(2), against the
    same loop run serially: the speed-up and its share of the ideal (2).
(c) 2,000 items of time.sleep(0.001) on threads(8) against ThreadPoolExecutor(8).map.
(d) Ctrl-C: a child program maps 1-second sleeps on 2 worker processes; it is sent SIGINT once
    both are running; the time until it has exited (KeyboardInterrupt raised, every worker gone),
    for parmill and for Pebble's ProcessPool. Crashes: 200 items of which every tenth calls
    os._exit on 2 worker processes; the time for the whole map (each crash costs a replacement
    process), for parmill (on_error="yield") and Pebble's ProcessPool.map.
Rounds are interleaved; medians. A benchmark, not a test: nothing here asserts a timing."""

import concurrent.futures
import os
import signal
import statistics
import subprocess
import sys
import time

import parmill

ITEMS = 2000


def busy_millisecond(x):
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass
    return x


def sleep_millisecond(x):
    time.sleep(0.001)
    return x


def crash_every_tenth(x):
    if x % 10 == 9:
        os._exit(1)
    return x


def seconds(run):
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def serial_busy():
    for x in range(ITEMS):
        busy_millisecond(x)


def parmill_busy():
    assert sum(parmill.map(busy_millisecond, range(ITEMS), backend=parmill.processes(2))) == sum(range(ITEMS))


def parmill_sleep():
    assert sum(parmill.map(sleep_millisecond, range(ITEMS), backend=parmill.threads(8))) == sum(range(ITEMS))


def executor_sleep():
    with concurrent.futures.ThreadPoolExecutor(8) as executor:
        assert sum(executor.map(sleep_millisecond, range(ITEMS))) == sum(range(ITEMS))


def parmill_crashes():
    results = list(parmill.map(crash_every_tenth, range(200), backend=parmill.processes(2), on_error="yield"))
    assert sum(isinstance(r, parmill.ItemFailed) for r in results) == 20


def pebble_crashes():
    import pebble

    with pebble.ProcessPool(2) as pool:
        future = pool.map(crash_every_tenth, range(200))
        iterator = future.result()
        failures = 0
        while True:
            try:
                next(iterator)
            except StopIteration:
                break
            except Exception:  # pebble.ProcessExpired
                failures += 1
        assert failures == 20


CTRL_C_CHILD = {
    "parmill": """
import sys, time, parmill
def nap(x):
    print("running", flush=True)
    time.sleep(1)
try:
    for _ in parmill.map(nap, range(100), backend=parmill.processes(2), chunk=1):
        pass
except KeyboardInterrupt:
    sys.exit(130)
""",
    "pebble": """
import sys, time, pebble
def nap(x):
    print("running", flush=True)
    time.sleep(1)
pool = pebble.ProcessPool(2)
try:
    for _ in pool.map(nap, range(100)).result():
        pass
except KeyboardInterrupt:
    pool.stop()
    pool.join()
    sys.exit(130)
""",
}


def ctrl_c_seconds(which):
    """Seconds from SIGINT (sent once both workers run an item) until the program has exited."""
    child = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD[which]], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=dict(os.environ))
    seen = b""
    while seen.count(b"running") < 2:  # both workers run an item
        line = child.stdout.readline()
        assert line, f"the {which} child ended: {seen!r} {child.stderr.read()!r}"
        seen += line
    started = time.perf_counter()
    child.send_signal(signal.SIGINT)
    child.wait(timeout=60)
    took = time.perf_counter() - started
    stderr = child.stderr.read().decode()
    assert child.returncode == 130, stderr
    return took, stderr.count("Traceback")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    times = {}

    def record(name, value):
        times.setdefault(name, []).append(value)
        print(f"round {round_number + 1}: {name:44} {value:8.3f}", file=sys.stderr)

    try:
        import pebble  # noqa: F401
        have_pebble = True
    except ImportError:
        have_pebble = False
    for round_number in range(rounds):
        record("(b) serial, 2000 x 1 ms busy (s)", seconds(serial_busy))
        record("(b) parmill processes(2) (s)", seconds(parmill_busy))
        record("(c) parmill threads(8), 2000 x sleep 1 ms (s)", seconds(parmill_sleep))
        record("(c) ThreadPoolExecutor(8) (s)", seconds(executor_sleep))
        record("(d) parmill: 200 items, 20 crash (s)", seconds(parmill_crashes))
        took, tracebacks = ctrl_c_seconds("parmill")
        record("(d) parmill: Ctrl-C to exit (s)", took)
        record("(d) parmill: tracebacks printed", tracebacks)
        if have_pebble:
            record("(d) Pebble ProcessPool: 200 items, 20 crash (s)", seconds(pebble_crashes))
            took, tracebacks = ctrl_c_seconds("pebble")
            record("(d) Pebble: Ctrl-C to exit (s)", took)
            record("(d) Pebble: tracebacks printed", tracebacks)
    median = {name: statistics.median(values) for name, values in times.items()}
    for name, value in median.items():
        print(f"{name:48} median {value:8.3f}   rounds " + " ".join(f"{v:.3f}" for v in times[name]))
    speedup = median["(b) serial, 2000 x 1 ms busy (s)"] / median["(b) parmill processes(2) (s)"]
    print(f"(b) speed-up {speedup:.2f} of the ideal 2: {100 * speedup / 2:.0f}%  (goal: 90%)")
    ratio = median["(c) ThreadPoolExecutor(8) (s)"] / median["(c) parmill threads(8), 2000 x sleep 1 ms (s)"]
    print(f"(c) parmill's throughput / ThreadPoolExecutor's: {ratio:.2f}x  (goal: 1x)")


if __name__ == "__main__":
    main()
