// parmill/backend.hpp: a small value that names where work runs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>

#include "parmill/worker_context.hpp"

namespace parmill {

class thread_pool;
class backend;
class process_backend;
namespace detail {
class remote_transport;
}

/// The inline backend: work runs in the caller's thread, in input order; deterministic.
constexpr backend inline_backend() noexcept;
/// Work runs on `n` threads made for each run and joined when it ends; 0 means one per hardware
/// thread. For many short runs, pass a long-lived `thread_pool` instead.
backend threads(std::size_t n = 0) noexcept;
/// Work runs in `n` forked worker processes (0: one per hardware thread), made for each run: a
/// crash, an abort or a hang costs the items it touched, never the run. Items and results cross
/// through `parmill::codec` (parmill/codec.hpp). See parmill/map_options.hpp for `timeout` and
/// `max_items_per_worker`, and the README for the rule about locks held when a run starts.
process_backend processes(std::size_t n = 0) noexcept;

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
  /// On mpi: how the ranks are reached (null on other backends).
  [[nodiscard]] constexpr detail::remote_transport* remote() const noexcept { return remote_; }
  /// On mpi: worker slots on each rank but rank 0 (1 on other backends).
  [[nodiscard]] constexpr std::size_t slots_per_rank() const noexcept { return per_rank_; }

  /// Internal, used by `parmill::mpi()` (parmill/mpi.hpp): the ranks of `remote` but rank 0, each
  /// with `per_rank` worker slots.
  backend(detail::remote_transport& remote, std::size_t per_rank, std::size_t workers) noexcept
      : kind_(backend_kind::mpi), workers_(workers), remote_(&remote), per_rank_(per_rank) {}

  friend constexpr backend inline_backend() noexcept;
  friend backend threads(std::size_t n) noexcept;
  friend class process_backend;

private:
  constexpr backend(backend_kind kind, std::size_t workers) noexcept : kind_(kind), workers_(workers) {}

  backend_kind kind_ = backend_kind::inline_;
  std::size_t workers_ = 1;
  thread_pool* pool_ = nullptr;
  detail::remote_transport* remote_ = nullptr;
  std::size_t per_rank_ = 1;
};

/// The processes backend as a type of its own, so that `map(parmill::processes(n), ...)` checks at
/// compile time that items and results can cross (a plain `backend` holding it checks at run time).
class process_backend : public backend {
public:
  /// `n` worker processes.
  explicit process_backend(std::size_t n) noexcept : backend(backend_kind::processes, n) {}
};

constexpr backend inline_backend() noexcept { return backend{}; }

inline process_backend processes(std::size_t n) noexcept {
  if (n == 0) n = std::max(1U, std::thread::hardware_concurrency());
  return process_backend(n);
}

inline backend threads(std::size_t n) noexcept {
  if (n == 0) n = std::max(1U, std::thread::hardware_concurrency());
  return backend(backend_kind::threads, n);
}

} // namespace parmill
