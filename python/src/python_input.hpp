// python/src/python_input.hpp: a Python iterator as the input range of a map.
#pragma once

#include <Python.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <parmill/detail/input_reader.hpp>

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

/// Reading one pack stops after this long, so that a slow input's items need not wait for a
/// whole pack (the core's chunks stop likewise: detail/input_reader.hpp).
inline constexpr std::chrono::milliseconds max_pack_read_time = detail::max_chunk_read_time;

/// How items travel in packs (processes, default options): many items pickled together as one
/// item of the map, so that a worker process runs them under one hold of the GIL and one pickle
/// each way. The size follows how long items take (`adapt`), from one item up to `max_items`, so
/// slow items still travel one by one; a pack of a slow input holds what about a millisecond of
/// reading brought (`max_pack_read_time`). Adapted by the consumer (with the GIL), read by
/// whichever thread makes a pack (a range's packs are made without the GIL): hence atomic, and
/// only ever a hint.
struct pack_sizing {
  static constexpr std::size_t max_items = 4096;
  static constexpr std::int64_t target_nanoseconds = 500'000;
  std::atomic<std::size_t> items{1};
  /// A pack of `count` items took `took` nanoseconds in its worker.
  void adapt(std::size_t count, std::int64_t took) noexcept {
    const std::int64_t per_item =
        std::max<std::int64_t>(1, took / static_cast<std::int64_t>(std::max<std::size_t>(1, count)));
    const auto ideal = static_cast<std::size_t>(std::max<std::int64_t>(1, target_nanoseconds / per_item));
    const std::size_t now = items.load(std::memory_order_relaxed);
    items.store(std::clamp<std::size_t>(ideal, 1, std::min(max_items, now * 4)), std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t current() const noexcept { return items.load(std::memory_order_relaxed); }
};

/// The integers of a `range()` of the caller's that are still to be read: `left` of them, from
/// `next`, `step` apart. Every one of them fits in 64 bits (parmill.map checks it).
struct arithmetic_items {
  std::int64_t next = 0;
  std::int64_t step = 1;
  std::uint64_t left = 0;
  /// Takes the next `count` (at most `left`) and returns the first; the arithmetic wraps, which
  /// only a value past the last, never read, can need.
  std::int64_t take(std::uint64_t count) noexcept {
    const std::int64_t first = next;
    next = static_cast<std::int64_t>(static_cast<std::uint64_t>(next) +
                                     count * static_cast<std::uint64_t>(step));
    left -= count;
    return first;
  }
};

/// A pack's encoding: `tag::pack`, the index of its first item and its item count (8 bytes each),
/// then the list of its items, pickled (`append_pickled`). False, with the Python error set, when
/// the list cannot be pickled.
inline bool encode_pack(std::string& out, std::uint64_t first, std::uint64_t count, PyObject* list) {
  out.push_back(tag::pack);
  out.append(reinterpret_cast<const char*>(&first), sizeof first);
  out.append(reinterpret_cast<const char*>(&count), sizeof count);
  return append_pickled(out, list);
}

/// The encoding of a pack of a range's integers: `tag::arithmetic_pack`, the index of its first
/// item and its item count, then its first integer and the step (8 bytes each). Made without the
/// GIL: no Python object is touched until a worker makes the integers.
inline std::string encode_arithmetic_pack(std::uint64_t first, std::uint64_t count, std::int64_t start,
                                          std::int64_t step) {
  std::string out;
  out.reserve(1 + 4 * sizeof(std::uint64_t));
  out.push_back(tag::arithmetic_pack);
  for (const std::uint64_t word :
       {first, count, static_cast<std::uint64_t>(start), static_cast<std::uint64_t>(step)})
    out.append(reinterpret_cast<const char*>(&word), sizeof word);
  return out;
}

/// The first index and the count of a pack (encoded by `encode_pack` or `encode_arithmetic_pack`),
/// and how to make its items.
struct pack_header {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
  std::string_view pickled;         ///< as `append_pickled` wrote it (`encode_pack`)
  bool arithmetic = false;          ///< the items are `start`, `start + step`, ... (`encode_arithmetic_pack`)
  std::int64_t start = 0, step = 0; ///< when `arithmetic`
  static std::optional<pack_header> of(std::string_view data) {
    constexpr std::size_t word = sizeof(std::uint64_t);
    const auto read = [&data](std::size_t at) {
      std::uint64_t value = 0;
      std::memcpy(&value, data.data() + 1 + at * word, word);
      return value;
    };
    if (data.size() < 1 + 2 * word) return std::nullopt;
    pack_header h;
    if (data[0] == tag::pack) {
      h.pickled = data.substr(1 + 2 * word);
    } else if (data[0] == tag::arithmetic_pack && data.size() == 1 + 4 * word) {
      h.arithmetic = true;
      h.start = static_cast<std::int64_t>(read(2));
      h.step = static_cast<std::int64_t>(read(3));
    } else {
      return std::nullopt;
    }
    h.first = read(0);
    h.count = read(1);
    return h;
  }
  /// A new list of the pack's items (the GIL is held); null, with the Python error set, when they
  /// cannot be read.
  [[nodiscard]] ref items() const {
    if (!arithmetic) {
      ref list = load_pickled(pickled);
      if (list && !PyList_Check(list.get())) {
        PyErr_SetString(PyExc_ValueError, "parmill: a malformed pack of items");
        return ref();
      }
      return list;
    }
    if (count > static_cast<std::uint64_t>(PY_SSIZE_T_MAX)) {
      PyErr_SetString(PyExc_ValueError, "parmill: a malformed pack of items");
      return ref();
    }
    ref list = ref::steal(PyList_New(static_cast<Py_ssize_t>(count)));
    if (!list) return ref();
    auto value = static_cast<std::uint64_t>(start);
    for (std::uint64_t k = 0; k < count; ++k, value += static_cast<std::uint64_t>(step)) {
      PyObject* integer = PyLong_FromLongLong(static_cast<long long>(static_cast<std::int64_t>(value)));
      if (integer == nullptr) return ref();
      PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(k), integer); // steals
    }
    return list;
  }
};

/// A single-pass view over a Python iterator, read by whichever thread of the map reads the input
/// (one at a time): each read takes the GIL, calls `next()` and converts the object with
/// `Convert`. An item is fetched when the map compares the iterator with the end, so nothing is
/// read ahead of what the map asks for, except from the iterators of built-in containers and
/// range() (see `harmless_to_read_ahead`), read 64 items at a time, and topped up by the consumer
/// (`top_up`, under the GIL it holds anyway) so that the map's threads seldom wait for the GIL.
/// An exception of the iterator (or of the conversion) is thrown as `python_error`, which the map
/// keeps and rethrows to the consumer after the items before it.
///
/// In pack mode (`as_pickles` only) each item of the map is a pack of items (`pack_sizing`), read
/// when the map asks for it, as the core reads a chunk; the view keeps each pack's encoding until
/// the consumer has its outcome (`take_pack`), so that a pack whose worker crashed can be run
/// again item by item.
template <class Convert>
class python_input : public std::ranges::view_base {
  using item = typename Convert::item;

