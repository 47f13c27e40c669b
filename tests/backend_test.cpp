// Conformance tests of parmill/backend.hpp: what each backend value names.
#include <parmill/backend.hpp>
#include <parmill/thread_pool.hpp>

#include <gtest/gtest.h>

#include <thread>
#include <variant>

namespace {

parmill::backend default_argument(parmill::backend b = parmill::inline_backend()) { return b; }

TEST(Backend, InlineIsTheDefaultWithOneWorker) {
  const parmill::backend b = default_argument();
  EXPECT_EQ(b.kind(), parmill::backend_kind::inline_);
  EXPECT_EQ(b.workers(), 1U);
  EXPECT_EQ(b.pool(), nullptr);
  EXPECT_EQ(to_string(b.kind()), "inline");
}

TEST(Backend, ThreadsNamesItsCountAndZeroMeansHardware) {
  EXPECT_EQ(parmill::threads(3).kind(), parmill::backend_kind::threads);
  EXPECT_EQ(parmill::threads(3).workers(), 3U);
  EXPECT_EQ(parmill::threads(0).workers(), std::max(1U, std::thread::hardware_concurrency()));
  EXPECT_EQ(parmill::threads(3).pool(), nullptr);
}

TEST(Backend, APoolIsABackendWithOneWorkerPerThread) {
  parmill::thread_pool pool(2);
  parmill::backend b = pool;
  EXPECT_EQ(b.kind(), parmill::backend_kind::threads);
  EXPECT_EQ(b.workers(), 2U);
  EXPECT_EQ(b.pool(), &pool);
}

TEST(Backend, EachKindIsDescribedByItsOwnSmallValue) {
  EXPECT_TRUE(std::holds_alternative<parmill::backends::in_caller>(parmill::inline_backend().describe()));
  const parmill::backend three_threads = parmill::threads(3);
  const auto* threads = std::get_if<parmill::backends::on_threads>(&three_threads.describe());
  ASSERT_NE(threads, nullptr);
  EXPECT_EQ(threads->workers, 3U);
  EXPECT_EQ(threads->pool, nullptr);
  const parmill::backend processes = parmill::processes(4);
  const auto* in_processes = std::get_if<parmill::backends::in_processes>(&processes.describe());
  ASSERT_NE(in_processes, nullptr);
  EXPECT_EQ(in_processes->workers, 4U);
  EXPECT_EQ(processes.kind(), parmill::backend_kind::processes);
}

} // namespace
