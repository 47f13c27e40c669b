// Whitebox tests of parmill/detail/local_executor.hpp: running a chunk's items in this process
// (retries, the failure budget's cutoff, a stop), and the executor of the inline and threads
// backends.
#include <parmill/detail/local_executor.hpp>
#include <parmill/detail/worker_slots.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using namespace parmill::detail;

/// A worker that fails on negative items and counts its calls.
struct fussy {
  std::atomic<int>* calls;
  int operator()(int item) const {
    ++*calls;
    if (item < 0) throw std::runtime_error("negative");
    return item * 2;
  }
};
using slots_of = worker_slots<fussy, int>;

parmill::worker_context context_for(const run_gate& gate) {
  return parmill::worker_context{
      .index = 0, .count = 1, .backend = parmill::backend_kind::inline_, .stop = gate.stop.token()};
}

TEST(RunItemsHere, EveryItemGetsItsOutcomeInOrder) {
  std::atomic<int> calls{0};
  slots_of slots(fussy{&calls}, 1);
  run_gate gate{.stop = {}, .failures = failure_budget(static_cast<std::size_t>(-1))};
  std::vector<int> items{1, -1, 3};
  std::vector<parmill::outcome<int>> out;
  const chunk_report report = run_items_here<int, int>(slots, gate, 0, 0, context_for(gate), 10, items, out);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(*out[0], 2);
  EXPECT_EQ(out[1].index(), 11U);
  EXPECT_EQ(out[1].error().message, "negative");
  EXPECT_EQ(*out[2], 6);
  EXPECT_EQ(report.failed, 1U);
  EXPECT_EQ(report.cancelled, 0U);
  EXPECT_EQ(report.worker_time.count(), 0) << "in this process, the caller times the chunk";
}

TEST(RunItemsHere, AFailingItemIsTriedItsRetriesMoreTimes) {
  std::atomic<int> calls{0};
  slots_of slots(fussy{&calls}, 1);
  run_gate gate{.stop = {}, .failures = failure_budget(static_cast<std::size_t>(-1))};
  std::vector<int> items{-1};
  std::vector<parmill::outcome<int>> out;
  run_items_here<int, int>(slots, gate, 2, 0, context_for(gate), 0, items, out);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_FALSE(out[0].has_value());
}

TEST(RunItemsHere, NoItemAfterAHaltingFailureStarts) {
  std::atomic<int> calls{0};
  slots_of slots(fussy{&calls}, 1);
  run_gate gate{.stop = {}, .failures = failure_budget(0)};
  std::vector<int> items{1, -1, 3, 4};
  std::vector<parmill::outcome<int>> out;
  const chunk_report report = run_items_here<int, int>(slots, gate, 0, 0, context_for(gate), 0, items, out);
  EXPECT_EQ(calls.load(), 2) << "the failure at item 1 set the cutoff before item 2 started";
  EXPECT_EQ(gate.failures.cutoff(), 1U);
  ASSERT_EQ(out.size(), 4U);
  EXPECT_EQ(out[2].error().kind, parmill::failure_kind::cancelled);
  EXPECT_EQ(out[2].error().message, "not started: the run stopped");
  EXPECT_EQ(report.failed, 1U);
  EXPECT_EQ(report.cancelled, 2U);
}

TEST(RunItemsHere, AfterAStopNoItemStartsAndTheWorkersTokenIsRequested) {
  std::atomic<int> calls{0};
  slots_of slots(fussy{&calls}, 1);
  run_gate gate{.stop = {}, .failures = failure_budget(static_cast<std::size_t>(-1))};
  gate.stop.ask();
  std::vector<int> items{1, 2};
  std::vector<parmill::outcome<int>> out;
  const chunk_report report = run_items_here<int, int>(slots, gate, 0, 0, context_for(gate), 0, items, out);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(report.cancelled, 2U);
  EXPECT_TRUE(gate.stop.token().stop_requested());
}

TEST(LocalExecutor, ThreadsRunEveryWorkerOnAThreadOfItsOwn) {
  std::atomic<int> calls{0};
  slots_of slots(fussy{&calls}, 3);
  run_gate gate{.stop = {}, .failures = failure_budget(static_cast<std::size_t>(-1))};
  local_executor<int, int, slots_of> ex(slots, gate, item_limits{}, false, 3, nullptr);
  EXPECT_EQ(ex.size(), 3U);
  EXPECT_FALSE(ex.in_place());
  EXPECT_EQ(ex.kind(), parmill::backend_kind::threads);
  EXPECT_EQ(ex.open(false), run_role::drive);
  EXPECT_EQ(ex.open(true), run_role::skip);
  ex.prepare();
  std::mutex mutex;
  std::condition_variable done;
  std::set<std::thread::id> threads;
  std::set<std::size_t> workers;
  ex.start([&](std::size_t w) {
    std::vector<int> items{static_cast<int>(w)};
    std::vector<parmill::outcome<int>> out;
    ex.run(w, context_for(gate), w, items, out);
    ex.retire(w, false);
    std::unique_lock lock(mutex);
    threads.insert(std::this_thread::get_id());
    workers.insert(w);
    done.notify_all();
    // Every worker stays until all have come: each must be on a thread of its own.
    done.wait_for(lock, std::chrono::seconds(20), [&] { return workers.size() == 3; });
  });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(done.wait_for(lock, std::chrono::seconds(20), [&] { return workers.size() == 3; }));
  }
  ex.finish();
  EXPECT_EQ(threads.size(), 3U);
  EXPECT_FALSE(threads.contains(std::this_thread::get_id()));
  EXPECT_EQ(calls.load(), 3);
}

TEST(LocalExecutor, InlineRunsInPlaceAndThreadsRefuseATimeLimit) {
  std::atomic<int> calls{0};
  slots_of slots(fussy{&calls}, 1);
  run_gate gate{.stop = {}, .failures = failure_budget(0)};
  local_executor<int, int, slots_of> in_place(slots, gate, item_limits{}, true, 8, nullptr);
  EXPECT_TRUE(in_place.in_place());
  EXPECT_EQ(in_place.size(), 1U);
  EXPECT_EQ(in_place.kind(), parmill::backend_kind::inline_);
  in_place.finish();
  local_executor<int, int, slots_of> timed(slots, gate, item_limits{.timeout = std::chrono::seconds(1)},
                                           false, 2, nullptr);
  EXPECT_THROW((void)timed.open(false), std::invalid_argument);
  timed.finish();
}

TEST(LocalExecutor, AMapCannotBeIteratedFromAThreadOfItsOwnPool) {
  std::atomic<int> calls{0};
  slots_of slots(fussy{&calls}, 2);
  run_gate gate{.stop = {}, .failures = failure_budget(0)};
  parmill::thread_pool pool(2);
  local_executor<int, int, slots_of> ex(slots, gate, item_limits{}, false, pool.size(), &pool);
  EXPECT_EQ(ex.open(false), run_role::drive) << "from a thread of the program";
  auto refused = pool.submit([&] {
    try {
      (void)ex.open(false);
      return false;
    } catch (const std::logic_error&) {
      return true;
    }
  });
  EXPECT_TRUE(refused.get());
  ex.finish();
}

} // namespace
