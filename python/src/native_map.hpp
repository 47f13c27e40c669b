// python/src/native_map.hpp: one run of parmill::map driven from Python: the consumer's side.
#pragma once

#include <Python.h>
#include <pybind11/pybind11.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
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
  /// starts before the first `take()`. `watch_sigint`: Ctrl-C stops the run (the consumer is the
  /// main thread and Python's default SIGINT handler is installed).
  /// `packs_wanted` and `numbers`: see `python_input`.
  native_map(pybind11::object iterator, pybind11::object make_worker, const backend& where,
             map_options options, bool watch_sigint, bool packs_wanted = false,
             std::optional<arithmetic_items> numbers = std::nullopt)
      : run_(std::make_shared<run_state>()), where_(where.kind()), owner_(::getpid()),
        watch_sigint_(watch_sigint) {
    run_->make_worker = ref::borrow(make_worker.ptr());
    run_->stop = &stop_trampoline;
    run_->stop_context = this;
    run_->retries = options.retries;
    view input(ref::borrow(iterator.ptr()), packs_wanted, numbers);
    input_ = input.shared();
    if (input_->packs) { // items' failures are the packs' values: this map keeps the policy itself
      yields_failures_ = options.on_error == on_error::yield;
      max_failures_ = options.max_failures;
      options.on_error = on_error::yield;
      options.max_failures = unlimited;
      options.chunk = 1; // a pack is already sized to take about half a millisecond (pack_sizing)
    }
    options_ = options;
    range_.emplace(parmill::map(where, std::move(input), parmill::per_worker(typename Kind::factory{run_}),
                                std::move(options)));
  }
  ~native_map() { finish(); }
  native_map(const native_map&) = delete;
  native_map& operator=(const native_map&) = delete;

  /// The next results, as a list (values, or `ItemFailed` under on_error="yield"; `(index, value)`
  /// pairs when indexed): the first waits for the run (without the GIL), then every outcome that is
  /// already there (the rest of the chunk being yielded) is taken with no wait, so a chunk costs one
  /// call. An empty list at the end. Raises, once every result before it has been returned,
  /// `ItemFailed` at a halting failure, the input's exception when reading it raised, and
  /// KeyboardInterrupt after Ctrl-C. Whatever ends the run closes it first (every thread joined,
  /// every process reaped). The window is kept: the engine counts a chunk's items in flight until
  /// the consumer moves past the chunk, which it does only in the next call, once Python has
  /// yielded this batch.
  pybind11::list take() {
    pybind11::list batch;
    if (forked_copy()) { // its run belongs to the process that started it: reading it here would hang
      finish();
      throw std::runtime_error("parmill.map: the results cannot be read in a process forked from the one "
                               "that started the map");
    }
    if (pending_error_) { // a failure met while filling the last batch, raised now
      pybind11::error_already_set error = std::move(*pending_error_);
      pending_error_.reset();
      error.restore();
      throw pybind11::error_already_set();
    }
    if (closed_) return batch;
    if (reading_) throw pybind11::value_error("parmill.map: the results are being read by another thread");
    reading_ = true;
    struct done_reading {
      bool& flag;
      ~done_reading() { flag = false; }
    } reading{reading_};
    // close() from another thread while this one is in here leaves the closing to this take(). It
    // may come while this thread runs Python (unpickling a result calls Python, which may hand the
    // GIL over), not only while it waits: however this take() ends, it closes the run then (a
    // pipeline's stage was left running otherwise, its threads and processes with it).
    struct close_if_asked {
      native_map& map;
      ~close_if_asked() {
        if (map.close_asked_) map.finish();
      }
    } closing{*this};
    if (!started_) start();
    try {
      bool wait = true;
      while (wait || range_->next_is_ready()) {
        outcome_type* current = nullptr;
        if (wait) {
          // The map's threads find the input read (under the GIL this thread holds anyway).
          if (where_ != backend_kind::inline_) input_->top_up(range_->window());
          // Inline, the item runs right here: the GIL stays (no other thread of the run needs it).
          current = advance_reporting(where_ != backend_kind::inline_);
        } else {
          current = advance_reporting(false); // ready: no lock, no wait, so the GIL may stay held
        }
        wait = false;
        raise_abort_if_any();
        if (close_asked_) { // close() was called by another thread while this one waited
          finish();
          return batch;
        }
        if (current == nullptr) {
          end_of_run();
          return batch;
        }
        if constexpr (std::is_same_v<Kind, process_kind>) {
          if (input_->packs) {
            expand_pack(*current, batch);
            continue;
          }
        }
        pybind11::object value = value_of(*current);
        if (indexed_) value = pybind11::make_tuple(current->index(), std::move(value));
        if (PyList_Append(batch.ptr(), value.ptr()) != 0) throw pybind11::error_already_set();
      }
    } catch (pybind11::error_already_set& error) {
      if (PyList_GET_SIZE(batch.ptr()) == 0) throw;
      pending_error_.emplace(std::move(error)); // raised at the next call, after this batch
    }
    return batch;
  }

  /// Starts the run now if it has not started: on processes, forks the spawner from this thread.
  /// A pipeline calls it for every stage from the caller's thread before any of its threads exists,
  /// since a later stage reads an earlier one from parmill's threads, which must not fork.
  void prepare() {
    if (!started_ && !closed_) start();
  }

  /// Stops the run and waits for it: every thread joined, every worker process reaped. Idempotent.
  /// Called while another thread is in `take()` (waiting, or running Python), it stops the run and
  /// returns at once; that `take()` closes the run before it returns, and the iteration ends. In a
  /// process forked from the one that made the map, it only forgets the run (see `forked_copy`).
  void close() override {
    if (closed_) return;
    if (reading_ && !forked_copy()) { // another thread is in take(): it closes before it returns
      close_asked_ = true;
      if (range_) range_->stop();
      return;
    }
    finish();
  }

  /// Yields `(index, result)` pairs.
  void set_indexed(bool indexed) noexcept { indexed_ = indexed; }
  /// Marks failures as yielded (on_error="yield"), so a result that cannot be unpickled is too.
  void set_yields_failures(bool yields) noexcept { yields_failures_ = yields; }
  /// The `ItemFailed` objects of this map name item `index + offset` and, when `worker` is set,
  /// that worker (a map that runs again, one by one, the items of a pack whose worker crashed).
  void set_renaming(std::size_t offset, std::optional<std::size_t> as_worker) noexcept {
    index_offset_ = offset;
    worker_as_ = as_worker;
  }

