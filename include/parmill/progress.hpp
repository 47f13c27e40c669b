// parmill/progress.hpp: counts, rates and ETA of running work, drawn as a bar or logged as lines.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <utility>

#include "parmill/detail/striped_counter.hpp"
#include "parmill/export.hpp"

namespace parmill {

/// How a `progress_bar` looks and where it draws.
struct progress_options {
  std::string label;                  ///< shown first on every line
  std::optional<std::uint64_t> total; ///< how many items are expected, when known
  int fd = 2;                         ///< the file descriptor drawn on (standard error)
  /// Draw as a terminal (a bar redrawn in place) or as a log (plain lines, never a carriage
  /// return). By default: a terminal exactly when `fd` is one.
  std::optional<bool> terminal;
  /// Time between draws; zero means about 10 per second on a terminal and one line every 5 s
  /// elsewhere.
  std::chrono::milliseconds interval{0};
};

/// A point-in-time view of a bar's counters, and what its lines are made from.
struct progress_snapshot {
  std::string label;                  ///< the bar's label
  std::uint64_t done = 0;             ///< items finished, failures included
  std::uint64_t failed = 0;           ///< items that failed
  std::optional<std::uint64_t> total; ///< items expected, when known
  double elapsed_seconds = 0;         ///< since the bar started
  double rate = 0;                    ///< items per second, smoothed
  bool finished = false;              ///< the final line
};

/// One terminal line for `s`, fitted to `width` columns: label, percent, bar, counts, elapsed,
/// ETA and rate when the total is known; label, count, elapsed and rate when it is not.
[[nodiscard]] PARMILL_API std::string format_progress_bar(const progress_snapshot& s, std::size_t width);
/// One log line for `s` (no bar, no carriage return), or the final summary when `s.finished`.
[[nodiscard]] PARMILL_API std::string format_progress_line(const progress_snapshot& s);

/// A progress display that code advances by hand, from any number of threads. `advance` and
/// `fail` cost a few nanoseconds and take no lock. A drawing thread exists only while the bar
/// does; it draws at most every `interval`, and `finish()` (or the destructor) draws the final line
/// stating what was done, what failed and how long it took.
class PARMILL_API progress_bar {
public:
  /// Starts a bar with these options.
  explicit progress_bar(progress_options options);
  /// Starts a bar on standard error with a label and, when known, a total.
  explicit progress_bar(std::string label, std::optional<std::uint64_t> total = std::nullopt);
  /// Calls `finish()`.
  ~progress_bar();
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  /// Counts `n` items finished successfully.
  void advance(std::uint64_t n = 1) noexcept { done_.add(n); }
  /// Counts `n` items finished with a failure (they also count as done).
  void fail(std::uint64_t n = 1) noexcept {
    done_.add(n);
    failed_.add(n);
  }
  /// Sets or changes the expected total.
  void set_total(std::uint64_t total);
  /// Stops drawing and writes the final line; later calls do nothing.
  void finish();
  /// The counters now.
  [[nodiscard]] progress_snapshot snapshot() const;
  /// What a `write_above` callback wrote on the bar's terminal.
  enum class written {
    nothing,        ///< nothing there (its text went elsewhere, or there was none)
    whole_lines,    ///< text whose last byte is a newline: the cursor is at a line's start
    part_of_a_line, ///< text whose last byte is not a newline: the cursor is mid-line
  };
  /// Runs `write`, which writes text (on the bar's terminal, or elsewhere), so that the text never
  /// shares a line with the bar, as tqdm's `write` does: on a terminal, the bar's line is cleared
  /// (a carriage return, spaces, a carriage return) before `write` runs, and the bar is drawn
  /// again after it, below the text; when the text on the terminal ended mid-line, the bar is
  /// drawn on the next line rather than over it. The drawing thread waits while `write` runs.
  /// Off a terminal, or after `finish()`, `write` just runs. `write` must not call back into the
  /// bar. Thread-safe.
  void write_above(const std::function<written()>& write);

private:
  enum class draw_kind { tick, final }; // a tick also updates the smoothed rate
  void draw_loop();
  void draw(draw_kind kind);
  void draw_on_terminal(const progress_snapshot& s, bool final); // under draw_mutex_

  progress_options options_;
  detail::striped_counter done_;
  detail::striped_counter failed_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mutex_; // guards what follows; never taken by advance() or fail()
  std::condition_variable wake_;
  bool finished_ = false;
  double smoothed_rate_ = 0;
  std::uint64_t last_done_ = 0;
  double last_seconds_ = 0;
  std::mutex draw_mutex_;      // one writer at a time on the terminal; guards what follows
  std::size_t last_width_ = 0; // the width of the bar's line as drawn; 0 when it is not shown
  bool mid_line_ = false;      // text written above the bar left the cursor mid-line
  bool final_drawn_ = false;   // the final line is written: nothing more is drawn
  std::thread drawer_;
};

/// A view that counts the elements of `range` on a progress bar as they are iterated
/// (`for (auto& x : parmill::progress(files, "files"))`). The total is the range's size when it
/// is sized. The bar finishes when the end is reached or the view is destroyed.
template <std::ranges::input_range R>
class progress_view : public std::ranges::view_interface<progress_view<R>> {
public:
  /// Wraps `range`, labelling the bar `label`.
  progress_view(R range, std::string label) : range_(std::move(range)), label_(std::move(label)) {}

  /// An input iterator over the wrapped range's elements; each increment counts one element on
  /// the bar, and reaching the end finishes the bar.
  class iterator {
  public:
    /// Required of an iterator; positions are never subtracted.
    using difference_type = std::ptrdiff_t;
    /// The wrapped range's value type.
    using value_type = std::ranges::range_value_t<R>;
    /// An iterator of no range.
    iterator() = default;
    /// At `it` of the wrapped range, counting on `bar`.
    iterator(std::ranges::iterator_t<R> it, progress_bar* bar) : it_(std::move(it)), bar_(bar) {}
    /// The wrapped range's current element, as its iterator gives it.
    decltype(auto) operator*() const { return *it_; }
    /// Moves to the next element and counts the one left behind as done.
    iterator& operator++() {
      ++it_;
      bar_->advance();
      return *this;
    }
    /// Same as `++it`.
    void operator++(int) { ++*this; }
    /// True at the end of the wrapped range; reaching it finishes the bar.
    friend bool operator==(const iterator& i, std::default_sentinel_t) { return i.at_end(); }

  private:
    friend class progress_view;
    bool at_end() const {
      if (it_ != std::ranges::end(*end_range_)) return false;
      bar_->finish();
      return true;
    }
    std::ranges::iterator_t<R> it_{};
    progress_bar* bar_ = nullptr;
    R* end_range_ = nullptr;
  };

  /// Starts the bar and returns the first position.
  iterator begin() {
    std::optional<std::uint64_t> total;
    if constexpr (std::ranges::sized_range<R>) total = static_cast<std::uint64_t>(std::ranges::size(range_));
    bar_ = std::make_unique<progress_bar>(label_, total);
    iterator it(std::ranges::begin(range_), bar_.get());
    it.end_range_ = &range_;
    return it;
  }
  /// The end of the range.
  std::default_sentinel_t end() const noexcept { return {}; }

private:
  R range_;
  std::string label_;
  std::unique_ptr<progress_bar> bar_;
};

/// Counts the elements of `range` on a progress bar labelled `label` as they are iterated.
template <std::ranges::viewable_range R>
auto progress(R&& range, std::string label) {
  return progress_view<std::views::all_t<R>>(std::views::all(std::forward<R>(range)), std::move(label));
}

} // namespace parmill
