// The running median behind --timeout N% (cli/median_runtime.hpp), on its own.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "median_runtime.hpp"

using parmill::cli::median_runtime;

TEST(MedianRuntime, NothingBeforeThreeRuntimes) {
  median_runtime m;
  EXPECT_FALSE(m.get());
  m.add(1);
  m.add(2);
  EXPECT_FALSE(m.get());
  m.add(30);
  ASSERT_TRUE(m.get());
  EXPECT_DOUBLE_EQ(*m.get(), 2);
}

TEST(MedianRuntime, TheMiddleValueWhateverTheOrderAndTheMeanOfTwoWhenEven) {
  median_runtime m;
  for (double seconds : {9.0, 1.0, 8.0, 2.0, 7.0})
    m.add(seconds);
  EXPECT_DOUBLE_EQ(*m.get(), 7);
  m.add(3);
  EXPECT_DOUBLE_EQ(*m.get(), 5); // 1 2 3 | 7 8 9
  for (double seconds : {0.5, 0.5, 0.5, 0.5})
    m.add(seconds);
  EXPECT_DOUBLE_EQ(*m.get(), 1.5); // 0.5 0.5 0.5 0.5 1 | 2 3 7 8 9: (1 + 2) / 2
}

TEST(MedianRuntime, ThreadsAddingAtOnceLoseNothing) {
  median_runtime m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&m] {
      for (int i = 1; i <= 1000; ++i)
        m.add(i);
    });
  for (std::thread& t : threads)
    t.join();
  EXPECT_DOUBLE_EQ(*m.get(), 500.5); // the 2000th and 2001st of 4 x (1..1000)
}
