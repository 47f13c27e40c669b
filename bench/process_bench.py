"""The Python peers of bench/process_bench.cpp: 1,000,000 trivial items through
multiprocessing.Pool(2).imap, with chunksize 100 (the tuned baseline) and 1 (the default).
Prints one line per chunksize: `chunksize items_per_second`."""
import multiprocessing as mp
import sys
import time


def f(x):
    return x + 1


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for chunksize, items in ((100, n), (1, n // 10)):  # chunksize 1 is slow: a tenth of the items
        with mp.Pool(2) as pool:
            start = time.perf_counter()
            total = 0
            for r in pool.imap(f, range(items), chunksize=chunksize):
                total += r
            elapsed = time.perf_counter() - start
        print(chunksize, round(items / elapsed))
