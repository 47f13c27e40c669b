// parmill/detail/input_reader.hpp: reads a map's input in chunks, one reader at a time.
#pragma once

#include <time.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <optional>
#include <ranges>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

namespace parmill::detail {

/// A chunk whose reading takes longer than this is handed on with the items read so far (an input
/// that waits for data: its items should not wait for a whole chunk of later ones).
inline constexpr std::chrono::milliseconds max_chunk_read_time{1};

/// A monotonic clock that moves in ticks of a few milliseconds (4 on Linux) and costs about 5 ns a
/// read, where the precise one costs 25: cheap enough to look at after every item read, to notice
/// that an input has slowed down.
inline std::int64_t coarse_clock_nanoseconds() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

/// Reads `View`'s items into chunks of consecutive items, numbering them from 0 in input order.
/// Not thread-safe: one thread at a time reads (the map holds its input lock), not always the same.
///
/// An item is handed on as soon as it is read: the input is stepped past an item (`++`) and asked
/// whether it has ended (`==`) only when the next item is wanted, as either may block on an input
/// that waits for data (a pipe, a generator). A chunk also ends early when reading it has taken
/// longer than `max_chunk_read_time` (a slow input), so that its items need not wait for a whole
/// chunk of later ones. When the input throws, reading ends and the exception is kept for the
/// consumer, who rethrows it once it has yielded the items before.
template <class View>
class input_reader {
public:
  using item = std::ranges::range_value_t<View>;
  using iterator = std::ranges::iterator_t<View>;

  /// Move-only items are moved out of the input as they are read (pass such a container as an
  /// rvalue, so the map owns it).
  static constexpr bool moves_items_out = !std::is_copy_constructible_v<item>;
  /// Items can be copied out of the input in bulk: a random-access input whose items are read and
  /// copied without throwing (a throw must leave the items before it read, one at a time).
  static constexpr bool bulk_readable =
      std::random_access_iterator<iterator> &&
      std::sized_sentinel_for<std::ranges::sentinel_t<View>, iterator>&& noexcept(
          *std::declval<iterator&>()) &&
      std::is_nothrow_constructible_v<item, std::ranges::range_reference_t<View>> && !moves_items_out;

  /// What `read` read.
  struct chunk_read {
    std::size_t first = 0; ///< the index of the first item read
    bool ended = false;    ///< the input has ended (to its end, or it threw)
  };

  /// Reads `view`, which must outlive the reader; nothing is read before `open`.
  explicit input_reader(View& view) noexcept : view_(view) {}

  /// Starts reading (takes `begin()`, which may read already, as an istream view does). Items whose
  /// indices are in `skip` are neither read into a chunk nor counted out (`.resume`).
  void open(std::set<std::size_t> skip) {
    skip_ = std::move(skip);
    next_.emplace(std::ranges::begin(view_));
  }

  /// Reads up to `want` items into `items` (cleared first).
  chunk_read read(std::vector<item>& items, std::size_t want) {
    items.clear();
    items.reserve(want);
    auto& it = *next_;
    const auto end = std::ranges::end(view_);
    std::size_t at = next_index_; // the index of the item at `it` (after the pending step)
    bool ended = false;
    const auto started =
        want > 1 ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    std::int64_t tick = want > 1 ? coarse_clock_nanoseconds() : 0; // see read_stretch
    try {
      if constexpr (bulk_readable) {
        step_past_taken_item(it);
        if (skip_.empty()) { // the common case: one bulk copy instead of an item at a time
          const auto n = std::min<std::size_t>(want, static_cast<std::size_t>(end - it));
          for (std::size_t i = 0; i < n; ++i)
            items.push_back(it[static_cast<std::ptrdiff_t>(i)]);
          it += static_cast<std::ptrdiff_t>(n);
          at += n;
        }
      }
      if (items.size() < want) {
        step_past_taken_item(it);
        for (;;) {
          const stretch read = read_stretch(items, it, end, at, next_clock_look(items.size(), want), tick);
          if (read == stretch::ended) ended = true;
          if (read != stretch::full) break;
          if (items.size() == want || read_too_long(started)) {
            item_taken_ = true; // stepped past at the next read: the step may wait for the next item
            break;
          }
          ++it;
        }
      }
      if constexpr (bulk_readable) { // stepping and comparing cannot block: close the input now
        step_past_taken_item(it);
        ended = it == end;
      }
    } catch (...) {
      error_ = std::current_exception(); // read by the consumer once it has yielded the rest
      ended = true;
    }
    next_index_ = at;
    if (ended) ended_ = true;
    return chunk_read{.first = at - items.size(), .ended = ended};
  }

