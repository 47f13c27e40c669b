// How the parmill command's jobs end: every process of a job's group when the run is stopped or
// the job times out, a stop while the input is silent, and the exit values of jobs that cannot
// start. Behaviour compared with GNU parallel 20221122 by hand when each test was written.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "run_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using parmill_test::background;
using parmill_test::exit_values;
using parmill_test::scratch;
using parmill_test::streams;

std::chrono::steady_clock::time_point in(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

/// Kills, at the end of a test, the markers a failing assertion left running.
struct marker_guard {
  std::vector<pid_t> pids;
  ~marker_guard() {
    for (pid_t p : pids)
      if (parmill_test::process_running(p)) ::kill(p, SIGKILL);
  }
};

/// A job that starts a background process ignoring TERM (it reports its pid on `fifo` once TERM is
/// ignored) and waits for it: the job's first process dies on TERM, the marker needs KILL.
std::string job_leaving_a_marker(const std::string& fifo, const std::string& before = "") {
  return before + ": {}; sh -c 'trap \"\" TERM; echo $$ >> " + fifo + "; exec sleep 31' & wait";
}

/// Opens a fifo for reading and writing (so that it never reads as ended between two writers).
int open_fifo(const std::string& path) {
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
  return ::open(path.c_str(), O_RDWR | O_CLOEXEC);
}

std::vector<pid_t> read_markers(int fd, std::size_t count) {
  std::vector<pid_t> pids;
  for (const std::string& line : parmill_test::read_lines(fd, count, in(10s)))
    pids.push_back(std::stoi(line));
  return pids;
}

/// Opens a fifo's writing end once a job reads it, and says "go" (bounded: no reader, no write).
bool open_gate(const std::string& gate) {
  const auto deadline = in(10s);
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::open(gate.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      const bool said = ::write(fd, "go\n", 3) == 3;
      ::close(fd);
      return said;
    }
    ::poll(nullptr, 0, 5); // the job has not opened the gate yet
  }
  return false;
}

/// How the run is stopped in StopEndsEveryProcessOfEveryJobsGroup.
enum class stop_by { sigterm, sigint, timeout, halt_now };

std::string stop_name(stop_by how) {
  switch (how) {
  case stop_by::sigterm: return "SIGTERM";
  case stop_by::sigint: return "SIGINT";
  case stop_by::timeout: return "Timeout";
  case stop_by::halt_now: return "HaltNow";
  }
  return "?";
}

void PrintTo(stop_by how, std::ostream* os) { *os << stop_name(how); }

class StopEndsGroups : public ::testing::TestWithParam<stop_by> {};

} // namespace

INSTANTIATE_TEST_SUITE_P(Ways, StopEndsGroups,
                         ::testing::Values(stop_by::sigterm, stop_by::sigint, stop_by::timeout,
                                           stop_by::halt_now),
                         [](const auto& info) { return stop_name(info.param); });

// Issue 14, point 7: a job's group was forgotten when its first process was reaped, so a
// background process ignoring TERM outlived parmill. GNU parallel 20221122 leaves none.
TEST_P(StopEndsGroups, StopEndsEveryProcessOfEveryJobsGroup) {
  scratch s;
  const std::string fifo = s / "markers", gate = s / "gate";
  const int markers_fd = open_fifo(fifo);
  ASSERT_GE(markers_fd, 0);
  std::vector<std::string> args{PARMILL_BINARY, "-j3"};
  std::string command = job_leaving_a_marker(fifo);
  int expected_status = 255;
  if (GetParam() == stop_by::timeout) {
    // Time for each job to leave its marker, even on a loaded machine.
    args.insert(args.end(), {"--timeout", "3"});
    expected_status = 2; // the two jobs failed (killed)
  } else if (GetParam() == stop_by::halt_now) {
    ASSERT_EQ(::mkfifo(gate.c_str(), 0600), 0);
    args.insert(args.end(), {"--halt", "now,fail=1"});
    command = job_leaving_a_marker(fifo, "if [ {} = fail ]; then read x < " + gate + "; exit 3; fi; ");
    expected_status = 3; // the failing job's status
  }
  args.push_back(command);
  args.insert(args.end(), {":::", "1", "2"});
  if (GetParam() == stop_by::halt_now) args.push_back("fail");
  background parmill{parmill_test::start_program(args)};
  ASSERT_GT(parmill.pid, 0);

  marker_guard markers{read_markers(markers_fd, 2)};
  ::close(markers_fd);
  ASSERT_EQ(markers.pids.size(), 2U);
  if (GetParam() == stop_by::sigterm) ::kill(parmill.pid, SIGTERM);
  if (GetParam() == stop_by::sigint) ::kill(parmill.pid, SIGINT);
  if (GetParam() == stop_by::halt_now) {
    ASSERT_TRUE(open_gate(gate));
  }

  EXPECT_EQ(parmill.wait(), expected_status);
  EXPECT_EQ(parmill_test::still_running(markers.pids, in(2s)), std::vector<pid_t>{})
      << "processes of the jobs' groups outlived the stop";
}

