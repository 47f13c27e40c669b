// Whitebox tests of parmill/detail/completed_chunks.hpp: the reorder buffer between a map's
// workers and its consumer.
#include <parmill/detail/completed_chunks.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using chunks = parmill::detail::completed_chunks<std::string>;

TEST(CompletedChunks, InInputOrderAChunkWaitsForTheChunksBeforeIt) {
  chunks c(parmill::order::input);
  std::string taken;
  EXPECT_FALSE(c.add(2, "two")) << "chunk 2 is not the next to take";
  EXPECT_FALSE(c.add(1, "one"));
  EXPECT_FALSE(c.take(taken)) << "chunk 0 has not come";
  EXPECT_TRUE(c.add(0, "zero")) << "chunk 0 is the next: a waiting consumer must be woken";
  for (const char* expected : {"zero", "one", "two"}) {
    ASSERT_TRUE(c.take(taken));
    EXPECT_EQ(taken, expected);
  }
  EXPECT_EQ(c.taken(), 3U);
  EXPECT_FALSE(c.take(taken));
  EXPECT_TRUE(c.add(3, "three"));
}

TEST(CompletedChunks, InCompletionOrderChunksAreTakenAsTheyCame) {
  chunks c(parmill::order::completion);
  std::string taken;
  EXPECT_TRUE(c.add(2, "two"));
  EXPECT_TRUE(c.add(0, "zero"));
  ASSERT_TRUE(c.take(taken));
  EXPECT_EQ(taken, "two");
  ASSERT_TRUE(c.take(taken));
  EXPECT_EQ(taken, "zero");
  EXPECT_FALSE(c.take(taken));
  EXPECT_EQ(c.taken(), 2U);
}

} // namespace
