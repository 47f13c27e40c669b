// python/src/python_ref.hpp: the GIL and owned Python references, usable from any thread.
#pragma once

#include <Python.h>

#include <utility>

namespace parmill::python {

/// Gives a thread that has no Python thread state (one parmill made) a state that lives as long as
/// the thread, so that taking the GIL there costs a lock, not a thread state made and destroyed
/// each time. Called without the GIL. The state is released when the thread ends (parmill joins its
/// threads when a map is closed, before the interpreter finalizes).
inline void keep_thread_state() noexcept {
  struct keeper {
    PyGILState_STATE outer;
    PyThreadState* saved;
    keeper() noexcept : outer(PyGILState_Ensure()), saved(PyEval_SaveThread()) {}
    keeper(const keeper&) = delete;
    keeper& operator=(const keeper&) = delete;
    ~keeper() {
      if (Py_IsInitialized() == 0) return;
      PyEval_RestoreThread(saved);
      PyGILState_Release(outer);
    }
  };
  if (PyGILState_GetThisThreadState() != nullptr) return;
  thread_local keeper kept;
}

/// Holds the GIL for its lifetime, on any thread (the interpreter's or one parmill made); cheap
/// when the thread holds it already. Never construct one while holding a lock of parmill's core:
/// the rule "no lock of the core is taken while the GIL is held" is what keeps them deadlock-free.
class gil {
public:
  gil() noexcept : state_((keep_thread_state(), PyGILState_Ensure())) {}
  ~gil() { PyGILState_Release(state_); }
  gil(const gil&) = delete;
  gil& operator=(const gil&) = delete;

private:
  PyGILState_STATE state_;
};

/// An owned (strong) reference to a Python object that can be moved without the GIL and destroyed
/// on any thread: destroying it takes the GIL when the thread does not hold it. Copying is not
/// allowed (it would need the GIL); `share()` makes a new reference under the GIL.
class ref {
public:
  ref() noexcept = default;
  /// Takes over `object` (a new reference, or null).
  static ref steal(PyObject* object) noexcept { return ref(object); }
  /// A new reference to `object`; the GIL must be held.
  static ref borrow(PyObject* object) noexcept {
    Py_XINCREF(object);
    return ref(object);
  }
  ref(ref&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  ref& operator=(ref&& other) noexcept {
    if (this != &other) {
      reset();
      object_ = std::exchange(other.object_, nullptr);
    }
    return *this;
  }
  ref(const ref&) = delete;
  ref& operator=(const ref&) = delete;
  ~ref() { reset(); }

  /// Drops the reference (taking the GIL if needed).
  void reset() noexcept {
    PyObject* object = std::exchange(object_, nullptr);
    if (object == nullptr) return;
    if (PyGILState_Check()) {
      Py_DECREF(object);
    } else {
      gil held;
      Py_DECREF(object);
    }
  }
  /// The object, still owned here (null when empty).
  [[nodiscard]] PyObject* get() const noexcept { return object_; }
  /// Gives the reference up to the caller.
  [[nodiscard]] PyObject* release() noexcept { return std::exchange(object_, nullptr); }
  /// A second reference to the same object; the GIL must be held.
  [[nodiscard]] ref share() const noexcept { return borrow(object_); }
  explicit operator bool() const noexcept { return object_ != nullptr; }

private:
  explicit ref(PyObject* object) noexcept : object_(object) {}
  PyObject* object_ = nullptr;
};

} // namespace parmill::python
