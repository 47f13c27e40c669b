"""parmill.pipeline: stages joined lazily, each a map with its own concurrency, order and backend;
batch/unbatch, sink, order, errors (as map's policies), stop() and report(), on every backend."""

import contextlib
import gc
import itertools
import os
import threading
import time

import parmill
import pytest
from conftest import descendants


def double(x):
    return 2 * x


def plus_one(x):
    return x + 1


def test_stages_run_in_order_on_every_backend(backend):
    p = parmill.pipeline().source(range(500)).pipe(double).pipe(plus_one).build(backend)
    assert list(p) == [2 * x + 1 for x in range(500)]
    assert descendants() == []


def tagging_worker(context, offset):
    """A per-worker factory: each worker's handler adds `offset` and says which worker (and which
    process) ran the item, and how many items that worker had run before."""
    seen = [0]

    def handle(x):
        seen[0] += 1
        return x + offset, context.index, os.getpid(), seen[0]

    return handle


def test_a_stage_may_be_per_worker_with_its_factory_run_once_per_worker(backend):
    p = (parmill.pipeline().source(range(300)).pipe(double)
         .pipe(parmill.per_worker(tagging_worker, offset=1)).build(backend))
    results = list(p)
    assert [value for value, _, _, _ in results] == [2 * x + 1 for x in range(300)]
    runs = {}
    for _, worker, pid, count in results:
        runs.setdefault(worker, []).append((pid, count))
    for worker, calls in runs.items():
        assert len({pid for pid, _ in calls}) == 1, f"worker {worker} ran in several processes"
        # One factory per worker: its handler counted every item the worker ran, from 1.
        assert sorted(count for _, count in calls) == list(range(1, len(calls) + 1)), worker
    assert p.report().stages[1].items_out == 300
    assert descendants() == []


def fails_on_0(x):
    if x == 0:
        raise ValueError("zero")
    return x


def failing_once(context):
    """A per-worker factory that fails the first time it is called in its worker (its thread or
    process), then makes the identity."""
    calls = failing_once.calls.setdefault((os.getpid(), context.index), [0])
    calls[0] += 1
    if calls[0] == 1:
        raise RuntimeError("the model did not load")
    return lambda x: x


failing_once.calls = {}


@pytest.mark.parametrize("where", [parmill.inline(), parmill.threads(1), parmill.processes(1)],
                         ids=["inline", "threads1", "processes1"])
def test_a_per_worker_stage_passes_an_earlier_failure_on_without_building_its_worker(where):
    # Item 0 failed in the first stage: it crosses the second without running there, so the
    # second stage's factory is first called for item 1, whose item it fails (and is called
    # again for item 2). Item 0's failure stays the first stage's, counted once.
    failing_once.calls.clear()
    p = (parmill.pipeline().source(range(4)).pipe(fails_on_0, name="check")
         .pipe(parmill.per_worker(failing_once), name="model").build(where, on_error="yield"))
    results = list(p)
    assert isinstance(results[0], parmill.ItemFailed) and "in check" in results[0].message, results[0]
    assert isinstance(results[1], parmill.ItemFailed) and "in model" in results[1].message, results[1]
    assert results[2:] == [2, 3]
    check, model = p.report().stages
    assert (check.failures, model.failures) == (1, 2)


def test_batch_and_unbatch_group_and_flatten(backend):
    p = (parmill.pipeline().source(range(103)).pipe(double).batch(10).pipe(sum, name="sums").build(backend))
    results = list(p)
    assert results == [sum(2 * x for x in range(k, min(k + 10, 103))) for k in range(0, 103, 10)]
    flat = parmill.pipeline().source(range(50)).batch(7).pipe(lambda b: [x * 3 for x in b]).unbatch().build(backend)
    assert list(flat) == [3 * x for x in range(50)]


@pytest.mark.parametrize("concurrency", [1, 2, 8])
def test_each_stage_has_its_own_concurrency_and_backend(concurrency):
    seen = set()
    lock = threading.Lock()

    def note(x):
        with lock:
            seen.add(threading.get_ident())
        return x

    p = (parmill.pipeline().source(range(300)).pipe(note, concurrency=concurrency, name="noted")
         .pipe(double, backend=parmill.processes(2)).build(parmill.threads(4)))
    assert list(p) == [2 * x for x in range(300)]
    assert 1 <= len(seen) <= concurrency
    stages = p.report().stages
    assert [(s.name, s.backend, s.concurrency) for s in stages] == [
        ("noted", "threads", concurrency), ("stage 2", "processes", 2)]


