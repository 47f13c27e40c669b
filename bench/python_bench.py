#!/usr/bin/python3
"""Issue 17 (a): parmill.map on processes(2), default options, against the Python peers, on a
trivial function (x + 1) over range(N).

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_bench.py [items] [rounds]

Contenders: parmill.map(backend=processes(2)); multiprocessing.Pool(2).imap at chunksize 1, 10,
100, 1000; concurrent.futures.ProcessPoolExecutor(2).map at the same chunk sizes;
joblib.Parallel(n_jobs=2) (its own automatic batching); and parmill and the best Pool over a list
and over a generator of the same integers instead of range(N). Every contender sums the results in the
calling process, and the pools are made before the clock starts (parmill forks its workers in the
timed run: its start-up is counted). The slow chunk sizes 1 and 10 run on a tenth of the items
(their rate does not depend on the count). Rounds are interleaved (each round runs every
contender once); the figures are medians over the rounds. Besides items per second, each run's CPU
time per item is measured (this process and every process under it, from getrusage and /proc),
which other load on the machine changes little. A benchmark, not a test: nothing here asserts a
timing; the last lines print parmill's ratios to the best peer and to Pool.imap's default
chunksize (1), and the peers' least CPU per item over parmill's."""

import concurrent.futures
import multiprocessing
import os
import resource
import statistics
import sys
import time

import parmill


def increment(x):
    return x + 1


def live_descendants_cpu():
    """CPU seconds used so far by every live process descended from this one (from /proc)."""
    children, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            total += cpu.get(child, 0.0)
            todo.append(child)
    return total


def cpu_seconds():
    """CPU seconds of this process, its live descendants and the descendants it has reaped: the
    difference over a run is the run's CPU time, whatever else loads the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime + live_descendants_cpu()


def rate(run, items):
    """Items per second of `run()` (an iterable of results), which must sum to the right total,
    and the CPU time it took per item (nanoseconds, every process of the run)."""
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    total = 0
    for value in run():
        total += value
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    assert total == items * (items + 1) // 2, "wrong results"
    return items / seconds, cpu / items * 1e9


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
    # The same over a list: a range() travels to parmill's workers as each pack's first integer
    # and step, a list as pickled items, so this is parmill's rate for any other container.
    data = list(range(items))
    yield ("parmill processes(2), over a list", items,
           lambda: parmill.map(increment, data, backend=parmill.processes(2)))
    yield ("Pool(2).imap chunksize=1000, over a list", items,
           lambda: pool.imap(increment, data, chunksize=1000))
    # And over a generator, which parmill reads only as the map asks (a pack at a time).
    yield ("parmill processes(2), over a generator", items,
           lambda: parmill.map(increment, (x for x in range(items)), backend=parmill.processes(2)))
    yield ("Pool(2).imap chunksize=1000, over a generator", items,
           lambda: pool.imap(increment, (x for x in range(items)), chunksize=1000))
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
    rates, cpus = {}, {}
    with context.Pool(2) as pool, concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as executor:
        for round_number in range(rounds):
            for name, n, run in contenders(items, pool, executor):
                items_per_second, nanoseconds = rate(run, n)
                rates.setdefault(name, []).append(items_per_second)
                cpus.setdefault(name, []).append(nanoseconds)
                print(f"round {round_number + 1}: {name:40} {items_per_second:12,.0f} items/s "
                      f"{nanoseconds:8.0f} ns CPU/item", file=sys.stderr)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    print(f"{'contender':42} {'median items/s':>14} {'CPU ns/item':>12}   rounds (items/s)")
    for name, median in medians.items():
        print(f"{name:42} {median:14,.0f} {cpu[name]:12.0f}   " + " ".join(f"{v:,.0f}" for v in rates[name]))
    ours = medians["parmill processes(2)"]
    best_name = max((name for name in medians if not name.startswith("parmill") and "over a" not in name),
                    key=medians.get)
    print(f"parmill / best peer ({best_name}): {ours / medians[best_name]:.2f}x  (goal: 1.5x)")
    print(f"parmill / Pool.imap default chunksize 1: {ours / medians['Pool(2).imap chunksize=1']:.1f}x  (goal: 20x)")
    over_list = medians["parmill processes(2), over a list"] / medians["Pool(2).imap chunksize=1000, over a list"]
    print(f"over a list: parmill / Pool(2).imap chunksize=1000: {over_list:.2f}x")
    over_generator = (medians["parmill processes(2), over a generator"]
                      / medians["Pool(2).imap chunksize=1000, over a generator"])
    print(f"over a generator: parmill / Pool(2).imap chunksize=1000: {over_generator:.2f}x")
    least = min((name for name in cpu if not name.startswith("parmill") and "over a" not in name), key=cpu.get)
    print(f"CPU per item, least of the peers ({least}) / parmill's: {cpu[least] / cpu['parmill processes(2)']:.2f}x")


if __name__ == "__main__":
    main()
