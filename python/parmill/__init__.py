"""parmill for Python: a lazy, bounded parallel map over parmill's native C++ core.

    import parmill

    with parmill.map(convert, paths, backend=parmill.processes(4), progress="files") as results:
        for result in results:
            ...

Backends: ``parmill.inline()`` (the default: the caller's thread), ``parmill.threads(n)`` (for
I/O and code that releases the GIL) and ``parmill.processes(n)`` (forked worker processes; a crash,
``os._exit`` or a hang costs the item it hit, never the run). See ``map`` for the promises.
"""

import atexit
import concurrent.futures
import itertools
import queue
import math
import operator
import os
import pickle
import signal
import sys
import threading
import time
import traceback

from . import _native

__all__ = ["map", "inline", "threads", "processes", "per_worker", "ItemFailed", "WorkerContext", "Results",
           "Executor", "pipeline", "Pipeline", "PipelineReport", "StageReport"]

_KINDS = ("exception", "crashed", "timed_out", "cancelled")


class ItemFailed(Exception):
    """One item failed: ``.index`` (its position in the input), ``.kind`` ("exception",
    "crashed", "timed_out" or "cancelled"), ``.worker`` (the index of the worker that held it) and
    ``.message`` (for an exception, its type, message and the worker's traceback; for a crash, how
    the worker process ended). The original exception is ``__cause__`` when it could be brought
    back (always on inline and threads; on processes when it can be pickled)."""

    def __init__(self, index, kind, worker, message):
        super().__init__(index, kind, worker, message)
        self.index = index
        self.kind = kind
        self.worker = worker
        self.message = message

    def __str__(self):
        lines = [line for line in self.message.splitlines() if line.strip()]
        summary = lines[-1].strip() if lines else ""
        return f"item {self.index} on worker {self.worker}: {self.kind}: {summary}"

    def __reduce__(self):
        return (ItemFailed, (self.index, self.kind, self.worker, self.message))


def _item_failed(index, kind, worker, message, cause):
    failure = ItemFailed(index, kind, worker, message)
    if cause is not None:
        failure.__cause__ = cause
    return failure


def _format_exception(exception):
    return "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))


def _dumps(value):
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _dumps_out_of_band(value):
    """``value`` pickled with protocol 5, and its out-of-band buffers (a NumPy array's data, say) as
    contiguous memoryviews, which the native side copies once, straight from their memory."""
    buffers = []
    data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    if not buffers:
        return data, buffers
    try:
        return data, [buffer.raw() for buffer in buffers]
    except BufferError:  # a buffer that is not contiguous: in band, then
        return pickle.dumps(value, protocol=5), []


def _loads_out_of_band(data, buffers):
    return pickle.loads(data, buffers=buffers)


_native.configure(_format_exception, _dumps, pickle.loads, _item_failed, ItemFailed, _dumps_out_of_band,
                  _loads_out_of_band)


class _Backend:
    """Where workers run. Made by ``inline()``, ``threads(n)`` or ``processes(n)``; a small
    description, reusable by any number of maps (the threads or processes exist only while a map
    runs)."""

    __slots__ = ("kind", "workers")

    def __init__(self, kind, workers):
        self.kind = kind
        self.workers = workers

    def __repr__(self):
        return "parmill.inline()" if self.kind == "inline" else f"parmill.{self.kind}({self.workers})"

    def __eq__(self, other):
        return isinstance(other, _Backend) and (self.kind, self.workers) == (other.kind, other.workers)

    def __hash__(self):
        return hash((self.kind, self.workers))


def _worker_count(n, name):
    if n is None or n == 0:
        import os

        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"parmill.{name}: n must be a non-negative int (0 or None: one per CPU), not {n!r}")
    return n


def inline():
    """The caller's thread runs every item, one after another, in input order (the default)."""
    return _Backend("inline", 1)


def threads(n=None):
    """``n`` threads (None or 0: one per CPU), made when a map starts and joined when it ends.
    Python code holds the GIL, so this helps for I/O and for code that releases it."""
    return _Backend("threads", _worker_count(n, "threads"))


