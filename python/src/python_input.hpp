// python/src/python_input.hpp: a Python iterator as the input range of a map.
#pragma once

#include <Python.h>

#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <utility>

#include "python_error.hpp"
#include "python_ref.hpp"

namespace parmill::python {

/// Items as they are on the caller's side of the map (inline, threads): the objects themselves.
struct as_objects {
  using item = ref;
  /// `object` is a new reference; the GIL is held.
  static item convert(PyObject* object) { return ref::steal(object); }
};

/// Items as they cross to worker processes: pickled.
struct as_pickles {
  using item = std::string;
  /// Pickles `object` (a new reference, released here); the GIL is held. Throws `python_error`
  /// when it cannot be pickled: that ends the input, as an exception of the input itself does.
  static item convert(PyObject* object) {
    ref owned = ref::steal(object);
    ref bytes = ref::steal(call1(python_helpers().dumps, owned.get()));
    if (!bytes) throw python_error::fetch();
    return std::string(PyBytes_AS_STRING(bytes.get()),
                       static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.get())));
  }
};

/// A single-pass view over a Python iterator, read by whichever thread of the map reads the input
/// (one at a time): each read takes the GIL, calls `next()` and converts the object with
/// `Convert`. An item is fetched when the map compares the iterator with the end, so nothing is
/// read ahead of what the map asks for. An exception of the iterator (or of the conversion) is
/// thrown as `python_error`, which the map keeps and rethrows to the consumer after the items
/// before it.
template <class Convert>
class python_input : public std::ranges::view_base {
  using item = typename Convert::item;

  struct state {
    ref iterator;
    std::optional<item> pending; // fetched, not yet taken
    bool ended = false;

    /// True when there is an item to take (fetching it if needed).
    bool fetch() {
      if (pending) return true;
      if (ended) return false;
      gil held;
      PyObject* object = PyIter_Next(iterator.get());
      if (object == nullptr) {
        ended = true;
        if (PyErr_Occurred() != nullptr) throw python_error::fetch();
        return false;
      }
      pending.emplace(Convert::convert(object));
      return true;
    }
  };

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
      item taken = std::move(*state_->pending);
      state_->pending.reset();
      return taken;
    }
    iterator& operator++() noexcept { return *this; } // the next compare fetches
    void operator++(int) noexcept {}
    /// True at the end of the Python iterator; fetches the next item (with the GIL) to know.
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.state_->fetch(); }

  private:
    state* state_ = nullptr;
  };

  /// Reads `iterator` (a Python iterator; a new reference, owned here).
  explicit python_input(ref python_iterator) : state_(std::make_unique<state>()) {
    state_->iterator = std::move(python_iterator);
  }
  [[nodiscard]] iterator begin() const noexcept { return iterator(state_.get()); }
  [[nodiscard]] std::default_sentinel_t end() const noexcept { return {}; }

private:
  std::unique_ptr<state> state_;
};

} // namespace parmill::python
