// Tests of parmill/journal.hpp and `map_options::journal`/`resume`, swept over backends: a run
// that stops part way has every outcome it yielded in its journal, and a resumed run runs only
// the rest.
#include <parmill/journal.hpp>
#include <parmill/map.hpp>

#include <gtest/gtest.h>

#include "helpers/backend_sweep.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using parmill_test::where;

class Journal : public ::testing::TestWithParam<where> {
protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("parmill-journal-" + std::to_string(::getpid()) + ".bin")).string();
    fs::remove(path_);
  }
  void TearDown() override { fs::remove(path_); }
  parmill::backend backend() const { return GetParam().make(); }
  std::string path_;
};

INSTANTIATE_TEST_SUITE_P(Backends, Journal,
                         ::testing::Values(where{parmill::backend_kind::inline_, 1},
                                           where{parmill::backend_kind::threads, 1},
                                           where{parmill::backend_kind::threads, 2},
                                           where{parmill::backend_kind::threads, 8},
                                           where{parmill::backend_kind::processes, 2}),
                         parmill_test::sweep_name);

std::string label(int x) { return "item-" + std::to_string(x); }

TEST_P(Journal, AStoppedRunKeepsWhatItYieldedAndAResumedRunDoesOnlyTheRest) {
  std::vector<int> input(100);
  for (int i = 0; i < 100; ++i)
    input[static_cast<std::size_t>(i)] = i;
  // First run: item 7 fails, and the consumer stops after 40 outcomes (as a crash would).
  std::set<std::size_t> first;
  for (auto& r : parmill::map(backend(), input,
                              [](int x) {
                                if (x == 7) throw std::runtime_error("flaky");
                                return label(x);
                              },
                              {.on_error = parmill::on_error::yield, .journal = path_})) {
    first.insert(r.index());
    if (first.size() == 40) break;
  }
  const auto journaled = parmill::read_journal<std::string>(path_);
  ASSERT_EQ(journaled.size(), 40U) << "every outcome yielded, and only those";
  for (const auto& o : journaled) {
    EXPECT_TRUE(first.count(o.index()));
    if (o.index() == 7) {
      ASSERT_FALSE(o.has_value());
      EXPECT_EQ(o.error().message, "flaky");
    } else {
      EXPECT_EQ(*o, label(static_cast<int>(o.index())));
    }
  }

  // The rerun: item 7 now succeeds; everything the journal has as done is skipped.
  std::set<std::size_t> second;
  for (auto& r :
       parmill::map(backend(), input, [](int x) { return label(x); }, {.journal = path_, .resume = true})) {
    EXPECT_EQ(*r, label(static_cast<int>(r.index())));
    EXPECT_TRUE(second.insert(r.index()).second);
    EXPECT_TRUE(!first.count(r.index()) || r.index() == 7) << "item " << r.index() << " was done already";
  }
  EXPECT_EQ(second.size(), first.count(7) ? 61U : 60U) << "the rest, and the failed item again";
  const auto all = parmill::read_journal<std::string>(path_);
  ASSERT_EQ(all.size(), 100U);
  for (const auto& o : all)
    EXPECT_EQ(*o, label(static_cast<int>(o.index()))) << "the latest outcome of each item";
}

TEST_P(Journal, AJournalCutShortByACrashIsReadUpToItsLastWholeRecord) {
  for (auto& r :
       parmill::map(backend(), std::vector<int>{1, 2, 3}, [](int x) { return x * 10; }, {.journal = path_}))
    (void)r;
  std::ofstream(path_, std::ios::binary | std::ios::app) << std::string("\x20\x00\x00", 3); // half a record
  const auto read = parmill::read_journal<int>(path_);
  ASSERT_EQ(read.size(), 3U);
  EXPECT_EQ(*read[2], 30);
}

TEST(JournalErrors, AnUnwritableJournalIsReportedNamingIt) {
  try {
    for (auto& r : parmill::map(parmill::inline_backend(), std::vector<int>{1}, [](int x) { return x; },
                                {.journal = "/nonexistent-dir/journal.bin"}))
      (void)r;
    FAIL() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/journal.bin"), std::string::npos) << e.what();
  }
}

} // namespace
