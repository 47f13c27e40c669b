// The job log's writer and the reader --resume uses, on their own: GNU parallel's format, one line
// per job whatever its values, strict columns, torn and zero-filled tails, concurrent writers.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "job_log.hpp"
#include "options.hpp"
#include "run_helpers.hpp"

namespace {

using parmill::cli::job_log;
using parmill::cli::jobs_done;
using parmill_test::lines;
using parmill_test::scratch;
using done_set = std::set<std::size_t>;

const std::string header = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

parmill::cli::process_result ended(int exit_value, int signal = 0) {
  parmill::cli::process_result r;
  r.exit_value = exit_value;
  r.signal = signal;
  r.started = std::chrono::system_clock::now();
  return r;
}

std::string row(const std::string& seq, const std::string& exit_value = "0",
                const std::string& signal = "0") {
  return seq + "\t:\t1700000000.000\t     0.005\t0\t2\t" + exit_value + "\t" + signal + "\techo " + seq +
         "\n";
}

} // namespace

TEST(JobLog, ALineThatTheReaderReadsBack) {
  scratch s;
  {
    job_log log(s / "log", false);
    log.record(1, ":", ended(0), "echo a");
    log.record(2, ":", ended(3), "echo b");
    log.record(3, ":", ended(-1, 15), "echo c");
  }
  const auto written = lines(read_file(s / "log"));
  ASSERT_EQ(written.size(), 4U);
  EXPECT_EQ(written[0] + "\n", header);
  EXPECT_EQ(jobs_done(s / "log", true), (done_set{1, 2, 3}));
  EXPECT_EQ(jobs_done(s / "log", false), (done_set{1}));
}

TEST(JobLog, NoLogOrAnEmptyOneHasNoJobsDone) {
  scratch s;
  EXPECT_EQ(jobs_done(s / "missing", true), done_set{});
  write_file(s / "empty", "");
  EXPECT_EQ(jobs_done(s / "empty", true), done_set{});
}

TEST(JobLog, OneLinePerJobWhateverTheCommandHoldsWithNulInPlaceOfNewline) {
  scratch s;
  const std::string forged = "echo 'x\n3\t:\t0\t0\t0\t0\t0\t0\tfake\r\n'";
  {
    job_log log(s / "log", false);
    log.record(1, ":", ended(0), forged);
  }
  const std::string text = read_file(s / "log");
  const auto written = lines(text);
  ASSERT_EQ(written.size(), 2U) << text;
  std::string expected = forged;
  std::replace(expected.begin(), expected.end(), '\n', '\0');
  EXPECT_TRUE(written[1].ends_with("\t0\t0\t" + expected)) << written[1];
  EXPECT_EQ(jobs_done(s / "log", true), (done_set{1}));
}

TEST(JobLog, ALongHostNameKeepsEveryColumn) {
  scratch s;
  {
    job_log log(s / "log", false);
    log.record(7, std::string(300, 'h'), ended(0), "echo a");
  }
  EXPECT_EQ(jobs_done(s / "log", false), (done_set{7})) << read_file(s / "log");
}

TEST(JobLog, AppendingAfterATornLastLineStartsANewLine) {
  scratch s;
  const std::string before = header + row("1") + "2\t:\t17000";
  write_file(s / "log", before);
  {
    job_log log(s / "log", true);
    log.record(2, ":", ended(0), "echo 2");
  }
  const std::string after = read_file(s / "log");
  ASSERT_TRUE(after.starts_with(before + "\n2\t:\t")) << after;
  EXPECT_EQ(lines(after).size(), 4U);
  EXPECT_EQ(jobs_done(s / "log", false), (done_set{1, 2}));
}

TEST(JobLog, AppendingToACompleteLogAddsNothingButTheLine) {
  scratch s;
  write_file(s / "log", header + row("1"));
  {
    job_log log(s / "log", true);
    log.record(2, ":", ended(0), "echo 2");
  }
  const std::string after = read_file(s / "log");
  EXPECT_TRUE(after.starts_with(header + row("1") + "2\t:\t")) << after;
  EXPECT_EQ(lines(after).size(), 3U);
}

TEST(JobLog, AZeroFilledTailCountsForNothing) {
  scratch s;
  write_file(s / "log", header + row("1") + std::string(64, '\0'));
  EXPECT_EQ(jobs_done(s / "log", true), (done_set{1}));
  {
    job_log log(s / "log", true);
    log.record(2, ":", ended(0), "echo 2");
  }
  EXPECT_EQ(jobs_done(s / "log", true), (done_set{1, 2}));
}

