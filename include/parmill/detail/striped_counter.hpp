// parmill/detail/striped_counter.hpp: a counter that many threads add to without contention.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "parmill/export.hpp"

namespace parmill::detail {

/// The stripe this thread adds to; threads are dealt stripes round robin as they first ask.
PARMILL_API std::size_t this_thread_stripe() noexcept;

/// A sum spread over cache-line-sized stripes: `add` touches only the calling thread's stripe
/// (a few nanoseconds, no lock, no line shared with other threads in the common case); `sum`
/// reads them all and is exact once the adders have stopped.
class striped_counter {
public:
  static constexpr std::size_t stripes = 16; ///< how many stripes the sum is spread over

  /// Adds `n` to the calling thread's stripe.
  void add(std::uint64_t n) noexcept {
    cells_[this_thread_stripe() % stripes].value.fetch_add(n, std::memory_order_relaxed);
  }
  /// The sum of all stripes.
  [[nodiscard]] std::uint64_t sum() const noexcept {
    std::uint64_t total = 0;
    for (const auto& c : cells_)
      total += c.value.load(std::memory_order_relaxed);
    return total;
  }

private:
  struct alignas(64) cell {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<cell, stripes> cells_{};
};

} // namespace parmill::detail
