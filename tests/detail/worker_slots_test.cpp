// Whitebox tests of parmill/detail/worker_slots.hpp: a plain function is shared by every worker;
// a per_worker factory builds one object per worker, inside it, on its first item, again after a
// failed build, and destroys it on release; a holder keeps an object apart from the slots.
#include <parmill/detail/worker_slots.hpp>
#include <parmill/workers.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <variant>
#include <vector>

namespace {

using parmill::detail::worker_slots;

parmill::worker_context context_of(std::size_t index, std::size_t count) {
  return parmill::worker_context{
      .index = index, .count = count, .backend = parmill::backend_kind::threads, .stop = {}};
}

TEST(WorkerSlots, APlainFunctionServesEveryWorker) {
  worker_slots<int (*)(int&), int> slots([](int& x) { return x * 3; }, 4);
  int item = 5;
  EXPECT_EQ(slots.call(0, context_of(0, 4), item), 15);
  EXPECT_EQ(slots.call(3, context_of(3, 4), item), 15);
}

TEST(WorkerSlots, AVoidFunctionGivesMonostate) {
  int seen = 0;
  auto f = [&seen](int x) { seen = x; };
  worker_slots<decltype(f), int> slots(f, 1);
  int item = 9;
  static_assert(std::is_same_v<decltype(slots.call(0, context_of(0, 1), item)), std::monostate>);
  (void)slots.call(0, context_of(0, 1), item);
  EXPECT_EQ(seen, 9);
}

/// Each object records which worker built it and counts its live objects.
struct adder {
  std::size_t built_for;
  int* live;
  adder(std::size_t w, int* l) : built_for(w), live(l) { ++*live; }
  adder(const adder&) = delete;
  adder& operator=(const adder&) = delete;
  adder(adder&&) = delete;
  adder& operator=(adder&&) = delete;
  ~adder() { --*live; }
  std::size_t operator()(int) const { return built_for; }
};

TEST(WorkerSlots, EachWorkerBuildsItsObjectOnceOnItsFirstItem) {
  int built = 0, live = 0;
  auto factory = parmill::per_worker([&](const parmill::worker_context& c) {
    ++built;
    return adder(c.index, &live); // built in place: adder neither copies nor moves
  });
  worker_slots<decltype(factory), int> slots(factory);
  slots.set_workers(3);
  EXPECT_EQ(built, 0) << "nothing is built before a worker's first item";
  int item = 0;
  EXPECT_EQ(slots.call(2, context_of(2, 3), item), 2U);
  EXPECT_EQ(slots.call(2, context_of(2, 3), item), 2U);
  EXPECT_EQ(slots.call(0, context_of(0, 3), item), 0U);
  EXPECT_EQ(built, 2);
  EXPECT_EQ(live, 2);
  slots.release(2);
  EXPECT_EQ(live, 1) << "release destroys that worker's object only";
  EXPECT_EQ(slots.call(2, context_of(2, 3), item), 2U);
  EXPECT_EQ(built, 3) << "a released worker builds a new object on its next item";
}

TEST(WorkerSlots, AFailedBuildFailsThatCallAndIsTriedAgainOnTheNext) {
  int attempts = 0, live = 0;
  auto factory = parmill::per_worker([&](const parmill::worker_context& c) {
    if (++attempts == 1) throw std::runtime_error("no GPU yet");
    return adder(c.index, &live);
  });
  worker_slots<decltype(factory), int> slots(factory, 1);
  int item = 0;
  EXPECT_THROW((void)slots.call(0, context_of(0, 1), item), std::runtime_error);
  EXPECT_EQ(slots.call(0, context_of(0, 1), item), 0U);
  EXPECT_EQ(attempts, 2);
}

TEST(WorkerSlots, AHolderKeepsItsOwnObjectApartFromTheSlots) {
  int built = 0, live = 0;
  auto factory = parmill::per_worker([&](const parmill::worker_context& c) {
    ++built;
    return adder(c.index, &live);
  });
  worker_slots<decltype(factory), int> slots(factory, 2);
  int item = 0;
  {
    decltype(slots)::holder first, second;
    EXPECT_EQ(slots.call_with(first, context_of(1, 2), item), 1U);
    EXPECT_EQ(slots.call_with(first, context_of(1, 2), item), 1U);
    EXPECT_EQ(slots.call_with(second, context_of(1, 2), item), 1U);
    EXPECT_EQ(built, 2) << "one object per holder, built on its first item";
    EXPECT_EQ(live, 2);
  }
  EXPECT_EQ(live, 0) << "a holder's object dies with it";
}

} // namespace