def processes(n=None):
    """``n`` worker processes (None or 0: one per CPU), forked when a map starts (see ``map`` for
    the fork rule). Items and results cross as pickles; the function and its closure do not (the
    workers are copies of the program), so lambdas and closures work."""
    return _Backend("processes", _worker_count(n, "processes"))


class WorkerContext:
    """What a per-worker factory learns about its worker: ``index`` (0 .. count-1, unique in the
    run), ``count`` (the run's workers) and ``backend`` ("inline", "threads" or "processes")."""

    __slots__ = ("index", "count", "backend")

    def __init__(self, index, count, backend):
        self.index = index
        self.count = count
        self.backend = backend

    def __repr__(self):
        return f"WorkerContext(index={self.index}, count={self.count}, backend={self.backend!r})"


class per_worker:
    """``per_worker(factory, *args, **kwargs)``: a worker with state of its own.
    ``factory(ctx, *args, **kwargs)`` runs once inside each worker (its thread or process), the
    first time it gets an item, and returns the callable that handles that worker's items; ``ctx``
    is a ``WorkerContext``. A factory that raises fails the item it was building for (and is tried
    again for the next one). On processes, a replaced worker process (after a crash, a timeout or
    ``max_items_per_worker``) runs the factory again."""

    __slots__ = ("factory", "args", "kwargs")

    def __init__(self, factory, *args, **kwargs):
        if not callable(factory):
            raise TypeError(f"parmill.per_worker: the factory must be callable, not {factory!r}")
        self.factory = factory
        self.args = args
        self.kwargs = kwargs

    def _make(self, index, count, backend):
        handler = self.factory(WorkerContext(index, count, backend), *self.args, **self.kwargs)
        if not callable(handler):
            raise TypeError(f"parmill.per_worker: the factory returned {handler!r}, which is not callable")
        return handler


# No thread of a map may outlive the interpreter: maps still open at exit are closed first.
atexit.register(_native.close_all)


class Results:
    """The iterator ``parmill.map`` returns: one result per item, read lazily. ``len()`` works
    when the input has one. Use it as a context manager (``with parmill.map(...) as results:``):
    leaving the block, like ``close()``, stops the run and waits until every thread has ended and
    every worker process is gone. Leaving a ``for`` loop early does the same as soon as the
    iterator is dropped (at once in CPython when the loop held the only reference)."""

    __slots__ = ("_native", "_length", "_results")

    def __init__(self, native, length):
        self._native = native
        self._length = length
        # Each take() is a chunk's results (an empty list at the end), flattened in C: no call into
        # the native module, and no Python frame, per result. A second thread reading at once
        # gets ValueError from take().
        self._results = itertools.chain.from_iterable(iter(native.take, []))

    def __iter__(self):
        return self._results

    def __next__(self):
        return next(self._results)

    def __len__(self):
        if self._length is None:
            raise TypeError("parmill.map: the input has no len()")
        return self._length

    def close(self):
        """Stops the run (no item starts; items running on processes are killed) and waits for it
        to end. Results not yet read are dropped. Idempotent."""
        self._native.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _count(value, name, allow_none=True, minimum=0):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"parmill.map: {name} must be an int >= {minimum}{' or None' if allow_none else ''}, not {value!r}")
    return value


