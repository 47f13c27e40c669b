// python/src/python_workers.hpp: the workers of a map, as parmill's per-worker factories: each
// worker (thread or process) asks Python once for the callable that handles its items.
#pragma once

#include <Python.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <parmill/worker_context.hpp>

#include "python_codec.hpp"
#include "python_error.hpp"
#include "python_input.hpp"
#include "python_ref.hpp"

namespace parmill::python {

/// What a map shares with its workers. Every member is guarded by the GIL.
struct run_state {
  /// `make_worker(index, count, backend)` returns the callable of worker `index`.
  ref make_worker;
  /// A KeyboardInterrupt or SystemExit raised by a worker on the caller's side: the run stops and
  /// the consumer raises it.
  ref abort;
  /// How many more times an item that raised is tried, in a pack (see `process_worker::run_pack`).
  std::size_t retries = 0;
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
/// (python_codec.hpp: pickles, but for plain ints, floats, str, bytes, None and bools). A pack of
/// items (python_input.hpp) is run whole: one unpickling, one call per item, one pickling of the
/// results (`run_pack`). The worker process holds the GIL throughout (it is its only thread).
class process_worker {
public:
  process_worker(ref callable, std::size_t index, std::size_t retries)
      : callable_(std::move(callable)), index_(index), retries_(retries) {}
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
  /// The encoded result of `callable(decoded item)`, or of a pack (see `run_pack`); throws
  /// `python_error` (carrying the pickled exception) when decoding, the call or encoding the
  /// result raises.
  std::string operator()(std::string& item) {
    gil held;
    if (!item.empty() && (item[0] == tag::pack || item[0] == tag::arithmetic_pack)) return run_pack(item);
    ref object = decode_value(item, true);
    ref result = ref::steal(call1(callable_.get(), object.get()));
    if (!result) throw python_error::fetch(true);
    return encode_value(result.get(), true);
  }

private:
  /// Runs every item of a pack, each tried again up to `retries_` more times when it raises, and
  /// returns `tag::pack`, the nanoseconds the calls took, then `(values, failures)` pickled
  /// (`append_pickled`):
  /// `values` has one entry per item (None for a failed one), `failures` a `(position, worker,
  /// message)` per failed item (an exception, or a result that cannot be pickled), the message
  /// carrying the pickled exception as `python_error::fetch(true)` does. Throws `python_error`
  /// only when the pack itself cannot be read or the results cannot be pickled at all.
  std::string run_pack(const std::string& data) {
    const auto header = pack_header::of(data);
    if (!header) {
      PyErr_SetString(PyExc_ValueError, "parmill: a malformed pack of items");
      throw python_error::fetch(true);
    }
    ref items = header->items();
    if (!items) throw python_error::fetch(true);
    const Py_ssize_t n = PyList_GET_SIZE(items.get());
    ref values = ref::steal(PyList_New(n));
    ref failures = ref::steal(PyList_New(0));
    if (!values || !failures) throw python_error::fetch(true);
    const auto started = std::chrono::steady_clock::now();
    for (Py_ssize_t k = 0; k < n; ++k) {
      PyObject* result = nullptr;
      for (std::size_t attempt = 0;; ++attempt) {
        result = call1(callable_.get(), PyList_GET_ITEM(items.get(), k));
        if (result != nullptr || attempt >= retries_) break;
        PyErr_Clear();
      }
      if (result == nullptr) {
        add_failure(failures.get(), k, python_error::fetch(true).what());
        result = Py_NewRef(Py_None);
      }
      PyList_SET_ITEM(values.get(), k, result); // steals
    }
    const auto took =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started);
    ref pair = ref::steal(PyTuple_Pack(2, values.get(), failures.get()));
    if (!pair) throw python_error::fetch(true);
    std::string out;
    const auto nanoseconds = static_cast<std::int64_t>(took.count());
    out.push_back(tag::pack);
    out.append(reinterpret_cast<const char*>(&nanoseconds), sizeof nanoseconds);
    if (!append_pickled(out, pair.get())) { // some result cannot be pickled: it fails alone
      PyErr_Clear();
      for (Py_ssize_t k = 0; k < n; ++k) {
        ref one = ref::steal(call1(python_helpers().dumps, PyList_GET_ITEM(values.get(), k)));
        if (one) continue;
        add_failure(failures.get(), k, python_error::fetch(true).what());
        PyList_SetItem(values.get(), k, Py_NewRef(Py_None));
      }
      if (PyList_Sort(failures.get()) != 0) throw python_error::fetch(true);
      out.resize(1 + sizeof nanoseconds);
      if (!append_pickled(out, pair.get())) throw python_error::fetch(true);
    }
    return out;
  }

  /// Appends `(position, worker, message)` to `failures`.
  void add_failure(PyObject* failures, Py_ssize_t position, const char* message) const {
    ref entry = ref::steal(Py_BuildValue("(nns)", position, static_cast<Py_ssize_t>(index_), message));
    if (!entry || PyList_Append(failures, entry.get()) != 0) throw python_error::fetch(true);
  }

  ref callable_;
  std::size_t index_ = 0;
  std::size_t retries_ = 0;
};

/// Builds a `process_worker` inside its worker process, once per process.
struct process_factory {
  std::shared_ptr<run_state> run;
  process_worker operator()(const worker_context& context) const {
    enter_worker_process();
    gil held;
    ref made = run->make_worker_for(context);
    if (!made) throw python_error::fetch(true); // carries the pickled exception to the caller
    return process_worker(std::move(made), context.index, run->retries);
  }
};

} // namespace parmill::python
