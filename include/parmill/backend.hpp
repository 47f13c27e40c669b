// parmill/backend.hpp: a small value that names where work runs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>

#include "parmill/worker_context.hpp"

namespace parmill {

class thread_pool;
class backend;

/// The inline backend: work runs in the caller's thread, in input order; deterministic.
constexpr backend inline_backend() noexcept;
/// Work runs on `n` threads made for each run and joined when it ends; 0 means one per hardware
/// thread. For many short runs, pass a long-lived `thread_pool` instead.
backend threads(std::size_t n = 0) noexcept;

/// Names where the workers of a map or pipeline run, so that one function can take
/// `parmill::backend b = parmill::inline_backend()` and run unchanged on any backend. A backend is
/// a description, cheap to copy; the threads or processes it names exist only while a run uses
/// them, except for a `thread_pool` passed in, which the caller owns and must keep alive.
class backend {
public:
  /// The inline backend (the default).
  constexpr backend() noexcept = default;
  /// Work runs on `pool`'s threads, one worker per pool thread; the pool must outlive every run.
  backend(thread_pool& pool) noexcept; // NOLINT(google-explicit-constructor): a pool is a backend

  /// Where work runs.
  [[nodiscard]] constexpr backend_kind kind() const noexcept { return kind_; }
  /// How many workers a run gets (1 for inline).
  [[nodiscard]] constexpr std::size_t workers() const noexcept { return workers_; }
  /// The caller's pool, or null when the run makes its own threads.
  [[nodiscard]] constexpr thread_pool* pool() const noexcept { return pool_; }

  friend constexpr backend inline_backend() noexcept;
  friend backend threads(std::size_t n) noexcept;

private:
  constexpr backend(backend_kind kind, std::size_t workers) noexcept : kind_(kind), workers_(workers) {}

  backend_kind kind_ = backend_kind::inline_;
  std::size_t workers_ = 1;
  thread_pool* pool_ = nullptr;
};

constexpr backend inline_backend() noexcept { return backend{}; }

inline backend threads(std::size_t n) noexcept {
  if (n == 0) n = std::max(1U, std::thread::hardware_concurrency());
  return backend(backend_kind::threads, n);
}

} // namespace parmill
