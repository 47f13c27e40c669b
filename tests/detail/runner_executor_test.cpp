// Whitebox tests of parmill/detail/runner_executor.hpp: what the processes and mpi executors share,
// here the hand-over between `interrupt()` (from a signal handler or another thread) and the end
// of the run, which destroys the runner.
#include <parmill/detail/runner_executor.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <latch>
#include <thread>
#include <vector>

namespace {

using namespace parmill::detail;

/// What the test sees of its runner: whether an `interrupt()` is inside it, and whether it was
/// destroyed meanwhile.
struct runner_probes {
  std::atomic<bool> inside{false};
  std::atomic<bool> destroying{false};
  std::atomic<bool> destroyed_while_inside{false};
  std::latch entered{1};
};

/// A runner whose `interrupt()` lingers: it stays inside until its runner is being destroyed, or
/// for `linger` at most. Destroyed while an interrupt is inside it, it says so.
class lingering_runner {
public:
  static constexpr std::chrono::milliseconds linger{200};

  explicit lingering_runner(runner_probes& probes) : probes_(probes) {}
  lingering_runner(const lingering_runner&) = delete;
  lingering_runner& operator=(const lingering_runner&) = delete;
  ~lingering_runner() {
    probes_.destroying.store(true);
    if (probes_.inside.load()) probes_.destroyed_while_inside.store(true);
  }

  std::chrono::nanoseconds run(std::size_t, std::size_t, std::vector<int>&,
                               std::vector<parmill::outcome<int>>&) {
    return {};
  }
  void interrupt() noexcept {
    probes_.inside.store(true);
    probes_.entered.count_down();
    const auto until = std::chrono::steady_clock::now() + linger;
    while (!probes_.destroying.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    probes_.inside.store(false);
  }

private:
  runner_probes& probes_;
};

/// The smallest executor over a lingering runner, published from the start.
class lingering_executor final : public runner_executor<int, int, lingering_runner> {
public:
  lingering_executor(failure_budget& failures, runner_probes& probes) : runner_executor(failures) {
    make_runner(probes);
    publish();
  }
  [[nodiscard]] std::size_t size() const noexcept override { return 1; }
  [[nodiscard]] std::size_t busy() const noexcept override { return 1; }
  [[nodiscard]] parmill::backend_kind kind() const noexcept override {
    return parmill::backend_kind::processes;
  }
  [[nodiscard]] run_role open(bool) override { return run_role::drive; }
  void prepare() override {}
  void retire(std::size_t, bool) override {}
};

TEST(RunnerExecutor, TheRunnerOutlivesAnInterruptThatIsInsideItWhenTheRunFinishes) {
  // map_range::stop() may come from another thread while close() finishes the run: the runner
  // must not be destroyed under an interrupt that has already reached it (it wrote to the
  // runner's closed wake-up pipe, in freed memory).
  failure_budget failures(no_cutoff);
  runner_probes probes;
  lingering_executor executor(failures, probes);
  std::thread interrupter([&] { executor.interrupt(); });
  probes.entered.wait();
  executor.finish();
  interrupter.join();
  EXPECT_TRUE(probes.destroying.load());
  EXPECT_FALSE(probes.destroyed_while_inside.load()) << "the runner was destroyed under an interrupt";
}

TEST(RunnerExecutor, AnInterruptAfterTheRunFinishedReachesNoRunner) {
  failure_budget failures(no_cutoff);
  runner_probes probes;
  lingering_executor executor(failures, probes);
  executor.finish();
  executor.interrupt(); // the runner is gone: nothing to reach, nothing to wait for
  EXPECT_TRUE(probes.destroying.load());
  EXPECT_FALSE(probes.inside.load());
}

} // namespace