// What GNU parallel 20221122 does too: a job ends when its first process ends; what it left
// running in the background is no longer the job's, and is left alone when the run ends.
TEST(StopLeftovers, ABackgroundProcessOfAJobThatEndedIsLeftAlone) {
  scratch s;
  const std::string fifo = s / "markers";
  const int markers_fd = open_fifo(fifo);
  ASSERT_GE(markers_fd, 0);
  background parmill{parmill_test::start_program(
      {PARMILL_BINARY, "sh -c 'echo $$ >> " + fifo + "; exec sleep 31' & : {}", ":::", "1"})};
  EXPECT_EQ(parmill.wait(), 0);
  marker_guard markers{read_markers(markers_fd, 1)};
  ::close(markers_fd);
  ASSERT_EQ(markers.pids.size(), 1U);
  EXPECT_TRUE(parmill_test::process_running(markers.pids[0]));
}

// --- a stop while the input is silent (issue 14, point 10) ---------------------------------------

namespace {

struct silent_input_case {
  const char* name;
  std::vector<std::string> args;
  int signal;
};

void PrintTo(const silent_input_case& c, std::ostream* os) { *os << c.name; }

class StopWhileReading : public ::testing::TestWithParam<silent_input_case> {};

} // namespace

INSTANTIATE_TEST_SUITE_P(
    Readers, StopWhileReading,
    ::testing::Values(silent_input_case{"LinesSIGINT", {"echo"}, SIGINT},
                      silent_input_case{"LinesSIGTERM", {"echo"}, SIGTERM},
                      silent_input_case{"PipeBlocksSIGINT", {"--pipe", "cat"}, SIGINT},
                      silent_input_case{"ReadAllForTheBarSIGINT", {"--bar", "echo"}, SIGINT},
                      silent_input_case{"HeaderSIGINT", {"--header", ":", "echo"}, SIGINT},
                      silent_input_case{"FileDashSIGTERM", {"echo", "::::", "-"}, SIGTERM}),
    [](const auto& info) { return std::string(info.param.name); });

namespace {

/// Sends `signal` to parmill and waits at most `limit` for it to end: its exit status (nothing if
/// it had not ended) and how long it took; prints that time for the log.
std::pair<std::optional<int>, std::chrono::milliseconds> signal_and_wait(background& parmill, int signal,
                                                                         std::chrono::milliseconds limit) {
  const auto sent = std::chrono::steady_clock::now();
  ::kill(parmill.pid, signal);
  const std::optional<int> status = parmill.wait(limit);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent);
  std::printf("[   info   ] ended %lld ms after the signal\n", static_cast<long long>(took.count()));
  return {status, took};
}

} // namespace

// The input is a pipe whose writer stays open and sends nothing, as `(sleep 4; echo x) | parmill`
// or a terminal: the signal must end the run at once, exit 255, whatever the reader is doing.
TEST_P(StopWhileReading, ASignalEndsTheRunAtOnce) {
  int input[2];
  ASSERT_EQ(::pipe2(input, O_CLOEXEC), 0);
  std::vector<std::string> args{PARMILL_BINARY};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  background parmill{parmill_test::start_program(args, streams{.in = input[0]})};
  ::close(input[0]);
  ASSERT_GT(parmill.pid, 0);
  // Once parmill's signal thread takes the signal and parmill waits for input (if it never takes
  // it, it still gets the signal and must not die of it).
  (void)parmill_test::blocks_signal(parmill.pid, GetParam().signal, 1s);
  EXPECT_TRUE(parmill_test::all_threads_asleep(parmill.pid, 10s)); // returns once they are
  const auto [status, took] = signal_and_wait(parmill, GetParam().signal, 1s);
  ::close(input[1]);
  ASSERT_TRUE(status.has_value()) << "parmill was still reading 1 s after the signal";
  EXPECT_EQ(*status, 255);
  EXPECT_LT(took, 1s);
}

