// The command's output on its own (cli/output.hpp, cli/ordered_lines.hpp): tagging, what reaches
// standard output and error, a closed output, -k --line-buffer's order, and --results' layout.
#include <gtest/gtest.h>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "ordered_lines.hpp"
#include "output.hpp"
#include "run_helpers.hpp"

using namespace parmill::cli;
using parmill_test::scratch;

namespace {

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Sends what is written to descriptor `fd` to a file while it lives; `text()` is what was written.
class captured_fd {
public:
  explicit captured_fd(int fd) : fd_(fd), saved_(::dup(fd)) {
    const int file = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ::dup2(file, fd_);
    ::close(file);
  }
  ~captured_fd() { restore(); }
  captured_fd(const captured_fd&) = delete;
  captured_fd& operator=(const captured_fd&) = delete;
  /// Puts the descriptor back and returns what was written to it.
  std::string text() {
    restore();
    return contents(path_);
  }

private:
  void restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, fd_);
    ::close(saved_);
    saved_ = -1;
  }
  scratch dir_;
  std::string path_ = dir_ / "captured";
  int fd_;
  int saved_;
};

process_result job_output(std::string out, std::string err) {
  process_result r;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

} // namespace

TEST(Output, TagLinesPrefixesEveryLineIncludingAnUnfinishedLast) {
  EXPECT_EQ(tag_lines("a\nb\n", "t"), "t\ta\nt\tb\n");
  EXPECT_EQ(tag_lines("a\nb", "x y"), "x y\ta\nx y\tb");
  EXPECT_EQ(tag_lines("\n\n", "t"), "t\t\nt\t\n");
  EXPECT_EQ(tag_lines("", "t"), "");
}

TEST(Output, AJobsOutputGoesWholeToStandardOutputAndItsErrorsToStandardError) {
  output_writer writer;
  captured_fd out(1), err(2);
  writer.write_job(job_output("one\ntwo\n", "oops\n"), nullptr);
  const std::string tag = "a b";
  writer.write_job(job_output("three\n", ""), &tag);
  writer.write_line("live\n", false, nullptr);
  writer.write_line("warn\n", true, &tag);
  writer.message("parmill: note\n");
  const std::string printed = out.text(), errors = err.text();
  EXPECT_EQ(printed, "one\ntwo\na b\tthree\nlive\n");
  EXPECT_EQ(errors, "oops\na b\twarn\nparmill: note\n");
  EXPECT_FALSE(writer.broken());
}

TEST(Output, AClosedStandardOutputIsSeenAsBroken) {
  const auto previous = std::signal(SIGPIPE, SIG_IGN);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ::close(pipe_fds[0]); // the reader went away (`| head`)
  const int saved = ::dup(1);
  ::dup2(pipe_fds[1], 1);
  ::close(pipe_fds[1]);
  output_writer writer;
  writer.write_job(job_output("lost\n", ""), nullptr);
  ::dup2(saved, 1);
  ::close(saved);
  std::signal(SIGPIPE, previous);
  EXPECT_TRUE(writer.broken());
}

TEST(OrderedLines, TheFirstJobsLinesGoOutLiveAndALaterJobsWaitForItsTurn) {
  output_writer writer;
  captured_fd out(1);
  {
    ordered_lines lines(writer);
    lines.write(0, "0a\n", false, nullptr);
    lines.write(2, "2a\n", false, nullptr); // held until jobs 0 and 1 have ended
    lines.write(1, "1a\n", false, nullptr);
    lines.write(0, "0b\n", false, nullptr);
    lines.ended(0); // job 1 is first now: its held line goes out
    lines.write(1, "1b\n", false, nullptr);
    lines.ended(1);
    lines.write(2, "2b\n", false, nullptr);
    lines.ended(2);
  }
  EXPECT_EQ(out.text(), "0a\n0b\n1a\n1b\n2a\n2b\n");
}

TEST(Results, DirectoryNamesAreQuotedAndCutAsGnuParallelDoes) {
  const scratch s;
  const results_directory results(s / "out");
  EXPECT_EQ(results.directory_name("plain"), "plain");
  EXPECT_EQ(results.directory_name("a/b"), "a\\_b");
  EXPECT_EQ(results.directory_name("a\tb\\c"), "a\\tb\\\\c");
  EXPECT_EQ(results.directory_name(""), "\\");
  EXPECT_EQ(results.directory_name("."), "\\.");
  EXPECT_EQ(results.directory_name(".."), "\\..");
  EXPECT_LE(results.directory_name(std::string(1000, 'x')).size(), 255U);
}

TEST(Results, EachJobsOutputIsSavedOneLevelPerColumn) {
  const scratch s;
  const results_directory results(s / "out");
  job_values job;
  job.seq = 7;
  job.records = {{"a", "b/c"}};
  results.save(job, job_output("said\n", "complained\n"));
  const std::string where = s / "out/1/a/2/b\\_c/";
  EXPECT_EQ(contents(where + "stdout"), "said\n");
  EXPECT_EQ(contents(where + "stderr"), "complained\n");
  EXPECT_EQ(contents(where + "seq"), "7");
}