def map(fn, iterable, *, backend=None, order="input", window=None, chunk=None, on_error="raise",
        max_failures=None, retries=0, timeout=None, max_items_per_worker=None, progress=None, indexed=False,
        trace=None, _watch_sigint=None):
    """Runs ``fn`` over every item of ``iterable`` on ``backend`` (default ``inline()``) and
    returns a ``Results`` iterator, with one result per item.

    - Lazy and bounded: items are read only as workers need them, and at most ``window`` items
      (default: four chunks per worker) are read and not yet yielded, so an endless generator runs
      in constant memory. Chunks (``chunk``, default automatic) are sized as in C++.
    - ``order="input"`` (default) yields in input order; ``"completion"`` as items finish.
      ``indexed=True`` yields ``(index, value)`` pairs.
    - ``fn`` is a callable of one item, or ``per_worker(factory, ...)``.
    - Errors: with ``on_error="raise"`` the loop yields every result before the failed item, then
      raises ``ItemFailed``; with ``"yield"`` an ``ItemFailed`` is yielded in place of the value
      and the run goes on, until ``max_failures`` failures have been yielded: the next one is
      raised. ``retries`` tries a failed item again (exceptions, and on processes crashes and
      timeouts, on a replacement process).
    - ``timeout`` (seconds, processes only): an item still running after it has its worker killed
      and replaced, and fails as "timed_out". ``max_items_per_worker`` (processes only): a worker
      process is replaced after that many items.
    - ``progress``: a label (or True) draws parmill's progress bar on standard error.
    - ``trace``: a path; the run's timeline (which worker ran which items when, and how each
      ended) is written there in the Chrome Trace Event format when the loop ends, as C++'s
      ``map_options::trace`` does. ``parmill-timeline FILE -o PAGE.html`` draws it.
    - Ctrl-C while the main thread iterates stops the run, waits for it (processes are killed;
      threads finish the item they run) and raises KeyboardInterrupt, with no output from workers.
    """
    if not callable(fn) and not isinstance(fn, per_worker):
        raise TypeError(f"parmill.map: fn must be callable or parmill.per_worker(...), not {fn!r}")
    if backend is None:
        backend = inline()
    if not isinstance(backend, _Backend):
        raise TypeError(f"parmill.map: backend must be parmill.inline(), threads(n) or processes(n), not {backend!r}")
    if order not in ("input", "completion"):
        raise ValueError(f"parmill.map: order must be 'input' or 'completion', not {order!r}")
    if on_error not in ("raise", "yield"):
        raise ValueError(f"parmill.map: on_error must be 'raise' or 'yield', not {on_error!r}")
    window = _count(window, "window", minimum=1)
    chunk = _count(chunk, "chunk", minimum=1)
    max_failures = _count(max_failures, "max_failures")
    retries = _count(retries, "retries", allow_none=False)
    max_items_per_worker = _count(max_items_per_worker, "max_items_per_worker", minimum=1)
    if max_failures is not None and on_error != "yield":
        raise ValueError("parmill.map: max_failures needs on_error='yield' (with 'raise' the first failure halts)")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"parmill.map: timeout must be a positive number of seconds or None, not {timeout!r}")
        if backend.kind != "processes":
            raise ValueError("parmill.map: timeout needs parmill.processes(n): a thread cannot be stopped safely")
    if max_items_per_worker is not None and backend.kind != "processes":
        raise ValueError("parmill.map: max_items_per_worker needs parmill.processes(n)")
    if progress is None or progress is False:
        label = ""
    elif progress is True:
        label = "items"
    elif isinstance(progress, str) and progress:
        label = progress
    else:
        raise ValueError(f"parmill.map: progress must be a non-empty label, True or None, not {progress!r}")
    try:
        length = len(iterable)
    except (TypeError, OverflowError):  # no len(), or one past sys.maxsize (a huge range())
        length = None
    iterator = iter(iterable)
    if isinstance(fn, per_worker):
        make_worker = fn._make
    else:
        def make_worker(index, count, backend_name, fn=fn):
            return fn
    # Ctrl-C is watched when the main thread iterates with Python's own handler in place: another
    # handler (or another thread) means the program handles SIGINT itself.
    # (get_ident, not current_thread: on a thread of parmill's, as a pipeline's stage may be, the
    # latter would register a dummy Thread that is never removed.)
    watch_sigint = _watch_sigint if _watch_sigint is not None else _main_thread_watches_sigint()
    if backend.kind == "processes":
        # Nothing buffered in Python's streams may be written twice (by a forked worker).
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    # Items travel in packs (many pickled together: native/python_input.hpp) on processes with the
    # default chunks, window and progress, no timeout nor quota; elsewhere one by one.
    trace_path = os.fspath(trace) if trace is not None else ""
    if not isinstance(trace_path, str):
        raise TypeError(f"parmill.map: trace must be a path, not {trace!r}")
    packs = (backend.kind == "processes" and chunk is None and window is None and not label and timeout is None
             and max_items_per_worker is None and not trace_path)
    native = _native.start_map(iterator, make_worker, backend.kind, backend.workers, order, window or 0,
                               chunk or 0, on_error == "yield",
                               max_failures if max_failures is not None else (1 << 64) - 1,
                               retries, float(timeout or 0.0), max_items_per_worker or 0, label, watch_sigint,
                               bool(indexed), packs, trace_path, _arithmetic(iterable) if packs else None)
    return Results(native, length)


