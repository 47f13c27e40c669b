// parmill/backend.hpp: a small value that names where work runs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>
#include <variant>

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

/// What each kind of backend is made of: one small description per kind, held by `backend`.
/// Executors are made from these (parmill/detail/executors.hpp); a new backend is one more
/// description and one executor.
namespace backends {
/// In the caller's thread.
struct in_caller {};
/// On `workers` threads made for the run, or on `pool`'s threads (then `workers` is its size).
struct on_threads {
  std::size_t workers = 1;     ///< how many threads (a pool's size when `pool` is set)
  thread_pool* pool = nullptr; ///< the caller's pool, or null: threads made for each run
};
/// In `workers` forked worker processes made for the run.
struct in_processes {
  std::size_t workers = 1; ///< how many worker processes
};
/// On the ranks of an MPI job but rank 0, `per_rank` worker slots on each, `slots` in all.
struct on_ranks {
  detail::remote_transport* transport = nullptr; ///< how the ranks are reached
  std::size_t per_rank = 1;                      ///< worker slots on each rank but rank 0
  std::size_t slots = 0;                         ///< worker slots in all
};
} // namespace backends

/// Names where the workers of a map or pipeline run, so that one function can take
/// `parmill::backend b = parmill::inline_backend()` and run unchanged on any backend. A backend is
/// a description, cheap to copy; the threads or processes it names exist only while a run uses
/// them, except for a `thread_pool` passed in, which the caller owns and must keep alive.
class backend {
public:
  /// The description of one kind of backend.
  using description =
      std::variant<backends::in_caller, backends::on_threads, backends::in_processes, backends::on_ranks>;

  /// The inline backend (the default).
  constexpr backend() noexcept = default;
  /// Work runs on `pool`'s threads, one worker per pool thread; the pool must outlive every run.
  backend(thread_pool& pool) noexcept; // NOLINT(google-explicit-constructor): a pool is a backend
  /// Internal, used by `parmill::mpi()` (parmill/mpi.hpp): the ranks of `remote` but rank 0, each
  /// with `per_rank` worker slots, `workers` in all.
  backend(detail::remote_transport& remote, std::size_t per_rank, std::size_t workers) noexcept
      : where_(backends::on_ranks{&remote, per_rank, workers}) {}

  /// Where work runs.
  [[nodiscard]] constexpr backend_kind kind() const noexcept {
    constexpr backend_kind kinds[] = {backend_kind::inline_, backend_kind::threads, backend_kind::processes,
                                      backend_kind::mpi};
    return kinds[where_.index()];
  }
  /// How many workers a run gets (1 for inline; on mpi, the worker slots).
  [[nodiscard]] constexpr std::size_t workers() const noexcept {
    if (const auto* t = std::get_if<backends::on_threads>(&where_)) return t->workers;
    if (const auto* p = std::get_if<backends::in_processes>(&where_)) return p->workers;
    if (const auto* r = std::get_if<backends::on_ranks>(&where_)) return r->slots;
    return 1;
  }
  /// The caller's pool, or null when the run makes its own threads.
  [[nodiscard]] constexpr thread_pool* pool() const noexcept {
    const auto* t = std::get_if<backends::on_threads>(&where_);
    return t != nullptr ? t->pool : nullptr;
  }
  /// On mpi: how the ranks are reached (null on other backends).
  [[nodiscard]] constexpr detail::remote_transport* remote() const noexcept {
    const auto* r = std::get_if<backends::on_ranks>(&where_);
    return r != nullptr ? r->transport : nullptr;
  }
  /// On mpi: worker slots on each rank but rank 0 (1 on other backends).
  [[nodiscard]] constexpr std::size_t slots_per_rank() const noexcept {
    const auto* r = std::get_if<backends::on_ranks>(&where_);
    return r != nullptr ? r->per_rank : 1;
  }
  /// What this backend is made of.
  [[nodiscard]] constexpr const description& describe() const noexcept { return where_; }

  friend constexpr backend inline_backend() noexcept;
  friend backend threads(std::size_t n) noexcept;
  friend class process_backend;

private:
  constexpr explicit backend(description where) noexcept : where_(where) {}

  description where_{};
};

/// The processes backend as a type of its own, so that `map(parmill::processes(n), ...)` checks at
/// compile time that items and results can cross (a plain `backend` holding it checks at run time).
class process_backend : public backend {
public:
  /// `n` worker processes.
  explicit process_backend(std::size_t n) noexcept : backend(backends::in_processes{n}) {}
};

constexpr backend inline_backend() noexcept { return backend{}; }

inline process_backend processes(std::size_t n) noexcept {
  if (n == 0) n = std::max(1U, std::thread::hardware_concurrency());
  return process_backend(n);
}

inline backend threads(std::size_t n) noexcept {
  if (n == 0) n = std::max(1U, std::thread::hardware_concurrency());
  return backend(backends::on_threads{n, nullptr});
}

} // namespace parmill
