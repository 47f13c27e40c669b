"""parmill.map: results, order, laziness, the window, endless input, early exit, per_worker,
len() and tqdm, on every backend."""

import io
import itertools
import os
import threading

import parmill
import pytest
from conftest import descendants


def double(x):
    return 2 * x


def test_results_in_input_order(backend):
    assert list(parmill.map(double, range(1000), backend=backend)) == [2 * x for x in range(1000)]


def test_exactly_one_result_per_item_in_completion_order(backend):
    pairs = list(parmill.map(double, range(3000), backend=backend, order="completion", indexed=True))
    assert sorted(i for i, _ in pairs) == list(range(3000))
    assert all(v == 2 * i for i, v in pairs)


def test_indexed_yields_index_value_pairs(backend):
    assert list(parmill.map(str, "abc", backend=backend, indexed=True)) == [(0, "a"), (1, "b"), (2, "c")]


def test_empty_input(backend):
    assert list(parmill.map(double, [], backend=backend)) == []


def test_lambdas_and_closures_work(backend):
    offset = 10
    assert list(parmill.map(lambda x: x + offset, range(5), backend=backend)) == [10, 11, 12, 13, 14]


def test_completion_order_yields_a_finished_item_before_a_slow_one(parallel_backend):
    # Item 0 blocks until the consumer has seen item 1: only completion order can get there.
    read_end, write_end = os.pipe()
    try:
        def first_waits(x):
            if x == 0:
                assert os.read(read_end, 1) == b"!"
            return x

        seen = []
        with parmill.map(first_waits, range(2), backend=parallel_backend, order="completion", chunk=1) as results:
            for value in results:
                seen.append(value)
                if value == 1:
                    os.write(write_end, b"!")
        assert seen == [1, 0]
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize("window", [1, 4, 16])
def test_the_window_bounds_items_read_and_not_yet_yielded(backend, window):
    pulled = 0

    def source():
        nonlocal pulled
        for i in range(500):
            pulled += 1
            yield i

    yielded = 0
    for _ in parmill.map(double, source(), backend=backend, window=window, chunk=1):
        yielded += 1
        assert pulled - yielded <= window - 1, f"{pulled} read, {yielded} yielded, window {window}"
    assert yielded == 500


def test_an_endless_input_runs_in_constant_memory(backend):
    pulled = 0

    def endless():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i

    results = parmill.map(double, endless(), backend=backend, window=64)
    worst = 0
    for yielded, value in enumerate(results, 1):
        assert value == 2 * (yielded - 1)
        worst = max(worst, pulled - yielded)
        if yielded == 20000:
            break
    results.close()
    assert worst <= 64


def test_nothing_runs_before_iteration(backend):
    calls = []
    results = parmill.map(calls.append, range(10), backend=parmill.inline() if backend.kind == "inline" else backend)
    assert calls == []
    results.close()


def test_leaving_the_block_stops_the_work_and_joins_every_thread(backend):
    threads_before = threading.active_count()
    log_read, log_write = os.pipe()
    os.set_blocking(log_read, False)

    def logged(x):  # every call writes a byte, from any thread or process
        os.write(log_write, b".")
        return x

    def calls_so_far():
        count = 0
        try:
            while chunk := os.read(log_read, 65536):
                count += len(chunk)
        except BlockingIOError:
            pass
        return count

    try:
        with parmill.map(logged, itertools.count(), backend=backend, window=32, chunk=1) as results:
            for value in results:
                if value == 100:
                    break
        started = calls_so_far()
        assert threading.active_count() == threads_before
        assert descendants() == []
        assert 101 <= started <= 101 + 32
        assert calls_so_far() == 0  # nothing started after the block was left
    finally:
        os.close(log_read)
        os.close(log_write)


def test_breaking_out_of_a_for_loop_stops_the_run(backend):
    threads_before = threading.active_count()
    for value in parmill.map(double, itertools.count(), backend=backend):
        if value >= 200:
            break
    # The loop held the only reference: dropping it closed the run.
    assert threading.active_count() == threads_before
    assert descendants() == []


def test_a_raising_consumer_joins_everything(backend):
    threads_before = threading.active_count()
    with pytest.raises(RuntimeError, match="consumer"):
        with parmill.map(double, itertools.count(), backend=backend) as results:
            for value in results:
                if value == 50:
                    raise RuntimeError("consumer")
    assert threading.active_count() == threads_before
    assert descendants() == []


def test_an_exception_of_the_input_reaches_the_consumer_after_the_items_before_it(backend):
    def source():
        yield from range(5)
        raise LookupError("input broke")

    seen = []
    with pytest.raises(LookupError, match="input broke"):
        for value in parmill.map(double, source(), backend=backend):
            seen.append(value)
    assert seen == [0, 2, 4, 6, 8]


