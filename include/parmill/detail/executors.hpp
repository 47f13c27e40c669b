// parmill/detail/executors.hpp: the factory that turns a `backend` into the executor of a run, and
// what else a map or pipeline may ask of a backend. The only place that names every backend kind:
// a new backend is one description (parmill/backend.hpp), one overload here and one executor, and
// neither map nor pipeline changes.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "parmill/backend.hpp"
#include "parmill/codec.hpp"
#include "parmill/detail/executor.hpp"
#include "parmill/detail/local_executor.hpp"
#include "parmill/detail/process_runner.hpp"
#include "parmill/detail/remote_executor.hpp"
#include "parmill/detail/run_gate.hpp"

namespace parmill::detail {

/// A backend the run's items or results cannot use, because they cannot cross a process boundary:
/// it throws `std::logic_error` at the step where the backend would first need them (opening the
/// run on mpi, forking on processes).
template <class In, class Result>
class refused_executor final : public executor<In, Result> {
public:
  refused_executor(backend_kind kind, std::size_t workers, bool at_open)
      : kind_(kind), workers_(std::max<std::size_t>(1, workers)), at_open_(at_open) {}

  [[nodiscard]] std::size_t size() const noexcept override { return workers_; }
  [[nodiscard]] std::size_t busy() const noexcept override { return workers_; }
  [[nodiscard]] backend_kind kind() const noexcept override { return kind_; }
  [[nodiscard]] bool in_place() const noexcept override { return false; }
  run_role open(bool stopped) override {
    if (at_open_) refuse();
    return stopped ? run_role::skip : run_role::drive;
  }
  void prepare() override { refuse(); }
  void start(std::function<void(std::size_t)>) override { refuse(); }
  chunk_report run(std::size_t, const worker_context&, std::size_t, std::vector<In>&,
                   std::vector<outcome<Result>>&) override {
    refuse();
    return {};
  }
  void retire(std::size_t, bool) override {}
  void interrupt() noexcept override {}
  void finish() noexcept override {}

private:
  [[noreturn]] void refuse() const {
    throw std::logic_error("parmill::map: the " + std::string(to_string(kind_)) +
                           " backend needs items and results that can cross a process boundary (see "
                           "parmill/codec.hpp)");
  }
  backend_kind kind_;
  std::size_t workers_;
  bool at_open_;
};

/// Makes the executor for each description of a backend (parmill/backend.hpp): one overload per
/// kind, so that a new backend is one description, one overload and one executor.
template <class In, class Result, class Slots>
struct executor_maker {
  using made = std::unique_ptr<executor<In, Result>>;
  static constexpr bool crossable = crossable_v<In> && crossable_v<Result>;

  const std::shared_ptr<Slots>& slots;
  run_gate& gate;
  const item_limits& limits;

  made operator()(const backends::in_caller&) const {
    return std::make_unique<local_executor<In, Result, Slots>>(*slots, gate, limits, true, 1, nullptr);
  }
  made operator()(const backends::on_threads& where) const {
    return std::make_unique<local_executor<In, Result, Slots>>(*slots, gate, limits, false, where.workers,
                                                               where.pool);
  }
  made operator()(const backends::in_processes& where) const {
    if constexpr (crossable) {
      return std::make_unique<process_executor<In, Result, Slots>>(*slots, gate, limits, where.workers);
    } else {
      return std::make_unique<refused_executor<In, Result>>(backend_kind::processes, where.workers, false);
    }
  }
  made operator()(const backends::on_ranks& where) const {
    if constexpr (crossable) {
      return std::make_unique<remote_executor<In, Result, Slots>>(slots, gate, limits, *where.transport,
                                                                  where.per_rank, where.slots);
    } else {
      return std::make_unique<refused_executor<In, Result>>(backend_kind::mpi, where.slots * remote_depth,
                                                            true);
    }
  }
};

/// The executor of a run on `where`: its workers call `slots`, consult `gate`, and keep `limits`.
/// Every executor keeps `slots` alive as long as a call of its may run (the mpi backend's
/// abandoned calls outlive the run).
template <class In, class Result, class Slots>
std::unique_ptr<executor<In, Result>> make_executor(const backend& where, const std::shared_ptr<Slots>& slots,
                                                    run_gate& gate, const item_limits& limits) {
  return std::visit(executor_maker<In, Result, Slots>{slots, gate, limits}, where.describe());
}

/// How many workers a run on `where` has, as its workers' `worker_context::count` says.
[[nodiscard]] inline std::size_t worker_count(const backend& where) noexcept {
  return std::holds_alternative<backends::in_caller>(where.describe()) ? 1 : where.workers();
}

/// `where` with `n` workers, for a pipeline stage's concurrency. A backend whose workers are not
/// chosen per run (inline, mpi) is returned as it is.
[[nodiscard]] inline backend with_workers(const backend& where, std::size_t n) {
  if (std::holds_alternative<backends::on_threads>(where.describe())) return threads(n);
  if (std::holds_alternative<backends::in_processes>(where.describe())) return processes(n);
  return where;
}

/// True when an item's outcome can be lost with its worker (a worker process that crashed or ran
/// past its time limit), so that whoever must name such an item has to remember where it came from.
[[nodiscard]] inline bool loses_outcomes_with_workers(const backend& where) noexcept {
  return std::holds_alternative<backends::in_processes>(where.describe());
}

} // namespace parmill::detail
