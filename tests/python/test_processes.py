"""processes(n): a worker that segfaults, calls os._exit, is killed, hangs past the timeout or
returns what cannot be pickled fails its item only; early exit kills running items."""

import ctypes
import os
import signal
import sys
import time

import parmill
import pytest
from conftest import descendants


def segfault():
    # The default action first, so that neither a sanitizer's handler (under ASan) nor pytest's
    # faulthandler turns the crash into a report and an exit status: the process dies of SIGSEGV.
    signal.signal(signal.SIGSEGV, signal.SIG_DFL)
    ctypes.string_at(0)


CRASHES = {
    "segfault": (segfault, "killed by signal 11"),
    "os._exit": (lambda: os._exit(3), "exited with status 3"),
    "SIGKILL": (lambda: os.kill(os.getpid(), signal.SIGKILL), "killed by signal 9"),
}


@pytest.mark.parametrize("how", list(CRASHES))
def test_a_crashed_worker_fails_its_item_only(process_backend, how):
    crash, description = CRASHES[how]

    def crashing(x):
        if x in (5, 17):
            crash()
        return x * x

    results = list(parmill.map(crashing, range(40), backend=process_backend, on_error="yield"))
    for x, r in enumerate(results):
        if x in (5, 17):
            assert isinstance(r, parmill.ItemFailed) and r.kind == "crashed" and r.index == x
            assert description in r.message
            assert r.__cause__ is None
        else:
            assert r == x * x


def test_a_crash_raises_under_on_error_raise(process_backend):
    seen = []
    with pytest.raises(parmill.ItemFailed) as caught:
        for r in parmill.map(lambda x: os._exit(1) if x == 3 else x, range(10), backend=process_backend):
            seen.append(r)
    assert seen == [0, 1, 2] and caught.value.kind == "crashed" and caught.value.index == 3


def test_retries_run_a_crashed_item_again_on_a_replacement(process_backend, tmp_path):
    def crash_once(x):
        marker = tmp_path / f"crashed-{x}"
        if x % 4 == 0 and not marker.exists():
            marker.touch()
            os._exit(9)
        return x

    assert list(parmill.map(crash_once, range(20), backend=process_backend, retries=1)) == list(range(20))


def test_an_unpicklable_result_fails_its_item_only(process_backend):
    def result_of(x):
        return (lambda: x) if x == 4 else x  # a lambda cannot be pickled

    results = list(parmill.map(result_of, range(8), backend=process_backend, on_error="yield"))
    assert isinstance(results[4], parmill.ItemFailed) and results[4].kind == "exception"
    assert "pickle" in results[4].message.lower()
    assert [r for x, r in enumerate(results) if x != 4] == [0, 1, 2, 3, 5, 6, 7]


def test_an_unpicklable_exception_still_fails_its_item_with_its_text(process_backend):
    class Local(Exception):  # defined in a function: it cannot be pickled by reference
        pass

    def raising(x):
        if x == 2:
            raise Local("not picklable")
        return x

    results = list(parmill.map(raising, range(4), backend=process_backend, on_error="yield"))
    assert isinstance(results[2], parmill.ItemFailed) and "not picklable" in results[2].message
    assert results[2].__cause__ is None


def test_an_unpicklable_item_ends_the_input_with_its_error(process_backend):
    def source():
        yield 1
        yield lambda: 2

    with pytest.raises(Exception, match="(?i)pickle"):
        list(parmill.map(lambda x: x, source(), backend=process_backend))


def test_a_timeout_kills_the_item_and_the_run_goes_on(process_backend):
    def slow_four(x):
        if x == 4:
            time.sleep(60)
        return x

    # The limit is far above an ordinary item's round trip, even on a fresh worker under a sanitizer.
    started = time.monotonic()
    results = list(parmill.map(slow_four, range(10), backend=process_backend, on_error="yield", timeout=3,
                               chunk=1))
    assert time.monotonic() - started < 20
    assert isinstance(results[4], parmill.ItemFailed) and results[4].kind == "timed_out"
    assert [r for x, r in enumerate(results) if x != 4] == [0, 1, 2, 3, 5, 6, 7, 8, 9]


