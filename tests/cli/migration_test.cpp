// What users coming from GNU parallel trip on (issue 15, point 8): its citation options are
// accepted and do nothing; its options parmill does not have say so, with the reason, instead of
// "unknown option"; reading inputs from a terminal says so.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "run_helpers.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using parmill_test::background;
using parmill_test::ran;

ran run_parmill(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), PARMILL_BINARY);
  return parmill_test::run_program(std::move(args), input);
}

} // namespace

// --- citation options ---------------------------------------------------------------------------

TEST(CitationOptions, AreAcceptedSilentlyAndChangeNothing) {
  for (const char* option : {"--will-cite", "--willcite", "--nn", "--nonotice", "--no-notice"}) {
    const ran r = run_parmill({option, "-k", "echo", ":::", "a", "b"});
    EXPECT_EQ(r.status, 0) << option << ": " << r.err;
    EXPECT_EQ(r.out, "a\nb\n") << option;
    EXPECT_EQ(r.err, "") << option;
  }
  const ran twice = run_parmill({"--will-cite", "-j2", "--will-cite", "echo", "x"}, "1\n");
  EXPECT_EQ(twice.status, 0) << twice.err;
  EXPECT_EQ(twice.out, "x 1\n");
}

// --- what parmill does not support --------------------------------------------------------------

// Each of GNU parallel 20221122's options that parmill does not have, as a user writes it (with
// its value, where it takes one). None runs a job.
TEST(UnsupportedOptions, SayNotSupportedByParmillWithAReasonAndExit255) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"-S", "host"}, "-S"},
      {{"-Shost"}, "-S"},
      {{"--sshlogin", "host"}, "--sshlogin"},
      {{"--sshlogin=host"}, "--sshlogin"},
      {{"--slf", "file"}, "--slf"},
      {{"--tmux"}, "--tmux"},
      {{"--tmuxpane"}, "--tmuxpane"},
      {{"--semaphore"}, "--semaphore"},
      {{"--sem"}, "--sem"},
      {{"--sql-master", "sqlite3:///x"}, "--sql-master"},
      {{"--sqlworker", "sqlite3:///x"}, "--sqlworker"},
      {{"--files"}, "--files"},
      {{"--compress"}, "--compress"},
      {{"--termseq", "TERM,200"}, "--termseq"},
      {{"--term-seq", "TERM,200"}, "--term-seq"},
      {{"--memfree", "1G"}, "--memfree"},
      {{"--load", "80%"}, "--load"},
      {{"--tee"}, "--tee"},
      {{"--shellquote"}, "--shellquote"},
      {{"--shebang-wrap"}, "--shebang-wrap"},
      {{"--citation"}, "--citation"},
      {{"--bibtex"}, "--bibtex"},
      {{"--transfer"}, "--transfer"},
      {{"--env", "X"}, "--env"},
      {{"--workdir", "/tmp"}, "--workdir"},
      {{"--nice", "10"}, "--nice"},
      {{"--csv"}, "--csv"},
      {{"--rpl", "{x} s/a/b/"}, "--rpl"},
      {{"--profile", "p"}, "--profile"},
      {{"-J", "p"}, "-J"},
      {{"--interactive"}, "--interactive"},
      {{"-p"}, "-p"},
      {{"--tty"}, "--tty"},
      {{"--color"}, "--color"},
      {{"--total-jobs", "3"}, "--total-jobs"},
      {{"--fg"}, "--fg"},
      {{"--xargs"}, "--xargs"},
      {{"--tollef"}, "--tollef"},
      {{"-g"}, "-g"},
  };
  for (const auto& [options, name] : cases) {
    std::vector<std::string> args = options;
    args.insert(args.end(), {"echo", ":::", "a"});
    const ran r = run_parmill(args);
    EXPECT_EQ(r.status, 255) << options[0];
    EXPECT_EQ(r.out, "") << options[0];
    EXPECT_EQ(r.err.rfind("parmill: Error: " + name + " is not supported by parmill (", 0), 0U)
        << options[0] << ": " << r.err;
    EXPECT_NE(r.err.find(")\n"), std::string::npos) << r.err;
  }
}