def _arithmetic(iterable):
    """``(start, step, count)`` when ``iterable`` is a ``range()`` whose integers all fit in 64
    bits: the workers then make its integers themselves, and the caller's process never touches
    them (native/python_input.hpp). None otherwise."""
    if type(iterable) is not range:
        return None
    try:
        count = len(iterable)
    except OverflowError:  # more integers than sys.maxsize
        return None
    low, high = -(1 << 63), (1 << 63) - 1
    if count == 0 or not all(low <= value <= high for value in (iterable[0], iterable[-1], iterable.step)):
        return None
    return iterable[0], iterable.step, count


def _main_thread_watches_sigint():
    """True when this is the main thread and Python's own SIGINT handler is installed."""
    return (threading.get_ident() == threading.main_thread().ident
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)


def _run_call(call):
    fn, args, kwargs = call
    return fn(*args, **kwargs)


class Executor(concurrent.futures.Executor):
    """A ``concurrent.futures.Executor`` over a parmill backend (default ``threads()``), for any
    API that takes an executor (``loop.run_in_executor``, ``executor=`` parameters).

    ``submit`` returns a ``concurrent.futures.Future``. Calls are handed to workers only as they
    free up (one map, in completion order, with a window of one call per worker), so a call not
    yet started can be cancelled. A failed call's ``future.exception()`` is the original exception
    when it can be brought back, else an ``ItemFailed`` (kind "crashed" when its worker process
    died). On ``processes(n)`` the function and its arguments are pickled (they cross to a worker
    process started earlier); ``map`` and ``shutdown`` have the standard semantics."""

    def __init__(self, backend=None):
        if backend is None:
            backend = threads()
        if not isinstance(backend, _Backend):
            raise TypeError(f"parmill.Executor: backend must be parmill.inline(), threads(n) or processes(n), not {backend!r}")
        self._backend = backend
        self._calls = queue.SimpleQueue()  # (future, fn, args, kwargs), then None at shutdown
        self._lock = threading.Lock()
        self._started = {}  # index in the map -> its future
        self._shutdown = False
        self._thread = None

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future = concurrent.futures.Future()
            self._calls.put((future, fn, args, kwargs))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="parmill.Executor", daemon=True)
                self._thread.start()
                threading._register_atexit(self._at_exit)  # as concurrent.futures does
        return future

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            if cancel_futures:
                for future in self._drain_waiting_futures():
                    future.cancel()
            if not self._shutdown:
                self._shutdown = True
                self._calls.put(None)
            thread = self._thread
        if wait and thread is not None:
            thread.join()

    def _drain_waiting_futures(self):
        """Takes every call not yet handed to a worker off the queue; returns their futures."""
        futures = []
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return futures
            if call is not None:
                futures.append(call[0])

    def _at_exit(self):
        self.shutdown(wait=True)

    def _pending_calls(self):
        """The map's input: each call as a worker frees up; ends at shutdown."""
        index = 0
        while True:
            call = self._calls.get()
            if call is None:
                return
            future, fn, args, kwargs = call
            if not future.set_running_or_notify_cancel():
                continue  # cancelled before a worker took it
            if self._backend.kind == "processes":
                try:  # a call that cannot cross fails alone (as an input it would end the map)
                    pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as error:
                    future.set_exception(error)
                    continue
            self._started[index] = future
            index += 1
            yield (fn, args, kwargs)

    def _serve(self):
        try:
            self._serve_calls()
        except BaseException as error:  # the executor itself failed: no future may wait for ever
            with self._lock:
                self._shutdown = True
                stranded = list(self._started.values())
                self._started.clear()
                stranded.extend(self._drain_waiting_futures())
            for future in stranded:
                if not future.done() and (future.running() or future.set_running_or_notify_cancel()):
                    future.set_exception(error)

    def _serve_calls(self):
        results = map(_run_call, self._pending_calls(), backend=self._backend, order="completion", chunk=1,
                      window=self._backend.workers, on_error="yield", indexed=True)
        with results:
            for index, value in results:
                future = self._started.pop(index)
                if isinstance(value, ItemFailed):
                    cause = value.__cause__
                    future.set_exception(cause if value.kind == "exception" and cause is not None else value)
                else:
                    future.set_result(value)