  /// What one read brought: items, and whether the iterator ended (or raised) after them.
  struct read_result {
    std::vector<item> items;
    bool ended = false;
    std::exception_ptr error;
  };

public:
  struct state;

  /// What the view shares with the consumer (see `shared`).
  struct state {
    ref iterator;
    bool read_ahead = false; // the iterator is one whose reading has no effect nor wait
    bool packs = false;      // items travel in packs (see pack_sizing)
    pack_sizing sizing;
    std::optional<arithmetic_items> numbers; // pack mode over a range(): its integers, read without the GIL
    std::uint64_t items_read = 0; // items (not packs) read; only the thread that is `reading` touches it

    std::mutex mutex; // guards what follows; never held while waiting for the GIL
    std::condition_variable read_done;
    std::deque<item> pending; // fetched, not yet taken
    bool reading = false;     // a thread is reading the iterator (with the GIL, without the mutex)
    bool ended = false;
    std::exception_ptr error; // of the iterator, after the items read ahead before it
    std::uint64_t taken = 0;  // items (or packs) taken by the map: the next one's index in the map
    std::map<std::uint64_t, std::string> packs_out; // pack mode: the packs taken, by index in the map

    /// Reads up to `count` items (or packs) from the iterator; the GIL is held. Never throws.
    read_result read_some(std::size_t count) {
      read_result r;
      try {
        for (std::size_t i = 0; i < count && !r.ended; ++i) {
          if (packs) {
            read_pack(r);
            continue;
          }
          PyObject* object = PyIter_Next(iterator.get());
          if (object == nullptr) {
            r.ended = true;
            if (PyErr_Occurred() != nullptr) r.error = std::make_exception_ptr(python_error::fetch());
            break;
          }
          r.items.push_back(Convert::convert(object));
          ++items_read;
        }
      } catch (...) {
        r.ended = true;
        r.error = std::current_exception();
      }
      return r;
    }