def test_completion_order_yields_every_item_once(parallel_backend):
    p = parmill.pipeline().source(range(400)).pipe(double, order="completion").build(parallel_backend)
    assert sorted(p) == [2 * x for x in range(400)]


def fails_on_7(x):
    if x == 7:
        raise ValueError("seven")
    return x


def test_raise_yields_every_result_before_the_failure_then_raises_it(backend):
    seen = []
    with pytest.raises(parmill.ItemFailed) as caught:
        for value in parmill.pipeline().source(range(100)).pipe(fails_on_7, name="check").pipe(double).build(backend):
            seen.append(value)
    assert seen == [2 * x for x in range(7)]
    assert caught.value.index == 7 and caught.value.kind == "exception" and "in check" in caught.value.message
    assert isinstance(caught.value.__cause__, ValueError)
    assert descendants() == []


def test_yield_passes_failures_through_later_stages_and_counts_them(backend):
    p = parmill.pipeline().source(range(20)).pipe(fails_on_7).pipe(double).build(backend, on_error="yield")
    results = list(p)
    assert isinstance(results[7], parmill.ItemFailed)
    assert [r for r in results if not isinstance(r, parmill.ItemFailed)] == [2 * x for x in range(20) if x != 7]
    first, second = p.report().stages
    assert (first.items_in, first.items_out, first.failures) == (20, 19, 1)
    assert (second.items_in, second.items_out, second.failures) == (20, 19, 1)


def test_max_failures_yields_that_many_then_raises():
    p = (parmill.pipeline().source(range(100)).pipe(lambda x: 1 // (x % 10)).build(
        parmill.threads(2), on_error="yield", max_failures=2))
    failures = []
    with pytest.raises(parmill.ItemFailed) as caught:
        for r in p:
            if isinstance(r, parmill.ItemFailed):
                failures.append(r.index)
    assert failures == [0, 10] and caught.value.index == 20


def test_stop_ends_the_loop_quietly_and_stops_every_stage(backend):
    threads_before = threading.active_count()
    p = parmill.pipeline().source(itertools.count()).pipe(double).pipe(plus_one).build(backend)
    got = []
    for value in p:
        got.append(value)
        if len(got) == 100:
            p.stop()
    assert got[:100] == [2 * x + 1 for x in range(100)]
    assert threading.active_count() == threads_before
    assert descendants() == []


def test_stop_from_another_thread_ends_a_waiting_loop():
    release = threading.Event()

    def waits(x):
        if x == 3:
            release.wait(30)
        return x

    p = parmill.pipeline().source(range(10)).pipe(waits, chunk=1).build(parmill.threads(2))
    got = []
    reader = threading.Thread(target=lambda: got.extend(p))
    reader.start()
    while len(got) < 3:
        pass
    p.stop()
    release.set()
    reader.join(timeout=30)
    assert not reader.is_alive() and got[:3] == [0, 1, 2]


def test_report_counts_items_and_times_each_stage(backend):
    p = parmill.pipeline().source(range(200)).pipe(double, name="a").batch(8).pipe(len, name="b").build(backend)
    assert sum(p) == 200
    report = p.report()
    a, b = report.stages
    assert (a.name, a.items_in, a.items_out, a.failures, a.in_flight) == ("a", 200, 200, 0, 0)
    assert (b.name, b.items_in, b.items_out) == ("b", 25, 25)
    assert a.busy_seconds > 0 and a.mean_seconds > 0
    assert report.outputs == 25 and report.elapsed_seconds > 0
    assert "a" in str(report) and "25 outputs" in str(report)


def test_sink_overlaps_the_loop_with_the_last_stage(backend):
    p = parmill.pipeline().source(range(300)).pipe(double).sink(16).build(backend)
    assert list(p) == [2 * x for x in range(300)]


def test_the_source_is_read_lazily_and_in_bounded_memory(backend):
    pulled = 0

    def endless():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i

    with parmill.pipeline().source(endless()).pipe(double, window=16).pipe(plus_one, window=16).build(backend) as p:
        for n, value in enumerate(p, 1):
            assert value == 2 * (n - 1) + 1
            assert pulled - n <= 64
            if n == 2000:
                break
    assert descendants() == []


def test_bad_steps_are_refused():
    with pytest.raises(TypeError):
        parmill.pipeline().source([]).pipe(3)
    with pytest.raises(ValueError):
        parmill.pipeline().source([]).pipe(double, order="random")
    with pytest.raises(ValueError):
        parmill.pipeline().pipe(double).build()
    with pytest.raises(ValueError):
        parmill.pipeline().source([]).sink(4).pipe(double).build()


