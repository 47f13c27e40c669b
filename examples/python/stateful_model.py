#!/usr/bin/python3
"""An expensive model loaded once per worker, inside the worker (its own process), then used for
every item that worker gets: the per_worker pattern (mtasklite's delayed init).

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/stateful_model.py
"""

import os

import parmill


class Model:
    """Stands for a model that takes seconds to load and must not be copied between processes."""

    def __init__(self, worker, workers):
        self.worker = worker
        self.device = f"gpu{worker % 2}"  # each worker picks its own device
        self.pid = os.getpid()
        self.weights = [0.5] * 1000  # loaded here, in the worker

    def __call__(self, sample):
        return self.pid, self.device, sum(w * sample for w in self.weights[:10])


def load_model(ctx, scale):
    return Model(ctx.index, ctx.count)


def main():
    pids, devices, total = set(), set(), 0.0
    for pid, device, score in parmill.map(parmill.per_worker(load_model, scale=1.0), range(2000),
                                          backend=parmill.processes(2)):
        pids.add(pid)
        devices.add(device)
        total += score
    print(f"2000 samples scored by {len(pids)} worker processes on {sorted(devices)}; total {total:.1f}")
    assert os.getpid() not in pids and total == 5.0 * sum(range(2000))


if __name__ == "__main__":
    main()