# ---------------------------------------------------------------------------------------------
# pipeline: stages joined lazily, each a parmill.map over the stage before it.


class StageReport:
    """One stage's counters: ``name``, ``backend`` ("inline", "threads", "processes"),
    ``concurrency``, ``items_in`` (read by the stage), ``items_out`` (passed on), ``failures``,
    ``in_flight`` (inside the stage now: items_in - items_out - failures), ``busy_seconds`` (time
    in the stage's function, all workers, measured where it runs), ``mean_seconds``,
    ``p50_seconds`` and ``p99_seconds`` (per item; the percentiles within 13%, from the same
    histogram as C++'s). A Python stage drops no item, so there is no ``filtered`` count."""

    __slots__ = ("name", "backend", "concurrency", "items_in", "items_out", "failures", "busy_seconds",
                 "_histogram")

    def __init__(self, name, backend, concurrency):
        self.name = name
        self.backend = backend
        self.concurrency = concurrency
        self.items_in = 0
        self.items_out = 0
        self.failures = 0
        self.busy_seconds = 0.0
        self._histogram = {}  # bucket (_time_bucket) -> items

    def _add_time(self, seconds):
        self.busy_seconds += seconds
        bucket = _time_bucket(seconds)
        self._histogram[bucket] = self._histogram.get(bucket, 0) + 1

    @property
    def in_flight(self):
        return self.items_in - self.items_out - self.failures

    @property
    def mean_seconds(self):
        return self.busy_seconds / self.items_out if self.items_out else 0.0

    def _percentile(self, p):
        total = sum(self._histogram.values())
        if total == 0:
            return 0.0
        rank, seen = int(p * (total - 1)), 0
        for bucket in sorted(self._histogram):
            seen += self._histogram[bucket]
            if seen > rank:
                return _bucket_middle_seconds(bucket)
        return 0.0

    @property
    def p50_seconds(self):
        return self._percentile(0.50)

    @property
    def p99_seconds(self):
        return self._percentile(0.99)

    def _copy(self):
        copy = StageReport(self.name, self.backend, self.concurrency)
        for field in StageReport.__slots__:
            setattr(copy, field, getattr(self, field))
        copy._histogram = dict(self._histogram)
        return copy

    def __repr__(self):
        return (f"StageReport({self.name!r}, {self.backend}, concurrency={self.concurrency}, in={self.items_in}, "
                f"out={self.items_out}, failures={self.failures}, busy={self.busy_seconds:.3f}s)")


# Four buckets per power of two of nanoseconds, as in C++ (detail/pipeline_stats.hpp): a time is
# known within 13% from its bucket's middle.
_SUB_BUCKETS = 4


def _time_bucket(seconds):
    ns = max(0, int(seconds * 1e9))
    if ns < _SUB_BUCKETS:
        return ns
    width = ns.bit_length()
    return (width - 2) * _SUB_BUCKETS + ((ns >> (width - 3)) & (_SUB_BUCKETS - 1))


def _bucket_middle_seconds(bucket):
    if bucket < _SUB_BUCKETS:
        return bucket * 1e-9
    width, sub = bucket // _SUB_BUCKETS + 2, bucket % _SUB_BUCKETS
    unit = 1 << (width - 3)
    return ((_SUB_BUCKETS + sub) * unit + unit / 2) * 1e-9


def _seconds_text(seconds):
    if seconds <= 0:
        return "-"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f}ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f}us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f}ms"
    return f"{seconds:.2f}s"


