// Whitebox tests of parmill/detail/chunk_sizing.hpp: automatic chunks, guided chunks near the end
// of a sized input, and the window.
#include <parmill/detail/chunk_sizing.hpp>

#include <gtest/gtest.h>

#include <chrono>

namespace {

using parmill::detail::chunk_sizing;
using parmill::detail::chunks_per_worker_in_window;
using parmill::detail::max_auto_chunk;
using namespace std::chrono_literals;

TEST(ChunkSizing, AFixedChunkAndWindowStayAsTheyAre) {
  chunk_sizing s(10, 25, 4, true);
  EXPECT_FALSE(s.automatic());
  EXPECT_EQ(s.want(3), 10U) << "a fixed chunk is not guided";
  EXPECT_EQ(s.window(), 25U);
  EXPECT_EQ(s.within_window(100), 25U);
  EXPECT_EQ(s.within_window(0), 1U);
}

TEST(ChunkSizing, AnAutomaticChunkStartsAtOneItemAndGrowsAtMostFourfoldAtATime) {
  chunk_sizing s(0, 0, 2, false);
  EXPECT_TRUE(s.automatic());
  EXPECT_EQ(s.chunk(), 1U);
  EXPECT_EQ(s.window(), 2 * chunks_per_worker_in_window);
  s.adapt(1, 1ns); // an instant item: as large as allowed
  EXPECT_EQ(s.chunk(), 4U);
  s.adapt(4, 4ns);
  EXPECT_EQ(s.chunk(), 16U);
  EXPECT_EQ(s.window(), 2 * chunks_per_worker_in_window * 16);
  for (int i = 0; i < 20; ++i)
    s.adapt(s.chunk(), 1ns);
  EXPECT_EQ(s.chunk(), max_auto_chunk);
}

TEST(ChunkSizing, AnAutomaticChunkTakesAboutItsTargetTime) {
  chunk_sizing unsized(0, 0, 1, false);
  for (int i = 0; i < 10; ++i)
    unsized.adapt(unsized.chunk(), unsized.chunk() * 100us); // 100 us an item, 4 ms a chunk
  EXPECT_EQ(unsized.chunk(), 40U);
  chunk_sizing sized(0, 0, 1, true);
  for (int i = 0; i < 10; ++i)
    sized.adapt(sized.chunk(), sized.chunk() * 100us); // 16 ms a chunk for a sized input
  EXPECT_EQ(sized.chunk(), 160U);
  sized.adapt(1, 1s); // a slow item: back to one at a time
  EXPECT_EQ(sized.chunk(), 1U);
}

TEST(ChunkSizing, NearTheEndOfASizedInputChunksShrink) {
  chunk_sizing s(0, 0, 2, true);
  for (int i = 0; i < 10; ++i)
    s.adapt(s.chunk(), 1ns);
  EXPECT_EQ(s.want(std::nullopt), max_auto_chunk) << "an unsized input gets the whole chunk";
  EXPECT_EQ(s.want(1'000'000), max_auto_chunk);
  EXPECT_EQ(s.want(400), 100U) << "a quarter of what is left, with two workers";
  EXPECT_EQ(s.want(3), 1U);
  EXPECT_EQ(s.want(0), max_auto_chunk) << "nothing left to share: the end comes from the input";
}

} // namespace
