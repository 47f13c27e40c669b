// Conformance tests of map and pipeline as C++20 ranges (parmill/map.hpp, parmill/pipeline.hpp):
// composing with std::views whether held in a variable or not, any std::ranges::input_range as the
// input (istream views, move-only generators, sentinel-terminated ranges, iterators that cannot be
// default-constructed), an item starting as soon as it is read, and leaving the loop stopping the
// run; each swept over inline, threads(2) and processes(2).
#include <parmill/map.hpp>
#include <parmill/pipeline.hpp>

#include <gtest/gtest.h>

#include "helpers/backend_sweep.hpp"
#include "helpers/cross_process.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <iterator>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <ranges>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using parmill_test::where;

/// How long a test waits for something that should take milliseconds before it fails.
constexpr auto patience = 5s;
/// How long a test watches for calls that must not start (it passes only by waiting this long).
constexpr auto watch = 500ms;

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

using parmill_test::call_log;
using parmill_test::gate;

// --- inputs of every kind ---------------------------------------------------------------------

/// Like std::generator: a move-only view whose iterator is move-only and cannot be
/// default-constructed, yielding 0, 1, ..., n-1.
class counting_generator : public std::ranges::view_base {
public:
  explicit counting_generator(int n) : n_(n) {}
  counting_generator(counting_generator&&) = default;
  counting_generator& operator=(counting_generator&&) = default;

  class iterator {
  public:
    using difference_type = std::ptrdiff_t;
    using value_type = int;
    explicit iterator(counting_generator* g) : g_(g) {}
    iterator(iterator&&) = default;
    iterator& operator=(iterator&&) = default;
    int operator*() const { return g_->at_; }
    iterator& operator++() {
      ++g_->at_;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

  private:
    [[nodiscard]] bool at_end() const { return g_->at_ >= g_->n_; }
    counting_generator* g_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

private:
  int n_;
  int at_ = 0;
};
static_assert(std::ranges::view<counting_generator> && std::ranges::input_range<counting_generator>);
static_assert(!std::copyable<counting_generator> &&
              !std::default_initializable<counting_generator::iterator>);

/// A range that is not a view, ended by a sentinel of its own type, whose iterator holds a
/// reference (so it cannot be default-constructed): the ints of `values` before the first -1.
class until_minus_one {
public:
  explicit until_minus_one(std::vector<int> values) : values_(std::move(values)) {}

  struct sentinel {};
  class iterator {
  public:
    using difference_type = std::ptrdiff_t;
    using value_type = int;
    iterator(const std::vector<int>& v, std::size_t at) : values_(v), at_(at) {}
    const int& operator*() const { return values_.get()[at_]; }
    iterator& operator++() {
      ++at_;
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++at_;
      return before;
    }
    friend bool operator==(const iterator& it, sentinel) { return it.values_.get()[it.at_] == -1; }

  private:
    std::reference_wrapper<const std::vector<int>> values_;
    std::size_t at_;
  };
  iterator begin() const { return iterator(values_, 0); }
  sentinel end() const { return {}; }

private:
  std::vector<int> values_;
};
static_assert(std::ranges::input_range<until_minus_one> && !std::ranges::view<until_minus_one>);
static_assert(!std::ranges::common_range<until_minus_one> &&
              !std::default_initializable<until_minus_one::iterator>);

/// The whitespace-separated numbers 0 1 ... n-1, as a string for an istream.
std::string numbers_text(int n) {
  std::string text;
  for (int i = 0; i < n; ++i)
    text += std::to_string(i) + " ";
  return text;
}

/// An input whose item 1 is not available until the test says so (as a pipe whose writer has not
/// written it yet): stepping past item 0 (or, for `blocks_in_comparison`, asking whether item 1
/// exists) waits until `release()`, at most `patience`. Items: 0, 1, 2.
class held_back_input {
public:
  explicit held_back_input(bool blocks_in_comparison) : in_comparison_(blocks_in_comparison) {}
  held_back_input(const held_back_input&) = delete;
  held_back_input& operator=(const held_back_input&) = delete;

  /// Item 1 may now be read.
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  /// True when a read of item 1 waited until it gave up (nobody released it in time).
  [[nodiscard]] bool gave_up() const {
    std::lock_guard lock(mutex_);
    return gave_up_;
  }

