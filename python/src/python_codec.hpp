// python/src/python_codec.hpp: how Python values cross to worker processes and back: one tag
// byte, then the value. Exact ints (64-bit), floats, str, bytes, None and bools are written
// directly; anything else is pickled (protocol 5, its large buffers out of band: append_pickled).
#pragma once

#include <Python.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "python_error.hpp"
#include "python_ref.hpp"

namespace parmill::python {

namespace tag {
inline constexpr char pickled = 'p', integer = 'i', real = 'f', text = 's', bytes = 'b', none = 'n',
                      yes = 't', no = 'F',
                      pack = 'P', // many items (python_input.hpp), or their results (python_workers.hpp)
    arithmetic_pack = 'R';        // many integers of a range() (python_input.hpp)
}

/// Appends the pickle of `object` to `out` (the GIL is held): the count of out-of-band buffers and
/// the pickle's size (8 bytes each), the pickle (protocol 5), then each buffer (its size, 8 bytes,
/// then its bytes). So a large buffer (a NumPy array's data) is copied once, from its own memory,
/// instead of into the pickle and then out of it. False, with the Python error set, when `object`
/// cannot be pickled.
inline bool append_pickled(std::string& out, PyObject* object) {
  ref pair = ref::steal(call1(python_helpers().dumps_oob, object));
  if (!pair) return false;
  PyObject* data = PyTuple_GET_ITEM(pair.get(), 0);
  PyObject* buffers = PyTuple_GET_ITEM(pair.get(), 1);
  const auto put = [&out](std::uint64_t n) { out.append(reinterpret_cast<const char*>(&n), sizeof n); };
  const auto count = static_cast<std::size_t>(PyList_GET_SIZE(buffers));
  put(count);
  put(static_cast<std::uint64_t>(PyBytes_GET_SIZE(data)));
  out.append(PyBytes_AS_STRING(data), static_cast<std::size_t>(PyBytes_GET_SIZE(data)));
  for (std::size_t i = 0; i < count; ++i) {
    Py_buffer view;
    if (PyObject_GetBuffer(PyList_GET_ITEM(buffers, static_cast<Py_ssize_t>(i)), &view, PyBUF_C_CONTIGUOUS) !=
        0)
      return false;
    put(static_cast<std::uint64_t>(view.len));
    out.append(static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len));
    PyBuffer_Release(&view);
  }
  return true;
}

/// The object `append_pickled` wrote at the start of `data` (a new reference; the GIL is held),
/// each out-of-band buffer given to it in a bytearray of its own, which it may keep and use in
/// place (NumPy does: no further copy). Null, with the Python error set, when it cannot be read.
inline ref load_pickled(std::string_view data) {
  std::uint64_t count = 0, size = 0;
  const auto get = [&data](std::uint64_t& n) {
    if (data.size() < sizeof n) return false;
    std::memcpy(&n, data.data(), sizeof n);
    data.remove_prefix(sizeof n);
    return true;
  };
  if (!get(count) || !get(size) || size > data.size()) {
    PyErr_SetString(PyExc_ValueError, "parmill: a malformed pickle");
    return ref();
  }
  // A view, not a copy: `data` outlives the unpickling (what is kept is in the buffers below).
  ref pickle = ref::steal(
      PyMemoryView_FromMemory(const_cast<char*>(data.data()), static_cast<Py_ssize_t>(size), PyBUF_READ));
  data.remove_prefix(size);
  ref buffers = ref::steal(PyList_New(0));
  if (!pickle || !buffers) return ref();
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t length = 0;
    if (!get(length) || length > data.size()) {
      PyErr_SetString(PyExc_ValueError, "parmill: a malformed pickle");
      return ref();
    }
    ref buffer = ref::steal(PyByteArray_FromStringAndSize(data.data(), static_cast<Py_ssize_t>(length)));
    data.remove_prefix(length);
    if (!buffer || PyList_Append(buffers.get(), buffer.get()) != 0) return ref();
  }
  return ref::steal(
      PyObject_CallFunctionObjArgs(python_helpers().loads_oob, pickle.get(), buffers.get(), nullptr));
}