TEST(UnsupportedOptions, PerlReplacementStringsSayNotSupported) {
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"echo", "{= s/a/b/ =}"}, std::vector<std::string>{"echo", "{=s/a/b/=}"},
        std::vector<std::string>{"echo {=1 $_++ =}"}}) {
    std::vector<std::string> args = command;
    args.insert(args.end(), {":::", "abc"});
    const ran r = run_parmill(args);
    EXPECT_EQ(r.status, 255) << command[0];
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("parmill: Error: {= perl =} replacement strings are not supported by parmill (", 0),
              0U)
        << r.err;
  }
  // A brace and an equals sign that are not one are left alone.
  const ran r = run_parmill({"-k", "echo", "{=x", ":::", "a"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "{=x a\n");
}

TEST(UnknownOptions, StillSayUnknown) {
  for (const char* option : {"--no-such-option", "--tmuxx", "-Z"}) {
    const ran r = run_parmill({option, "echo", ":::", "a"});
    EXPECT_EQ(r.status, 255) << option;
    EXPECT_EQ(r.err.rfind(std::string("parmill: Error: unknown option: ") + option, 0), 0U) << r.err;
  }
}

// --- inputs from a terminal -----------------------------------------------------------------------

namespace {

/// parmill with `args`, its standard input and error on a new pseudo-terminal (its controlling
/// terminal, in a session of its own), its standard output on a pipe.
struct on_terminal {
  int master = -1;
  int out = -1;
  background parmill;

  explicit on_terminal(const std::vector<std::string>& args) {
    master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_GE(master, 0);
    EXPECT_EQ(::grantpt(master), 0);
    EXPECT_EQ(::unlockpt(master), 0);
    const std::string terminal = ::ptsname(master);
    int out_pipe[2];
    EXPECT_EQ(::pipe2(out_pipe, O_CLOEXEC), 0);
    out = out_pipe[0];
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, terminal.c_str(), O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, 0, 2);
    std::vector<std::string> all{PARMILL_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(::posix_spawn(&parmill.pid, argv[0], &actions, &attributes, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(out_pipe[1]);
  }
  ~on_terminal() {
    ::close(master);
    ::close(out);
  }

  /// What the terminal shows, read until `wanted` appears or `limit` passes.
  std::string read_until(const std::string& wanted, std::chrono::milliseconds limit) {
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (seen.find(wanted) == std::string::npos) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd ready{master, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[512];
      const ssize_t n = ::read(master, buffer, sizeof buffer);
      if (n <= 0) break;
      seen.append(buffer, static_cast<std::size_t>(n));
    }
    return seen;
  }
};

const std::string terminal_warning = "parmill: Warning: reading inputs from the terminal";

} // namespace

TEST(InputsFromATerminal, AWarningSaysSoAndCtrlDEndsTheInput) {
  on_terminal t({"echo"});
  ASSERT_GT(t.parmill.pid, 0);
  const std::string shown = t.read_until("Ctrl-D", 5s);
  EXPECT_NE(shown.find(terminal_warning), std::string::npos) << shown;
  EXPECT_NE(shown.find("Ctrl-D"), std::string::npos) << shown;
  ASSERT_EQ(::write(t.master, "a\n\x04", 3), 3); // a line, then Ctrl-D at the start of the next
  const std::optional<int> status = t.parmill.wait(5s);
  ASSERT_TRUE(status.has_value()) << "parmill still reads the terminal after Ctrl-D";
  EXPECT_EQ(*status, 0);
  const std::vector<std::string> out =
      parmill_test::read_lines(t.out, 1, std::chrono::steady_clock::now() + 1s);
  EXPECT_EQ(out, std::vector<std::string>{"a"});
}

TEST(InputsFromATerminal, NoWarningWhenTheInputsAreOnTheCommandLine) {
  on_terminal t({"echo", ":::", "a"});
  ASSERT_GT(t.parmill.pid, 0);
  const std::optional<int> status = t.parmill.wait(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
  const std::string shown = t.read_until("Warning", 200ms); // the run is over: what it wrote is there
  EXPECT_EQ(shown.find("Warning"), std::string::npos) << shown;
}

TEST(InputsFromAPipe, NoWarning) {
  const ran r = run_parmill({"echo"}, "a\n");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "a\n");
  EXPECT_EQ(r.err, "");
  const ran piped = run_parmill({"--pipe", "cat"}, "a\n");
  EXPECT_EQ(piped.err, "");
}
