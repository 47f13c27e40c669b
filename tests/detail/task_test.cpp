// Whitebox tests of parmill/detail/task.hpp: a move-only void() callable that keeps small
// callables in place (no allocation), larger or throwing-move ones on the heap, and destroys each
// exactly once.
#include <parmill/detail/task.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

namespace {
std::atomic<long> allocations{0};
} // namespace

// Every allocation of this test binary is counted, so that "stored in place" can be checked.
void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using parmill::detail::task;

/// Counts the live copies of itself; `calls` counts the calls of any copy.
struct counted {
  int* live;
  int* calls;
  counted(int* l, int* c) : live(l), calls(c) { ++*live; }
  counted(const counted& o) : live(o.live), calls(o.calls) { ++*live; }
  counted(counted&& o) noexcept : live(o.live), calls(o.calls) { ++*live; }
  counted& operator=(const counted&) = delete;
  counted& operator=(counted&&) = delete;
  ~counted() { --*live; }
  void operator()() const { ++*calls; }
};

/// As `counted`, with padding beyond the in-place size.
struct big_counted : counted {
  using counted::counted;
  std::array<char, task::inline_size + 1> padding{};
};

/// As `counted`, but its move may throw: it must not be moved in place.
struct throwing_move {
  int* calls;
  explicit throwing_move(int* c) : calls(c) {}
  throwing_move(const throwing_move&) = default;
  throwing_move(throwing_move&& o) noexcept(false) : calls(o.calls) {}
  throwing_move& operator=(const throwing_move&) = delete;
  throwing_move& operator=(throwing_move&&) = delete;
  ~throwing_move() = default;
  void operator()() const { ++*calls; }
};

TEST(Task, ASmallCallableIsStoredInPlaceWithoutAllocating) {
  int live = 0, calls = 0;
  const long before = allocations.load();
  {
    task t(counted(&live, &calls));
    task moved(std::move(t));
    moved();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(t); // NOLINT(bugprone-use-after-move): a moved-from task is empty
  }
  EXPECT_EQ(allocations.load() - before, 0) << "a small nothrow-movable callable must not allocate";
  EXPECT_EQ(live, 0) << "every copy destroyed";
}

TEST(Task, ALargeCallableGoesOnTheHeapAndIsDestroyedOnce) {
  int live = 0, calls = 0;
  const long before = allocations.load();
  {
    task t(big_counted(&live, &calls));
    EXPECT_EQ(allocations.load() - before, 1);
    task moved(std::move(t)); // moves the pointer only
    EXPECT_EQ(allocations.load() - before, 1);
    EXPECT_EQ(live, 1);
    moved();
    moved();
    EXPECT_EQ(calls, 2);
  }
  EXPECT_EQ(live, 0);
}

TEST(Task, ACallableWhoseMoveMayThrowIsKeptOnTheHeap) {
  int calls = 0;
  const long before = allocations.load();
  task t{throwing_move(&calls)};
  EXPECT_EQ(allocations.load() - before, 1);
  task moved(std::move(t));
  moved();
  EXPECT_EQ(calls, 1);
}

TEST(Task, AMoveOnlyCallableWorks) {
  auto owned = std::make_unique<int>(41);
  int seen = 0;
  task t([p = std::move(owned), &seen] { seen = *p + 1; });
  t();
  EXPECT_EQ(seen, 42);
}

TEST(Task, ResetAndMoveAssignmentDestroyTheOldCallableWithoutCallingIt) {
  int live = 0, calls = 0;
  task a(counted(&live, &calls));
  task b(big_counted(&live, &calls));
  EXPECT_EQ(live, 2);
  a = std::move(b); // a's callable destroyed, b's moved in
  EXPECT_EQ(live, 1);
  EXPECT_FALSE(b); // NOLINT(bugprone-use-after-move)
  a.reset();
  EXPECT_FALSE(a);
  EXPECT_EQ(live, 0);
  EXPECT_EQ(calls, 0);
  a = std::move(a); // NOLINT: self-move leaves it as it was (empty)
  EXPECT_FALSE(a);
}

TEST(Task, ADefaultTaskIsEmpty) {
  task t;
  EXPECT_FALSE(t);
  t.reset(); // harmless
  EXPECT_FALSE(t);
}

} // namespace