TEST(JobLog, EveryColumnIsParsedStrictly) {
  scratch s;
  const std::vector<std::string> malformed{
      " 2\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\techo\n",         // padded Seq
      "2 \t:\t1700000000.000\t     0.005\t0\t2\t0\t0\techo\n",         // Seq with a space after
      "+2\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\techo\n",         // Seq with a sign
      "0\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\techo\n",          // Seq 0
      "2x\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\techo\n",         // Seq with more
      "18446744073709551616\t:\t1\t1\t0\t2\t0\t0\techo\n",             // Seq past size_t
      "2\t\t1700000000.000\t     0.005\t0\t2\t0\t0\techo\n",           // empty Host
      "2\t:\tnow\t     0.005\t0\t2\t0\t0\techo\n",                     // Starttime
      "2\t:\t1700000000.000\t0.0.5\t0\t2\t0\t0\techo\n",               // JobRuntime
      "2\t:\t1700000000.000\t     0.005\t-1\t2\t0\t0\techo\n",         // Send
      "2\t:\t1700000000.000\t     0.005\t0\t2 \t0\t0\techo\n",         // Receive
      "2\t:\t1700000000.000\t     0.005\t0\t2\t 0\t0\techo\n",         // padded Exitval
      "2\t:\t1700000000.000\t     0.005\t0\t2\t0 \t0\techo\n",         // Exitval with a space after
      "2\t:\t1700000000.000\t     0.005\t0\t2\t0x\t0\techo\n",         // Exitval with more
      "2\t:\t1700000000.000\t     0.005\t0\t2\t\t0\techo\n",           // empty Exitval
      "2\t:\t1700000000.000\t     0.005\t0\t2\t9999999999\t0\techo\n", // Exitval past int
      "2\t:\t1700000000.000\t     0.005\t0\t2\t0\t 0\techo\n",         // padded Signal
      "2\t:\t1700000000.000\t     0.005\t0\t2\t0\t0.0\techo\n",        // Signal not an integer
      "2\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\n",                // no Command column
      "2\t:\t1700000000.000\t     0.005\t0\t2\t0\n",                   // too few columns
      "2\n",                                                           // one column
      "\n",                                                            // empty
  };
  for (const std::string& line : malformed) {
    write_file(s / "log", header + row("1") + line + row("3"));
    EXPECT_EQ(jobs_done(s / "log", true), (done_set{1, 3})) << "counted: " << line;
  }
}

TEST(JobLog, ResumeFailedCountsAJobThatSucceededOnAnyOfItsLines) {
  scratch s;
  write_file(s / "log", header + row("1", "1") + row("2", "0", "9") + row("1") + row("3", "-1", "15"));
  EXPECT_EQ(jobs_done(s / "log", false), (done_set{1}));
  EXPECT_EQ(jobs_done(s / "log", true), (done_set{1, 2, 3}));
}

TEST(JobLog, GnuParallelsOwnLinesAreRead) {
  scratch s;
  // Copied from GNU parallel 20221122's log of `parallel --joblog` (a NUL where a newline was).
  write_file(s / "log",
             header + "1\t:\t1796249231.867\t     0.016\t0\t23\t0\t0\techo 'x" + std::string(1, '\0') +
                 "3\t:\t0\t0\t0\t0\t0\t0\tfake'\n" +
                 "2\t:\t1796249308.707\t     1.351\t0\t0\t-1\t15\tif [ 2 = 2 ]; then sleep 3; fi\n");
  EXPECT_EQ(jobs_done(s / "log", true), (done_set{1, 2}));
  EXPECT_EQ(jobs_done(s / "log", false), (done_set{1}));
}

TEST(JobLog, AFileThatIsNotAJobLogIsAUsageErrorNamingIt) {
  scratch s;
  write_file(s / "notes", "hello\n" + row("1"));
  try {
    (void)jobs_done(s / "notes", true);
    FAIL() << "no error";
  } catch (const parmill::cli::usage_error& e) {
    EXPECT_NE(std::string(e.what()).find(s / "notes"), std::string::npos) << e.what();
  }
  EXPECT_THROW(job_log(s / "notes", true), parmill::cli::usage_error);
  EXPECT_EQ(read_file(s / "notes"), "hello\n" + row("1"));
}

