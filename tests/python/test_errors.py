"""Errors: ItemFailed and its fields, on_error="raise" and "yield", max_failures, retries, on
every backend."""

import os
import threading

import parmill
import pytest
from conftest import descendants


class Unlucky(ValueError):
    pass


def fail_on_multiples_of_7(x):
    if x % 7 == 6:
        raise Unlucky(f"unlucky {x}")
    return x


def test_raise_yields_every_result_before_the_failed_item_then_raises(backend):
    threads_before = threading.active_count()
    seen = []
    with pytest.raises(parmill.ItemFailed) as caught:
        for value in parmill.map(fail_on_multiples_of_7, range(100), backend=backend):
            seen.append(value)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert threading.active_count() == threads_before  # the run was joined before it raised
    assert descendants() == []
    failure = caught.value
    assert isinstance(failure, Exception)
    assert failure.index == 6 and failure.kind == "exception"
    assert 0 <= failure.worker < backend.workers
    assert "Traceback" in failure.message and "fail_on_multiples_of_7" in failure.message
    assert "Unlucky: unlucky 6" in failure.message
    assert str(failure) == "item 6 on worker %d: exception: test_errors.Unlucky: unlucky 6" % failure.worker
    assert isinstance(failure.__cause__, Unlucky) and failure.__cause__.args == ("unlucky 6",)


def test_yield_puts_item_failed_in_place_and_goes_on(backend):
    results = list(parmill.map(fail_on_multiples_of_7, range(50), backend=backend, on_error="yield"))
    assert len(results) == 50
    for x, r in enumerate(results):
        if x % 7 == 6:
            assert isinstance(r, parmill.ItemFailed) and r.index == x and r.kind == "exception"
            assert isinstance(r.__cause__, Unlucky)
        else:
            assert r == x


def test_yield_in_completion_order_with_indices(backend):
    pairs = list(parmill.map(fail_on_multiples_of_7, range(50), backend=backend, on_error="yield",
                             order="completion", indexed=True))
    assert sorted(i for i, _ in pairs) == list(range(50))
    for i, r in pairs:
        assert (r.index == i) if isinstance(r, parmill.ItemFailed) else (r == i)


@pytest.mark.parametrize("budget", [0, 1, 3])
def test_max_failures_yields_that_many_then_raises_the_next(backend, budget):
    yielded_failures = []
    with pytest.raises(parmill.ItemFailed) as caught:
        for r in parmill.map(fail_on_multiples_of_7, range(100), backend=backend, on_error="yield",
                             max_failures=budget):
            if isinstance(r, parmill.ItemFailed):
                yielded_failures.append(r.index)
    assert yielded_failures == [6 + 7 * k for k in range(budget)]
    assert caught.value.index == 6 + 7 * budget


def flaky_twice_factory(ctx):
    attempts = {}

    def flaky(x):  # fails the first two tries of every third item, in this worker
        attempts[x] = attempts.get(x, 0) + 1
        if x % 3 == 0 and attempts[x] <= 2:
            raise RuntimeError(f"try {attempts[x]} of {x}")
        return (x, attempts[x])

    return flaky


def test_retries_try_a_failed_item_again(backend):
    results = list(parmill.map(parmill.per_worker(flaky_twice_factory), range(30), backend=backend, retries=2))
    assert results == [(x, 3 if x % 3 == 0 else 1) for x in range(30)]


def test_too_few_retries_fail_the_item(backend):
    results = list(parmill.map(parmill.per_worker(flaky_twice_factory), range(30), backend=backend, retries=1,
                               on_error="yield"))
    for x, r in enumerate(results):
        if x % 3 == 0:
            assert isinstance(r, parmill.ItemFailed) and "try 2 of %d" % x in r.message
        else:
            assert r == (x, 1)


def test_a_factory_that_raises_fails_the_item_and_is_tried_again(backend):
    tries = []
    lock = threading.Lock()

    def factory(ctx):
        with lock:
            tries.append(ctx.index)
            first = len(tries) == 1
        if first and backend.kind != "processes":
            raise OSError("no model today")
        return double

    results = list(parmill.map(parmill.per_worker(factory), range(20), backend=backend, on_error="yield", chunk=1))
    failures = [r for r in results if isinstance(r, parmill.ItemFailed)]
    if backend.kind == "processes":
        assert failures == []
    else:
        assert len(failures) == 1 and "no model today" in failures[0].message
        assert [r for r in results if not isinstance(r, parmill.ItemFailed)] == [
            2 * x for x in range(20) if x != failures[0].index]


def double(x):
    return 2 * x


def test_item_failed_pickles():
    import pickle

    failure = parmill.ItemFailed(3, "crashed", 1, "its worker process was killed by signal 9")
    again = pickle.loads(pickle.dumps(failure))
    assert (again.index, again.kind, again.worker, again.message) == (3, "crashed", 1, failure.message)
    assert str(again) == "item 3 on worker 1: crashed: its worker process was killed by signal 9"


def test_keyboard_interrupt_raised_by_fn_on_the_callers_thread_stops_the_run():
    calls = []

    def interrupted(x):
        calls.append(x)
        if x == 3:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt):
        list(parmill.map(interrupted, range(100)))
    assert calls == [0, 1, 2, 3]


def test_system_exit_in_a_worker_thread_reaches_the_consumer():
    def leaving(x):
        if x == 5:
            raise SystemExit(4)
        return x

    threads_before = threading.active_count()
    with pytest.raises(SystemExit):
        list(parmill.map(leaving, range(1000), backend=parmill.threads(2)))
    assert threading.active_count() == threads_before
