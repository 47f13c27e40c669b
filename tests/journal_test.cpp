// Tests of parmill/journal.hpp and `map_options::journal`/`resume`, swept over backends: a run
// that stops part way has every outcome it yielded in its journal, and a resumed run runs only
// the rest.
#include <parmill/journal.hpp>
#include <parmill/map.hpp>

#include <gtest/gtest.h>

#include "helpers/backend_sweep.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
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

// --- damaged journals: a torn or zero-filled tail is ignored and repaired, damage in the middle is
// --- reported naming the file and the offset ---------------------------------------------------

namespace {

/// A journal file in the temporary directory, removed at the end of the test.
class JournalDamage : public ::testing::Test {
protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("parmill-journal-damage-" + std::to_string(::getpid()) + ".bin"))
                .string();
    fs::remove(path_);
  }
  void TearDown() override { fs::remove(path_); }

  /// Runs items [0, n) (`label(i)` each) with `.resume` on the journal; returns the items it ran.
  std::set<int> resume_run(int n) {
    std::vector<int> input(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      input[static_cast<std::size_t>(i)] = i;
    std::set<int> ran;
    for (auto& r : parmill::map(parmill::inline_backend(), input,
                                [&](int x) {
                                  ran.insert(x);
                                  return label(x);
                                },
                                {.journal = path_, .resume = true}))
      (void)r;
    return ran;
  }
  /// The journal's bytes.
  std::string bytes() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  /// Replaces the journal's bytes.
  void write_bytes(const std::string& b) const {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << b;
  }
  /// Expects the journal to read back as exactly items [0, n), each with its label.
  void expect_items(int n) const {
    const auto read = parmill::read_journal<std::string>(path_);
    ASSERT_EQ(read.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(read[static_cast<std::size_t>(i)].has_value());
      EXPECT_EQ(read[static_cast<std::size_t>(i)].index(), static_cast<std::size_t>(i));
      EXPECT_EQ(*read[static_cast<std::size_t>(i)], label(i));
    }
  }
  /// The journal's size after a first run of items [0, n): where record n begins.
  std::size_t record_end(int n) {
    fs::remove(path_);
    resume_run(n);
    return static_cast<std::size_t>(fs::file_size(path_));
  }

  std::string path_;
};

std::string bytes_of(parmill::writer& w) {
  std::string out;
  for (const iovec& piece : w.pieces())
    out.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
  return out;
}

std::set<int> range_set(int from, int to) {
  std::set<int> s;
  for (int i = from; i < to; ++i)
    s.insert(i);
  return s;
}

} // namespace

TEST_F(JournalDamage, ACutAtEveryByteOfTheLastRecordIsIgnoredAndAResumeRepairsIt) {
  const std::size_t two = record_end(2);
  const std::size_t three = record_end(3);
  const std::string whole = bytes();
  ASSERT_GT(three, two);
  for (std::size_t cut = two; cut < three; ++cut) {
    SCOPED_TRACE("journal cut at byte " + std::to_string(cut));
    write_bytes(whole.substr(0, cut));
    expect_items(2);
    EXPECT_EQ(resume_run(5), range_set(2, 5)) << "only the items not recorded whole run again";
    expect_items(5);
    EXPECT_EQ(resume_run(5), std::set<int>{}) << "a second resume finds everything done";
  }
}

TEST_F(JournalDamage, AZeroFilledTailIsIgnoredAndAResumeRepairsIt) {
  const std::size_t two = record_end(2);
  const std::size_t three = record_end(3);
  const std::string whole = bytes();
  // Zeros after the last whole record, and zeros in place of the end of the last record (what a
  // power cut can leave when the file's size reached the disk but not all of its data did).
  for (const std::size_t kept : {three, two, two + 1, two + 9, three - 1})
    for (const std::size_t zeros : {1U, 7U, 8U, 15U, 16U, 17U, 100U, 4096U, 65536U}) {
      SCOPED_TRACE(std::to_string(kept) + " bytes then " + std::to_string(zeros) + " zeros");
      write_bytes(whole.substr(0, kept) + std::string(zeros, '\0'));
      const int whole_records = kept == three ? 3 : 2;
      expect_items(whole_records);
      EXPECT_EQ(resume_run(4), range_set(whole_records, 4));
      expect_items(4);
    }
}