TEST(JobLog, ManyThreadsWriteWholeLines) {
  scratch s;
  constexpr std::size_t threads = 8, each = 200;
  {
    job_log log(s / "log", false);
    std::vector<std::thread> writers;
    for (std::size_t t = 0; t < threads; ++t)
      writers.emplace_back([&log, t] {
        for (std::size_t i = 0; i < each; ++i)
          log.record(t * each + i + 1, ":", ended(0), std::string(5000 + t, static_cast<char>('a' + t)));
      });
    for (auto& w : writers)
      w.join();
  }
  const auto written = lines(read_file(s / "log"));
  ASSERT_EQ(written.size(), 1 + threads * each);
  for (std::size_t i = 1; i < written.size(); ++i) {
    const std::size_t t = written[i].back() - 'a';
    EXPECT_TRUE(written[i].ends_with("\t0\t0\t" + std::string(5000 + t, static_cast<char>('a' + t))));
  }
  EXPECT_EQ(jobs_done(s / "log", false).size(), threads * each);
}

// --- what the reader says ------------------------------------------------------------------------

namespace {

parmill::cli::job_log_reading read_text(const std::string& text, bool failed_too = true) {
  std::istringstream in(text);
  return parmill::cli::read_job_log(in, "the.log", failed_too);
}

} // namespace

TEST(JobLogReader, AMalformedLineIsDescribedWithItsNumberColumnAndValueShownSafely) {
  const auto reading = read_text(header + row("1") + "2\t:\t1\t1\t0\t0\t\x1b[31m\t0\tx\n" + row("3"));
  EXPECT_EQ(reading.done, (done_set{1, 3}));
  ASSERT_EQ(reading.warnings.size(), 1U);
  EXPECT_EQ(reading.warnings[0], "job log 'the.log' line 3: Exitval '\\x1b[31m' is not an integer; that line "
                                 "does not count as a job done");
}

TEST(JobLogReader, ATornLastLineIsDescribed) {
  const auto reading = read_text(header + row("1") + "2\t:\t17");
  EXPECT_EQ(reading.done, (done_set{1}));
  ASSERT_EQ(reading.warnings.size(), 1U);
  EXPECT_NE(reading.warnings[0].find("line 3: the last line has no newline"), std::string::npos)
      << reading.warnings[0];
}

TEST(JobLogReader, AWellFormedLastLineWithoutANewlineDoesNotCountEither) {
  const std::string whole = row("2");
  const auto reading = read_text(header + row("1") + whole.substr(0, whole.size() - 1));
  EXPECT_EQ(reading.done, (done_set{1}));
  EXPECT_EQ(reading.warnings.size(), 1U);
}

TEST(JobLogReader, WarningsAreCappedWithACount) {
  std::string text = header;
  for (int i = 0; i < 25; ++i)
    text += "garbage\n";
  const auto reading = read_text(text + row("9"));
  EXPECT_EQ(reading.done, (done_set{9}));
  ASSERT_EQ(reading.warnings.size(), parmill::cli::job_log_reading::max_warnings + 1);
  EXPECT_EQ(reading.warnings.back(),
            "job log 'the.log': 15 more malformed lines, which do not count as jobs done");
}

TEST(JobLogReader, AnUnfinishedHeaderOrOnlyNulBytesHoldNoJobs) {
  for (const std::string& text : {std::string(), std::string("Seq\tHo"), header.substr(0, header.size() - 1),
                                  std::string(5000, '\0')}) {
    const auto reading = read_text(text);
    EXPECT_TRUE(reading.done.empty());
    EXPECT_EQ(reading.warnings.size(), text.empty() ? 0U : 1U);
  }
  for (const std::string& text : {std::string("Seq\tHost\tX"), std::string(5000, '\0') + "x",
                                  std::string("\n") + row("1"), "Seq\tHost\n" + row("1")})
    EXPECT_THROW((void)read_text(text), parmill::cli::usage_error) << text;
}

TEST(JobLogReader, AVeryLongCommandIsReadInConstantMemoryAndStillCounts) {
  const auto reading =
      read_text(header + "1\t:\t1\t1\t0\t0\t0\t0\t" + std::string(1 << 22, 'c') + "\n" + row("2"));
  EXPECT_EQ(reading.done, (done_set{1, 2}));
  EXPECT_TRUE(reading.warnings.empty());
  const auto long_columns = read_text(header + std::string(10000, '1') + "\t:\t1\t1\t0\t0\t0\t0\tx\n");
  EXPECT_TRUE(long_columns.done.empty());
  ASSERT_EQ(long_columns.warnings.size(), 1U);
  EXPECT_NE(long_columns.warnings[0].find("longer than 4096 bytes"), std::string::npos);
}
