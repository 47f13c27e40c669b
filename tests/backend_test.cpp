// Conformance tests of parmill/backend.hpp: what each backend value names.
#include <parmill/backend.hpp>
#include <parmill/thread_pool.hpp>

#include <gtest/gtest.h>

#include <thread>

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

} // namespace
