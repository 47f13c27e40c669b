// The command's inputs on their own: splitting at -d/-0, columns at --colsep (Perl's split),
// --header names, NUL bytes, and how many inputs -X/-m/-n put in one job.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "inputs.hpp"
#include "run_helpers.hpp"

using namespace parmill::cli;

namespace {

/// Options reading `path` with the command `command` and whatever `adjust` sets.
template <class Adjust>
options options_for(const std::string& path, std::vector<std::string> command, Adjust adjust) {
  options o;
  o.command = std::move(command);
  o.sources.push_back(
      input_source{.from = input_source::kind::file, .values = {}, .path = path, .linked = false});
  adjust(o);
  return o;
}

/// Every job's records for `o`.
std::vector<std::vector<record>> jobs_of(const options& o) {
  job_stream stream(o, {}, nullptr);
  std::vector<std::vector<record>> out;
  while (auto j = stream.next())
    out.push_back(j->values.records);
  return out;
}

/// The records of every job, one job of one input each.
std::vector<record> records_of(const options& o) {
  std::vector<record> out;
  for (auto& j : jobs_of(o)) {
    EXPECT_EQ(j.size(), 1U);
    out.push_back(j.at(0));
  }
  return out;
}

struct input_file {
  parmill_test::scratch dir;
  std::string path = dir / "in";
  explicit input_file(const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }
};

std::vector<record> columns(const std::string& colsep, const std::string& text) {
  input_file f(text);
  return records_of(options_for(f.path, {"echo"}, [&](options& o) { o.colsep = colsep; }));
}

} // namespace

TEST(Inputs, DelimitersSplitRecords) {
  input_file f(std::string("a\nbXc\0d", 7));
  EXPECT_EQ(records_of(options_for(f.path, {"echo"}, [](options&) {})),
            (std::vector<record>{{"a"}, {std::string("bXc\\0d")}}));
  EXPECT_EQ(records_of(options_for(f.path, {"echo"}, [](options& o) { o.delimiter = 'X'; })),
            (std::vector<record>{{std::string("a\nb")}, {std::string("c\\0d")}}));
  EXPECT_EQ(records_of(options_for(f.path, {"echo"}, [](options& o) { o.delimiter = '\0'; })),
            (std::vector<record>{{std::string("a\nbXc")}, {"d"}}));
}

TEST(Inputs, ColsepSplitsAsPerlsSplitWithLimitMinusOne) {
  // Each case checked with perl -e 'split /RE/, $s, -1' (what GNU parallel 20221122 runs).
  EXPECT_EQ(columns(",", ",a,,b,\n"), (std::vector<record>{{"", "a", "", "b", ""}}));
  EXPECT_EQ(columns(",*", ",a,,b,\n"), (std::vector<record>{{"", "a", "b", ""}}));
  EXPECT_EQ(columns("x*", "axb\n"), (std::vector<record>{{"a", "b", ""}}));
  EXPECT_EQ(columns("", "ab\n"), (std::vector<record>{{"a", "b", ""}}));
  EXPECT_EQ(columns("\\b", "ab\n"), (std::vector<record>{{"ab", ""}}));
  EXPECT_EQ(columns("(,)", "a,b\n"), (std::vector<record>{{"a", ",", "b"}}));
  EXPECT_EQ(columns("(x)|(,)", "axb\n"), (std::vector<record>{{"a", "x", "", "b"}}));
  EXPECT_EQ(columns(",", "\n"), (std::vector<record>{{""}})); // an empty input is one empty column
}

TEST(Inputs, ColsepMatchesBytesNotUtf8) {
  // GNU parallel's Perl reads bytes: \xff is a byte, and invalid UTF-8 is no error.
  EXPECT_EQ(columns("\\xff", "a\xff"
                             "b\n"),
            (std::vector<record>{{"a", "b"}}));
  EXPECT_EQ(columns(".", "\xc3\xa9\n"), (std::vector<record>{{"", "", ""}}));
  EXPECT_EQ(columns("\xc3\xa9", "x\xc3\xa9y\xfe\n"), (std::vector<record>{{"x", "y\xfe"}}));
}

TEST(Inputs, ColsepTrimsPerlWhitespaceAroundEachColumn) {
  EXPECT_EQ(columns(",", " a\t,\r b \f\v\n"), (std::vector<record>{{"a", "b"}}));
}

TEST(Inputs, ABadColsepIsAUsageErrorNamingTheExpression) {
  input_file f("a\n");
  try {
    (void)jobs_of(options_for(f.path, {"echo"}, [](options& o) { o.colsep = "x(?"; }));
    FAIL() << "accepted";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("--colsep 'x(?'"), std::string::npos) << e.what();
  }
}

TEST(Inputs, HeaderNamesColumns) {
  input_file f("n\tv\nx\t1\n");
  const options o = options_for(f.path, {"echo"}, [](options& opt) { opt.header = true; });
  job_stream stream(o, {}, nullptr);
  EXPECT_EQ(stream.column_names(), (std::map<std::string, std::size_t>{{"n", 0}, {"v", 1}}));
  auto j = stream.next();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->values.records, (std::vector<record>{{"x", "1"}}));
  EXPECT_FALSE(stream.next());
}

TEST(Inputs, ANulByteIsReplacedWithBackslashZeroInEveryColumn) {
  EXPECT_EQ(columns(",", std::string("a\0,\0b\n", 6)), (std::vector<record>{{"a\\0", "\\0b"}}));
}

