"""processes(n) with default options: items travel in packs
(many pickled together, run under one hold of the GIL), and every promise of one item at a time
still holds: a crash, an exception or an unpicklable result deep inside a big pack fails that item
only; results keep their order and indices; the error policies count items, not packs."""

import os
import time

import parmill
import pytest

# Enough quick items for packs to grow to thousands of items before the one that fails.
N = 30000
BAD = 21000


# A range() travels as each pack's first integer and step (the workers make the integers); any
# other input as a pickled list, read ahead (a container) or only as the map asks (a generator):
# each is swept where a pack is taken apart.
INPUTS = {"range": lambda n: range(n), "list": lambda n: list(range(n)), "generator": lambda n: (x for x in range(n))}


@pytest.fixture(params=list(INPUTS), ids=list(INPUTS))
def numbers(request):
    return INPUTS[request.param]


def test_a_crash_inside_a_big_pack_fails_that_item_only(process_backend, numbers):
    def crashing(x):
        if x == BAD:
            os._exit(3)
        return x + 1

    results = list(parmill.map(crashing, numbers(N), backend=process_backend, on_error="yield"))
    assert len(results) == N
    failed = [r for r in results if isinstance(r, parmill.ItemFailed)]
    assert len(failed) == 1 and failed[0].index == BAD and failed[0].kind == "crashed"
    assert "exited with status 3" in failed[0].message
    assert 0 <= failed[0].worker < process_backend.workers
    assert [r for x, r in enumerate(results) if x != BAD] == [x + 1 for x in range(N) if x != BAD]


def test_a_crash_inside_a_big_pack_raises_after_every_result_before_it(process_backend, numbers):
    seen = 0
    with pytest.raises(parmill.ItemFailed) as caught:
        for value in parmill.map(lambda x: os._exit(1) if x == BAD else x, numbers(N), backend=process_backend):
            assert value == seen
            seen += 1
    assert seen == BAD and caught.value.index == BAD and caught.value.kind == "crashed"


def test_exceptions_and_unpicklable_results_inside_big_packs_fail_their_items(process_backend, numbers):
    def mixed(x):
        if x % 5000 == 4999:
            raise KeyError(x)
        if x == BAD:
            return lambda: x  # cannot be pickled
        return x

    pairs = list(parmill.map(mixed, numbers(N), backend=process_backend, on_error="yield", indexed=True,
                             order="completion"))
    assert sorted(i for i, _ in pairs) == list(range(N))
    failed = {i: r for i, r in pairs if isinstance(r, parmill.ItemFailed)}
    assert sorted(failed) == sorted([x for x in range(N) if x % 5000 == 4999] + [BAD])
    assert all(r.index == i and r.kind == "exception" for i, r in failed.items())
    assert isinstance(failed[4999].__cause__, KeyError) and failed[4999].__cause__.args == (4999,)
    assert "pickle" in failed[BAD].message.lower()
    assert all(r == i for i, r in pairs if i not in failed)


def test_max_failures_counts_items_inside_packs(process_backend):
    yielded = []
    with pytest.raises(parmill.ItemFailed) as caught:
        for r in parmill.map(lambda x: 1 // (x % 3000 - 2999) if x % 3000 == 2999 else x, range(N),
                             backend=process_backend, on_error="yield", max_failures=4):
            if isinstance(r, parmill.ItemFailed):
                yielded.append(r.index)
    assert yielded == [2999, 5999, 8999, 11999] and caught.value.index == 14999


@pytest.mark.parametrize("kind", [list, lambda items: (x for x in items)], ids=["list", "generator"])
def test_an_unpicklable_item_ends_the_input_after_the_items_before_it(process_backend, kind):
    items = list(range(5000)) + [lambda: 0] + list(range(10))
    seen = []
    with pytest.raises(Exception, match="(?i)pickle"):
        for value in parmill.map(lambda x: x, kind(items), backend=process_backend):
            seen.append(value)
    assert seen == list(range(5000))


def test_per_worker_state_is_built_once_per_process_with_packs(process_backend):
    def factory(ctx):
        pid = os.getpid()
        return lambda x: (ctx.index, pid)

    results = list(parmill.map(parmill.per_worker(factory), range(N), backend=process_backend))
    by_index = {}
    for index, pid in results:
        by_index.setdefault(index, set()).add(pid)
    assert all(len(pids) == 1 for pids in by_index.values())
    assert set(by_index) <= set(range(process_backend.workers))


LIMIT = 1 << 63
RANGES = {
    "ascending": range(N),
    "descending, odd step": range(5 * N, -5 * N, -7),
    "negative": range(-3 * N, -N, 3),
    "at the top of 64 bits": range(LIMIT - N, LIMIT),
    "at the bottom of 64 bits": range(-LIMIT + N - 1, -LIMIT - 1, -1),
    "a step near 64 bits": range(-LIMIT, LIMIT, LIMIT // 3),
    "past 64 bits": range(LIMIT - 10, LIMIT + 10),
    "far past 64 bits": range(1 << 80, (1 << 80) + 5000),
    "one item": range(7, 8),
    "empty": range(5, 5),
}


@pytest.mark.parametrize("numbers", list(RANGES.values()), ids=list(RANGES))
def test_every_range_yields_exactly_its_integers(process_backend, numbers):
    assert list(parmill.map(lambda x: (type(x), x), numbers, backend=process_backend)) == [(int, x) for x in numbers]


def test_a_range_longer_than_sys_maxsize_is_read_lazily(backend):
    huge = range(1 << 70)  # len() raises OverflowError
    with parmill.map(lambda x: x * 2, huge, backend=backend) as results:
        assert [value for value, _ in zip(results, range(10000))] == [2 * x for x in range(10000)]


def test_a_slow_generators_items_are_not_held_back_for_a_whole_pack(process_backend):
    # Fast items grow the packs to thousands; then the input slows down (0.5 s an item). A pack
    # closes after a millisecond of reading, so the first slow item's result comes back long
    # before the input has made its eighth (3.5 s, far above a round trip under a sanitizer); a
    # pack waiting to be full would hold it until the end. The loop leaves at that result, so the
    # test lasts one round trip, not the slow reads.
    made = {}

    def source():
        yield from range(N)
        for k in range(10):
            made[k] = time.monotonic()
            yield N + k
            time.sleep(0.5)  # the input is slow (this is what is tested, not a synchronisation)

    with parmill.map(lambda x: x, source(), backend=process_backend) as results:
        for value in results:
            if value == N:
                first_slow_result = time.monotonic()
                break
    assert first_slow_result < made.get(7, float("inf"))