// A job waiting out --delay before it starts: a signal ends the run at once, not after the delay.
TEST(StopWhileWaitingForTheDelay, ASignalEndsTheRunAtOnce) {
  int output[2];
  ASSERT_EQ(::pipe2(output, O_CLOEXEC), 0);
  background parmill{parmill_test::start_program(
      {PARMILL_BINARY, "-j2", "--delay", "30", "echo {}", ":::", "1", "2"}, streams{.out = output[1]})};
  ::close(output[1]);
  ASSERT_GT(parmill.pid, 0);
  // One job has run (either: the two slots race to the first start); the other waits 30 s.
  const auto first = parmill_test::read_lines(output[0], 1, std::chrono::steady_clock::now() + 10s);
  ASSERT_EQ(first.size(), 1U);
  EXPECT_TRUE(first[0] == "1" || first[0] == "2") << first[0];
  (void)parmill_test::blocks_signal(parmill.pid, SIGINT, 1s);
  const auto [status, took] = signal_and_wait(parmill, SIGINT, 2s);
  ::close(output[0]);
  ASSERT_TRUE(status.has_value()) << "parmill went on waiting for --delay after Ctrl-C";
  EXPECT_EQ(*status, 255);
}

// Ctrl-C typed on the terminal parmill reads its input from (`parmill echo` waiting for lines).
TEST(StopWhileReadingATerminal, CtrlCEndsTheRunAtOnce) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const std::string terminal = ::ptsname(master);
  // parmill in a session of its own, whose controlling terminal (and standard input) is the pty.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, terminal.c_str(), O_RDWR, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string program = PARMILL_BINARY, command = "echo";
  char* argv[] = {program.data(), command.data(), nullptr};
  background parmill;
  EXPECT_EQ(::posix_spawn(&parmill.pid, argv[0], &actions, &attributes, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ASSERT_GT(parmill.pid, 0);
  (void)parmill_test::blocks_signal(parmill.pid, SIGINT, 1s);
  EXPECT_TRUE(parmill_test::all_threads_asleep(parmill.pid, 10s)); // returns once they are

  ASSERT_EQ(::write(master, "\x03", 1), 1); // the terminal sends SIGINT to parmill
  const std::optional<int> status = parmill.wait(1s);
  ::close(master);
  ASSERT_TRUE(status.has_value()) << "parmill was still reading the terminal 1 s after Ctrl-C";
  EXPECT_EQ(*status, 255);
}

// Jobs are running and the input has nothing more yet: the jobs are killed and the run ends.
// (A job starts once the input after it has been read: with three slots and three inputs, two jobs
// run and the third slot waits for a fourth input.)
TEST(StopWhileReadingAndRunning, ASignalEndsTheJobsAndTheRun) {
  scratch s;
  const std::string fifo = s / "started";
  const int started_fd = open_fifo(fifo);
  ASSERT_GE(started_fd, 0);
  int input[2];
  ASSERT_EQ(::pipe2(input, O_CLOEXEC), 0);
  background parmill{parmill_test::start_program(
      {PARMILL_BINARY, "-j3", "echo $$ >> " + fifo + "; sleep 30; : {}"}, streams{.in = input[0]})};
  ::close(input[0]);
  // Two jobs run while the third worker waits for input (a job starts as soon as its line is read).
  ASSERT_EQ(::write(input[1], "a\nb\n", 4), 4);
  marker_guard jobs{read_markers(started_fd, 2)};
  ::close(started_fd);
  ASSERT_EQ(jobs.pids.size(), 2U);
  ::kill(parmill.pid, SIGINT);
  const std::optional<int> status = parmill.wait(1s);
  ::close(input[1]);
  ASSERT_TRUE(status.has_value()) << "parmill was still reading 1 s after the signal";
  EXPECT_EQ(*status, 255);
  EXPECT_EQ(parmill_test::still_running(jobs.pids, in(2s)), std::vector<pid_t>{});
}

// --- jobs that cannot start (issue 14, point 16) ---------------------------------------------------

// The shell's convention: 126 for a command found but not runnable, 127 for one not found.
TEST(JobsThatCannotStart, ADirectoryOrANonExecutableFileIs126AndAMissingCommand127) {
  scratch s;
  { std::ofstream(s / "not-executable") << "echo hi\n"; }
  ::chmod((s / "not-executable").c_str(), 0644);
  struct start_case {
    std::vector<std::string> args;
    std::string exit_value, message;
  };
  for (const start_case& c : {start_case{{s.dir.string()}, "126", "Is a directory"},
                              start_case{{"-q", s / "not-executable"}, "126", "Permission denied"},
                              start_case{{"-q", s / "missing"}, "127", "No such file or directory"},
                              start_case{{"-q", "parmill-no-such-command"}, "127", "command not found"}}) {
    std::vector<std::string> args{PARMILL_BINARY, "--joblog", s / "log"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.insert(args.end(), {":::", "a"});
    const parmill_test::ran r = parmill_test::run_program(args, "");
    EXPECT_EQ(r.status, 1) << c.args[0];
    EXPECT_EQ(exit_values(s / "log"), std::vector<std::string>{c.exit_value}) << c.args.back();
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args.back() << ": " << r.err;
    std::filesystem::remove(s / "log");
  }
}
