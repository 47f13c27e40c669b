// fuzz/python_codec_fuzz.cpp: what the Python package reads from a worker process, on any bytes:
// an encoded result (python/src/python_codec.hpp: `decode_value`, with the framing of a pickle and
// its out-of-band buffers, `load_pickled`) and a failure's message with its pickled exception
// (python/src/python_error.cpp: `split_remote_message`).
//
// The interpreter is embedded once. Unpickling itself is CPython's and, on bytes from anywhere, may
// run any code, so `loads` is replaced by a stub that only reads every byte it is given (the pickle,
// each buffer): what is fuzzed is parmill's own framing around it. The only failures allowed are
// Python errors raised as `python_error`; a value decoded from all of the bytes (not a pickle) must
// encode back to exactly those bytes.
#include <Python.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "python_codec.hpp"
#include "python_error.hpp"

namespace {

using parmill::python::ref;

/// Stubs of the functions `parmill/__init__.py` hands over: no unpickling, but every byte read.
constexpr const char* stubs = R"(
import pickle
def loads_oob(data, buffers):
    return (bytes(data), [bytes(b) for b in buffers])
def loads(data):
    return ValueError(bytes(data))
def dumps(value):
    return pickle.dumps(value, 5)
def dumps_oob(value):
    buffers = []
    return pickle.dumps(value, 5, buffer_callback=buffers.append), buffers
def format_exception(exception):
    return repr(exception)
)";

/// Starts the interpreter and sets the helpers from `stubs`, once.
void start_python() {
  static const bool started = [] {
    Py_InitializeEx(0);
    ref module = ref::steal(PyImport_AddModule("__main__") ? PyImport_ImportModule("__main__") : nullptr);
    PyObject* globals = module ? PyModule_GetDict(module.get()) : nullptr;
    if (globals == nullptr || PyRun_String(stubs, Py_file_input, globals, globals) == nullptr) {
      PyErr_Print();
      std::abort();
    }
    auto& h = parmill::python::python_helpers();
    const auto get = [globals](const char* name) {
      PyObject* f = PyDict_GetItemString(globals, name); // borrowed; kept for the process
      if (f == nullptr) std::abort();
      Py_INCREF(f);
      return f;
    };
    h.loads_oob = get("loads_oob");
    h.loads = get("loads");
    h.dumps = get("dumps");
    h.dumps_oob = get("dumps_oob");
    h.format_exception = get("format_exception");
    return true;
  }();
  (void)started;
}

} // namespace

/// The interpreter is never finalized (CPython cannot be restarted, and keeps much of its memory
/// anyway): what it allocated is not a leak of parmill's.
extern "C" const char* __lsan_default_suppressions() { return "leak:libpython3\n"; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  start_python();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    ref value = parmill::python::decode_value(bytes);
    if (!value) std::abort(); // a failure is thrown, never a null returned
    if (size > 0 && bytes[0] != parmill::python::tag::pickled) {
      const std::string again = parmill::python::encode_value(value.get());
      if (again != bytes) std::abort(); // every encoding but a pickle's is canonical
    }
  } catch (const parmill::python::python_error&) {
    // a malformed value: the item fails with this error
  }
  if (PyErr_Occurred() != nullptr) std::abort(); // no error may be left behind
  const auto [text, exception] = parmill::python::split_remote_message(bytes);
  if (text.size() > size) std::abort();
  if (PyErr_Occurred() != nullptr) std::abort();
  return 0;
}
