"""parmill.Executor against concurrent.futures semantics, on threads and processes."""

import asyncio
import concurrent.futures as cf
import os
import threading

import parmill
import pytest

EXECUTOR_BACKENDS = {"inline": parmill.inline(), "threads2": parmill.threads(2),
                     "processes2": parmill.processes(2)}


@pytest.fixture(params=list(EXECUTOR_BACKENDS), ids=list(EXECUTOR_BACKENDS))
def executor_backend(request):
    return EXECUTOR_BACKENDS[request.param]


def square(x):
    return x * x


def fail(message):
    raise KeyError(message)


def test_submit_and_result(executor_backend):
    with parmill.Executor(executor_backend) as executor:
        futures = [executor.submit(square, x) for x in range(20)]
        assert [f.result(timeout=30) for f in futures] == [x * x for x in range(20)]
        assert executor.submit(pow, 2, exp=5).result(timeout=30) == 32


def test_map_has_the_standard_semantics(executor_backend):
    with parmill.Executor(executor_backend) as executor:
        assert list(executor.map(square, range(30), timeout=30)) == [x * x for x in range(30)]
        assert list(executor.map(pow, [2, 3], [3, 2])) == [8, 9]


def test_the_original_exception_comes_back(executor_backend):
    with parmill.Executor(executor_backend) as executor:
        future = executor.submit(fail, "missing")
        assert isinstance(future.exception(timeout=30), KeyError)
        with pytest.raises(KeyError, match="missing"):
            future.result()


def test_as_completed_and_wait(executor_backend):
    with parmill.Executor(executor_backend) as executor:
        futures = {executor.submit(square, x): x for x in range(10)}
        assert sorted(futures[f] for f in cf.as_completed(futures, timeout=30)) == list(range(10))
        done, not_done = cf.wait(list(futures), timeout=30, return_when=cf.ALL_COMPLETED)
        assert len(done) == 10 and not not_done


@pytest.mark.parametrize("one_worker", [parmill.inline(), parmill.threads(1), parmill.processes(1)], ids=repr)
def test_a_call_not_started_can_be_cancelled(one_worker):
    read_end, write_end = os.pipe()
    try:
        with parmill.Executor(one_worker) as executor:
            blocking = executor.submit(os.read, read_end, 1)
            queued = executor.submit(square, 3)
            assert queued.cancel()
            os.write(write_end, b"!")
            assert blocking.result(timeout=30) == b"!"
            assert queued.cancelled()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_crashed_call_fails_as_crashed():
    with parmill.Executor(parmill.processes(2)) as executor:
        crashed = executor.submit(os._exit, 3)
        fine = executor.submit(square, 4)
        failure = crashed.exception(timeout=30)
        assert isinstance(failure, parmill.ItemFailed) and failure.kind == "crashed"
        assert fine.result(timeout=30) == 16


def test_shutdown_refuses_new_calls_and_can_cancel_queued_ones():
    executor = parmill.Executor(parmill.threads(1))
    read_end, write_end = os.pipe()
    started_read, started_write = os.pipe()

    def started_then_blocked():
        os.write(started_write, b"s")
        return os.read(read_end, 1)

    try:
        blocking = executor.submit(started_then_blocked)
        assert os.read(started_read, 1) == b"s"  # the first call runs: only the others are queued
        queued = [executor.submit(square, x) for x in range(5)]
        executor.shutdown(wait=False, cancel_futures=True)
        with pytest.raises(RuntimeError):
            executor.submit(square, 1)
        os.write(write_end, b"!")
        executor.shutdown(wait=True)
        assert blocking.result() == b"!"
        assert all(f.cancelled() for f in queued)
    finally:
        for fd in (read_end, write_end, started_read, started_write):
            os.close(fd)


def test_asyncio_run_in_executor(executor_backend):
    async def main(executor):
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(executor, square, x) for x in range(8)))

    with parmill.Executor(executor_backend) as executor:
        assert asyncio.run(main(executor)) == [x * x for x in range(8)]


def test_a_call_that_cannot_be_pickled_fails_alone():
    with parmill.Executor(parmill.processes(2)) as executor:
        bad = executor.submit(lambda: 1)  # a lambda cannot cross to a process started earlier
        good = executor.submit(square, 5)
        assert "pickle" in repr(bad.exception(timeout=30)).lower()
        assert good.result(timeout=30) == 25