TEST(Inputs, PackedJobsStayWithinTheCommandLimit) {
  std::string text;
  for (int i = 0; i < 60000; ++i)
    text += "a b\n";
  input_file f(text);
  for (const bool multiple : {false, true}) {
    const options o = options_for(f.path, {"echo {} | wc -c"}, [&](options& opt) {
      opt.jobs = 1;
      (multiple ? opt.multiple_args : opt.context_replace) = true;
    });
    job_stream stream(o, {}, nullptr);
    const std::optional<command_template> command = make_command(o, o, stream.column_names());
    ASSERT_TRUE(command);
    std::size_t inputs = 0, jobs = 0;
    while (auto j = stream.next()) {
      ++jobs;
      inputs += j->values.records.size();
      j->values.slot = 1;
      EXPECT_LE(command->shell_command(j->values).size(), packed_command_limit());
    }
    EXPECT_EQ(inputs, 60000U);
    EXPECT_GE(jobs, 6U);
    EXPECT_GE(packed_command_limit(), 32000U);
    EXPECT_LE(packed_command_limit(), 65536U);
  }
}

// --- the job stream: how sources combine, and what each job gets ----------------------------------

namespace {

input_source values_source(std::vector<std::string> values, bool linked = false) {
  return input_source{
      .from = input_source::kind::values, .values = std::move(values), .path = {}, .linked = linked};
}

/// Options with the command `echo` and the sources `sources`, adjusted by `adjust`.
template <class Adjust>
options with_sources(std::vector<input_source> sources, Adjust adjust) {
  options o;
  o.command = {"echo"};
  o.sources = std::move(sources);
  adjust(o);
  return o;
}

} // namespace

TEST(JobStream, SeveralSourcesGiveEveryCombinationFirstSlowestNumberedInOrder) {
  const options o = with_sources({values_source({"a", "b"}), values_source({"1", "2"})}, [](options&) {});
  job_stream stream(o, {}, nullptr);
  std::vector<record> records;
  std::size_t expected_seq = 1, expected_position = 0;
  while (auto j = stream.next()) {
    EXPECT_EQ(j->values.seq, expected_seq++);
    EXPECT_EQ(j->position, expected_position++);
    ASSERT_EQ(j->values.records.size(), 1U);
    records.push_back(j->values.records[0]);
  }
  EXPECT_EQ(records, (std::vector<record>{{"a", "1"}, {"a", "2"}, {"b", "1"}, {"b", "2"}}));
}

TEST(JobStream, LinkedSourcesAdvanceTogetherAndStopAtTheShortest) {
  EXPECT_EQ(records_of(with_sources({values_source({"a", "b", "c"}), values_source({"1", "2"}, true)},
                                    [](options&) {})),
            (std::vector<record>{{"a", "1"}, {"b", "2"}}));
}

TEST(JobStream, LinkWrapsTheShorterSources) {
  EXPECT_EQ(records_of(with_sources({values_source({"a", "b", "c"}), values_source({"1", "2"})},
                                    [](options& o) { o.link = true; })),
            (std::vector<record>{{"a", "1"}, {"b", "2"}, {"c", "1"}}));
}

TEST(JobStream, ValuesAreSplitAtTheDelimiterToo) {
  EXPECT_EQ(records_of(with_sources({values_source({"a,b", "c"})}, [](options& o) { o.delimiter = ','; })),
            (std::vector<record>{{"a"}, {"b"}, {"c"}}));
}

TEST(JobStream, DashNPutsThatManyInputsInEachJobTheLastWithFewer) {
  EXPECT_EQ(jobs_of(with_sources({values_source({"a", "b", "c"})}, [](options& o) { o.exact_args = 2; })),
            (std::vector<std::vector<record>>{{{"a"}, {"b"}}, {{"c"}}}));
}

TEST(JobStream, SkippedJobsAreLeftOutAndKeepTheirNumbers) {
  const options o = with_sources({values_source({"a", "b", "c"})}, [](options&) {});
  job_stream stream(o, {2}, nullptr);
  std::vector<std::size_t> seqs;
  while (auto j = stream.next())
    seqs.push_back(j->values.seq);
  EXPECT_EQ(seqs, (std::vector<std::size_t>{1, 3}));
}

TEST(JobStream, AStopEndsTheStream) {
  const options o = with_sources({values_source({"a", "b", "c"})}, [](options&) {});
  std::atomic<bool> stop{false};
  job_stream stream(o, {}, &stop);
  ASSERT_TRUE(stream.next());
  stop = true;
  EXPECT_FALSE(stream.next());
}

TEST(JobStream, EmptyInputsAreSkippedWithDashR) {
  input_file f("a\n\nb\n");
  EXPECT_EQ(records_of(options_for(f.path, {"echo"}, [](options&) {})),
            (std::vector<record>{{"a"}, {""}, {"b"}}));
  EXPECT_EQ(records_of(options_for(f.path, {"echo"}, [](options& o) { o.no_run_if_empty = true; })),
            (std::vector<record>{{"a"}, {"b"}}));
}

TEST(JobStream, PipeBlocksEndAtRecordEndsAndTogetherAreTheWholeInput) {
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "line " + std::to_string(i) + "\n";
  input_file f(text);
  const options o = options_for(f.path, {"cat"}, [](options& opt) {
    opt.pipe = true;
    opt.block_bytes = 100;
  });
  job_stream stream(o, {}, nullptr);
  std::string joined;
  std::size_t jobs = 0;
  while (auto j = stream.next()) {
    ++jobs;
    ASSERT_FALSE(j->stdin_data.empty());
    EXPECT_EQ(j->stdin_data.back(), '\n');
    joined += j->stdin_data;
  }
  EXPECT_EQ(joined, text);
  EXPECT_GT(jobs, 10U);
}
