// The job log and --resume under faults and hostile input, with the built parmill: torn and damaged
// logs, values that try to forge a line, -k, and runs stopped by a signal or --halt now. What is
// logged for each stop path is what GNU parallel 20221122 logs (checked by hand against it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_helpers.hpp"

namespace {

using parmill_test::lines;
using parmill_test::ran;
using parmill_test::scratch;
using namespace std::chrono_literals;

constexpr const char* header = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// Runs the built parmill with `args` and `input` on its standard input; killed after 20 s.
ran run_parmill(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), PARMILL_BINARY);
  return parmill_test::run_program(std::move(args), input, {}, std::chrono::steady_clock::now() + 20s);
}

/// Starts parmill on a thread of the test; `get()` waits for it to end.
std::future<ran> start_parmill(std::vector<std::string> args) {
  return std::async(std::launch::async, [args = std::move(args)] { return run_parmill(args); });
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// The lines a run printed, sorted (the order of jobs run without -k is not fixed).
std::vector<std::string> sorted_lines(const std::string& text) {
  auto out = lines(text);
  std::sort(out.begin(), out.end());
  return out;
}

/// A job-log line in GNU parallel's format for job `seq`.
std::string log_line(int seq, int exit_value, int signal, const std::string& command) {
  return std::to_string(seq) + "\t:\t1700000000.000\t     0.005\t0\t2\t" + std::to_string(exit_value) + "\t" +
         std::to_string(signal) + "\t" + command + "\n";
}

/// A fifo the jobs write lines to (their parmill's pid, "$PPID"). The test holds it open for
/// reading and writing, so a job's write never blocks and never finds it closed.
class fifo {
public:
  explicit fifo(std::string path) : path_(std::move(path)) {
    if (::mkfifo(path_.c_str(), 0600) == 0) fd_ = ::open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  }
  ~fifo() {
    if (fd_ >= 0) ::close(fd_);
  }
  fifo(const fifo&) = delete;
  fifo& operator=(const fifo&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] bool ok() const { return fd_ >= 0; }

  /// The next line written, without its newline; nothing if none comes within `within`.
  std::optional<std::string> next_line(std::chrono::milliseconds within = 10s) {
    const auto until = std::chrono::steady_clock::now() + within;
    for (;;) {
      if (const auto newline = pending_.find('\n'); newline != std::string::npos) {
        std::string line = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        return line;
      }
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[256];
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n > 0) pending_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  /// Writes `text` (a job reading the fifo gets it whenever it opens it).
  void write(const std::string& text) { [[maybe_unused]] auto n = ::write(fd_, text.data(), text.size()); }

private:
  std::string path_;
  int fd_ = -1;
  std::string pending_;
};

/// Waits until `path` holds a line starting with `prefix`, for at most `within`.
bool wait_for_line(const std::string& path, const std::string& prefix, std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  for (;;) {
    for (const std::string& line : lines(read_file(path)))
      if (line.starts_with(prefix)) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms); // polling the file: the condition, with a bounded deadline
  }
}

} // namespace

// --- damaged logs --------------------------------------------------------------------------------

