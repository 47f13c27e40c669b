// python/src/python_error.hpp: Python exceptions carried through parmill's core and back, and the
// few Python functions the native module calls (set once by parmill/__init__.py).
#pragma once

#include <Python.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "python_ref.hpp"

namespace parmill::python {

/// The Python functions the native module calls, handed over once by `parmill/__init__.py`
/// (`_native.configure`). Kept for the life of the process, never released (the interpreter may
/// be finalized before static destructors run).
struct helpers {
  PyObject* format_exception = nullptr; ///< exception -> str: its type, message and traceback
  PyObject* dumps = nullptr;            ///< object -> bytes (pickle, highest protocol)
  PyObject* loads = nullptr;            ///< bytes -> object
  PyObject* item_failed = nullptr;      ///< (index, kind, worker, message, cause) -> ItemFailed
  PyObject* item_failed_type = nullptr; ///< the class ItemFailed
  PyObject* dumps_oob = nullptr;        ///< object -> (pickle, [contiguous out-of-band buffers])
  PyObject* loads_oob = nullptr;        ///< (pickle, [buffers]) -> object
};

/// The helpers set by `configure` (all null before).
helpers& python_helpers() noexcept;

/// A Python exception caught in native code, thrown through parmill's core (which keeps it as a
/// `std::exception_ptr` in the item's error) and restored in Python by the consumer. `what()` is
/// the formatted exception (type, message and traceback); a worker process also appends the
/// pickled exception (see `remote_payload`), since only the message crosses a process boundary.
class python_error : public std::exception {
public:
  /// Takes the Python exception being raised (the GIL must be held, and an exception set) and
  /// clears it. `pickled`: append the pickled exception to the message (in a worker process).
  static python_error fetch(bool pickled = false);

  [[nodiscard]] const char* what() const noexcept override { return text_.c_str(); }
  /// The exception object (borrowed; null only if it could not be fetched).
  [[nodiscard]] PyObject* exception() const noexcept { return exception_ ? exception_->get() : nullptr; }
  /// True for KeyboardInterrupt and SystemExit: they end the run instead of failing an item.
  [[nodiscard]] bool aborts() const noexcept { return aborts_; }
  /// Raises it again in Python (the GIL must be held).
  void restore() const noexcept;

private:
  std::shared_ptr<ref> exception_; // shared: copying the exception must not need the GIL
  std::string text_;
  bool aborts_ = false;
};

/// Splits the message of a failure that came from a worker process into its text and the
/// exception it carries (unpickled; null when there is none or it cannot be unpickled). The GIL
/// must be held; never raises.
std::pair<std::string_view, ref> split_remote_message(std::string_view message);

/// Calls `function(argument)` with the GIL held; a new reference, or null with a Python error set.
inline PyObject* call1(PyObject* function, PyObject* argument) noexcept {
  return PyObject_CallOneArg(function, argument);
}

} // namespace parmill::python