def test_retries_run_a_timed_out_item_again(process_backend, tmp_path):
    def slow_once(x):
        marker = tmp_path / f"slow-{x}"
        if x == 3 and not marker.exists():
            marker.touch()
            time.sleep(60)
        return x

    started = time.monotonic()
    assert list(parmill.map(slow_once, range(6), backend=process_backend, timeout=3, retries=1,
                            chunk=1)) == list(range(6))
    assert time.monotonic() - started < 20


def test_leaving_early_kills_running_items_within_seconds(process_backend):
    def hang_after_first(x):
        if x > 0:
            time.sleep(60)
        return x

    with parmill.map(hang_after_first, range(100), backend=process_backend, chunk=1) as results:
        assert next(results) == 0
        started = time.monotonic()  # from the moment the loop is left, not from the workers' start
    assert time.monotonic() - started < 5
    assert descendants() == []


def test_max_items_per_worker_replaces_the_process(process_backend):
    pids = list(parmill.map(lambda x: os.getpid(), range(30), backend=process_backend, max_items_per_worker=3,
                            chunk=1))
    assert len(set(pids)) >= 10  # 30 items, at most 3 per process


def test_workers_are_other_processes_and_the_callers_state_is_copied(process_backend):
    table = {"scale": 7}  # a closure over __main__-like state, not pickled: forked
    pids = set()
    for pid, value in parmill.map(lambda x: (os.getpid(), x * table["scale"]), range(50), backend=process_backend):
        pids.add(pid)
    assert os.getpid() not in pids and 1 <= len(pids) <= process_backend.workers


PRINTING = r"""
import sys
import parmill
print("before the run")  # buffered: stdout is a pipe
list(parmill.map(lambda x: print(f"item {x}"), range(20), backend=parmill.processes(int(sys.argv[1]))))
"""


def test_print_before_the_run_is_not_duplicated_and_print_in_a_worker_is_not_lost(process_backend):
    import subprocess

    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    done = subprocess.run([sys.executable, "-c", PRINTING, str(process_backend.workers)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("before the run") == 1
    assert sorted(line for line in done.stdout.splitlines() if line.startswith("item ")) == sorted(
        f"item {x}" for x in range(20))


class Colour(int):  # a subclass of int: must come back as itself, not as a plain int
    pass


VALUES = [0, 1, -5, 2**63 - 1, -2**63, 2**63, -2**64, 10**30, 2.5, -0.0, float("inf"), "", "x", "é\U0001F600",
          "\udc80", b"", b"\x00\xff", None, True, False, (1, "a"), [1.5, None], {"k": b"v"}, Colour(3)]


def test_values_cross_to_worker_processes_and_back_exactly(process_backend):
    for sent, received in zip(VALUES, parmill.map(lambda x: (x, type(x).__name__), VALUES, backend=process_backend)):
        value, type_name = received
        assert type(value) is type(sent) and type_name == type(sent).__name__
        assert value == sent and repr(value) == repr(sent)


def _interrupt():
    raise KeyboardInterrupt


class InterruptsWhenUnpickled:
    """A result whose unpickling in the caller raises KeyboardInterrupt, as a Ctrl-C arriving
    while the caller unpickles does."""

    def __reduce__(self):
        return (_interrupt, ())


@pytest.mark.parametrize("chunk", [None, 1], ids=["packs", "one_by_one"])
def test_ctrl_c_while_a_result_is_unpickled_is_keyboard_interrupt_not_the_items_failure(process_backend, chunk):
    with pytest.raises(KeyboardInterrupt):
        list(parmill.map(lambda x: InterruptsWhenUnpickled() if x == 3 else x, range(10), backend=process_backend,
                         chunk=chunk, on_error="yield"))
    assert descendants() == []
