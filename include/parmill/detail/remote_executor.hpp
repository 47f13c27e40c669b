// parmill/detail/remote_executor.hpp: the mpi backend as an executor. On rank 0 it drives
// `remote_depth` proxies per worker slot on the other ranks (remote_proxies.hpp); on the other
// ranks it serves their slots (remote_server.hpp) until rank 0 ends the run. Both sides speak
// remote_wire.hpp over a transport (MPI in the parmill::mpi component, threads in the tests).
#pragma once

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "parmill/detail/executor.hpp"
#include "parmill/detail/remote_proxies.hpp"
#include "parmill/detail/remote_server.hpp"
#include "parmill/detail/remote_transport.hpp"
#include "parmill/detail/remote_wire.hpp"
#include "parmill/detail/run_gate.hpp"
#include "parmill/detail/runner_executor.hpp"

namespace parmill::detail {

/// The mpi backend as an executor: rank 0's worker threads are the proxies; `open` on any other
/// rank serves that rank's slots and returns `served` when rank 0 has ended the run.
template <class In, class Result, class Slots>
class remote_executor final : public runner_executor<In, Result, remote_proxies<In, Result>> {
public:
  /// The worker slots of `transport`'s ranks but rank 0, `slots_per_rank` on each, `slot_count` in all.
  remote_executor(std::shared_ptr<Slots> slots, run_gate& gate, const item_limits& limits,
                  remote_transport& transport, std::size_t slots_per_rank, std::size_t slot_count)
      : runner_executor<In, Result, remote_proxies<In, Result>>(gate.failures), slots_(std::move(slots)),
        limits_(limits),
        transport_(transport), layout_{.per_rank = slots_per_rank, .slot_count = slot_count} {}

  [[nodiscard]] std::size_t size() const noexcept override { return layout_.slot_count * remote_depth; }
  [[nodiscard]] std::size_t busy() const noexcept override { return layout_.slot_count; }
  [[nodiscard]] backend_kind kind() const noexcept override { return backend_kind::mpi; }

  /// Opens the run's channel on every rank (collective), even when the run was stopped before it
  /// began: rank 0's proxies are what tell the other ranks that the run is over.
  run_role open(bool) override {
    auto channel = transport_.open();
    if (transport_.rank() == 0) {
      this->make_runner(std::move(channel), transport_, layout_, limits_);
      this->publish();
      serve_ranks_here();
      return run_role::drive;
    }
    remote_server<In, Result, Slots>(slots_, std::move(channel), transport_, layout_, limits_).serve();
    return run_role::served;
  }
  /// Joins the threads that served the ranks living in this process (they end when every proxy
  /// has retired, which every run's worker threads do before the executor finishes).
  ~remote_executor() override {
    for (auto& rank : ranks_here_)
      rank.join();
  }
  remote_executor(const remote_executor&) = delete;
  remote_executor& operator=(const remote_executor&) = delete;

  void prepare() override {}
  void retire(std::size_t w, bool stopping) override {
    try {
      this->runner().retire(w, stopping);
    } catch (...) {
      // The transport failed: the run is over anyway; the consumer hears of the first error.
    }
  }

private:
  /// Rank 0 of a job whose other ranks live in this process: serves their slots on threads.
  void serve_ranks_here() {
    for (remote_transport* rank : transport_.ranks_served_here())
      ranks_here_.emplace_back([this, rank, channel = rank->open()]() mutable {
        remote_server<In, Result, Slots>(slots_, std::move(channel), *rank, layout_, limits_).serve();
      });
  }

  std::vector<std::thread> ranks_here_;
  std::shared_ptr<Slots> slots_;
  item_limits limits_;
  remote_transport& transport_;
  remote_layout layout_;
};

} // namespace parmill::detail
