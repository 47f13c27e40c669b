// --bar and jobs' output on one terminal: a job's output never lands on the bar's line (issue 15,
// point 7). The command runs on a pseudo-terminal, and what it writes there is replayed on a small
// terminal model (carriage return, newline, erase-line, overwriting), so that the test sees the
// screen a user sees.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "run_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using parmill_test::background;
using parmill_test::scratch;
using parmill_test::streams;

/// The lines a terminal shows after receiving `bytes`: `\r` returns to column 0, `\n` starts the
/// next line, `ESC [ ... K` erases the line (from the cursor), other escape sequences are skipped,
/// and every other byte overwrites the cell under the cursor. Trailing spaces are dropped.
std::vector<std::string> screen(const std::string& bytes) {
  std::vector<std::string> rows{""};
  std::size_t column = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    std::string& row = rows.back();
    if (c == '\r') {
      column = 0;
    } else if (c == '\n') {
      rows.emplace_back();
      column = 0;
    } else if (c == '\x1b' && i + 1 < bytes.size() && bytes[i + 1] == '[') {
      std::size_t end = i + 2;
      while (end < bytes.size() && !std::isalpha(static_cast<unsigned char>(bytes[end])))
        ++end;
      if (end < bytes.size() && bytes[end] == 'K') {
        const std::string argument = bytes.substr(i + 2, end - i - 2);
        if (argument == "2")
          row.assign(row.size(), ' ');
        else if (column < row.size())
          row.resize(column);
      }
      i = end;
    } else {
      if (column >= row.size()) row.resize(column + 1, ' ');
      row[column++] = c;
    }
  }
  for (std::string& row : rows)
    row.erase(row.find_last_not_of(' ') + 1);
  return rows;
}

/// Reads what is there on `fd` into `into`, waiting at most `wait` for the first byte; false at
/// the end (EOF, or EIO: the terminal's other side is closed everywhere).
bool read_some(int fd, std::string& into, std::chrono::milliseconds wait) {
  pollfd ready{fd, POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(wait.count())) <= 0) return true;
  char buffer[4096];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  if (n <= 0) return false;
  into.append(buffer, static_cast<std::size_t>(n));
  return true;
}

/// A run of parmill with --bar whose first job waits, once the bar is drawn, until the test lets
/// it go: so its output comes while the bar is on the screen. Each job prints `output of job N`
/// on standard output and `error of job N` on standard error.
struct bar_run {
  std::string terminal; ///< everything parmill wrote on the pseudo-terminal
  std::string out;      ///< its standard output, when that is a pipe
  std::optional<int> status;
};

/// The default job's output: whole lines.
const std::string whole_lines = "echo output of job {}; echo error of job {} >&2";

/// Runs `parmill --bar <mode...> -j1 JOB ::: 1 2 3` with standard error on a pseudo-terminal and
/// standard output on the same one, or on a pipe when `stdout_to_pipe`. JOB waits (job 1 only)
/// and then runs `output`.
bar_run run_with_bar(const std::vector<std::string>& mode, bool stdout_to_pipe,
                     const std::string& output = whole_lines) {
  bar_run result;
  scratch s;
  const std::string fifo = s / "go";
  EXPECT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int master = -1, slave = -1;
  winsize size{.ws_row = 24, .ws_col = 80, .ws_xpixel = 0, .ws_ypixel = 0};
  EXPECT_EQ(::openpty(&master, &slave, nullptr, nullptr, &size), 0);
  ::fcntl(master, F_SETFD, FD_CLOEXEC);
  int out_pipe[2] = {-1, -1};
  if (stdout_to_pipe) {
    EXPECT_EQ(::pipe2(out_pipe, O_CLOEXEC), 0);
  }
  std::vector<std::string> argv{PARMILL_BINARY, "--bar"};
  argv.insert(argv.end(), mode.begin(), mode.end());
  argv.insert(argv.end(),
              {"-j1", "test {} = 1 && cat " + fifo + " >/dev/null; " + output, ":::", "1", "2", "3"});
  background parmill{parmill_test::start_program(
      argv, streams{.in = -1, .out = stdout_to_pipe ? out_pipe[1] : slave, .err = slave})};
  ::close(slave);
  if (stdout_to_pipe) ::close(out_pipe[1]);
  // Only a guard against a hang: each loop below ends as soon as what it waits for has come.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  // The bar is drawn (job 1 is waiting): let job 1 go on.
  while (result.terminal.find("0/3") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    if (!read_some(master, result.terminal, 10ms)) break;
  EXPECT_NE(result.terminal.find("0/3"), std::string::npos) << "the bar was never drawn";
  int go = -1;
  while (go < 0 && std::chrono::steady_clock::now() < deadline) {
    go = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC); // ENXIO until job 1 reads it
    if (go < 0 && !read_some(master, result.terminal, 10ms)) break;
  }
  EXPECT_GE(go, 0) << "job 1 never opened the FIFO";
  if (go >= 0) ::close(go); // job 1's `cat` ends
  while (std::chrono::steady_clock::now() < deadline && read_some(master, result.terminal, 100ms)) {
  }
  result.status = parmill.wait(30s);
  ::close(master);
  if (stdout_to_pipe) {
    while (read_some(out_pipe[0], result.out, 1000ms) && std::chrono::steady_clock::now() < deadline) {
    }
    ::close(out_pipe[0]);
  }
  return result;
}

std::string show(const std::vector<std::string>& rows) {
  std::string text;
  for (const std::string& row : rows)
    text += "  |" + row + "\n";
  return text;
}

