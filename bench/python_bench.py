#!/usr/bin/python3
"""Issue 17 (a): parmill.map on processes(2), default options, against the Python peers, on a
trivial function (x + 1) over range(N).

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_bench.py [items] [rounds]

Contenders: parmill.map(backend=processes(2)); multiprocessing.Pool(2).imap at chunksize 1, 10,
100, 1000; concurrent.futures.ProcessPoolExecutor(2).map at the same chunk sizes;
joblib.Parallel(n_jobs=2) (its own automatic batching). Every contender sums the results in the
calling process, and the pools are made before the clock starts (parmill forks its workers in the
timed run: its start-up is counted). The slow chunk sizes 1 and 10 run on a tenth of the items
(their rate does not depend on the count). Rounds are interleaved (each round runs every
contender once); the figures are medians over the rounds. A benchmark, not a test: nothing here
asserts a timing; the last lines print parmill's ratios to the best peer and to Pool.imap's
default chunksize (1)."""

import concurrent.futures
import multiprocessing
import statistics
import sys
import time

import parmill


def increment(x):
    return x + 1


def rate(run, items):
    """Items per second of `run()` (an iterable of results), which must sum to the right total."""
    started = time.perf_counter()
    total = 0
    for value in run():
        total += value
    seconds = time.perf_counter() - started
    assert total == items * (items + 1) // 2, "wrong results"
    return items / seconds


def contenders(items, pool, executor):
    few = max(1000, items // 10)
    yield "parmill processes(2)", items, lambda: parmill.map(increment, range(items), backend=parmill.processes(2))
    for chunksize in (1, 10, 100, 1000):
        n = few if chunksize < 100 else items
        yield (f"Pool(2).imap chunksize={chunksize}", n,
               lambda n=n, c=chunksize: pool.imap(increment, range(n), chunksize=c))
    for chunksize in (1, 10, 100, 1000):
        n = few if chunksize < 100 else items
        yield (f"ProcessPoolExecutor(2) chunksize={chunksize}", n,
               lambda n=n, c=chunksize: executor.map(increment, range(n), chunksize=c))
    try:
        import joblib
    except ImportError:
        return
    yield ("joblib.Parallel(2)", items,
           lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(increment)(x) for x in range(items)))


def main():
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    context = multiprocessing.get_context("fork")
    rates = {}
    with context.Pool(2) as pool, concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as executor:
        for round_number in range(rounds):
            for name, n, run in contenders(items, pool, executor):
                rates.setdefault(name, []).append(rate(run, n))
                print(f"round {round_number + 1}: {name:40} {rates[name][-1]:12,.0f} items/s", file=sys.stderr)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(f"{'contender':42} {'median items/s':>14}   rounds")
    for name, median in medians.items():
        print(f"{name:42} {median:14,.0f}   " + " ".join(f"{v:,.0f}" for v in rates[name]))
    ours = medians["parmill processes(2)"]
    best_name = max((name for name in medians if not name.startswith("parmill")), key=medians.get)
    print(f"parmill / best peer ({best_name}): {ours / medians[best_name]:.2f}x  (goal: 1.5x)")
    print(f"parmill / Pool.imap default chunksize 1: {ours / medians['Pool(2).imap chunksize=1']:.1f}x  (goal: 20x)")


if __name__ == "__main__":
    main()