/// The encoding of `object` (the GIL is held); throws `python_error` when it cannot be pickled.
/// `pickled_errors`: a `python_error` carries the pickled exception (in a worker process).
inline std::string encode_value(PyObject* object, bool pickled_errors = false) {
  std::string out;
  const auto raw = [&out](char t, const void* data, std::size_t size) {
    out.reserve(size + 1);
    out.push_back(t);
    out.append(static_cast<const char*>(data), size);
    return out;
  };
  if (object == Py_None) return raw(tag::none, nullptr, 0);
  if (object == Py_True) return raw(tag::yes, nullptr, 0);
  if (object == Py_False) return raw(tag::no, nullptr, 0);
  if (PyLong_CheckExact(object)) {
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(object, &overflow);
    if (overflow == 0 && !(value == -1 && PyErr_Occurred() != nullptr)) {
      const auto fixed = static_cast<std::int64_t>(value);
      return raw(tag::integer, &fixed, sizeof fixed);
    }
    PyErr_Clear();
  } else if (PyFloat_CheckExact(object)) {
    const double value = PyFloat_AS_DOUBLE(object);
    return raw(tag::real, &value, sizeof value);
  } else if (PyBytes_CheckExact(object)) {
    return raw(tag::bytes, PyBytes_AS_STRING(object), static_cast<std::size_t>(PyBytes_GET_SIZE(object)));
  } else if (PyUnicode_CheckExact(object)) {
    Py_ssize_t size = 0;
    if (const char* utf8 = PyUnicode_AsUTF8AndSize(object, &size))
      return raw(tag::text, utf8, static_cast<std::size_t>(size));
    PyErr_Clear(); // lone surrogates: pickle keeps them
  }
  out.push_back(tag::pickled);
  if (!append_pickled(out, object)) throw python_error::fetch(pickled_errors);
  return out;
}

/// The value `encode_value` encoded (a new reference; the GIL is held); throws `python_error` when
/// it cannot be decoded.
inline ref decode_value(std::string_view data, bool pickled_errors = false) {
  const auto fail = [pickled_errors]() -> ref { throw python_error::fetch(pickled_errors); };
  if (data.empty()) {
    PyErr_SetString(PyExc_ValueError, "parmill: an empty encoded value");
    return fail();
  }
  const char* body = data.data() + 1;
  const std::size_t size = data.size() - 1;
  ref value;
  switch (data[0]) {
  case tag::none: // these three are the tag alone: anything after it is a damaged value
    if (size == 0) value = ref::borrow(Py_None);
    break;
  case tag::yes:
    if (size == 0) value = ref::borrow(Py_True);
    break;
  case tag::no:
    if (size == 0) value = ref::borrow(Py_False);
    break;
  case tag::integer:
    if (size == sizeof(std::int64_t)) {
      std::int64_t fixed = 0;
      std::memcpy(&fixed, body, sizeof fixed);
      value = ref::steal(PyLong_FromLongLong(fixed));
    }
    break;
  case tag::real:
    if (size == sizeof(double)) {
      double real = 0;
      std::memcpy(&real, body, sizeof real);
      value = ref::steal(PyFloat_FromDouble(real));
    }
    break;
  case tag::bytes: value = ref::steal(PyBytes_FromStringAndSize(body, static_cast<Py_ssize_t>(size))); break;
  case tag::text:
    value = ref::steal(PyUnicode_DecodeUTF8(body, static_cast<Py_ssize_t>(size), "strict"));
    break;
  case tag::pickled: value = load_pickled(std::string_view(body, size)); break;
  default: break;
  }
  if (!value) {
    if (PyErr_Occurred() == nullptr) PyErr_SetString(PyExc_ValueError, "parmill: a malformed encoded value");
    return fail();
  }
  return value;
}

} // namespace parmill::python
