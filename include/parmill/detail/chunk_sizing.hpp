// parmill/detail/chunk_sizing.hpp: how many items a map hands a worker at a time, and how many it
// lets be in flight at once.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace parmill::detail {

/// Most items in an automatic chunk.
inline constexpr std::size_t max_auto_chunk = 16384;
/// An automatic window holds this many chunks per worker.
inline constexpr std::size_t chunks_per_worker_in_window = 4;
// Automatic chunks aim at a duration. Every chunk costs a hand-off and often a wake-up of the
// consumer (20-50 us on a virtual machine), so longer is cheaper; but a chunk is also how unevenly
// the workers can finish. A sized input's chunks shrink as its end nears (guided scheduling), so
// they can be long; an unsized input's end comes unannounced, so its chunks stay short.
inline constexpr std::int64_t target_chunk_nanoseconds = 4'000'000;
inline constexpr std::int64_t target_sized_chunk_nanoseconds = 16'000'000;

/// The chunk size and the window of one run. A fixed chunk stays as it is; an automatic one starts
/// at one item and follows how long chunks take (`adapt`), so that a chunk takes about its target
/// time, growing at most fourfold at a time. Thread-safe (relaxed atomics: a stale size is harmless).
class chunk_sizing {
public:
  /// `fixed_chunk`, `fixed_window`: the options (0: automatic); `workers`: how many compute at once;
  /// `sized_input`: the input's length is known (longer automatic chunks, guided near the end).
  chunk_sizing(std::size_t fixed_chunk, std::size_t fixed_window, std::size_t workers,
               bool sized_input) noexcept
      : fixed_chunk_(fixed_chunk), fixed_window_(fixed_window), workers_(workers),
        target_ns_(sized_input ? target_sized_chunk_nanoseconds : target_chunk_nanoseconds),
        chunk_(fixed_chunk ? fixed_chunk : 1) {}

  /// True when chunks are sized from how long they take.
  [[nodiscard]] bool automatic() const noexcept { return fixed_chunk_ == 0; }
  /// The chunk size now.
  [[nodiscard]] std::size_t chunk() const noexcept { return chunk_.load(std::memory_order_relaxed); }
  /// Most items in flight at once now: the fixed window, or chunks_per_worker_in_window chunks per
  /// worker.
  [[nodiscard]] std::size_t window() const noexcept {
    if (fixed_window_) return fixed_window_;
    return workers_ * chunks_per_worker_in_window * std::max<std::size_t>(1, chunk());
  }
  /// How many items the next chunk should hold, before the window is applied. `remaining`: items
  /// left in a sized input; near its end automatic chunks shrink (guided scheduling), so that the
  /// workers finish together instead of one running the last big chunk alone.
  [[nodiscard]] std::size_t want(std::optional<std::size_t> remaining) const noexcept {
    std::size_t want = chunk();
    if (automatic() && remaining && *remaining > 0)
      want = std::min(want, std::max<std::size_t>(1, *remaining / (2 * workers_)));
    return want;
  }
  /// `want` limited to the window (at least one item).
  [[nodiscard]] std::size_t within_window(std::size_t want) const noexcept {
    return std::max<std::size_t>(1, std::min(want, window()));
  }
  /// A chunk of `items` took `took`: sets the automatic chunk so that one takes about its target.
  void adapt(std::size_t items, std::chrono::nanoseconds took) noexcept {
    const auto ns = std::max<std::int64_t>(1, took.count());
    const auto per_item = std::max<std::int64_t>(1, ns / static_cast<std::int64_t>(items));
    const auto ideal = static_cast<std::size_t>(std::max<std::int64_t>(1, target_ns_ / per_item));
    const std::size_t now = chunk();
    chunk_.store(std::clamp<std::size_t>(ideal, 1, std::min(max_auto_chunk, now * 4)),
                 std::memory_order_relaxed);
  }

private:
  std::size_t fixed_chunk_;
  std::size_t fixed_window_;
  std::size_t workers_;
  std::int64_t target_ns_;
  std::atomic<std::size_t> chunk_;
};

} // namespace parmill::detail