TEST_F(JournalDamage, AFlippedByteInAMiddleRecordIsReportedNamingTheFileAndOffset) {
  const std::size_t one = record_end(1);
  const std::size_t two = record_end(2);
  record_end(3);
  const std::string whole = bytes();
  for (std::size_t at = one; at < two; ++at) {
    SCOPED_TRACE("byte " + std::to_string(at) + " flipped");
    std::string damaged = whole;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    write_bytes(damaged);
    try {
      (void)parmill::read_journal<std::string>(path_);
      FAIL() << "a damaged record was read";
    } catch (const parmill::journal_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path_), std::string::npos) << what;
      EXPECT_NE(what.find("byte " + std::to_string(one)), std::string::npos) << what;
      EXPECT_EQ(e.path(), path_);
      EXPECT_EQ(e.offset(), one);
    }
    EXPECT_THROW(resume_run(3), parmill::journal_error) << "a resume does not run on a damaged journal";
    EXPECT_EQ(bytes(), damaged) << "and leaves it as it was";
  }
}

TEST_F(JournalDamage, AFileThatIsNotAJournalIsReportedAndLeftAsItWas) {
  const std::string text = "these are someone's notes, not a journal\n";
  write_bytes(text);
  try {
    (void)parmill::read_journal<std::string>(path_);
    FAIL() << "a text file was read as a journal";
  } catch (const parmill::journal_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a parmill journal"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
  }
  EXPECT_THROW(resume_run(2), parmill::journal_error);
  EXPECT_THROW(for (auto& r
                    : parmill::map(parmill::inline_backend(), std::vector<int>{1}, [](int x) { return x; },
                                   {.journal = path_}))(void) r,
               parmill::journal_error)
      << "a run without .resume does not append to it either";
  EXPECT_EQ(bytes(), text);
}

TEST_F(JournalDamage, AJournalOfAnotherFormatVersionIsReportedAsSuch) {
  record_end(1);
  std::string b = bytes();
  b[8] = 7; // the version field, after the 8-byte magic
  write_bytes(b);
  try {
    (void)parmill::read_journal<std::string>(path_);
    FAIL() << "read";
  } catch (const parmill::journal_error& e) {
    EXPECT_NE(std::string(e.what()).find("format version 7"), std::string::npos) << e.what();
  }
}

TEST_F(JournalDamage, AnEmptyOrZeroFilledFileOrATornHeaderHoldsNoRecordsAndAResumeStartsIt) {
  record_end(0);
  const std::string header = bytes();
  ASSERT_FALSE(header.empty()) << "a journal begins with its header";
  std::vector<std::string> starts{"", std::string(4096, '\0')};
  for (std::size_t cut = 1; cut < header.size(); ++cut) {
    starts.push_back(header.substr(0, cut));
    starts.push_back(header.substr(0, cut) + std::string(100, '\0'));
  }
  for (const auto& start : starts) {
    SCOPED_TRACE(std::to_string(start.size()) + " bytes");
    write_bytes(start);
    EXPECT_TRUE(parmill::read_journal<std::string>(path_).empty());
    EXPECT_EQ(resume_run(3), range_set(0, 3));
    expect_items(3);
  }
}

TEST_F(JournalDamage, ARecordThatDoesNotDecodeAsTheResultTypeIsReportedWithItsOffset) {
  const std::size_t first = record_end(0);
  record_end(2);
  try {
    (void)parmill::read_journal<int>(path_);
    FAIL() << "strings read as ints";
  } catch (const parmill::journal_error& e) {
    EXPECT_EQ(e.offset(), first) << e.what();
    EXPECT_NE(std::string(e.what()).find("result type"), std::string::npos) << e.what();
  }
}

TEST(JournalChecksum, IsCrc32c) {
  EXPECT_EQ(parmill::detail::crc32c("123456789", 9), 0xE3069283U);
  EXPECT_EQ(parmill::detail::crc32c("56789", 5, parmill::detail::crc32c("1234", 4)), 0xE3069283U)
      << "a CRC continues over more bytes";
  EXPECT_EQ(parmill::detail::crc32c("", 0), 0U);
}

TEST_F(JournalDamage, ARecordWithAnIndexTooLargeForAnOutcomeIsReportedNotRead) {
  // Found by fuzz/journal_fuzz.cpp: an index with its top bit set, in a record whose checksums are
  // right, was taken for an outcome's failed flag, and the value was destroyed as an error.
  using format = parmill::detail::journal_format;
  parmill::writer w;
  w.raw(std::uint64_t{1} << 63);
  w.raw(std::uint8_t{0});
  parmill::encode(w, std::string("value"));
  const std::string payload = bytes_of(w);
  const auto file_header = format::file_header();
  const auto header = format::record_header(payload.data(), payload.size());
  write_bytes(std::string(file_header.data(), file_header.size()) +
              std::string(header.data(), header.size()) + payload);
  try {
    (void)parmill::read_journal<std::string>(path_);
    FAIL() << "read";
  } catch (const parmill::journal_error& e) {
    EXPECT_EQ(e.offset(), file_header.size()) << e.what();
    EXPECT_NE(std::string(e.what()).find("index"), std::string::npos) << e.what();
  }
}
