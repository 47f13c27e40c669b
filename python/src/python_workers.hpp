// python/src/python_workers.hpp: the workers of a map, as parmill's per-worker factories: each
// worker (thread or process) asks Python once for the callable that handles its items.
#pragma once

#include <Python.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include <parmill/worker_context.hpp>

#include "python_codec.hpp"
#include "python_error.hpp"
#include "python_ref.hpp"

namespace parmill::python {

/// What a map shares with its workers. Every member is guarded by the GIL.
struct run_state {
  /// `make_worker(index, count, backend)` returns the callable of worker `index`.
  ref make_worker;
  /// A KeyboardInterrupt or SystemExit raised by a worker on the caller's side: the run stops and
  /// the consumer raises it.
  ref abort;
  /// Stops the run (`map_range::stop`); empty once the map is being closed.
  void (*stop)(void*) = nullptr;
  void* stop_context = nullptr;

  /// `make_worker(...)` for the worker of `context`: its callable, or null with the Python error
  /// set (the GIL is held).
  ref make_worker_for(const worker_context& context) const {
    const std::string backend(to_string(context.backend));
    return ref::steal(PyObject_CallFunction(make_worker.get(), "nns", static_cast<Py_ssize_t>(context.index),
                                            static_cast<Py_ssize_t>(context.count), backend.c_str()));
  }

  /// The callable of the worker of `context`; throws `python_error` (the GIL is held).
  ref callable_for(const worker_context& context) {
    ref made = make_worker_for(context);
    if (!made) throw failure();
    return made;
  }

  /// The Python exception being raised as a `python_error`; when it aborts the run (Ctrl-C), it is
  /// kept for the consumer and the run is stopped. The GIL is held.
  python_error failure() {
    python_error error = python_error::fetch();
    if (error.aborts() && !abort) {
      abort = ref::borrow(error.exception());
      if (stop != nullptr) stop(stop_context);
    }
    return error;
  }
};

/// The object of one worker on the caller's side (inline or a thread): calls its callable with
/// the GIL, for each item.
class local_worker {
public:
  local_worker(ref callable, std::shared_ptr<run_state> run)
      : callable_(std::move(callable)), run_(std::move(run)) {}
  /// The result of `callable(item)`; throws `python_error` when it raises.
  ref operator()(ref& item) {
    gil held;
    ref result = ref::steal(call1(callable_.get(), item.get()));
    if (!result) throw run_->failure();
    return result;
  }

private:
  ref callable_;
  std::shared_ptr<run_state> run_;
};

/// Builds a `local_worker` inside its worker (thread), once.
struct local_factory {
  std::shared_ptr<run_state> run;
  local_worker operator()(const worker_context& context) const {
    gil held;
    return local_worker(run->callable_for(context), run);
  }
};

/// Makes the interpreter usable in a worker process (once per process): the process was forked
/// (from the spawner, itself forked while the caller held the GIL), so only this thread exists and
/// the interpreter's locks must be reset, as after `os.fork()`.
void enter_worker_process() noexcept;

/// The object of one worker process: decodes each item, calls its callable, encodes the result
/// (python_codec.hpp: pickles, but for plain ints, floats, str, bytes, None and bools).
/// The worker process holds the GIL throughout (it is its only thread).
class process_worker {
public:
  explicit process_worker(ref callable) : callable_(std::move(callable)) {}
  process_worker(process_worker&&) noexcept = default;
  process_worker& operator=(process_worker&&) noexcept = default;
  /// The worker process is ending (it leaves with `_exit`, which flushes no Python stream): what
  /// the worker printed is flushed now.
  ~process_worker() {
    if (!callable_) return;
    gil held;
    for (const char* name : {"stdout", "stderr"}) {
      PyObject* stream = PySys_GetObject(name); // borrowed
      if (stream == nullptr || stream == Py_None) continue;
      PyObject* flushed = PyObject_CallMethod(stream, "flush", nullptr);
      if (flushed == nullptr) PyErr_Clear();
      Py_XDECREF(flushed);
    }
  }
  /// The encoded result of `callable(decoded item)`; throws `python_error` (carrying the pickled
  /// exception) when decoding, the call or encoding the result raises.
  std::string operator()(std::string& item) {
    gil held;
    ref object = decode_value(item, true);
    ref result = ref::steal(call1(callable_.get(), object.get()));
    if (!result) throw python_error::fetch(true);
    return encode_value(result.get(), true);
  }

private:
  ref callable_;
};

/// Builds a `process_worker` inside its worker process, once per process.
struct process_factory {
  std::shared_ptr<run_state> run;
  process_worker operator()(const worker_context& context) const {
    enter_worker_process();
    gil held;
    ref made = run->make_worker_for(context);
    if (!made) throw python_error::fetch(true); // carries the pickled exception to the caller
    return process_worker(std::move(made));
  }
};

} // namespace parmill::python
