// Conformance tests of parmill/progress.hpp: formatting, log and terminal output, counting.
#include <parmill/map.hpp>
#include <parmill/progress.hpp>

#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace {

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

parmill::progress_snapshot snapshot(std::uint64_t done, std::optional<std::uint64_t> total,
                                    std::uint64_t failed = 0) {
  return {.label = "files",
          .done = done,
          .failed = failed,
          .total = total,
          .elapsed_seconds = 2.0,
          .rate = 225.0,
          .finished = false};
}

TEST(ProgressFormat, BarWithATotalShowsPercentBarCountsElapsedEtaAndRate) {
  const std::string line = parmill::format_progress_bar(snapshot(450, 1000), 80);
  EXPECT_EQ(line.size(), 80U) << line;
  EXPECT_EQ(line.rfind("files  45% |", 0), 0U) << line;
  EXPECT_NE(line.find("#-"), std::string::npos) << line;
  EXPECT_NE(line.find("| 450/1000 [00:02<00:02, 225.0/s]"), std::string::npos) << line;
}

TEST(ProgressFormat, BarFitsANarrowTerminalByDroppingTheBar) {
  const std::string line = parmill::format_progress_bar(snapshot(450, 1000), 40);
  EXPECT_LE(line.size(), 40U);
  EXPECT_EQ(line.find('|'), std::string::npos) << line;
}

TEST(ProgressFormat, WithoutATotalShowsCountElapsedAndRate) {
  EXPECT_EQ(parmill::format_progress_bar(snapshot(450, std::nullopt, 3), 80),
            "files 450 [00:02, 225.0/s] 3 failed");
}

TEST(ProgressFormat, LogLinesAndTheFinalSummary) {
  EXPECT_EQ(parmill::format_progress_line(snapshot(450, 1000, 3)),
            "files: 450/1000 (45%), 3 failed, 00:02 elapsed, 225.0/s, ETA 00:02");
  auto final = snapshot(1000, 1000, 3);
  final.finished = true;
  EXPECT_EQ(parmill::format_progress_line(final), "files: 997 done, 3 failed in 2.00 s (500.0/s)");
}

TEST(ProgressBar, OnANonTerminalWritesPlainLinesAndNeverACarriageReturn) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    parmill::progress_bar bar(
        {.label = "log", .total = 10, .fd = fds[1], .terminal = std::nullopt, .interval = {}});
    bar.advance(7);
    bar.fail(3);
  }
  ::close(fds[1]);
  const std::string out = drain(fds[0]);
  ::close(fds[0]);
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_NE(out.find("log: 7 done, 3 failed in "), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

TEST(ProgressBar, OnATerminalRedrawsInPlaceThroughAPseudoTerminal) {
  int master = -1, slave = -1;
  winsize size{.ws_row = 24, .ws_col = 60, .ws_xpixel = 0, .ws_ypixel = 0};
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, &size), 0);
  {
    parmill::progress_bar bar(
        {.label = "tty", .total = 4, .fd = slave, .terminal = std::nullopt, .interval = {}});
    bar.advance(4);
  }
  ::close(slave);
  const std::string out = drain(master); // ends with EIO once the slave side is closed
  ::close(master);
  EXPECT_EQ(out.rfind("\rtty 100% |", 0), 0U) << out;
  EXPECT_NE(out.find("| 4/4 ["), std::string::npos) << out;
  EXPECT_NE(out.find("tty: 4 done, 0 failed in "), std::string::npos) << out;
  const auto first_line = out.substr(1, out.find_first_of("\r\n", 1) - 1);
  EXPECT_LE(first_line.size(), 59U) << "fits the terminal's 60 columns: " << first_line;
}