TEST(JobLogResume, ATornLastLineGetsANewlineBeforeAppendingAndItsJobRunsAgain) {
  scratch s;
  const std::string log = s / "log";
  // Job 2 failed; the run was killed while writing its line.
  write_file(log,
             std::string(header) + "\n" + log_line(1, 0, 0, "echo a") + "2\t:\t1700000000.000\t     0.00");
  const std::string command = "echo {}; [ {} != b ] || [ -e " + s / "fixed" + " ]";
  const ran resumed = run_parmill({"-j1", "--joblog", log, "--resume", command, ":::", "a", "b", "c"});
  EXPECT_EQ(resumed.out, "b\nc\n");
  EXPECT_EQ(resumed.status, 1);
  EXPECT_NE(resumed.err.find("parmill: Warning: "), std::string::npos) << resumed.err;
  EXPECT_NE(resumed.err.find("'" + log + "' line 3"), std::string::npos) << resumed.err;

  const auto after = lines(read_file(log));
  ASSERT_EQ(after.size(), 5U) << read_file(log);
  EXPECT_EQ(after[2], "2\t:\t1700000000.000\t     0.00"); // kept as it was, on a line of its own
  EXPECT_TRUE(after[3].starts_with("2\t:\t")) << after[3];
  EXPECT_NE(after[3].find("\t1\t0\techo b;"), std::string::npos) << after[3];
  EXPECT_TRUE(after[4].starts_with("3\t:\t")) << after[4];

  // Job 2 failed: --resume-failed runs it again (and only it).
  ::close(::open((s / "fixed").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  const ran again = run_parmill({"-k", "--joblog", log, "--resume-failed", command, ":::", "a", "b", "c"});
  EXPECT_EQ(again.out, "b\n");
  EXPECT_EQ(again.status, 0);
}

TEST(JobLogResume, PaddedOrGarbageColumnsNeverCountAsDoneAndAreReportedWithTheirLine) {
  scratch s;
  const std::string log = s / "log";
  std::string text = std::string(header) + "\n";
  text += log_line(1, 0, 0, "echo 1");                               // line 2: good
  text += " 2\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\techo 2\n"; // 3: padded Seq
  text += "3x\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\techo 3\n"; // 4: Seq with more
  text += "4\t:\t1700000000.000\t     0.005\t0\t2\t 0\t0\techo 4\n"; // 5: padded Exitval
  text += "5\t:\t1700000000.000\t     0.005\t0\t2\t0\t0 \techo 5\n"; // 6: padded Signal
  text += "6\t:\t1700000000.000\t     0.005\t0\t2\t0\n";             // 7: too few columns
  text += "0\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\techo 0\n";  // 8: Seq 0
  text += "7\t:\tsoon\t     0.005\t0\t2\t0\t0\techo 7\n";            // 9: Starttime
  text += "8\t:\t1700000000.000\t     0.005\t0\t2\t0x\t0\techo 8\n"; // 10: Exitval with more
  text += "99999999999999999999999\t:\t1700000000.000\t     0.005\t0\t2\t0\t0\tbig\n"; // 11: overflow
  write_file(log, text);
  const ran r = run_parmill(
      {"-k", "--joblog", log, "--resume", "echo {}", ":::", "1", "2", "3", "4", "5", "6", "7", "8"});
  EXPECT_EQ(r.out, "2\n3\n4\n5\n6\n7\n8\n");
  EXPECT_EQ(r.status, 0);
  for (int line = 3; line <= 11; ++line)
    EXPECT_NE(r.err.find("'" + log + "' line " + std::to_string(line) + ":"), std::string::npos)
        << "line " << line << " not reported: " << r.err;
  EXPECT_EQ(r.err.find("'" + log + "' line 2:"), std::string::npos) << r.err;
}

TEST(JobLogResume, AFileThatIsNotAJobLogIsAnErrorAndIsLeftAlone) {
  scratch s;
  const std::string log = s / "notes.txt";
  write_file(log, "my precious notes\n1\t:\t0\t0\t0\t0\t0\t0\tx\n");
  const ran r = run_parmill({"--joblog", log, "--resume", "touch " + s / "ran", ":::", "1", "2"});
  EXPECT_EQ(r.status, 255);
  EXPECT_NE(r.err.find(log), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a job log"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(log), "my precious notes\n1\t:\t0\t0\t0\t0\t0\t0\tx\n");
  EXPECT_FALSE(std::filesystem::exists(s / "ran"));
}

TEST(JobLogResume, AnIncompleteHeaderIsALogWithNoJobsAndIsStartedAnew) {
  scratch s;
  const std::string log = s / "log";
  write_file(log, "Seq\tHost\tStart"); // killed while writing the header
  const ran r = run_parmill({"-k", "--joblog", log, "--resume", "echo {}", ":::", "a"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "a\n");
  const auto after = lines(read_file(log));
  ASSERT_EQ(after.size(), 2U) << read_file(log);
  EXPECT_EQ(after[0], header);
}

TEST(JobLogResume, ALogThatCannotBeWrittenStopsTheRunAndResumeFinishesIt) {
  scratch s;
  const std::string log = s / "log";
  std::vector<std::string> args{"-j1", "--joblog", log, "echo {}", ":::"};
  for (int i = 1; i <= 50; ++i)
    args.push_back(std::to_string(i));
  // A file-size limit of 512 bytes stands for a full disk: the log's writes fail part-way.
  std::vector<std::string> limited{"/bin/bash", "-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"",
                                   PARMILL_BINARY};
  limited.insert(limited.end(), args.begin(), args.end());
  const ran full = parmill_test::run_program(limited, "", {}, std::chrono::steady_clock::now() + 20s);
  EXPECT_EQ(full.status, 255);
  EXPECT_NE(full.err.find("parmill: Error: --joblog: cannot write '" + log + "'"), std::string::npos)
      << full.err;
  EXPECT_LT(lines(full.out).size(), 50U); // the run stopped
  ASSERT_FALSE(read_file(log).empty());

  args.insert(args.begin() + 3, "--resume");
  const ran rest = run_parmill(args);
  EXPECT_EQ(rest.status, 0) << rest.err;
  // Every job is done once the two runs are put together, and the log now reads back whole.
  std::vector<std::string> ran_jobs = lines(full.out);
  for (const std::string& job : lines(rest.out))
    ran_jobs.push_back(job);
  std::sort(ran_jobs.begin(), ran_jobs.end(),
            [](const auto& a, const auto& b) { return std::stoi(a) < std::stoi(b); });
  ran_jobs.erase(std::unique(ran_jobs.begin(), ran_jobs.end()), ran_jobs.end());
  EXPECT_EQ(ran_jobs.size(), 50U);
  const ran again = run_parmill(args);
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(again.status, 0);
}

// --- one line per job ----------------------------------------------------------------------------

TEST(JobLogResume, AValueWithANewlineCannotForgeALine) {
  scratch s;
  const std::string log = s / "log";
  const std::string forged = "x\n3\t:\t0\t0\t0\t0\t0\t0\tfake";
  const ran first = run_parmill({"-0", "--joblog", log, "echo"}, forged + std::string(1, '\0'));
  EXPECT_EQ(first.status, 0);
  const std::string written = read_file(log);
  const auto logged = lines(written);
  ASSERT_EQ(logged.size(), 2U) << written;
  // As GNU parallel 20221122 writes it: a NUL where the value had its newline.
  EXPECT_NE(logged[1].find("\techo 'x" + std::string(1, '\0') + "3\t:\t0\t"), std::string::npos) << logged[1];

  const ran resumed =
      run_parmill({"-0", "-k", "--joblog", log, "--resume", "echo"}, forged + std::string("\0b\0c\0", 5));
  EXPECT_EQ(resumed.out, "b\nc\n"); // job 3 ran: the value did not make a line that says it did
  EXPECT_EQ(resumed.err, "");
}

// --- when a line is written ----------------------------------------------------------------------

TEST(JobLogResume, WithKeepOrderALineIsWrittenWhenItsJobEndsNotWhenItsOutputIsPrinted) {
  scratch s;
  const std::string log = s / "log";
  fifo started(s / "started"), gate(s / "gate");
  ASSERT_TRUE(started.ok() && gate.ok());
  // Job 1 waits for the gate; job 2 ends at once, but its output waits for job 1's (-k).
  auto run = start_parmill(
      {"-j2", "-k", "--joblog", log,
       "if [ {} = 1 ]; then echo $PPID > " + started.path() + "; read x < " + gate.path() + "; fi; echo {}",
       ":::", "1", "2"});
  ASSERT_TRUE(started.next_line().has_value());
  const bool second_logged_first = wait_for_line(log, "2\t", 5s);
  gate.write("go\n");
  const ran r = run.get();
  EXPECT_TRUE(second_logged_first) << "job 2's line was not written while job 1 ran";
  EXPECT_EQ(r.out, "1\n2\n");
  const auto logged = lines(read_file(log));
  ASSERT_EQ(logged.size(), 3U);
  EXPECT_TRUE(logged[1].starts_with("2\t")) << logged[1];
  EXPECT_TRUE(logged[2].starts_with("1\t")) << logged[2];
}

// --- stopped runs --------------------------------------------------------------------------------

class StoppedBySignal : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(JobLogResume, StoppedBySignal, ::testing::Values(SIGINT, SIGTERM));

TEST_P(StoppedBySignal, TheJobsItKilledAreNotLoggedAndResumeRunsThem) {
  scratch s;
  const std::string log = s / "log";
  fifo started(s / "started");
  ASSERT_TRUE(started.ok());
  // Job 1 ends at once; jobs 2 and 3 (job 3 starts in job 1's slot) run until parmill is stopped.
  auto run =
      start_parmill({"-j2", "--joblog", log,
                     "case {} in 2|3) echo $PPID > " + started.path() + "; exec sleep 60;; esac; echo {}",
                     ":::", "1", "2", "3", "4"});
  const auto first = started.next_line();
  const auto second = started.next_line();
  ASSERT_TRUE(first && second);
  ASSERT_EQ(*first, *second);
  ::kill(std::stoi(*first), GetParam());
  const ran stopped = run.get();
  EXPECT_EQ(stopped.status, 255);
  const auto logged = lines(read_file(log));
  ASSERT_EQ(logged.size(), 2U) << read_file(log); // as GNU parallel: no line for the jobs it killed
  EXPECT_TRUE(logged[1].starts_with("1\t:\t")) << logged[1];

  const ran resumed = run_parmill({"--joblog", log, "--resume", "echo {}", ":::", "1", "2", "3", "4"});
  EXPECT_EQ(sorted_lines(resumed.out), (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_EQ(resumed.status, 0);
}

TEST(JobLogResume, JobsKilledByHaltNowAreNotLoggedAndResumeRunsThem) {
  scratch s;
  const std::string log = s / "log";
  fifo started(s / "started"), gate(s / "gate");
  ASSERT_TRUE(started.ok() && gate.ok());
  // Jobs 1 and 2 run until killed; job 3 fails once they have started, which halts the run.
  auto run = start_parmill({"-j3", "--halt", "now,fail=1", "--joblog", log,
                            "case {} in 1|2) echo $PPID > " + started.path() +
                                "; exec sleep 60;; 3) read x < " + gate.path() + "; exit 1;; esac; echo {}",
                            ":::", "1", "2", "3", "4"});
  ASSERT_TRUE(started.next_line() && started.next_line());
  gate.write("go\n");
  const ran halted = run.get();
  EXPECT_EQ(halted.status, 1);
  const auto logged = lines(read_file(log));
  ASSERT_EQ(logged.size(), 2U) << read_file(log); // as GNU parallel: only the job that failed
  EXPECT_TRUE(logged[1].starts_with("3\t:\t")) << logged[1];
  EXPECT_NE(logged[1].find("\t1\t0\tcase 3 in"), std::string::npos) << logged[1];

  const ran resumed = run_parmill({"--joblog", log, "--resume", "echo {}", ":::", "1", "2", "3", "4"});
  EXPECT_EQ(sorted_lines(resumed.out), (std::vector<std::string>{"1", "2", "4"}));
}

TEST(JobLogResume, TimedOutJobsAreLoggedAsFailedAndResumeFailedRunsThemAgain) {
  scratch s;
  const std::string log = s / "log";
  const ran first = run_parmill({"--timeout", "3", "--joblog", log, // job 1 has time to start a shell
                                 "if [ {} = 2 ]; then exec sleep 60; fi; echo {}", ":::", "1", "2"});
  EXPECT_EQ(first.status, 1);
  const auto logged = lines(read_file(log));
  ASSERT_EQ(logged.size(), 3U) << read_file(log);
  EXPECT_NE(read_file(log).find("\t-1\t15\tif [ 2 = 2 ]"), std::string::npos) << read_file(log);

  EXPECT_EQ(run_parmill({"--joblog", log, "--resume", "echo {}", ":::", "1", "2"}).out, "");
  EXPECT_EQ(run_parmill({"--joblog", log, "--resume-failed", "echo {}", ":::", "1", "2"}).out, "2\n");
}