private:
  /// The next outcome (null at the end), waiting for it without the GIL when `release`; the
  /// failures that end the run are thrown as the Python exceptions the consumer raises, once the
  /// run is closed (with the GIL: `released` is gone when a handler runs).
  outcome_type* advance_reporting(bool release) {
    try {
      std::optional<pybind11::gil_scoped_release> released;
      if (release) released.emplace();
      return advance();
    } catch (const item_failed& failed) {
      raise_abort_if_any();
      finish();
      pybind11::object error = failed_object(failed.error());
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
      throw pybind11::error_already_set();
    } catch (const python_error& input_error) {
      raise_abort_if_any();
      finish();
      input_error.restore();
      throw pybind11::error_already_set();
    } catch (pybind11::error_already_set&) {
      throw;
    } catch (...) {
      raise_abort_if_any();
      finish();
      throw;
    }
  }

  /// The run has ended (no outcome is left): closes it, and raises KeyboardInterrupt when it was
  /// stopped by Ctrl-C.
  void end_of_run() {
    const bool interrupted = range_->stop_requested();
    finish();
    if (interrupted) {
      if (PyErr_CheckSignals() != 0) throw pybind11::error_already_set();
      PyErr_SetNone(PyExc_KeyboardInterrupt); // the signal was handled elsewhere: still say so
      throw pybind11::error_already_set();
    }
  }

  /// The Python value of `current`: its result, or its `ItemFailed` (on_error="yield"). A result
  /// that cannot be unpickled is a failure of its item: yielded as such, or, under "raise", the
  /// run is closed and null returned with the Python error set.
  pybind11::object value_of(outcome_type& current) {
    if (!current.has_value()) return failed_object(current.error());
    try {
      return Kind::value_of(current.value());
    } catch (const python_error& unreadable) {
      raise_if_abort(unreadable);
      item_error error{.index = current.index(),
                       .worker = 0,
                       .kind = failure_kind::exception,
                       .message = unreadable.what(),
                       .exception = std::make_exception_ptr(unreadable)};
      pybind11::object failed = failed_object(error);
      if (yields_failures_) return failed;
      finish();
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(failed.ptr())), failed.ptr());
      throw pybind11::error_already_set();
    }
  }

  /// A KeyboardInterrupt or SystemExit met while unpickling a result (Ctrl-C then) is not a
  /// failure of the item: the run is closed and it is raised as itself.
  void raise_if_abort(const python_error& error) {
    if (!error.aborts()) return;
    finish();
    error.restore();
    throw pybind11::error_already_set();
  }

  /// The `ItemFailed` of `error`, renamed as `set_renaming` says.
  pybind11::object failed_object(item_error error) const {
    error.index += index_offset_;
    if (worker_as_) error.worker = *worker_as_;
    return item_failed_object(error);
  }

  /// Yields the `ItemFailed` `failed` of item `index` (appends it to `batch`) when the policy lets it;
  /// otherwise closes the run and raises it (pack mode: the map keeps the policy itself).
  void yield_or_raise(std::size_t index, pybind11::object failed, pybind11::list& batch) {
    if (yields_failures_ && failures_yielded_ < max_failures_) {
      ++failures_yielded_;
      append(batch, index, failed.ptr());
      return;
    }
    finish();
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(failed.ptr())), failed.ptr());
    throw pybind11::error_already_set();
  }

  /// Appends `value`, item `index`'s result, to `batch` (as `(index, value)` when indexed).
  void append(pybind11::list& batch, std::size_t index, PyObject* value) const {
    pybind11::object entry = pybind11::reinterpret_borrow<pybind11::object>(value);
    if (indexed_) entry = pybind11::make_tuple(index, std::move(entry));
    if (PyList_Append(batch.ptr(), entry.ptr()) != 0) throw pybind11::error_already_set();
  }

  /// Pack mode: appends to `batch` the results of the items of the pack whose outcome is
  /// `current` (python_workers.hpp says how they are encoded), in order, applying the policy to
  /// each failed item. A pack whose worker crashed or ran past its time (or that failed whole) has
  /// its items run again one by one on a worker process of their own (`rerun`), so that only the
  /// item that crashes fails.
  void expand_pack(outcome_type& current, pybind11::list& batch) {
    const std::string pack = input_->take_pack(current.index());
    const auto header = pack_header::of(pack);
    if (!header) throw std::logic_error("parmill: a pack's items were lost");
    const auto first = static_cast<std::size_t>(header->first);
    const auto count = static_cast<std::size_t>(header->count);
    if (!current.has_value()) {
      const item_error& error = current.error();
      if (count > 1 && error.kind != failure_kind::cancelled) return rerun(*header, error.worker, batch);
      for (std::size_t k = 0; k < count; ++k) {
        item_error each = error;
        each.index = first + k;
        yield_or_raise(first + k, failed_object(std::move(each)), batch);
      }
      return;
    }
    const std::string& data = current.value();
    std::int64_t took = 0;
    if (data.size() < 1 + sizeof took || data[0] != tag::pack)
      throw std::logic_error("parmill: a malformed pack");
    std::memcpy(&took, data.data() + 1, sizeof took);
    input_->sizing.adapt(count, took);
    const std::string_view pickled = std::string_view(data).substr(1 + sizeof took);
    ref pair = load_pickled(pickled);
    if (!pair || !PyTuple_Check(pair.get()) || PyTuple_GET_SIZE(pair.get()) != 2) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "parmill: a malformed pack of results");
      python_error unreadable = python_error::fetch();
      raise_if_abort(unreadable);
      for (std::size_t k = 0; k < count; ++k)
        yield_or_raise(first + k,
                       failed_object(item_error{.index = first + k,
                                                .worker = 0,
                                                .kind = failure_kind::exception,
                                                .message = unreadable.what(),
                                                .exception = std::make_exception_ptr(unreadable)}),
                       batch);
      return;
    }
    PyObject* values = PyTuple_GET_ITEM(pair.get(), 0);
    PyObject* failures = PyTuple_GET_ITEM(pair.get(), 1);
    const Py_ssize_t failed = PyList_GET_SIZE(failures);
    if (failed == 0 && !indexed_) { // the common case: every value at once
      const Py_ssize_t end = PyList_GET_SIZE(batch.ptr());
      if (PyList_SetSlice(batch.ptr(), end, end, values) != 0) throw pybind11::error_already_set();
      return;
    }
    Py_ssize_t next_failure = 0;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(values); ++k) {
      PyObject* failure = next_failure < failed ? PyList_GET_ITEM(failures, next_failure) : nullptr;
      Py_ssize_t position = -1, on_worker = 0;
      const char* message = nullptr;
      if (failure != nullptr && !PyArg_ParseTuple(failure, "nns", &position, &on_worker, &message))
        throw pybind11::error_already_set();
      if (position != k) {
        append(batch, first + static_cast<std::size_t>(k), PyList_GET_ITEM(values, k));
        continue;
      }
      ++next_failure;
      const std::string text(message);
      yield_or_raise(first + static_cast<std::size_t>(k),
                     failed_object(item_error{.index = first + static_cast<std::size_t>(k),
                                              .worker = static_cast<std::size_t>(on_worker),
                                              .kind = failure_kind::exception,
                                              .message = text,
                                              .exception = std::make_exception_ptr(remote_error("", text))}),
                     batch);
    }
  }

  /// Runs the items of `pack` again, one at a time, on one worker process of their own (forked
  /// now; its per-worker factory sees index 0 of 1), and appends their results to `batch` as
  /// `expand_pack` does, the failures named as items of this map on worker `crashed_worker`.
  void rerun(const pack_header& pack, std::size_t crashed_worker, pybind11::list& batch) {
    ref items = pack.items();
    ref iterator = items ? ref::steal(PyObject_GetIter(items.get())) : ref();
    if (!iterator) throw pybind11::error_already_set();
    map_options options = options_;
    options.chunk = 1;
    options.window = 0;
    options.on_error = on_error::yield;
    options.max_failures = unlimited;
    options.progress.clear();
    native_map again(pybind11::reinterpret_borrow<pybind11::object>(iterator.get()),
                     pybind11::reinterpret_borrow<pybind11::object>(run_->make_worker.get()), processes(1),
                     options, watch_sigint_);
    again.set_yields_failures(true);
    again.set_renaming(static_cast<std::size_t>(pack.first), crashed_worker);
    std::size_t k = 0;
    try {
      while (true) {
        pybind11::list results = again.take();
        if (results.empty()) break;
        for (pybind11::handle result : results) {
          const int is_failure = PyObject_IsInstance(result.ptr(), python_helpers().item_failed_type);
          if (is_failure < 0) throw pybind11::error_already_set();
          if (is_failure != 0)
            yield_or_raise(static_cast<std::size_t>(pack.first) + k,
                           pybind11::reinterpret_borrow<pybind11::object>(result), batch);
          else
            append(batch, static_cast<std::size_t>(pack.first) + k, result.ptr());
          ++k;
        }
      }
    } catch (...) {
      again.close();
      finish(); // Ctrl-C, or a failure that halts: this run ends too
      throw;
    }
  }

  /// Ends the run now (the GIL is held, and no other thread is in `take()`).
  void finish() {
    if (closed_) return;
    closed_ = true;
    if (!forked_copy()) {
      // Ctrl-C must still stop the run while it ends: after a run that ended by itself, each
      // worker destroys its per-worker object to the end, which nothing else bounds. So the run
      // is closed while the watch is on and the range exists (stop() is allowed then).
      pybind11::gil_scoped_release released;
      iterator_.reset();
      if (range_) range_->close();
    }
    run_->stop = nullptr; // a worker's Ctrl-C must not reach a range being destroyed (GIL held)
    watch_.reset();       // no signal handler uses this map after this
    if (forked_copy()) return abandon();
    pybind11::gil_scoped_release released;
    range_.reset(); // joined already: quick
  }

  /// True in a process forked from the one that made this map: a worker process (a copy of the
  /// caller, where the garbage collector may free a copy of a map the caller has not closed yet),
  /// or a fork of the program's own. The run's threads, processes and descriptors are the
  /// caller's: this copy must neither wait for them nor stop them.
  [[nodiscard]] bool forked_copy() const noexcept { return ::getpid() != owner_; }

  /// In a forked copy: leaves the run as it is, never destroyed here. Destroying it would join
  /// threads that do not exist in this process (the worker process hung for ever), and tell the
  /// caller's spawner to end the caller's worker processes.
  void abandon() {
    if (iterator_) (void)new typename range::iterator(std::move(*iterator_));
    if (range_) (void)new range(std::move(*range_));
    iterator_.reset(); // both moved from: they refer to no run any more
    range_.reset();
  }

  static void stop_trampoline(void* self) noexcept {
    auto* map = static_cast<native_map*>(self);
    if (map->range_) map->range_->stop();
  }

  /// Starts the run: on processes, forks the spawner now, while this thread holds the GIL (so the
  /// interpreter's state in every worker is whole), around the interpreter's own fork hooks.
  void start() {
    started_ = true;
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
  std::shared_ptr<typename view::state> input_; // the input, as the consumer reads ahead of the map
  map_options options_;
  std::optional<range> range_;
  std::optional<typename range::iterator> iterator_;
  std::optional<sigint_watch> watch_;
  backend_kind where_;
  pid_t owner_; // the process that made the map, and alone runs it (see forked_copy)
  bool watch_sigint_ = false;
  bool yields_failures_ = false;
  bool indexed_ = false;
  bool closed_ = false;
  bool started_ = false;     // start() has run (the spawner forked, on processes)
  bool reading_ = false;     // a thread is in take() (guarded by the GIL)
  bool close_asked_ = false; // close() was called during a take(); that take() closes
  std::optional<pybind11::error_already_set> pending_error_; // to raise at the next take()
  // Pack mode: the error policy, kept here (the map yields every failure).
  std::size_t max_failures_ = unlimited;
  std::size_t failures_yielded_ = 0;
  // See set_renaming.
  std::size_t index_offset_ = 0;
  std::optional<std::size_t> worker_as_;
};

} // namespace parmill::python
