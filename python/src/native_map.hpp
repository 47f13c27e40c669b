// python/src/native_map.hpp: one run of parmill::map driven from Python: the consumer's side.
#pragma once

#include <Python.h>
#include <pybind11/pybind11.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <parmill/map.hpp>

#include "python_error.hpp"
#include "python_input.hpp"
#include "python_workers.hpp"
#include "sigint_watch.hpp"

namespace parmill::python {

/// A map on the caller's side: items and results are the Python objects themselves.
struct local_kind {
  using convert = as_objects;
  using factory = local_factory;
  /// The Python value of a result (the GIL is held).
  static pybind11::object value_of(ref& result) {
    return pybind11::reinterpret_steal<pybind11::object>(result.release());
  }
};

/// A map on worker processes: items and results cross as pickles.
struct process_kind {
  using convert = as_pickles;
  using factory = process_factory;
  /// The unpickled result (the GIL is held); throws `python_error` when it cannot be unpickled.
  static pybind11::object value_of(const std::string& result) {
    return pybind11::reinterpret_steal<pybind11::object>(decode_value(result).release());
  }
};

/// The `ItemFailed` for `error` (the GIL is held), with the original exception as its cause when
/// it can be brought back.
pybind11::object item_failed_object(const item_error& error);

/// What every open map can do, so that the maps still open when the interpreter exits can be
/// closed first (`close_all_maps`).
class closable {
public:
  virtual void close() = 0;

protected:
  closable() noexcept;
  ~closable();
};

/// Closes every map not closed yet (the GIL is held): called at the interpreter's exit, before it
/// finalizes, so that no thread of a map outlives it.
void close_all_maps();

/// One run of `parmill::map` over a Python iterator, iterated from Python. The GIL is released
/// whenever the consumer waits for the core (for an outcome, or for the run to end); the core's
/// threads take it only to read the input, call Python, and drop references.
template <class Kind>
class native_map final : public closable {
  using view = python_input<typename Kind::convert>;
  using worker = per_worker_factory<typename Kind::factory>;
  using range = map_range<view, worker>;
  using outcome_type = outcome<typename range::result_type>;

public:
  /// A run of `make_worker(index, count, backend)`'s callables over `iterator` on `where`; nothing
  /// starts before the first `next()`. `watch_sigint`: Ctrl-C stops the run (the consumer is the
  /// main thread and Python's default SIGINT handler is installed).
  native_map(pybind11::object iterator, pybind11::object make_worker, const backend& where,
             map_options options, bool watch_sigint)
      : run_(std::make_shared<run_state>()), where_(where.kind()), watch_sigint_(watch_sigint) {
    run_->make_worker = ref::borrow(make_worker.ptr());
    run_->stop = &stop_trampoline;
    run_->stop_context = this;
    range_.emplace(parmill::map(where, view(ref::borrow(iterator.ptr())),
                                parmill::per_worker(typename Kind::factory{run_}), std::move(options)));
  }
  ~native_map() { finish(); }
  native_map(const native_map&) = delete;
  native_map& operator=(const native_map&) = delete;

