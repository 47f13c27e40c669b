#!/usr/bin/python3
"""parmill.map on processes(2) against multiprocessing.Pool(2).imap, on a tiny function.

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_bench.py [items]

Prints the throughput of each and parmill's ratio to the best Pool.imap chunk size (and to the
default chunk size, 1). A benchmark, not a test: nothing here asserts a timing."""

import multiprocessing
import sys
import time

import parmill


def increment(x):
    return x + 1


def timed(run, items):
    started = time.perf_counter()
    total = 0
    for value in run():
        total += value
    seconds = time.perf_counter() - started
    assert total == items * (items + 1) // 2, "wrong results"
    return items / seconds


def main():
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rates = {}
    rates["parmill processes(2)"] = timed(
        lambda: parmill.map(increment, range(items), backend=parmill.processes(2)), items)
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        for chunksize in (1, 10, 100, 1000):
            rates[f"Pool(2).imap chunksize={chunksize}"] = timed(
                lambda: pool.imap(increment, range(items), chunksize=chunksize), items)
    for name, rate in rates.items():
        print(f"{name:32} {rate:12,.0f} items/s")
    ours = rates["parmill processes(2)"]
    best = max(rate for name, rate in rates.items() if name.startswith("Pool"))
    print(f"parmill / best Pool.imap:          {ours / best:.2f}x")
    print(f"parmill / Pool.imap (chunksize 1): {ours / rates['Pool(2).imap chunksize=1']:.2f}x")


if __name__ == "__main__":
    main()