  /// True once the input has ended, or reading was closed.
  [[nodiscard]] bool ended() const noexcept { return ended_; }
  /// No more reading (the run is stopping).
  void close() noexcept { ended_ = true; }
  /// The index of the next item to read.
  [[nodiscard]] std::size_t next_index() const noexcept { return next_index_; }
  /// True when an item was skipped or will be (`.resume`).
  [[nodiscard]] bool skips() const noexcept { return !skip_.empty(); }
  /// The input's exception, when reading it threw (once; null after).
  [[nodiscard]] std::exception_ptr take_error() noexcept { return std::exchange(error_, nullptr); }
  /// True when reading the input threw and the exception has not been taken.
  [[nodiscard]] bool failed() const noexcept { return error_ != nullptr; }

  /// How many items a chunk holds when the precise clock is next looked at (20-40 ns a read): after
  /// each of its first 8 items and every 64 after that (under a nanosecond an item). In between,
  /// the coarse clock is looked at after every item (`read_stretch`), so an input that slows down
  /// in the middle of a chunk holds back only the reads of one of its ticks (one read, when reads
  /// are slower than a tick), and the chunks after it are handed on after their first slow read.
  /// At most `want`.
  static std::size_t next_clock_look(std::size_t items, std::size_t want) noexcept {
    return std::min(want, items < 8 ? items + 1 : (items / 64 + 1) * 64);
  }

private:
  /// Steps the input past the item last taken, if it has not been yet.
  void step_past_taken_item(iterator& it) {
    if (!item_taken_) return;
    item_taken_ = false; // first: a step that throws ends the input
    ++it;
  }

  /// How a stretch of reading ended: `until` items read (the last taken but not stepped past),
  /// the input's end, or an item done in the journal after some items (it starts the next chunk).
  enum class stretch { full, ended, cut };

  /// Reads items into `items` until it holds `until`, or until the coarse clock has moved on from
  /// `tick` (then set to it: the caller looks at the precise clock, as the input may have slowed
  /// down); `at` is the index of the item at `it`.
  template <class End>
  stretch read_stretch(std::vector<item>& items, iterator& it, const End& end, std::size_t& at,
                       std::size_t until, std::int64_t& tick) {
    for (;;) {
      if (it == end) return stretch::ended;
      if (!skip_.empty() && skip_.count(at) != 0) { // done in the journal: neither run nor yielded
        if (!items.empty()) return stretch::cut;    // a chunk's items are consecutive
        ++it;
        ++at;
        continue;
      }
      if constexpr (moves_items_out) {
        items.push_back(std::ranges::iter_move(it));
      } else {
        items.push_back(*it);
      }
      ++at;
      if (items.size() == until) return stretch::full;
      if (tick != 0) {
        const std::int64_t now = coarse_clock_nanoseconds();
        if (now != tick) {
          tick = now;
          return stretch::full;
        }
      }
      ++it;
    }
  }

  /// True when reading the current chunk, begun at `started` (zero for a chunk of one item), has
  /// taken too long.
  static bool read_too_long(std::chrono::steady_clock::time_point started) noexcept {
    return started != std::chrono::steady_clock::time_point{} &&
           std::chrono::steady_clock::now() - started > max_chunk_read_time;
  }

  View& view_;
  // Engaged by open(): an input's iterator need not be default-constructible (istream views).
  std::optional<iterator> next_;
  bool item_taken_ = false; // the item at next_ was taken; the input is stepped past it later
  std::size_t next_index_ = 0;
  std::set<std::size_t> skip_; // .resume: items the journal has done
  std::exception_ptr error_;
  bool ended_ = false;
};

} // namespace parmill::detail
