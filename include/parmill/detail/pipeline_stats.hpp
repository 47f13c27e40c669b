// parmill/detail/pipeline_stats.hpp: the counters behind `pipeline_report`: kept by every stage's
// workers (in memory shared with worker processes) and read, as a report, from any thread.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parmill/export.hpp"
#include "parmill/pipeline_report.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

/// The counters one worker of a stage keeps about the calls it makes: written by that worker
/// only, read by `report()` from any thread, so relaxed atomics (no lock, no shared cache line).
/// They live in memory shared with worker processes, so a stage on `processes` is counted too.
struct alignas(64) PARMILL_API stage_worker_stats {
  static constexpr std::size_t sub_buckets = 4; // per power of two: within 13% at a bucket's middle
  static constexpr std::size_t buckets = 64 * sub_buckets;

  std::atomic<std::uint64_t> busy_nanoseconds{0}; // estimated from the timed calls
  std::atomic<std::uint64_t> timed{0};            // calls the histogram stands for
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> filtered{0};
  std::array<std::atomic<std::uint64_t>, buckets> histogram{};

  static void add(std::atomic<std::uint64_t>& a, std::uint64_t n) noexcept {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  /// A call that took `nanoseconds`, standing for `weight` calls (the others were not timed).
  void record(std::uint64_t nanoseconds, std::uint64_t weight) noexcept {
    add(busy_nanoseconds, nanoseconds * weight);
    add(timed, weight);
    add(histogram[bucket(nanoseconds)], weight);
  }
  static std::size_t bucket(std::uint64_t ns) noexcept {
    if (ns < sub_buckets) return static_cast<std::size_t>(ns);
    const auto width = static_cast<std::size_t>(std::bit_width(ns)); // >= 3
    const auto sub = static_cast<std::size_t>((ns >> (width - 3)) & (sub_buckets - 1));
    return (width - 2) * sub_buckets + sub;
  }
  static double bucket_middle_seconds(std::size_t b) noexcept;
};

/// The counters of one stage: what went in and out (counted by the threads that read its input
/// and its output, one at a time) and what its workers recorded.
class PARMILL_API stage_stats {
public:
  stage_stats(std::string name, backend_kind backend, std::size_t concurrency);
  ~stage_stats();
  stage_stats(const stage_stats&) = delete;
  stage_stats& operator=(const stage_stats&) = delete;

  void count_in() noexcept { stage_worker_stats::add(in_, 1); }
  void count_out() noexcept { stage_worker_stats::add(out_, 1); }
  /// An item whose worker was lost (a crash or a timeout of a worker process).
  void count_lost() noexcept { stage_worker_stats::add(lost_, 1); }
  void set_capacity(std::size_t c) noexcept { capacity_.store(c, std::memory_order_relaxed); }
  /// Worker `i`'s own counters.
  [[nodiscard]] stage_worker_stats& worker(std::size_t i) noexcept { return workers_[i]; }
  /// The counters now.
  [[nodiscard]] stage_report snapshot() const;

private:
  std::string name_;
  backend_kind backend_;
  std::size_t concurrency_;
  std::atomic<std::uint64_t> in_{0};
  alignas(64) std::atomic<std::uint64_t> out_{0};
  std::atomic<std::uint64_t> lost_{0};
  std::atomic<std::uint64_t> capacity_{0};
  stage_worker_stats* workers_ = nullptr; // concurrency_ of them, in a shared anonymous mapping
};

/// Every stage's counters, the pipeline's clock, and the optional display thread that draws them.
class PARMILL_API pipeline_stats {
public:
  pipeline_stats() = default;
  ~pipeline_stats() { stop_display(); }
  pipeline_stats(const pipeline_stats&) = delete;
  pipeline_stats& operator=(const pipeline_stats&) = delete;

  /// Adds a stage; the reference stays valid as long as this object.
  stage_stats& add(std::string name, backend_kind backend, std::size_t concurrency) {
    stages_.push_back(std::make_unique<stage_stats>(std::move(name), backend, concurrency));
    return *stages_.back();
  }
  [[nodiscard]] std::size_t size() const noexcept { return stages_.size(); }
  void start_clock() noexcept { started_ = std::chrono::steady_clock::now(); }
  void count_output() noexcept {
    outputs_.store(outputs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  /// Every stage now.
  [[nodiscard]] pipeline_report report() const;

  /// Starts a thread that draws a line per stage on `fd`: when `live` and `fd` is a terminal,
  /// redrawn in place every `every` (default 100 ms); otherwise the whole report printed every
  /// `every` (default 5 s). `stop_display()` stops it after drawing the last state.
  void start_display(int fd, bool live, std::chrono::milliseconds every);
  void stop_display();

private:
  void display_loop(int fd, bool terminal, std::chrono::milliseconds every);

  std::vector<std::unique_ptr<stage_stats>> stages_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> outputs_{0};
  std::mutex display_mutex_;
  std::condition_variable display_wake_;
  bool display_stop_ = false;
  std::thread display_;
};

} // namespace parmill::detail
