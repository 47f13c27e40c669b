// python/src/module.cpp: the parmill._native extension module (see parmill/__init__.py for the
// Python API built on it).
#include <Python.h>
#include <pybind11/pybind11.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include <parmill/backend.hpp>
#include <parmill/map_options.hpp>

#include "native_map.hpp"

namespace py = pybind11;

namespace parmill::python {

void enter_worker_process() noexcept {
  static pid_t entered = 0;
  if (entered == ::getpid()) return;
  entered = ::getpid();
  PyOS_AfterFork_Child();
  // A worker process may be killed when the run ends (between items, once its results are in), so
  // what it prints must not wait in a buffer: its standard output and error are line-buffered.
  for (const char* name : {"stdout", "stderr"}) {
    PyObject* stream = PySys_GetObject(name); // borrowed
    if (stream == nullptr || stream == Py_None) continue;
    PyObject* method = PyObject_GetAttrString(stream, "reconfigure");
    PyObject* keywords = method != nullptr ? Py_BuildValue("{s:O}", "line_buffering", Py_True) : nullptr;
    PyObject* empty = keywords != nullptr ? PyTuple_New(0) : nullptr;
    PyObject* done = empty != nullptr ? PyObject_Call(method, empty, keywords) : nullptr;
    if (done == nullptr) PyErr_Clear();
    Py_XDECREF(done);
    Py_XDECREF(empty);
    Py_XDECREF(keywords);
    Py_XDECREF(method);
  }
}

namespace {
std::set<closable*>& open_maps() { // guarded by the GIL
  static std::set<closable*> maps;
  return maps;
}
} // namespace

closable::closable() noexcept { open_maps().insert(this); }
closable::~closable() { open_maps().erase(this); }

void close_all_maps() {
  while (!open_maps().empty()) {
    closable* map = *open_maps().begin();
    open_maps().erase(open_maps().begin());
    map->close();
  }
}

py::object item_failed_object(const item_error& error) {
  ref cause;
  std::string_view message = error.message;
  if (error.exception) {
    try {
      std::rethrow_exception(error.exception);
    } catch (const python_error& python) { // from this process
      cause = ref::borrow(python.exception());
    } catch (const remote_error&) { // from a worker process: its message carries the exception
      auto [text, exception] = split_remote_message(message);
      message = text;
      cause = std::move(exception);
    } catch (...) {
    }
  }
  const std::string kind(to_string(error.kind));
  py::object cause_object = cause ? py::reinterpret_steal<py::object>(cause.release()) : py::none();
  return py::reinterpret_borrow<py::object>(python_helpers().item_failed)(
      error.index, kind, error.worker, py::str(message.data(), message.size()), cause_object);
}

namespace {

/// The options of a map, from the arguments `parmill.map` has already checked.
map_options options_from(const std::string& order_name, std::size_t window, std::size_t chunk,
                         bool yield_failures, std::size_t max_failures, std::size_t retries,
                         double timeout_seconds, std::size_t max_items_per_worker,
                         const std::string& progress) {
  map_options options;
  options.order = order_name == "completion" ? order::completion : order::input;
  options.window = window;
  options.chunk = chunk;
  options.on_error = yield_failures ? on_error::yield : on_error::raise;
  options.max_failures = max_failures;
  options.retries = retries;
  options.timeout =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(timeout_seconds));
  options.max_items_per_worker = max_items_per_worker;
  options.progress = progress;
  return options;
}

/// The integers of the range `numbers` stands for (`(start, step, count)`, as parmill.map passes
/// it when the input is a `range()` whose every integer fits in 64 bits), or nothing (None).
std::optional<arithmetic_items> arithmetic_of(const py::object& numbers) {
  if (numbers.is_none()) return std::nullopt;
  const auto [start, step, count] = numbers.cast<std::tuple<std::int64_t, std::int64_t, std::uint64_t>>();
  return arithmetic_items{.next = start, .step = step, .left = count};
}

template <class Kind>
void bind_map(py::module_& m, const char* name) {
  using map = native_map<Kind>;
  py::class_<map>(m, name)
      .def("take", &map::take,
           "The next results (or (index, result) pairs) as a list: those of a chunk; empty at the end.")
      .def("prepare", &map::prepare,
           "Starts the run now, from this thread (on processes: forks the spawner), if not started.")
      .def("close", &map::close, "Stops the run and waits for every thread and process.");
}

} // namespace

} // namespace parmill::python

PYBIND11_MODULE(_native, m) {
  using namespace parmill::python;
  m.doc() = "parmill's native core (use the parmill package, not this module)";

  m.def(
      "configure",
      [](py::object format_exception, py::object dumps, py::object loads, py::object item_failed,
         py::object item_failed_type, py::object dumps_oob, py::object loads_oob) {
        helpers& h = python_helpers();
        // Kept for the life of the process on purpose: see `helpers`.
        h.format_exception = format_exception.release().ptr();
        h.dumps = dumps.release().ptr();
        h.loads = loads.release().ptr();
        h.item_failed = item_failed.release().ptr();
        h.item_failed_type = item_failed_type.release().ptr();
        h.dumps_oob = dumps_oob.release().ptr();
        h.loads_oob = loads_oob.release().ptr();
      },
      "Hands over the Python functions the native code calls (once, from parmill/__init__.py).");

  m.def(
      "encoded",
      [](py::handle value) {
        const std::string bytes = encode_value(value.ptr());
        return py::bytes(bytes.data(), bytes.size());
      },
      "The bytes `value` crosses to a worker process as (python_codec.hpp; for tests).");
  m.def("close_all", &close_all_maps, "Closes every map still open (at the interpreter's exit).");
  bind_map<local_kind>(m, "LocalMap");
  bind_map<process_kind>(m, "ProcessMap");

  m.def(
      "start_map",
      [](py::object iterator, py::object make_worker, const std::string& backend_name, std::size_t workers,
         const std::string& order_name, std::size_t window, std::size_t chunk, bool yield_failures,
         std::size_t max_failures, std::size_t retries, double timeout, std::size_t max_items_per_worker,
         const std::string& progress, bool watch_sigint, bool indexed, bool packs, const std::string& trace,
         py::object numbers) -> py::object {
        parmill::map_options options = options_from(order_name, window, chunk, yield_failures, max_failures,
                                                    retries, timeout, max_items_per_worker, progress);
        options.trace = trace;
        if (backend_name == "processes") {
          auto made = std::make_unique<native_map<process_kind>>(std::move(iterator), std::move(make_worker),
                                                                 parmill::processes(workers), options,
                                                                 watch_sigint, packs, arithmetic_of(numbers));
          made->set_yields_failures(yield_failures);
          made->set_indexed(indexed);
          return py::cast(std::move(made));
        }
        const parmill::backend where =
            backend_name == "threads" ? parmill::threads(workers) : parmill::inline_backend();
        auto made = std::make_unique<native_map<local_kind>>(std::move(iterator), std::move(make_worker),
                                                             where, options, watch_sigint);
        made->set_yields_failures(yield_failures);
        made->set_indexed(indexed);
        return py::cast(std::move(made));
      },
      "Makes a map (nothing runs before the first next()); arguments as checked by parmill.map.");
}
