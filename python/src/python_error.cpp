// python/src/python_error.cpp: formatting, pickling and restoring Python exceptions.
#include "python_error.hpp"

#include <array>

namespace parmill::python {

namespace {

// What separates a failure's text from the hex of its pickled exception, in a worker process's
// message (the core carries messages as C strings, so the bytes travel as hex).
constexpr std::string_view pickle_marker = "\n\x1e"
                                           "parmill-pickled-exception:";

std::string format(PyObject* exception) {
  if (PyObject* text = call1(python_helpers().format_exception, exception)) {
    Py_ssize_t size = 0;
    const char* bytes = PyUnicode_AsUTF8AndSize(text, &size);
    std::string result =
        bytes != nullptr ? std::string(bytes, static_cast<std::size_t>(size)) : std::string();
    Py_DECREF(text);
    if (bytes != nullptr) return result;
  }
  PyErr_Clear();
  return std::string(Py_TYPE(exception)->tp_name) + " (its text could not be formatted)";
}

std::string hex(std::string_view bytes) {
  static constexpr std::array<char, 16> digits{'0', '1', '2', '3', '4', '5', '6', '7',
                                               '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  const auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = value(text[i]);
    const int low = value(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
  }
  return out;
}

/// The pickled `exception`, as hex; empty when it cannot be pickled.
std::string pickled(PyObject* exception) {
  PyObject* bytes = call1(python_helpers().dumps, exception);
  if (bytes == nullptr) {
    PyErr_Clear();
    return {};
  }
  std::string out =
      hex(std::string_view(PyBytes_AS_STRING(bytes), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes))));
  Py_DECREF(bytes);
  return out;
}

} // namespace

helpers& python_helpers() noexcept {
  static helpers the_helpers;
  return the_helpers;
}

python_error python_error::fetch(bool with_pickle) {
  PyObject* type = nullptr;
  PyObject* value = nullptr;
  PyObject* traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (traceback != nullptr && value != nullptr) PyException_SetTraceback(value, traceback);
  Py_XDECREF(type);
  Py_XDECREF(traceback);
  python_error error;
  if (value == nullptr) {
    error.text_ = "an unknown Python error";
    return error;
  }
  error.aborts_ = PyErr_GivenExceptionMatches(value, PyExc_KeyboardInterrupt) != 0 ||
                  PyErr_GivenExceptionMatches(value, PyExc_SystemExit) != 0;
  error.text_ = format(value);
  if (with_pickle) {
    std::string payload = pickled(value);
    if (!payload.empty()) error.text_.append(pickle_marker).append(payload);
  }
  error.exception_ = std::make_shared<ref>(ref::steal(value));
  return error;
}

void python_error::restore() const noexcept {
  PyObject* exception = this->exception();
  if (exception == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, text_.c_str());
    return;
  }
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception)), exception);
}

std::pair<std::string_view, ref> split_remote_message(std::string_view message) {
  const auto at = message.rfind(pickle_marker);
  if (at == std::string_view::npos) return {message, ref()};
  const std::string_view text = message.substr(0, at);
  const auto bytes = unhex(message.substr(at + pickle_marker.size()));
  if (!bytes) return {text, ref()};
  PyObject* data = PyBytes_FromStringAndSize(bytes->data(), static_cast<Py_ssize_t>(bytes->size()));
  PyObject* exception = data != nullptr ? call1(python_helpers().loads, data) : nullptr;
  Py_XDECREF(data);
  if (exception == nullptr || !PyExceptionInstance_Check(exception)) {
    Py_XDECREF(exception);
    PyErr_Clear();
    return {text, ref()};
  }
  return {text, ref::steal(exception)};
}

} // namespace parmill::python