  class iterator {
  public:
    using difference_type = std::ptrdiff_t;
    using value_type = int;
    explicit iterator(held_back_input* in) : in_(in) {}
    iterator(iterator&&) = default;
    iterator& operator=(iterator&&) = default;
    int operator*() const { return at_; }
    iterator& operator++() {
      if (at_ == 0 && !in_->in_comparison_) in_->wait_for_release();
      ++at_;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

  private:
    [[nodiscard]] bool at_end() const {
      if (at_ == 1 && in_->in_comparison_) in_->wait_for_release();
      return at_ == 3;
    }
    held_back_input* in_;
    int at_ = 0;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

private:
  void wait_for_release() {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, patience, [&] { return released_; })) gave_up_ = true;
  }
  bool in_comparison_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool released_ = false;
  bool gave_up_ = false;
};

class MapRanges : public ::testing::TestWithParam<where> {
protected:
  parmill::backend backend() const { return GetParam().make(); }
  std::size_t workers() const {
    return GetParam().kind == parmill::backend_kind::inline_ ? 1 : GetParam().workers;
  }
  /// Most calls that may have started once the consumer has taken `taken` items and left, while
  /// every later item waits at a gate: the items taken, and one per worker.
  std::size_t calls_allowed(std::size_t taken) const { return taken + workers(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, MapRanges,
                         ::testing::Values(where{parmill::backend_kind::inline_, 1},
                                           where{parmill::backend_kind::threads, 2},
                                           where{parmill::backend_kind::processes, 2}),
                         parmill_test::sweep_name);

const auto value_of = [](const parmill::outcome<int>& r) { return *r; };
const auto is_even = [](const parmill::outcome<int>& r) { return *r % 2 == 0; };

// --- point 1: a map or pipeline, held in a variable or not, composes with std::views ------------

using int_map = decltype(parmill::map(parmill::threads(2), std::vector<int>{}, [](int x) { return x; }));
static_assert(!std::ranges::view<int_map>, "a map owns its run: it is a range, not a view");
static_assert(std::ranges::viewable_range<int_map&> && std::ranges::viewable_range<int_map>);

TEST_P(MapRanges, AMapHeldInAVariableComposesWithTransformAndTake) {
  auto m = parmill::map(backend(), iota_vector(1000), [](int x) { return x * 2; });
  std::vector<int> got;
  for (int x : m | std::views::transform(value_of) | std::views::take(5))
    got.push_back(x);
  EXPECT_EQ(got, (std::vector<int>{0, 2, 4, 6, 8}));
}

TEST_P(MapRanges, AMapTemporaryComposesWithTransformAndTake) {
  std::vector<int> got;
  for (int x : parmill::map(backend(), iota_vector(1000), [](int x) { return x * 2; }) |
                   std::views::transform(value_of) | std::views::take(5))
    got.push_back(x);
  EXPECT_EQ(got, (std::vector<int>{0, 2, 4, 6, 8}));
}

TEST_P(MapRanges, AMapComposesWithFilterHeldInAVariableOrNot) {
  auto m = parmill::map(backend(), iota_vector(10), [](int x) { return x + 1; });
  std::vector<int> held, temporary;
  for (auto& r : m | std::views::filter(is_even))
    held.push_back(*r);
  for (auto& r :
       parmill::map(backend(), iota_vector(10), [](int x) { return x + 1; }) | std::views::filter(is_even))
    temporary.push_back(*r);
  EXPECT_EQ(held, (std::vector<int>{2, 4, 6, 8, 10}));
  EXPECT_EQ(temporary, held);
}

/// A map over 0, 1, 2, ... whose items from 5 on wait at `later_items`; every call is noted.
auto endless_map_held_after_five(const parmill::backend& where, call_log& calls, gate& later_items) {
  return parmill::map(where, std::views::iota(0),
                      [&calls, &later_items](int x) {
                        calls.note();
                        if (x >= 5) later_items.wait(patience);
                        return x;
                      },
                      {.window = 64, .chunk = 1});
}

TEST_P(MapRanges, LeavingAComposedLoopStopsAMapThatStaysInScope) {
  call_log calls;
  gate later_items;
  auto m = endless_map_held_after_five(backend(), calls, later_items);
  std::vector<int> got;
  const auto started = clock_type::now();
  for (int x : m | std::views::transform(value_of) | std::views::take(5))
    got.push_back(x);
  EXPECT_LT(clock_type::now() - started, patience)
      << "take(5) waited for a sixth outcome (the increment after the fifth must not wait)";
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
  later_items.open();
  EXPECT_FALSE(calls.wait_for(calls_allowed(5) + 1, watch))
      << calls.count() << " calls started: the map went on after the loop was left";
}

auto doubling_pipeline(const parmill::backend& where, std::vector<int> input) {
  return parmill::pipeline_builder().source(std::move(input)).pipe([](int& x) { return x * 2; }).build(where);
}
using int_pipeline = decltype(doubling_pipeline(parmill::threads(2), {}));
static_assert(!std::ranges::view<int_pipeline>, "a pipeline owns its run: it is a range, not a view");
static_assert(std::ranges::viewable_range<int_pipeline&> && std::ranges::viewable_range<int_pipeline>);

TEST_P(MapRanges, APipelineHeldInAVariableOrNotComposesWithViews) {
  auto p = doubling_pipeline(backend(), iota_vector(1000));
  std::vector<int> held, temporary, filtered;
  for (int x : p | std::views::transform(value_of) | std::views::take(5))
    held.push_back(x);
  for (int x : doubling_pipeline(backend(), iota_vector(1000)) | std::views::transform(value_of) |
                   std::views::take(5))
    temporary.push_back(x);
  for (auto& r :
       doubling_pipeline(backend(), iota_vector(6)) | std::views::filter([](auto& r) { return *r % 4 == 0; }))
    filtered.push_back(*r);
  EXPECT_EQ(held, (std::vector<int>{0, 2, 4, 6, 8}));
  EXPECT_EQ(temporary, held);
  EXPECT_EQ(filtered, (std::vector<int>{0, 4, 8}));
}

TEST_P(MapRanges, LeavingAComposedLoopStopsAPipelineThatStaysInScope) {
  call_log calls;
  gate later_items;
  auto p = parmill::pipeline_builder()
               .source(std::views::iota(0))
               .pipe(
                   [&](int& x) {
                     calls.note();
                     if (x >= 5) later_items.wait(patience);
                     return x;
                   },
                   {.queue = 64, .chunk = 1})
               .build(backend());
  std::vector<int> got;
  const auto started = clock_type::now();
  for (int x : p | std::views::transform(value_of) | std::views::take(5))
    got.push_back(x);
  EXPECT_LT(clock_type::now() - started, patience)
      << "take(5) waited for a sixth outcome (the increment after the fifth must not wait)";
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
  later_items.open();
  EXPECT_FALSE(calls.wait_for(calls_allowed(5) + 1, watch))
      << calls.count() << " calls started: the pipeline went on after the loop was left";
}

// --- point 2: any input range --------------------------------------------------------------

/// The values of `m`'s outcomes, in order.
template <class Range>
std::vector<int> values_of(Range&& m) {
  std::vector<int> got;
  for (auto& r : m)
    got.push_back(*r);
  return got;
}

std::vector<int> doubled(int n) {
  std::vector<int> v = iota_vector(n);
  for (int& x : v)
    x *= 2;
  return v;
}

const auto twice = [](int x) { return 2 * x; };

TEST_P(MapRanges, ReadsAnIstreamView) {
  std::istringstream temporary_in(numbers_text(300)), held_in(numbers_text(300));
  EXPECT_EQ(values_of(parmill::map(backend(), std::views::istream<int>(temporary_in), twice)), doubled(300));
  auto held = std::views::istream<int>(held_in);
  EXPECT_EQ(values_of(parmill::map(backend(), held, twice)), doubled(300));
}

TEST_P(MapRanges, ReadsAMoveOnlyGeneratorHeldInAVariableOrNot) {
  EXPECT_EQ(values_of(parmill::map(backend(), counting_generator(300), twice)), doubled(300));
  counting_generator held(300);
  EXPECT_EQ(values_of(parmill::map(backend(), held, twice)), doubled(300));
}

TEST_P(MapRanges, ReadsASentinelTerminatedRangeWhoseIteratorCannotBeDefaultConstructed) {
  std::vector<int> values = iota_vector(300);
  values.push_back(-1);
  values.push_back(7); // after the end
  const until_minus_one held(values);
  EXPECT_EQ(values_of(parmill::map(backend(), held, twice)), doubled(300));
  EXPECT_EQ(values_of(parmill::map(backend(), until_minus_one(values), twice)), doubled(300));
  EXPECT_EQ(
      values_of(parmill::map(
          backend(), std::views::iota(0) | std::views::take_while([](int x) { return x < 300; }), twice)),
      doubled(300));
}

TEST_P(MapRanges, APipelineReadsEveryKindOfInputRange) {
  const auto doubling = [&](auto&& input) {
    return values_of(parmill::pipeline_builder()
                         .source(std::forward<decltype(input)>(input))
                         .pipe([](int& x) { return 2 * x; })
                         .build(backend()));
  };
  std::istringstream in(numbers_text(100));
  EXPECT_EQ(doubling(std::views::istream<int>(in)), doubled(100));
  EXPECT_EQ(doubling(counting_generator(100)), doubled(100));
  counting_generator held(100);
  EXPECT_EQ(doubling(held), doubled(100));
  std::vector<int> values = iota_vector(100);
  values.push_back(-1);
  EXPECT_EQ(doubling(until_minus_one(values)), doubled(100));
}

// --- latency: an item starts as soon as it is read -------------------------------------------

/// Runs a map over a `held_back_input` whose item 1 is released only once outcome 0 is yielded.
void expect_item_0_yielded_before_item_1_is_read(const parmill::backend& where, bool blocks_in_comparison,
                                                 parmill::map_options options) {
  held_back_input input(blocks_in_comparison);
  std::vector<std::size_t> yielded;
  for (auto& r : parmill::map(where, input, twice, options)) {
    yielded.push_back(r.index());
    if (r.index() == 0) input.release();
  }
  EXPECT_EQ(yielded.size(), 3U);
  EXPECT_FALSE(input.gave_up()) << "item 0 was held back until item 1 could be read (waited "
                                << std::chrono::duration_cast<std::chrono::seconds>(patience).count()
                                << " s for it)";
}

TEST_P(MapRanges, AnItemStartsAsSoonAsItIsReadNotWhenTheNextOneIsAvailable) {
  for (bool blocks_in_comparison : {false, true}) {
    SCOPED_TRACE(blocks_in_comparison ? "the input blocks in ==" : "the input blocks in ++");
    expect_item_0_yielded_before_item_1_is_read(backend(), blocks_in_comparison, {.chunk = 1});
    expect_item_0_yielded_before_item_1_is_read(backend(), blocks_in_comparison, {}); // automatic chunks
    expect_item_0_yielded_before_item_1_is_read(backend(), blocks_in_comparison,
                                                {.order = parmill::order::completion});
  }
}

/// An input of `fast` items read at once, then `slow` items that each take `read_time` to read
/// (an input that waits for data), noting when each item was read.
class slowing_input {
public:
  slowing_input(int fast, int slow, std::chrono::milliseconds read_time)
      : fast_(fast), total_(fast + slow), read_time_(read_time), read_at_(static_cast<std::size_t>(total_)) {}
  slowing_input(const slowing_input&) = delete;
  slowing_input& operator=(const slowing_input&) = delete;

  /// When item `i` was read.
  [[nodiscard]] clock_type::time_point read_at(std::size_t i) const { return read_at_[i]; }

  class iterator {
  public:
    using difference_type = std::ptrdiff_t;
    using value_type = int;
    explicit iterator(slowing_input* in) : in_(in) {}
    iterator(iterator&&) = default;
    iterator& operator=(iterator&&) = default;
    int operator*() const {
      in_->read_at_[static_cast<std::size_t>(at_)] = clock_type::now();
      return at_;
    }
    iterator& operator++() {
      if (++at_ >= in_->fast_ && at_ < in_->total_) std::this_thread::sleep_for(in_->read_time_);
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

  private:
    [[nodiscard]] bool at_end() const { return at_ == in_->total_; }
    slowing_input* in_;
    int at_ = 0;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

private:
  int fast_, total_;
  std::chrono::milliseconds read_time_;
  std::vector<clock_type::time_point> read_at_;
};

// Automatic chunks grow while items are quick; when the input then slows down, a chunk must not
// hold its items back until it has read a whole chunk's worth of slow ones.
TEST_P(MapRanges, ASlowInputsItemsAreNotHeldBackForAWholeAutomaticChunk) {
  constexpr int fast = 5000, slow = 300; // a chunk that slows down may hold up to 63 reads back
  // Long enough that the bound below (750 ms) is far above an item's round trip on a loaded machine
  // under a sanitizer, and still half of what holding the slow items back for a chunk would take.
  constexpr auto read_time = 5ms;
  slowing_input input(fast, slow, read_time);
  clock_type::duration longest{0};
  std::size_t yielded = 0;
  for (auto& r : parmill::map(backend(), input, twice, {.order = parmill::order::completion})) {
    ++yielded;
    if (r.index() >= static_cast<std::size_t>(fast))
      longest = std::max(longest, clock_type::now() - input.read_at(r.index()));
  }
  EXPECT_EQ(yielded, static_cast<std::size_t>(fast + slow));
  // Held back for a chunk, the first slow item waits for all the others: about slow * read_time.
  EXPECT_LT(longest, slow * read_time / 2)
      << "a slow item waited " << std::chrono::duration_cast<std::chrono::milliseconds>(longest).count()
      << " ms from its read to its outcome";
}

// A chunk that has read thousands of quick items and then meets an input that has slowed right
// down (a pipe gone quiet) hands on what it has after about a millisecond of reading, not after
// dozens more slow reads: the first slow item's outcome comes before the input has made its fifth.
TEST_P(MapRanges, AnInputThatSlowsDownInTheMiddleOfAChunkHoldsNoItemBackForMoreThanAFewReads) {
  // Four slow reads (1 s) are far above an item's round trip on a loaded machine under a sanitizer.
  constexpr int fast = 20000, slow = 6;
  constexpr auto read_time = 250ms;
  slowing_input input(fast, slow, read_time);
  std::optional<clock_type::time_point> first_slow_outcome;
  for (auto& r : parmill::map(backend(), input, twice, {.order = parmill::order::completion}))
    if (r.index() == static_cast<std::size_t>(fast) && !first_slow_outcome)
      first_slow_outcome = clock_type::now();
  ASSERT_TRUE(first_slow_outcome.has_value());
  const auto fifth_slow_read = input.read_at(static_cast<std::size_t>(fast + 4));
  EXPECT_LT(*first_slow_outcome, fifth_slow_read)
      << "the first slow item's outcome came "
      << std::chrono::duration_cast<std::chrono::milliseconds>(*first_slow_outcome - fifth_slow_read).count()
      << " ms after the fifth slow item was read";
}

// --- leaving the loop stops the map ---------------------------------------------------------

TEST_P(MapRanges, LeavingTheLoopStopsAMapThatStaysInScope) {
  call_log calls;
  gate later_items;
  auto m = endless_map_held_after_five(backend(), calls, later_items);
  for (auto& r : m)
    if (r.index() == 4) break;
  later_items.open();
  EXPECT_FALSE(calls.wait_for(calls_allowed(5) + 1, watch))
      << calls.count() << " calls started: the map went on after the loop was left";
  EXPECT_FALSE(m.stop_requested()) << "leaving the loop is not stop()";
  EXPECT_THROW((void)m.begin(), std::logic_error) << "a map left early is still single-pass";
}

TEST_P(MapRanges, AMapRunToItsEndAndLeftIsNotStoppedFromOutside) {
  auto m = parmill::map(backend(), iota_vector(100), twice);
  EXPECT_EQ(values_of(m), doubled(100));
  EXPECT_FALSE(m.stop_requested());
}

TEST_P(MapRanges, AnIteratorMayOutliveItsMapAndBeDestroyedSafely) {
  using map_type = decltype(parmill::map(backend(), iota_vector(0), twice));
  auto kept = std::make_unique<std::ranges::iterator_t<map_type>>();
  {
    auto m = parmill::map(backend(), iota_vector(100), twice);
    *kept = m.begin();
    EXPECT_EQ(***kept, 0);
  }
  kept.reset(); // AddressSanitizer would see a use after free here
}

TEST_P(MapRanges, AMovedIteratorCarriesTheRun) {
  auto m = parmill::map(backend(), iota_vector(100), twice);
  auto first = m.begin();
  auto moved = std::move(first);
  std::vector<int> got;
  for (; moved != std::default_sentinel; ++moved)
    got.push_back(**moved);
  EXPECT_EQ(got, doubled(100));
}

} // namespace
