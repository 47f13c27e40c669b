// Whitebox tests of parmill/detail/chunk_results.hpp and parmill/detail/failures.hpp: how an item's
// result or failure is encoded in a worker process or rank and decoded by the map, when results
// are sent, and how failures are built.
#include <parmill/detail/chunk_results.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace parmill::detail;

/// The bytes of `batch` as one buffer, as the other side receives them.
std::vector<std::byte> received(result_batch<std::string>& batch) {
  std::vector<std::byte> bytes;
  for (const auto& piece : batch.bytes().pieces()) {
    const auto* p = static_cast<const std::byte*>(piece.iov_base);
    bytes.insert(bytes.end(), p, p + piece.iov_len);
  }
  return bytes;
}

TEST(ChunkResults, AValueAnExceptionAndATimeoutCrossAndComeBackAsOutcomes) {
  result_batch<std::string> batch(false);
  batch.add(run_item<std::string>([] { return std::string("fine"); }, 0));
  batch.add(run_item<std::string>([]() -> std::string { throw std::invalid_argument("bad input"); }, 0));
  batch.add_timed_out("still running after 1 s");
  EXPECT_EQ(batch.count(), 3U);
  const std::vector<std::byte> bytes = received(batch);
  parmill::reader r(bytes.data(), bytes.size());
  const auto value = decode_result<std::string>(r, 10, 2);
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, "fine");
  EXPECT_EQ(value.index(), 10U);
  const auto thrown = decode_result<std::string>(r, 11, 2);
  ASSERT_FALSE(thrown.has_value());
  EXPECT_EQ(thrown.error().kind, parmill::failure_kind::exception);
  EXPECT_EQ(thrown.error().message, "bad input");
  EXPECT_EQ(thrown.error().worker, 2U);
  try {
    std::rethrow_exception(thrown.error().exception);
  } catch (const parmill::remote_error& e) {
    EXPECT_EQ(e.type(), "std::invalid_argument");
  }
  const auto late = decode_result<std::string>(r, 12, 2);
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().kind, parmill::failure_kind::timed_out);
  EXPECT_EQ(late.error().message, "still running after 1 s");
  EXPECT_EQ(r.remaining(), 0U);
}

TEST(ChunkResults, AThrowingItemIsTriedAgainWithinItsRetries) {
  int calls = 0;
  const auto ran = run_item<int>(
      [&] {
        if (++calls < 3) throw std::runtime_error("flaky");
        return calls;
      },
      2);
  ASSERT_TRUE(ran.value.has_value());
  EXPECT_EQ(*ran.value, 3);
  calls = 0;
  const auto failed = run_item<int>([&]() -> int { throw ++calls; }, 1);
  EXPECT_FALSE(failed.value.has_value());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(failed.message, "an exception not derived from std::exception");
  EXPECT_EQ(failed.type, "int");
}

TEST(ChunkResults, UnderATimeLimitEveryResultIsDueAtOnce) {
  result_batch<std::string> per_item(true);
  EXPECT_TRUE(per_item.due());
  const auto before = std::chrono::steady_clock::now();
  result_batch<std::string> batched(false);
  batched.add(run_item<std::string>([] { return std::string("small"); }, 0));
  // Unless this thread was held up for the 2 ms itself (a loaded machine, a sanitizer).
  EXPECT_TRUE(!batched.due() ||
              std::chrono::steady_clock::now() - before > result_batch<std::string>::max_delay)
      << "a small batch waits (up to 2 ms)";
  batched.add(
      run_item<std::string>([] { return std::string(result_batch<std::string>::max_bytes, 'x'); }, 0));
  EXPECT_TRUE(batched.due()) << "64 KiB go at once";
  batched.sent();
  EXPECT_EQ(batched.count(), 0U);
  EXPECT_EQ(batched.bytes().size(), 0U);
}

TEST(ChunkResults, ABatchIsDueTwoMillisecondsAfterTheLastWasSent) {
  result_batch<int> batch(false);
  batch.add(run_item<int>([] { return 1; }, 0));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!batch.due() && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_TRUE(batch.due());
}

TEST(ChunkResults, TallyCountsFailuresAndRecordsAllButCancellations) {
  std::vector<parmill::outcome<int>> out;
  out.emplace_back(0, 1);
  out.emplace_back(parmill::item_error{.index = 1,
                                       .worker = 0,
                                       .kind = parmill::failure_kind::crashed,
                                       .message = "killed",
                                       .exception = nullptr});
  out.emplace_back(cancelled_error(2, 0, "not finished: the run stopped"));
  failure_budget budget(0);
  const chunk_report report = tally(out, 0, budget);
  EXPECT_EQ(report.failed, 1U);
  EXPECT_EQ(report.cancelled, 1U);
  EXPECT_EQ(budget.cutoff(), 1U);
  EXPECT_EQ(tally(out, 3, budget).failed, 0U) << "only the outcomes from `from` on are this chunk's";
}

TEST(ChunkResults, TheRestOfAStoppedChunkIsCancelled) {
  std::vector<parmill::outcome<int>> out;
  cancel_rest(3, 100, 1, 3, out);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].index(), 101U);
  EXPECT_EQ(out[1].error().kind, parmill::failure_kind::cancelled);
  EXPECT_EQ(out[1].error().message, "not finished: the run stopped");
  EXPECT_EQ(out[1].error().worker, 3U);
}

TEST(Failures, AnExceptionBecomesItsMessageAndIsKept) {
  try {
    throw std::out_of_range("index 9");
  } catch (...) {
    EXPECT_EQ(current_exception_message(), "index 9");
    const parmill::item_error e = current_exception_error(4, 1);
    EXPECT_EQ(e.index, 4U);
    EXPECT_EQ(e.worker, 1U);
    EXPECT_EQ(e.kind, parmill::failure_kind::exception);
    EXPECT_EQ(e.message, "index 9");
    EXPECT_THROW(std::rethrow_exception(e.exception), std::out_of_range);
  }
  try {
    throw 42;
  } catch (...) {
    EXPECT_EQ(current_exception_message(), "an exception not derived from std::exception");
  }
}

} // namespace
