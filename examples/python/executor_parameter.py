#!/usr/bin/python3
"""parmill.Executor passed to code that takes any concurrent.futures executor (as Lhotse's
compute_and_store_features(executor=...) does), and to asyncio's run_in_executor.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/executor_parameter.py
"""

import asyncio
import concurrent.futures
import os

import parmill


def features(utterance):
    """Stands for feature extraction: a pure function of one input."""
    return utterance, sum(ord(c) for c in utterance) % 97


def compute_and_store_features(utterances, executor):
    """A library function written against the concurrent.futures interface only."""
    futures = [executor.submit(features, u) for u in utterances]
    return dict(f.result() for f in concurrent.futures.as_completed(futures))


async def in_event_loop(executor):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, os.getpid)


def main():
    utterances = [f"utterance {i}" for i in range(200)]
    with parmill.Executor(parmill.processes(2)) as executor:
        stored = compute_and_store_features(utterances, executor)
        worker_pid = asyncio.run(in_event_loop(executor))
    print(f"features of {len(stored)} utterances; run_in_executor ran in process {worker_pid}")
    assert stored == dict(map(features, utterances)) and worker_pid != os.getpid()


if __name__ == "__main__":
    main()
