// python/src/python_input.hpp: a Python iterator as the input range of a map.
#pragma once

#include <Python.h>

#include <cstddef>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <utility>

#include "python_codec.hpp"
#include "python_error.hpp"
#include "python_ref.hpp"

namespace parmill::python {

/// Items as they are on the caller's side of the map (inline, threads): the objects themselves.
struct as_objects {
  using item = ref;
  /// `object` is a new reference; the GIL is held.
  static item convert(PyObject* object) { return ref::steal(object); }
};

/// Items as they cross to worker processes: encoded (see python_codec.hpp).
struct as_pickles {
  using item = std::string;
  /// Encodes `object` (a new reference, released here); the GIL is held. Throws `python_error`
  /// when it cannot be pickled: that ends the input, as an exception of the input itself does.
  static item convert(PyObject* object) {
    ref owned = ref::steal(object);
    return encode_value(owned.get());
  }
};

/// A single-pass view over a Python iterator, read by whichever thread of the map reads the input
/// (one at a time): each read takes the GIL, calls `next()` and converts the object with
/// `Convert`. An item is fetched when the map compares the iterator with the end, so nothing is
/// read ahead of what the map asks for, except from the iterators of built-in containers and
/// range() (see `harmless_to_read_ahead`), read 64 items at a time. An exception of the iterator (or of the
/// conversion) is thrown as `python_error`, which the map keeps and rethrows to the consumer after the items
/// before it.
template <class Convert>
class python_input : public std::ranges::view_base {
  using item = typename Convert::item;

  struct state {
    ref iterator;
    bool read_ahead = false;  // the iterator is one whose reading has no effect nor wait
    std::deque<item> pending; // fetched, not yet taken
    bool ended = false;
    std::exception_ptr error; // of the iterator, after the items read ahead before it

    /// True when there is an item to take (fetching it, and a few more when reading ahead is
    /// harmless, under one hold of the GIL).
    bool fetch() {
      if (!pending.empty()) return true;
      if (error) std::rethrow_exception(std::exchange(error, nullptr));
      if (ended) return false;
      gil held;
      const std::size_t batch = read_ahead ? read_ahead_items : 1;
      for (std::size_t i = 0; i < batch; ++i) {
        PyObject* object = PyIter_Next(iterator.get());
        if (object == nullptr) {
          ended = true;
          if (PyErr_Occurred() == nullptr) break;
          if (pending.empty()) throw python_error::fetch();
          error = std::make_exception_ptr(python_error::fetch());
          break;
        }
        try {
          pending.push_back(Convert::convert(object));
        } catch (...) {
          ended = true;
          if (pending.empty()) throw;
          error = std::current_exception();
          break;
        }
      }
      return !pending.empty();
    }
  };

  /// How many items are read at once from an iterator whose reading cannot be observed.
  static constexpr std::size_t read_ahead_items = 64;

  /// True for the iterators of the built-in containers and of range(): reading them ahead has no
  /// effect anyone can see and never waits (a generator, or any other iterator, is read only as
  /// the map asks: it may wait for data or have side effects).
  static bool harmless_to_read_ahead(PyObject* iterator) {
    static const char* const kinds[] = {"range_iterator",    "longrange_iterator", "list_iterator",
                                        "tuple_iterator",    "str_ascii_iterator", "str_iterator",
                                        "bytes_iterator",    "dict_keyiterator",   "dict_valueiterator",
                                        "dict_itemiterator", "set_iterator"};
    const std::string_view name = Py_TYPE(iterator)->tp_name;
    for (const char* kind : kinds)
      if (name == kind) return true;
    return false;
  }

public:
  /// The input iterator the map reads.
  class iterator {
  public:
    using value_type = item;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(state* s) noexcept : state_(s) {}
    /// Takes the current item (fetching it if needed).
    item operator*() const {
      state_->fetch();
      item taken = std::move(state_->pending.front());
      state_->pending.pop_front();
      return taken;
    }
    iterator& operator++() noexcept { return *this; } // the next compare fetches
    void operator++(int) noexcept {}
    /// True at the end of the Python iterator; fetches the next item (with the GIL) to know.
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.state_->fetch(); }

  private:
    state* state_ = nullptr;
  };

  /// Reads `iterator` (a Python iterator; a new reference, owned here). The GIL is held.
  explicit python_input(ref python_iterator) : state_(std::make_unique<state>()) {
    state_->read_ahead = harmless_to_read_ahead(python_iterator.get());
    state_->iterator = std::move(python_iterator);
  }
  [[nodiscard]] iterator begin() const noexcept { return iterator(state_.get()); }
  [[nodiscard]] std::default_sentinel_t end() const noexcept { return {}; }

private:
  std::unique_ptr<state> state_;
};

} // namespace parmill::python
