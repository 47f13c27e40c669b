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
import queue
import math
import operator
import pickle
import signal
import sys
import threading
import traceback

from . import _native

__all__ = ["map", "inline", "threads", "processes", "per_worker", "ItemFailed", "WorkerContext", "Results",
           "Executor"]

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
        self._results = _yield_batches(native.take)

    def __iter__(self):
        return self._results  # a generator: no call into the native module per result

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


def _yield_batches(take):
    """Yields the results of each batch ``take()`` returns (a chunk's worth: the native side is
    called once per chunk, not per result), until an empty one. A generator, so a second thread
    reading at once gets ValueError."""
    while batch := take():
        yield from batch


def _count(value, name, allow_none=True, minimum=0):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"parmill.map: {name} must be an int >= {minimum}{' or None' if allow_none else ''}, not {value!r}")
    return value


def map(fn, iterable, *, backend=None, order="input", window=None, chunk=None, on_error="raise",
        max_failures=None, retries=0, timeout=None, max_items_per_worker=None, progress=None, indexed=False):
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
    except TypeError:
        length = None
    iterator = iter(iterable)
    if isinstance(fn, per_worker):
        make_worker = fn._make
    else:
        def make_worker(index, count, backend_name, fn=fn):
            return fn
    # Ctrl-C is watched when the main thread iterates with Python's own handler in place: another
    # handler (or another thread) means the program handles SIGINT itself.
    watch_sigint = (threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if backend.kind == "processes":
        # Nothing buffered in Python's streams may be written twice (by a forked worker).
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    # Items travel in packs (many pickled together: native/python_input.hpp) on processes with the
    # default chunks, window and progress, no timeout nor quota, when the input is a built-in
    # container or range() (reading it ahead cannot be seen); elsewhere one by one.
    packs = (backend.kind == "processes" and chunk is None and window is None and not label and timeout is None
             and max_items_per_worker is None)
    native = _native.start_map(iterator, make_worker, backend.kind, backend.workers, order, window or 0,
                               chunk or 0, on_error == "yield",
                               max_failures if max_failures is not None else (1 << 64) - 1,
                               retries, float(timeout or 0.0), max_items_per_worker or 0, label, watch_sigint,
                               bool(indexed), packs)
    return Results(native, length)


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
