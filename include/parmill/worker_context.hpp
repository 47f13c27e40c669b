// parmill/worker_context.hpp: what a worker knows about itself.
#pragma once

#include <cstddef>
#include <stop_token>
#include <string>
#include <string_view>

namespace parmill {

/// Where workers run.
enum class backend_kind {
  inline_,   ///< the caller's thread, one item after another ("inline"; `inline` is a keyword)
  threads,   ///< threads of a parmill::thread_pool
  processes, ///< forked child processes
  mpi,       ///< ranks of an MPI job
};

/// The name of a backend kind as users write it: "inline", "threads", "processes", "mpi".
[[nodiscard]] constexpr std::string_view to_string(backend_kind kind) noexcept {
  switch (kind) {
  case backend_kind::inline_: return "inline";
  case backend_kind::threads: return "threads";
  case backend_kind::processes: return "processes";
  case backend_kind::mpi: return "mpi";
  }
  return "unknown";
}

/// Handed to a per-worker factory (and available to workers that ask for it): which worker this
/// is, how many there are, where it runs, and the token that says the run is stopping. Worker
/// indices are 0 .. count-1 and each is used by exactly one worker of a run.
struct worker_context {
  std::size_t index = 0;                        ///< this worker's index, 0 .. count-1
  std::size_t count = 1;                        ///< how many workers the run has
  backend_kind backend = backend_kind::inline_; ///< where this worker runs
  std::stop_token stop; ///< stop_requested() once the run is stopping (inline and threads; empty, never
                        ///< requested, in a worker process or on another rank)
  int rank = 0;         ///< on mpi: the rank this worker runs in (else 0)
  std::string host{};   ///< on mpi: the name of the machine it runs on
};

} // namespace parmill
