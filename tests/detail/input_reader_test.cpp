// Whitebox tests of parmill/detail/input_reader.hpp: chunks of consecutive items, read lazily,
// skipping what a journal has done, and keeping the input's exception for the consumer.
#include <parmill/detail/input_reader.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <iterator>
#include <list>
#include <memory>
#include <ranges>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace {

using parmill::detail::input_reader;

TEST(InputReader, AVectorIsReadInBulkInChunksOfConsecutiveItems) {
  std::vector<int> input{0, 1, 2, 3, 4, 5, 6};
  auto view = std::views::all(input);
  input_reader<decltype(view)> reader(view);
  static_assert(input_reader<decltype(view)>::bulk_readable);
  reader.open({});
  std::vector<int> items;
  auto got = reader.read(items, 3);
  EXPECT_EQ(items, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(got.first, 0U);
  EXPECT_FALSE(got.ended);
  got = reader.read(items, 3);
  EXPECT_EQ(items, (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(got.first, 3U);
  EXPECT_FALSE(got.ended);
  got = reader.read(items, 3);
  EXPECT_EQ(items, (std::vector<int>{6}));
  EXPECT_EQ(got.first, 6U);
  EXPECT_TRUE(got.ended);
  EXPECT_TRUE(reader.ended());
  EXPECT_FALSE(reader.failed());
}

TEST(InputReader, AStreamIsReadItemByItem) {
  std::istringstream text("10 20 30");
  auto view = std::views::istream<int>(text);
  input_reader<decltype(view)> reader(view);
  static_assert(!input_reader<decltype(view)>::bulk_readable);
  reader.open({});
  std::vector<int> items;
  auto got = reader.read(items, 2);
  EXPECT_EQ(items, (std::vector<int>{10, 20}));
  EXPECT_FALSE(got.ended) << "whether the input has ended is asked only when the next item is wanted";
  got = reader.read(items, 2);
  EXPECT_EQ(items, (std::vector<int>{30}));
  EXPECT_EQ(got.first, 2U);
  EXPECT_TRUE(got.ended);
}

/// An input that counts how often it is stepped (`++`), which on a pipe may wait for data.
struct stepped_input {
  std::size_t* steps;
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    int at = 0;
    std::size_t* steps = nullptr;
    int operator*() const { return at; }
    iterator& operator++() {
      ++at;
      ++*steps;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return at == 10; }
  };
  iterator begin() const { return iterator{0, steps}; }
  std::default_sentinel_t end() const { return {}; }
};

TEST(InputReader, AnItemIsHandedOnBeforeTheInputIsSteppedPastIt) {
  std::size_t steps = 0;
  stepped_input view{&steps};
  input_reader<stepped_input> reader(view);
  reader.open({});
  std::vector<int> items;
  reader.read(items, 3);
  EXPECT_EQ(items, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(steps, 2U) << "the step past item 2 could wait for item 3: it waits for the next read";
  reader.read(items, 1);
  EXPECT_EQ(items, (std::vector<int>{3}));
  EXPECT_EQ(steps, 3U);
}

TEST(InputReader, ItemsTheJournalHasDoneAreSkippedAndEndAChunk) {
  std::list<int> input{0, 1, 2, 3, 4};
  auto view = std::views::all(input);
  input_reader<decltype(view)> reader(view);
  reader.open(std::set<std::size_t>{1, 2});
  EXPECT_TRUE(reader.skips());
  std::vector<int> items;
  auto got = reader.read(items, 5);
  EXPECT_EQ(items, (std::vector<int>{0})) << "a chunk's items are consecutive";
  EXPECT_EQ(got.first, 0U);
  got = reader.read(items, 5);
  EXPECT_EQ(items, (std::vector<int>{3, 4}));
  EXPECT_EQ(got.first, 3U);
  EXPECT_TRUE(got.ended);
}

TEST(InputReader, AVectorWithSkippedItemsIsReadOneItemAtATime) {
  std::vector<int> input{0, 1, 2, 3};
  auto view = std::views::all(input);
  input_reader<decltype(view)> reader(view);
  reader.open(std::set<std::size_t>{0});
  std::vector<int> items;
  auto got = reader.read(items, 10);
  EXPECT_EQ(items, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(got.first, 1U);
  EXPECT_TRUE(got.ended);
}

TEST(InputReader, AnInputThatThrowsEndsWithTheItemsBeforeAndKeepsTheException) {
  auto view = std::views::iota(0, 10) | std::views::transform([](int i) {
                if (i == 2) throw std::runtime_error("bad item 2");
                return i;
              });
  input_reader<decltype(view)> reader(view);
  reader.open({});
  std::vector<int> items;
  const auto got = reader.read(items, 5);
  EXPECT_EQ(items, (std::vector<int>{0, 1}));
  EXPECT_TRUE(got.ended);
  ASSERT_TRUE(reader.failed());
  EXPECT_THROW(std::rethrow_exception(reader.take_error()), std::runtime_error);
  EXPECT_FALSE(reader.failed()) << "the exception is taken once";
}

TEST(InputReader, MoveOnlyItemsAreMovedOut) {
  std::vector<std::unique_ptr<int>> input;
  for (int i = 0; i < 3; ++i)
    input.push_back(std::make_unique<int>(i));
  auto view = std::views::all(input);
  input_reader<decltype(view)> reader(view);
  static_assert(input_reader<decltype(view)>::moves_items_out);
  reader.open({});
  std::vector<std::unique_ptr<int>> items;
  reader.read(items, 3);
  ASSERT_EQ(items.size(), 3U);
  EXPECT_EQ(*items[2], 2);
  EXPECT_EQ(input[0], nullptr);
}

TEST(InputReader, TheClockIsLookedAtAfterEachOfTheFirstEightItemsThenEverySixtyFour) {
  using reader = input_reader<std::ranges::ref_view<std::vector<int>>>;
  EXPECT_EQ(reader::next_clock_look(0, 1000), 1U);
  EXPECT_EQ(reader::next_clock_look(7, 1000), 8U);
  EXPECT_EQ(reader::next_clock_look(8, 1000), 64U);
  EXPECT_EQ(reader::next_clock_look(64, 1000), 128U);
  EXPECT_EQ(reader::next_clock_look(64, 100), 100U);
}

} // namespace