    /// Reads the next pack into `r` (the GIL is held). An item that cannot be pickled ends the
    /// input after the items before it, as it does outside packs.
    void read_pack(read_result& r) {
      if constexpr (std::is_same_v<item, std::string>) {
        if (numbers) { // a range's integers: no Python object is touched
          const std::uint64_t count = std::min<std::uint64_t>(sizing.current(), numbers->left);
          if (count > 0) {
            const std::int64_t start = numbers->take(count);
            r.items.push_back(encode_arithmetic_pack(items_read, count, start, numbers->step));
            items_read += count;
          }
          if (numbers->left == 0) r.ended = true;
          return;
        }
        ref list = ref::steal(PyList_New(0));
        if (!list) throw python_error::fetch();
        const auto started = std::chrono::steady_clock::now();
        std::int64_t tick = detail::coarse_clock_nanoseconds();
        for (std::size_t k = 0, size = sizing.current(); k < size; ++k) {
          PyObject* object = PyIter_Next(iterator.get());
          if (object == nullptr) {
            r.ended = true;
            if (PyErr_Occurred() != nullptr) r.error = std::make_exception_ptr(python_error::fetch());
            break;
          }
          const int appended = PyList_Append(list.get(), object);
          Py_DECREF(object);
          if (appended != 0) throw python_error::fetch();
          // A slow input (a generator waiting for data) sends what it has, as the core's chunks do
          // (detail/input_reader.hpp): the coarse clock after every item of an input that may wait
          // (a generator can slow down in the middle of a pack), the precise one when it has ticked
          // or, for a container (which never waits), every 64 items.
          const bool look = read_ahead ? k % 64 == 63 : detail::coarse_clock_nanoseconds() != tick;
          if (look) {
            tick = detail::coarse_clock_nanoseconds();
            if (std::chrono::steady_clock::now() - started > max_pack_read_time) break;
          }
        }
        auto count = static_cast<std::size_t>(PyList_GET_SIZE(list.get()));
        if (count == 0) return;
        std::string pack;
        if (!encode_pack(pack, items_read, count,
                         list.get())) { // an item cannot be pickled: the items before it, then its error
          PyErr_Clear();
          std::size_t good = 0;
          std::exception_ptr bad;
          for (; good < count; ++good) {
            try {
              (void)encode_value(PyList_GET_ITEM(list.get(), static_cast<Py_ssize_t>(good)));
            } catch (...) {
              bad = std::current_exception();
              break;
            }
          }
          r.ended = true;
          r.error = bad ? bad : std::make_exception_ptr(python_error::fetch());
          if (good == 0) return;
          ref prefix = ref::steal(PyList_GetSlice(list.get(), 0, static_cast<Py_ssize_t>(good)));
          pack.clear();
          if (!prefix || !encode_pack(pack, items_read, good, prefix.get())) {
            PyErr_Clear();
            return;
          }
          count = good;
        }
        r.items.push_back(std::move(pack));
        items_read += count;
      }
    }

