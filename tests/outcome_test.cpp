// Conformance tests of parmill/outcome.hpp: what a value or an error outcome promises.
#include <parmill/outcome.hpp>

#include <gtest/gtest.h>

#include <memory>
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

TEST(Outcome, FailureKindsHaveStableNames) {
  EXPECT_EQ(to_string(parmill::failure_kind::exception), "exception");
  EXPECT_EQ(to_string(parmill::failure_kind::crashed), "crashed");
  EXPECT_EQ(to_string(parmill::failure_kind::timed_out), "timed_out");
  EXPECT_EQ(to_string(parmill::failure_kind::cancelled), "cancelled");
}

} // namespace
