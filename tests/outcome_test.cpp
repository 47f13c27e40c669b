// Conformance tests of parmill/outcome.hpp: what a value or an error outcome promises.
#include <parmill/outcome.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

parmill::item_error make_error(std::size_t index, std::exception_ptr original = nullptr) {
  return {.index = index,
          .worker = 3,
          .kind = parmill::failure_kind::exception,
          .message = "bad header",
          .exception = std::move(original)};
}

TEST(Outcome, ValueOutcomeGivesItsValueAndIndex) {
  parmill::outcome<std::string> r(7, "seven");
  EXPECT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.index(), 7U);
  EXPECT_EQ(r.value(), "seven");
  EXPECT_EQ(*r, "seven");
  EXPECT_EQ(r->size(), 5U);
  EXPECT_THROW((void)r.error(), std::logic_error);
}

TEST(Outcome, ErrorOutcomeNamesItemWorkerKindAndMessage) {
  parmill::outcome<int> r(make_error(12));
  EXPECT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.index(), 12U);
  EXPECT_EQ(r.error().worker, 3U);
  EXPECT_EQ(r.error().kind, parmill::failure_kind::exception);
  EXPECT_EQ(r.error().describe(), "item 12 on worker 3: exception: bad header");
}

TEST(Outcome, ValueOfAFailedItemThrowsItemFailedWithTheError) {
  parmill::outcome<int> r(make_error(4));
  try {
    (void)r.value();
    FAIL() << "value() of a failed outcome must throw";
  } catch (const parmill::item_failed& e) {
    EXPECT_EQ(e.error().index, 4U);
    EXPECT_STREQ(e.what(), "item 4 on worker 3: exception: bad header");
  }
  EXPECT_THROW((void)*r, parmill::item_failed);
  EXPECT_THROW((void)r.operator->(), parmill::item_failed);
}

TEST(Outcome, OriginalExceptionIsNestedAndRecoverable) {
  struct decode_error : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  parmill::outcome<int> r(make_error(1, std::make_exception_ptr(decode_error("truncated"))));
  try {
    (void)r.value();
    FAIL() << "value() of a failed outcome must throw";
  } catch (const parmill::item_failed& e) {
    EXPECT_THROW(std::rethrow_if_nested(e), decode_error);
  }
}

TEST(Outcome, MoveOnlyValuesMoveOut) {
  parmill::outcome<std::unique_ptr<int>> r(0, std::make_unique<int>(5));
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

TEST(Outcome, IsOneWordBiggerThanASmallValue) {
  // The consumer of a map reads every outcome a worker wrote: a smaller outcome is less traffic.
  static_assert(sizeof(parmill::outcome<std::uint64_t>) == 2 * sizeof(std::size_t));
  static_assert(sizeof(parmill::outcome<char>) == 2 * sizeof(std::size_t));
  static_assert(sizeof(parmill::outcome<std::string>) == sizeof(std::string) + sizeof(std::size_t));
}

TEST(Outcome, LargestIndexSurvivesBesideTheFailedFlag) {
  const std::size_t largest = ~std::size_t{0} >> 1;
  parmill::outcome<int> ok(largest, 1);
  EXPECT_TRUE(ok.has_value());
  EXPECT_EQ(ok.index(), largest);
  parmill::outcome<int> failed(make_error(largest));
  EXPECT_FALSE(failed.has_value());
  EXPECT_EQ(failed.index(), largest);
}

TEST(Outcome, CopiesAndAssignmentsCarryValueOrErrorAndIndex) {
  parmill::outcome<std::string> ok(1, "one");
  parmill::outcome<std::string> failed(make_error(2));
  parmill::outcome<std::string> copy_of_failed = failed;
  EXPECT_EQ(copy_of_failed.index(), 2U);
  EXPECT_EQ(copy_of_failed.error().message, "bad header");
  EXPECT_EQ(failed.error().message, "bad header"); // a deep copy: the original keeps its error

  parmill::outcome<std::string> target(9, "nine");
  target = failed; // value -> error
  EXPECT_FALSE(target.has_value());
  EXPECT_EQ(target.index(), 2U);
  target = ok; // error -> value
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(*target, "one");
  EXPECT_EQ(target.index(), 1U);
  target = parmill::outcome<std::string>(3, "three"); // value -> value, moved
  EXPECT_EQ(*target, "three");
  EXPECT_EQ(target.index(), 3U);
  parmill::outcome<std::string> moved = std::move(copy_of_failed);
  EXPECT_EQ(moved.error().index, 2U);
  target = std::move(moved); // value -> error, moved
  EXPECT_EQ(target.error().message, "bad header");
}

struct throws_when_copied {
  int n = 0;
  explicit throws_when_copied(int v) : n(v) {}
  throws_when_copied(const throws_when_copied&) { throw std::runtime_error("no copies"); }
  throws_when_copied(throws_when_copied&&) noexcept = default;
  throws_when_copied& operator=(const throws_when_copied&) { throw std::runtime_error("no copies"); }
  throws_when_copied& operator=(throws_when_copied&&) noexcept = default;
};

TEST(Outcome, AValueWhoseCopyThrowsLeavesTheTargetFailedNotHalfBuilt) {
  parmill::outcome<throws_when_copied> source(4, throws_when_copied(4));
  parmill::outcome<throws_when_copied> target(make_error(5));
  EXPECT_THROW(target = source, std::runtime_error); // error -> value: the copy throws
  EXPECT_FALSE(target.has_value());
  EXPECT_EQ(target.index(), 4U);
  EXPECT_EQ(target.error().message, "the value was lost: copying or moving it threw");
  EXPECT_THROW((void)target.value(), parmill::item_failed);
  EXPECT_EQ(source.value().n, 4); // the source is untouched
}

TEST(Outcome, FailureKindsHaveStableNames) {
  EXPECT_EQ(to_string(parmill::failure_kind::exception), "exception");
  EXPECT_EQ(to_string(parmill::failure_kind::crashed), "crashed");
  EXPECT_EQ(to_string(parmill::failure_kind::timed_out), "timed_out");
  EXPECT_EQ(to_string(parmill::failure_kind::cancelled), "cancelled");
}

} // namespace