def test_len_and_tqdm_see_the_total(backend):
    from tqdm import tqdm  # python3-tqdm is in the Makefile's DEPS: never skipped
    results = parmill.map(double, range(37), backend=backend)
    assert len(results) == 37
    out = io.StringIO()
    assert sum(tqdm(results, file=out)) == 2 * sum(range(37))
    assert "37/37" in out.getvalue()


def test_len_of_an_input_without_one_is_a_type_error():
    with pytest.raises(TypeError):
        len(parmill.map(double, iter(range(3))))


def test_per_worker_factory_runs_once_per_worker_inside_it(backend):
    built = []

    def factory(ctx, scale):
        built.append(ctx.index)
        here = (os.getpid(), threading.get_ident())
        made_in_this_process = sum(1 for _ in built)

        def handle(x):
            return (ctx.index, ctx.count, ctx.backend, here, (os.getpid(), threading.get_ident()),
                    made_in_this_process, x * scale)

        return handle

    results = list(parmill.map(parmill.per_worker(factory, scale=3), range(400), backend=backend, chunk=1))
    assert [r[-1] for r in results] == [3 * x for x in range(400)]
    workers = {}
    for index, count, kind, built_at, called_at, made, _ in results:
        assert count == backend.workers and kind == backend.kind
        assert built_at == called_at  # the factory ran in the worker that runs its items
        workers.setdefault(index, set()).add(built_at)
    assert all(len(places) == 1 for places in workers.values())  # one object per worker index
    if backend.kind == "processes":
        assert all(r[5] == 1 for r in results)  # once per worker process
    else:
        assert sorted(built) == sorted(set(built))  # once per worker (thread)
        assert len(built) == len(workers)


def test_progress_draws_the_label_on_standard_error(backend, capfd):
    assert len(list(parmill.map(double, range(50), backend=backend, progress="doubling"))) == 50
    assert "doubling" in capfd.readouterr().err


@pytest.mark.parametrize("arguments, error", [
    (dict(order="random"), ValueError),
    (dict(on_error="ignore"), ValueError),
    (dict(window=0), ValueError),
    (dict(chunk=-1), ValueError),
    (dict(retries=-1), ValueError),
    (dict(timeout=1.0), ValueError),  # inline: a thread cannot be stopped
    (dict(max_items_per_worker=5), ValueError),
    (dict(max_failures=2), ValueError),  # needs on_error="yield"
    (dict(backend="threads"), TypeError),
    (dict(progress=3), ValueError),
])
def test_bad_arguments_are_refused_at_once(arguments, error):
    with pytest.raises(error):
        parmill.map(double, range(3), **arguments)


def test_fn_must_be_callable():
    with pytest.raises(TypeError):
        parmill.map(3, range(3))


def test_close_from_another_thread_ends_a_waiting_loop(parallel_backend):
    read_end, write_end = os.pipe()
    try:
        results = parmill.map(lambda x: os.read(read_end, 1) if x == 1 else x, range(3), backend=parallel_backend,
                              chunk=1)
        assert next(iter(results)) == 0
        got = []
        reader = threading.Thread(target=lambda: got.extend(results))  # waits for item 1
        reader.start()
        results.close()  # stops the run; a reader waiting in it closes it when it wakes, and ends
        os.write(write_end, b"!" * 8)  # on threads, the item running must finish
        reader.join(timeout=30)
        assert not reader.is_alive()
    finally:
        os.close(read_end)
        os.close(write_end)


def fails_on_13(x):
    if x == 13:
        raise ValueError("thirteen")
    return x


def test_trace_writes_the_runs_timeline_with_every_item_and_its_failure(backend, tmp_path):
    import json
    path = tmp_path / "run.json"
    results = list(parmill.map(fails_on_13, range(200), backend=backend, on_error="yield", trace=path))
    assert isinstance(results[13], parmill.ItemFailed)
    trace = json.loads(path.read_text())
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    lanes = {e["tid"] for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert len(lanes) == (1 if backend.kind == "inline" else backend.workers)
    assert all({"ts", "dur", "pid", "tid", "name"} <= e.keys() for e in spans)
    assert sum(e["args"]["items"] for e in spans if e["cat"] != "retried") == 200
    failed = [e for e in spans if e["cat"] == "failed"]
    assert [(e["args"]["first_item"], e["args"]["items"]) for e in failed] == [(13, 1)]


def test_a_trace_path_must_be_a_path():
    with pytest.raises(TypeError):
        parmill.map(abs, range(3), trace=42)