// write_above on a terminal: the bar's line is cleared (carriage return, spaces, carriage return),
// the text written, and the bar drawn again below it; after text that ends mid-line, on the next
// line.
TEST(ProgressBar, WriteAboveClearsTheBarsLineWritesAndRedrawsTheBarBelow) {
  int master = -1, slave = -1;
  winsize size{.ws_row = 24, .ws_col = 60, .ws_xpixel = 0, .ws_ypixel = 0};
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, &size), 0);
  std::string seen;
  {
    parmill::progress_bar bar({.label = "tty",
                               .total = 4,
                               .fd = slave,
                               .terminal = std::nullopt,
                               .interval = std::chrono::milliseconds(1)});
    char buffer[4096];
    while (seen.find("0/4") == std::string::npos) { // the bar's first draw, within 5 s
      pollfd ready{master, POLLIN, 0};
      ASSERT_EQ(::poll(&ready, 1, 5000), 1) << "the bar was never drawn: " << seen;
      const ssize_t n = ::read(master, buffer, sizeof buffer);
      ASSERT_GT(n, 0);
      seen.append(buffer, static_cast<std::size_t>(n));
    }
    using written = parmill::progress_bar::written;
    bar.write_above(
        [&] { return ::write(slave, "hello\n", 6) == 6 ? written::whole_lines : written::nothing; });
    bar.write_above(
        [&] { return ::write(slave, "part", 4) == 4 ? written::part_of_a_line : written::nothing; });
    bar.advance(4);
  }
  ::close(slave);
  seen += drain(master);
  ::close(master);
  const std::size_t hello = seen.find("hello");
  ASSERT_NE(hello, std::string::npos) << seen;
  const std::string before = seen.substr(0, hello);
  const std::size_t cleared = before.rfind('\r', before.size() - 2);
  ASSERT_NE(cleared, std::string::npos) << seen;
  EXPECT_EQ(before.back(), '\r') << seen;
  EXPECT_EQ(before.substr(cleared + 1, before.size() - cleared - 2).find_first_not_of(' '), std::string::npos)
      << "the bar's line is overwritten with spaces: " << seen;
  EXPECT_EQ(seen.compare(hello, 11, "hello\r\n\rtty"), 0) << "the bar is redrawn below: " << seen;
  EXPECT_NE(seen.find("part\r\ntty"), std::string::npos)
      << "after a partial line, the bar goes to the next: " << seen;
  EXPECT_NE(seen.find("tty: 4 done, 0 failed in "), std::string::npos) << seen;
}

// Off a terminal, and after the bar has finished, write_above only runs the function.
TEST(ProgressBar, WriteAboveOffATerminalOrAfterTheEndOnlyWrites) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    parmill::progress_bar bar({.label = "log", .total = 1, .fd = fds[1], .terminal = false, .interval = {}});
    bar.write_above([&] {
      (void)::write(fds[1], "x", 1);
      return parmill::progress_bar::written::part_of_a_line;
    });
    bar.finish();
    bar.write_above([&] {
      (void)::write(fds[1], "y\n", 2);
      return parmill::progress_bar::written::whole_lines;
    });
  }
  ::close(fds[1]);
  const std::string out = drain(fds[0]);
  ::close(fds[0]);
  EXPECT_EQ(out.rfind("xlog: 0 done, 0 failed, 1 not run in ", 0), 0U) << out;
  EXPECT_EQ(out.substr(out.size() - 4), ")\ny\n") << out;
}

TEST(ProgressBar, CountsExactlyFromManyThreads) {
  parmill::progress_bar bar(
      {.label = "", .total = std::nullopt, .fd = -1, .terminal = false, .interval = {}});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&bar] {
      for (int i = 0; i < 100000; ++i)
        (i % 10 == 0) ? bar.fail() : bar.advance();
    });
  for (auto& t : threads)
    t.join();
  const auto s = bar.snapshot();
  EXPECT_EQ(s.done, 400000U);
  EXPECT_EQ(s.failed, 40000U);
}

TEST(ProgressView, CountsTheElementsOfARangeAndFinishesAtTheEnd) {
  std::vector<int> files{1, 2, 3, 4, 5};
  testing::internal::CaptureStderr();
  int sum = 0;
  for (int x : parmill::progress(files, "files"))
    sum += x;
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(sum, 15);
  EXPECT_NE(err.find("files: 5 done, 0 failed in "), std::string::npos) << err;
}

TEST(ProgressOfAMap, ReportsDoneAndFailedItems) {
  std::vector<int> input(100);
  for (int i = 0; i < 100; ++i)
    input[static_cast<std::size_t>(i)] = i;
  testing::internal::CaptureStderr();
  for (auto& r : parmill::map(parmill::threads(2), input,
                              [](int x) {
                                if (x % 25 == 0) throw std::runtime_error("bad");
                                return x;
                              },
                              {.on_error = parmill::on_error::yield, .progress = "items"}))
    (void)r;
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("items: 96 done, 4 failed in "), std::string::npos) << err;
}

} // namespace