    /// Adds what a read brought (the mutex is held).
    void add(read_result&& r) {
      for (item& i : r.items)
        pending.push_back(std::move(i));
      if (r.ended) ended = true;
      if (r.error) error = std::move(r.error);
    }

    /// True when there is an item to take; reads one (or, when reading ahead is harmless, a few,
    /// under one hold of the GIL) when none is pending. Called by the map's reader, without the
    /// GIL.
    bool fetch() {
      {
        std::unique_lock lock(mutex);
        read_done.wait(lock, [&] { return !pending.empty() || !reading; });
        if (!pending.empty()) return true;
        if (error) std::rethrow_exception(std::exchange(error, nullptr));
        if (ended) return false;
        reading = true;
      }
      read_result r;
      if (numbers) {
        r = read_some(4);
      } else {
        gil held;
        r = read_some(read_ahead ? (packs ? 4 : read_ahead_items) : 1);
      }
      std::lock_guard lock(mutex);
      reading = false;
      add(std::move(r));
      read_done.notify_all();
      if (!pending.empty()) return true;
      if (error) std::rethrow_exception(std::exchange(error, nullptr));
      return false;
    }

    /// Takes the first pending item (one is pending: `fetch` said so).
    item take() {
      std::lock_guard lock(mutex);
      item taken_item = std::move(pending.front());
      pending.pop_front();
      if constexpr (std::is_same_v<item, std::string>) {
        if (packs) packs_out.emplace(taken, taken_item);
      }
      ++taken;
      return taken_item;
    }

    /// The consumer (holding the GIL) reads ahead until `target` items (or packs) are pending,
    /// unless a reader is at it, or reading ahead could be seen.
    void top_up(std::size_t target) {
      {
        std::lock_guard lock(mutex);
        if (!read_ahead || reading || ended || error || pending.size() >= target) return;
        reading = true;
        target -= pending.size();
      }
      read_result r = read_some(target);
      std::lock_guard lock(mutex);
      reading = false;
      add(std::move(r));
      read_done.notify_all();
    }

    /// The encoding of the pack that has index `index` in the map, which the consumer has now
    /// (forgotten here); empty when unknown.
    std::string take_pack(std::uint64_t index) {
      std::lock_guard lock(mutex);
      auto found = packs_out.find(index);
      if (found == packs_out.end()) return {};
      std::string pack = std::move(found->second);
      packs_out.erase(found);
      return pack;
    }
  };

private:
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
      return state_->take();
    }
    iterator& operator++() noexcept { return *this; } // the next compare fetches
    void operator++(int) noexcept {}
    /// True at the end of the Python iterator; fetches the next item (with the GIL) to know.
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.state_->fetch(); }

  private:
    state* state_ = nullptr;
  };

  /// Reads `iterator` (a Python iterator; a new reference, owned here). The GIL is held.
  /// `packs_wanted`: items travel in packs (`as_pickles` only).
  /// `numbers`: the iterator is that of a fresh `range()` whose integers these are; in pack mode
  /// they are then made by the workers from each pack's first integer and step, and the iterator
  /// itself is never read.
  explicit python_input(ref python_iterator, bool packs_wanted = false,
                        std::optional<arithmetic_items> numbers = std::nullopt)
      : state_(std::make_shared<state>()) {
    state_->read_ahead = harmless_to_read_ahead(python_iterator.get());
    state_->packs = packs_wanted && std::is_same_v<item, std::string>;
    if (state_->packs) state_->numbers = numbers;
    state_->iterator = std::move(python_iterator);
  }
  [[nodiscard]] iterator begin() const noexcept { return iterator(state_.get()); }
  [[nodiscard]] std::default_sentinel_t end() const noexcept { return {}; }

  /// The state, for the consumer: `packs`, `top_up`, `take_pack`, `sizing` (it outlives the map's
  /// reading of the view).
  [[nodiscard]] std::shared_ptr<state> shared() const noexcept { return state_; }

private:
  std::shared_ptr<state> state_;
};

} // namespace parmill::python