class PipelineReport:
    """What every stage has done: ``stages`` (``StageReport`` s in pipeline order),
    ``elapsed_seconds`` (since the pipeline started) and ``outputs`` (results the loop has had).
    ``str()`` is a table, one line per stage, with C++'s columns (but for the dropped items and the
    queue's capacity, which a Python stage does not have)."""

    __slots__ = ("stages", "elapsed_seconds", "outputs")

    def __init__(self, stages, elapsed_seconds, outputs):
        self.stages = stages
        self.elapsed_seconds = elapsed_seconds
        self.outputs = outputs

    def __str__(self):
        lines = [f"pipeline: {self.outputs} outputs in {self.elapsed_seconds:.2f}s"]
        for s in self.stages:
            elapsed = self.elapsed_seconds
            rate = s.items_out / elapsed if elapsed > 0 else 0.0
            busy = min(999.0, 100.0 * s.busy_seconds / (elapsed * s.concurrency)) if elapsed > 0 else 0.0
            lines.append(f"  {s.name[:12]:<12} {s.backend:<9} x{s.concurrency:<3} in {s.items_in:<9} "
                         f"out {s.items_out:<9} fail {s.failures:<6} queue {s.in_flight:4} busy {busy:3.0f}% "
                         f"{rate:9.1f}/s p50 {_seconds_text(s.p50_seconds):<8} p99 {_seconds_text(s.p99_seconds)}")
        return "\n".join(lines)


def _timed(fn):
    """``fn`` returning ``(seconds it took, result)``: the stage's time is measured where it runs."""

    def timed(item):
        started = time.perf_counter()
        value = fn(item)
        return time.perf_counter() - started, value

    return timed


def _with_workers(backend, concurrency):
    if backend.kind == "inline":
        return backend
    return _Backend(backend.kind, concurrency if concurrency else backend.workers)


class pipeline:
    """``parmill.pipeline().source(iterable).pipe(fn, ...).batch(n).unbatch().sink(n).build(backend)``:
    a source, stages (each a ``parmill.map`` with its own concurrency, order and backend) and
    batching, joined lazily and bounded (each stage reads its input only as its window allows).
    Each step returns the builder; ``build`` makes the runnable ``Pipeline``."""

    def __init__(self):
        self._source = None
        self._steps = []

    def source(self, iterable):
        """The items the pipeline runs on: any iterable, read lazily (endless ones too)."""
        self._source = iterable
        return self

    def pipe(self, fn, *, concurrency=None, order="input", name=None, backend=None, chunk=None, window=None,
             retries=0, timeout=None):
        """A stage: ``fn(item)`` (or ``per_worker(...)``) on every item, at most ``concurrency`` calls
        at once (default: the build backend's worker count), results in input order (default) or
        ``order="completion"``, on ``backend`` (default: the build backend). ``name`` (default
        "stage N") names it in the report and in its failures' messages. ``chunk``, ``window``,
        ``retries`` and ``timeout`` are as in ``parmill.map``."""
        if not callable(fn) and not isinstance(fn, per_worker):
            raise TypeError(f"parmill.pipeline: fn must be callable or parmill.per_worker(...), not {fn!r}")
        if order not in ("input", "completion"):
            raise ValueError(f"parmill.pipeline: order must be 'input' or 'completion', not {order!r}")
        if backend is not None and not isinstance(backend, _Backend):
            raise TypeError(f"parmill.pipeline: backend must be parmill.inline(), threads(n) or processes(n), not {backend!r}")
        concurrency = _count(concurrency, "concurrency", minimum=1)
        stages = sum(1 for step in self._steps if step[0] == "pipe")
        self._steps.append(("pipe", dict(fn=fn, concurrency=concurrency, order=order,
                                         name=name or f"stage {stages + 1}", backend=backend, chunk=chunk,
                                         window=window, retries=retries, timeout=timeout)))
        return self

    def batch(self, n):
        """Groups items into lists of ``n`` (the last may be shorter)."""
        self._steps.append(("batch", _count(n, "batch size", allow_none=False, minimum=1)))
        return self

    def unbatch(self):
        """Passes each element of each item (a batch, or any iterable) on by itself."""
        self._steps.append(("unbatch", None))
        return self

    def sink(self, n):
        """Lets up to ``n`` results wait for the loop, pulled by a thread of their own, so that the
        loop's work overlaps the pipeline's last steps. Optional; the last step before ``build``."""
        self._steps.append(("sink", _count(n, "sink size", allow_none=False, minimum=1)))
        return self

    def build(self, backend=None, *, on_error="raise", max_failures=None):
        """The runnable ``Pipeline``; stages without a backend of their own run on ``backend``
        (default ``inline()``). ``on_error="raise"`` (default): the first failure ends the run and
        the loop raises its ``ItemFailed`` after every result before it; ``"yield"``: failures come
        out as ``ItemFailed`` results (a failed item skips the stages after its failure), until
        ``max_failures`` have been yielded: the next is raised. Nothing runs before iteration."""
        if self._source is None:
            raise ValueError("parmill.pipeline: .source(iterable) first")
        if backend is None:
            backend = inline()
        if not isinstance(backend, _Backend):
            raise TypeError(f"parmill.pipeline: backend must be parmill.inline(), threads(n) or processes(n), not {backend!r}")
        if on_error not in ("raise", "yield"):
            raise ValueError(f"parmill.pipeline: on_error must be 'raise' or 'yield', not {on_error!r}")
        max_failures = _count(max_failures, "max_failures")
        if any(kind == "sink" for kind, _ in self._steps[:-1]):
            raise ValueError("parmill.pipeline: sink(n) must be the last step")
        return Pipeline(self._source, list(self._steps), backend, on_error, max_failures)