  /// The next result (or `ItemFailed` under on_error="yield"); raises StopIteration at the end,
  /// `ItemFailed` at a halting failure, the input's exception when reading it raised, and
  /// KeyboardInterrupt after Ctrl-C. Whatever ends the run closes it first (every thread joined,
  /// every process reaped).
  pybind11::object next() {
    if (closed_) throw pybind11::stop_iteration();
    if (reading_) throw pybind11::value_error("parmill.map: the results are being read by another thread");
    reading_ = true;
    struct done_reading {
      bool& flag;
      ~done_reading() { flag = false; }
    } reading{reading_};
    if (!iterator_) start();
    outcome_type* current = nullptr;
    try {
      // Inline, the item runs right here: the GIL stays (no other thread of the run needs it).
      std::optional<pybind11::gil_scoped_release> released;
      if (where_ != backend_kind::inline_) released.emplace();
      current = advance();
    } catch (const item_failed& failed) {
      raise_abort_if_any();
      finish();
      pybind11::object error = item_failed_object(failed.error());
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
      throw pybind11::error_already_set();
    } catch (const python_error& input_error) {
      raise_abort_if_any();
      finish();
      input_error.restore();
      throw pybind11::error_already_set();
    } catch (...) {
      raise_abort_if_any();
      finish();
      throw;
    }
    raise_abort_if_any();
    if (close_asked_) { // close() was called by another thread while this one waited
      finish();
      throw pybind11::stop_iteration();
    }
    if (current == nullptr) {
      const bool interrupted = range_->stop_requested();
      finish();
      if (interrupted) {
        if (PyErr_CheckSignals() != 0) throw pybind11::error_already_set();
        PyErr_SetNone(PyExc_KeyboardInterrupt); // the signal was handled elsewhere: still say so
        throw pybind11::error_already_set();
      }
      throw pybind11::stop_iteration();
    }
    index_ = current->index();
    if (current->has_value()) {
      try {
        return Kind::value_of(current->value());
      } catch (const python_error& unreadable) { // a result that cannot be unpickled
        item_error error{.index = index_,
                         .worker = 0,
                         .kind = failure_kind::exception,
                         .message = unreadable.what(),
                         .exception = std::make_exception_ptr(unreadable)};
        if (!yields_failures_) {
          finish();
          pybind11::object failed = item_failed_object(error);
          PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(failed.ptr())), failed.ptr());
          throw pybind11::error_already_set();
        }
        return item_failed_object(error);
      }
    }
    return item_failed_object(current->error());
  }

  /// Stops the run and waits for it: every thread joined, every worker process reaped. Idempotent.
  /// Called while another thread waits in `next()`, it stops the run and returns at once; that
  /// `next()` then closes the run and ends the iteration.
  void close() override {
    if (closed_) return;
    if (reading_) { // another thread waits in next() (without the GIL): it closes when it returns
      close_asked_ = true;
      if (range_) range_->stop();
      return;
    }
    finish();
  }

  /// The index (in the input) of the item whose result `next()` returned last.
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  /// The next result, or `(index, result)` when the map is indexed (see `next`).
  pybind11::object next_yielded() {
    pybind11::object value = next();
    if (!indexed_) return value;
    return pybind11::make_tuple(index_, std::move(value));
  }
  /// Yields `(index, result)` pairs from `next_yielded`.
  void set_indexed(bool indexed) noexcept { indexed_ = indexed; }
  /// Marks failures as yielded (on_error="yield"), so a result that cannot be unpickled is too.
  void set_yields_failures(bool yields) noexcept { yields_failures_ = yields; }

private:
  /// Ends the run now (the GIL is held, and no other thread is in `next()`).
  void finish() {
    if (closed_) return;
    closed_ = true;
    run_->stop = nullptr; // a worker's Ctrl-C must not reach a range being destroyed (GIL held)
    watch_.reset();       // no signal handler uses this map after this
    pybind11::gil_scoped_release released;
    iterator_.reset();
    range_.reset();
  }

  static void stop_trampoline(void* self) noexcept {
    auto* map = static_cast<native_map*>(self);
    if (map->range_) map->range_->stop();
  }

  /// Starts the run: on processes, forks the spawner now, while this thread holds the GIL (so the
  /// interpreter's state in every worker is whole), around the interpreter's own fork hooks.
  void start() {
    if (watch_sigint_) watch_.emplace(&stop_trampoline, this);
    if constexpr (std::is_same_v<Kind, process_kind>) {
      PyOS_BeforeFork();
      try {
        range_->prepare();
      } catch (...) {
        PyOS_AfterFork_Parent();
        throw;
      }
      PyOS_AfterFork_Parent();
    }
  }

  /// The next outcome, or null at the end (the GIL is released).
  outcome_type* advance() {
    if (!iterator_) {
      iterator_.emplace(range_->begin());
    } else {
      ++*iterator_;
    }
    if (*iterator_ == std::default_sentinel) return nullptr;
    return &**iterator_;
  }

  /// Raises (after closing) the KeyboardInterrupt or SystemExit a worker on the caller's side met.
  void raise_abort_if_any() {
    if (!run_->abort) return;
    ref abort = std::move(run_->abort);
    finish();
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(abort.get())), abort.get());
    throw pybind11::error_already_set();
  }

  std::shared_ptr<run_state> run_;
  std::optional<range> range_;
  std::optional<typename range::iterator> iterator_;
  std::optional<sigint_watch> watch_;
  backend_kind where_;
  bool watch_sigint_ = false;
  bool yields_failures_ = false;
  bool indexed_ = false;
  bool closed_ = false;
  bool reading_ = false;     // a thread is in next() (guarded by the GIL)
  bool close_asked_ = false; // close() was called during a next(); that next() closes
  std::size_t index_ = 0;
};

} // namespace parmill::python