/// Every line of job output is a line of its own on the screen, and the bar's last state and
/// its summary are there, below the jobs' output.
void expect_output_apart_from_the_bar(const std::vector<std::string>& rows, bool with_stdout) {
  std::size_t last_job_row = 0, bar_row = 0, summary_row = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string& row = rows[i];
    if (row.find("of job") != std::string::npos) {
      EXPECT_TRUE(row.rfind("output of job ", 0) == 0 || row.rfind("error of job ", 0) == 0)
          << "job output shares a line with something else: '" << row << "'\n"
          << show(rows);
      EXPECT_EQ(row.size(), row.rfind("of job ") + 8) << "'" << row << "'\n" << show(rows);
      last_job_row = i;
    }
    if (row.rfind("parmill 100%", 0) == 0 && row.find("3/3") != std::string::npos) bar_row = i;
    if (row.rfind("parmill: 3 done, 0 failed in ", 0) == 0) summary_row = i;
  }
  for (const char* n : {"1", "2", "3"}) {
    if (with_stdout) {
      EXPECT_EQ(std::count(rows.begin(), rows.end(), std::string("output of job ") + n), 1) << show(rows);
    }
    EXPECT_EQ(std::count(rows.begin(), rows.end(), std::string("error of job ") + n), 1) << show(rows);
  }
  EXPECT_GT(bar_row, last_job_row) << "the bar's final state is below the output\n" << show(rows);
  EXPECT_EQ(summary_row, bar_row + 1) << show(rows);
}

class BarAndOutputOnOneTerminal : public ::testing::TestWithParam<std::vector<std::string>> {};

} // namespace

INSTANTIATE_TEST_SUITE_P(OutputModes, BarAndOutputOnOneTerminal,
                         ::testing::Values(std::vector<std::string>{}, std::vector<std::string>{"-k"},
                                           std::vector<std::string>{"--line-buffer"},
                                           std::vector<std::string>{"--eta"},
                                           std::vector<std::string>{"--progress", "--tag"}));

TEST_P(BarAndOutputOnOneTerminal, EveryOutputLineStartsAtColumnZeroAndTheBarIsRedrawnBelow) {
  const bar_run r = run_with_bar(GetParam(), false);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(*r.status, 0);
  std::vector<std::string> rows = screen(r.terminal);
  if (std::find(GetParam().begin(), GetParam().end(), "--tag") != GetParam().end())
    for (std::string& row : rows) // "1\toutput of job 1": the tag and its tab come first
      if (row.size() > 2 && row[1] == '\t' && row.find("of job") != std::string::npos) row.erase(0, 2);
  expect_output_apart_from_the_bar(rows, true);
}

// Standard output to a file or pipe, standard error (and the bar) on the terminal: what goes to
// the pipe is exactly the jobs' output, nothing of the bar's handling; the terminal shows the
// jobs' standard error apart from the bar.
TEST(BarWithOutputRedirected, StandardOutputGetsExactlyTheJobsOutput) {
  for (const std::vector<std::string>& mode : {std::vector<std::string>{}, std::vector<std::string>{"-k"},
                                               std::vector<std::string>{"--line-buffer"}}) {
    const bar_run r = run_with_bar(mode, true);
    ASSERT_TRUE(r.status.has_value());
    EXPECT_EQ(*r.status, 0);
    EXPECT_EQ(r.out, "output of job 1\noutput of job 2\noutput of job 3\n");
    expect_output_apart_from_the_bar(screen(r.terminal), false);
  }
}

// Off a terminal nothing changes: the jobs' output is as it is, and the bar's log lines on
// standard error have no carriage return and no escape sequence.
TEST(BarOffATerminal, OutputIsExactlyTheJobsAndTheSummaryLine) {
  for (const std::vector<std::string>& mode :
       {std::vector<std::string>{"-k"}, std::vector<std::string>{"-k", "--line-buffer"}}) {
    std::vector<std::string> argv{PARMILL_BINARY, "--bar", "-j2"};
    argv.insert(argv.end(), mode.begin(), mode.end());
    argv.insert(argv.end(), {"printf 'output of job %s' {}; echo error of job {} >&2", ":::", "1", "2", "3"});
    const parmill_test::ran r = parmill_test::run_program(argv, "");
    EXPECT_EQ(r.status, 0);
    if (mode.size() == 1) {
      EXPECT_EQ(r.out, "output of job 1output of job 2output of job 3");
    }
    std::string sorted = r.out; // --line-buffer: jobs' lines in the order they came
    std::sort(sorted.begin(), sorted.end());
    std::string expected = "output of job 1output of job 2output of job 3";
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(sorted, expected);
    EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
    const std::vector<std::string> err = parmill_test::lines(r.err);
    ASSERT_EQ(err.size(), 4U) << r.err;
    std::vector<std::string> job_errors(err.begin(), err.begin() + 3);
    std::sort(job_errors.begin(), job_errors.end());
    EXPECT_EQ(job_errors, (std::vector<std::string>{"error of job 1", "error of job 2", "error of job 3"}));
    EXPECT_EQ(err[3].rfind("parmill: 3 done, 0 failed in ", 0), 0U) << r.err;
  }
}

// A job's output that does not end with a newline stays on the screen: the bar is drawn on the
// next line instead of over it.
TEST(BarAndOutputOnOneTerminal, OutputWithoutANewlineIsNotOverwrittenByTheBar) {
  const bar_run r = run_with_bar({"-k"}, false, "printf 'output of job %s' {}");
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(*r.status, 0);
  const std::vector<std::string> rows = screen(r.terminal);
  for (const char* n : {"1", "2", "3"})
    EXPECT_EQ(std::count(rows.begin(), rows.end(), std::string("output of job ") + n), 1) << show(rows);
  EXPECT_EQ(rows.end()[-3].rfind("parmill 100%", 0), 0U) << show(rows);
  EXPECT_EQ(rows.end()[-2].rfind("parmill: 3 done, 0 failed in ", 0), 0U) << show(rows);
}