class Pipeline:
    """A runnable pipeline: an iterator with one result per item that reaches the end. ``stop()``
    (from any thread) ends the loop quietly and stops every stage; leaving a ``with`` block,
    ``close()`` or an exception in the loop does the same. ``report()`` gives each stage's counts
    and timings (``PipelineReport``) at any time."""

    def __init__(self, source, steps, backend, on_error, max_failures):
        self._source = source
        self._steps = steps
        self._backend = backend
        self._on_error = on_error
        self._max_failures = max_failures
        self._stats = []
        self._maps = []
        self._lock = threading.Lock()
        self._stopped = False
        self._started = None
        self._outputs = 0
        self._failures_yielded = 0
        self._iterator = None
        self._sink_thread = None
        self._sink_queue = None  # the sink's queue until the loop has taken its last entry
        self._watch_sigint = False
        for kind, step in steps:
            if kind == "pipe":
                where = _with_workers(step["backend"] or backend, step["concurrency"])
                self._stats.append(StageReport(step["name"], where.kind, where.workers))

    def _stage(self, items, step, stats):
        where = _with_workers(step["backend"] or self._backend, step["concurrency"])
        fn = step["fn"]
        name = step["name"]
        passed = {}  # failures from earlier stages, by a key that crosses in their place

        def counted(items):
            for key, item in enumerate(items):
                stats.items_in += 1
                if isinstance(item, ItemFailed):  # failed upstream: passed on, not run here
                    stats.failures += 1
                    passed[key] = item
                    yield _Passed(key)
                    continue
                yield item

        def passing(handler):  # a failure from an earlier stage crosses this one as it is
            timed = _timed(handler)
            return lambda item: item if isinstance(item, _Passed) else timed(item)

        if isinstance(fn, per_worker):
            # Each worker's handler is made inside it by fn's factory, at its first item of its own
            # (a failure from an earlier stage must not be replaced by the factory's): a factory that
            # raises fails that item and is called again for the next, as in parmill.map.
            def make_passing(ctx):
                handler = None

                def run_in_worker(item):
                    nonlocal handler
                    if isinstance(item, _Passed):
                        return item
                    if handler is None:
                        handler = _timed(fn._make(ctx.index, ctx.count, ctx.backend))
                    return handler(item)

                return run_in_worker

            run = per_worker(make_passing)
        else:
            run = passing(fn)

        with self._lock:  # every stage's map is made at the first step, unless stop() came first
            if self._stopped:
                return iter(())
            results = map(run, counted(items), backend=where, order=step["order"], chunk=step["chunk"],
                          window=step["window"], retries=step["retries"], timeout=step["timeout"],
                          on_error="yield", _watch_sigint=self._watch_sigint)
            self._maps.append(results)
            # A stage on processes forks its spawner now, from the caller's thread, before any of the
            # pipeline's threads exists: a later stage reads this one from parmill's threads, and a
            # fork from one of them, while the others run, can copy a lock held (it hung under ASan).
            results._native.prepare()
        return self._stage_results(results, passed, stats, name)

    @staticmethod
    def _stage_results(results, passed, stats, name):
        for result in results:
            if isinstance(result, _Passed):
                yield passed.pop(result.key)
            elif isinstance(result, ItemFailed):
                stats.failures += 1
                result.message = f"in {name}: {result.message}"
                yield result
            else:
                seconds, value = result
                stats._add_time(seconds)
                stats.items_out += 1
                yield value

    def _chain(self):
        items = iter(self._source)
        stage = 0
        for kind, step in self._steps:
            if kind == "pipe":
                items = self._stage(items, step, self._stats[stage])
                stage += 1
            elif kind == "batch":
                items = _batches(items, step)
            elif kind == "unbatch":
                items = _unbatched(items)
            elif kind == "sink":
                items = self._sunk(items, step)
        return items

    def _sunk(self, items, size):
        waiting = queue.Queue(maxsize=size)
        self._sink_queue = waiting

        def pull():  # its last entry is _SINK_END or an error; close() takes what the loop leaves
            try:
                for item in items:
                    waiting.put((True, item))
                    if self._stopped:
                        break
                waiting.put((True, _SINK_END))
            except BaseException as error:  # reaches the loop
                waiting.put((False, error))

        self._sink_thread = threading.Thread(target=pull, name="parmill.pipeline sink", daemon=True)
        self._sink_thread.start()
        while True:
            ok, item = waiting.get()
            if not ok or item is _SINK_END:
                self._sink_queue = None
                if not ok:
                    raise item
                return
            yield item

    def _drain_sink(self, deadline):
        """Takes what the sink's thread puts in its queue, up to its last entry, so that it never
        waits for room there once the loop is gone (after stop() it ends at its next item)."""
        waiting = self._sink_queue
        while waiting is not None:
            try:
                ok, item = waiting.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:  # it did not end in time (a source that blocks): it is left
                return
            if not ok or item is _SINK_END:
                self._sink_queue = None
                return

    def __iter__(self):
        return self

    def __next__(self):
        if self._iterator is None:
            if self._stopped:
                raise StopIteration
            self._started = time.monotonic()
            self._watch_sigint = _main_thread_watches_sigint()  # every stage stops at Ctrl-C
            self._iterator = self._chain()
        try:
            while True:
                if self._stopped:
                    raise StopIteration
                result = next(self._iterator)
                if isinstance(result, ItemFailed):
                    if self._on_error == "yield" and (self._max_failures is None
                                                      or self._failures_yielded < self._max_failures):
                        self._failures_yielded += 1
                    else:
                        self.close()
                        raise result
                self._outputs += 1
                return result
        except StopIteration:
            self.close()
            raise
        except BaseException:
            self.close()
            raise

    def stop(self):
        """Ends the loop quietly (it raises StopIteration at its next step, or at once if it waits)
        and stops every stage. Callable from any thread, any number of times."""
        with self._lock:
            self._stopped = True
            maps = list(self._maps)
        for results in maps:
            results.close()

    def close(self):
        """Stops every stage and waits for them (threads joined, worker processes gone)."""
        self.stop()
        iterator, self._iterator = self._iterator, None
        loop_gone = True
        if iterator is not None:
            try:
                iterator.close()
            except ValueError:  # being run by another thread: stop() ends it, and it takes the rest
                loop_gone = False
        if self._sink_thread is not None and self._sink_thread is not threading.current_thread():
            deadline = time.monotonic() + 60
            if loop_gone:
                self._drain_sink(deadline)
            self._sink_thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def report(self):
        """Each stage's counts and timings now (``PipelineReport``)."""
        elapsed = time.monotonic() - self._started if self._started is not None else 0.0
        return PipelineReport([s._copy() for s in self._stats], elapsed, self._outputs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


_SINK_END = object()  # the last entry of a pipeline's sink queue when its input ended


class _Passed:
    """Stands for a failure from an earlier stage (kept by the stage, with its cause, under
    ``key``), carried through a stage without running it."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __reduce__(self):
        return (_Passed, (self.key,))


def _batches(items, size):
    """Lists of ``size`` items (the last may be shorter); a failure passes on by itself."""
    batch = []
    for item in items:
        if isinstance(item, ItemFailed):
            yield item
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _unbatched(items):
    for item in items:
        if isinstance(item, ItemFailed):
            yield item
        else:
            yield from item