def test_report_gives_each_stage_its_median_and_99th_percentile_time(backend):
    def slow_one_in_ten(x):  # nine quick items in ten, one of about 20 ms
        if x % 10 == 9:
            time.sleep(0.02)
        return x

    p = parmill.pipeline().source(range(60)).pipe(slow_one_in_ten, name="mostly quick").build(backend)
    assert sum(p) == sum(range(60))
    (stage,) = p.report().stages
    # The median item is a quick one: far below the slow ones, however long a wait for the GIL.
    assert 0 < stage.p50_seconds < stage.p99_seconds / 2
    assert 0.015 < stage.p99_seconds < 0.5  # (within 13%, as in C++)
    assert stage.p50_seconds <= stage.mean_seconds <= stage.p99_seconds
    line = str(p.report()).splitlines()[1]
    assert "mostly quick" in line and "p50" in line and "p99" in line


def made_slowly(value):
    time.sleep(0.02)  # unpickling runs Python here, and hands the GIL over
    return value


class SlowToUnpickle:
    """A result whose unpickling runs Python for a while: the thread that reads a stage's results
    is then inside that stage's take(), running Python, when the loop closes the pipeline."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return (made_slowly, (self.value,))


def slow_to_unpickle(x):
    return SlowToUnpickle(x)


@pytest.mark.parametrize("later", [parmill.threads(1), parmill.processes(1)], ids=["threads1", "processes1"])
@pytest.mark.parametrize("leaving", ["break", "raise"])
def test_closing_while_a_stage_is_read_inside_its_take_still_closes_it(later, leaving):
    # The first stage's results are read by the second stage's reader thread, in the first stage's
    # take(); closing the pipeline then only asks that take() to close the stage. It must, even
    # when the close comes while it runs Python (unpickling a result) rather than while it waits.
    # (An ItemFailed that ends the loop closes the pipeline the same way, at a moment the loop does
    # not choose.)
    for attempt in range(5):
        p = (parmill.pipeline().source(itertools.count())
             .pipe(slow_to_unpickle, chunk=1, backend=parmill.processes(1))
             .pipe(double, chunk=1, backend=later).build())
        with pytest.raises(KeyError) if leaving == "raise" else contextlib.nullcontext():
            with p:
                for n, value in enumerate(p):
                    if n == 2:
                        if leaving == "raise":
                            raise KeyError("the loop's own error")
                        break
        assert descendants() == [], f"attempt {attempt}: a stage was left running"


def collects_garbage(x):
    gc.collect()
    return x


def test_a_pipeline_dropped_open_in_garbage_does_not_hang_the_worker_processes_of_another():
    # A worker process is a copy of the caller: garbage there holds copies of maps still open in
    # the caller. Collecting one there must not wait for the caller's threads (it hung for ever).
    scale = float(os.environ.get("PARMILL_TEST_TIME_SCALE", "1"))
    reading, release = threading.Event(), threading.Event()

    def one_then_waits():
        yield 0
        reading.set()
        release.wait(60 * scale)

    gc.disable()
    try:
        left_open = parmill.pipeline().source(one_then_waits()).pipe(double, chunk=1).build(parmill.threads(1))
        next(left_open)
        # Its thread now waits in the source (in Python, for an Event): it does nothing while the
        # next pipeline's processes are forked (a fork must not copy a lock another thread holds).
        assert reading.wait(10 * scale)
        cycle = [left_open]
        cycle.append(cycle)
        del left_open, cycle
        p = parmill.pipeline().source(range(4)).pipe(collects_garbage, timeout=5 * scale).build(parmill.processes(2))
        results = list(p)
    finally:
        release.set()
        gc.enable()
        gc.collect()  # the pipeline left open is closed here, in the caller
    assert results == [0, 1, 2, 3]


def test_leaving_a_pipeline_with_a_full_sink_early_returns_at_once(backend):
    # The sink's thread waits for room in its queue while the loop is gone: closing must free it.
    scale = float(os.environ.get("PARMILL_TEST_TIME_SCALE", "1"))
    with parmill.pipeline().source(itertools.count()).pipe(double).sink(2).build(backend) as p:
        for n, value in enumerate(p):
            if n == 5:
                # 6 results read, 2 waiting in the queue: the sink holds a 9th, waiting for room.
                deadline = time.monotonic() + 10 * scale
                while p.report().stages[0].items_out < 9 and time.monotonic() < deadline:
                    pass
                started = time.monotonic()
                break
    assert time.monotonic() - started < 5 * scale
    assert not p._sink_thread.is_alive()
