// Conformance tests of `map_range::stop()` (parmill/map.hpp): a map stopped from another thread,
// from the loop body, from a signal handler and by Ctrl-C on a terminal, swept over backends
// (inline, threads(1, 2, 8), processes(1, 2, 8)).
#include <parmill/map.hpp>

#include <gtest/gtest.h>

#include "helpers/backend_sweep.hpp"
#include "helpers/cross_process.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using parmill_test::where;

/// How long a test waits for something that should take milliseconds before it fails.
constexpr auto patience = 10s;
/// How long the loop may take to end after `stop()` while an item hangs in a worker process.
constexpr auto prompt = 3s;

std::vector<long> iota_vector(long n) {
  std::vector<long> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0L);
  return v;
}

using parmill_test::call_log;
using parmill_test::gate;

/// After a map on processes is gone, none of its worker processes may exist any more.
void expect_no_worker_left(const std::set<pid_t>& pids) {
  for (pid_t pid : pids) {
    if (pid == ::getpid()) continue;
    EXPECT_EQ(::kill(pid, 0), -1) << "worker process " << pid << " outlived the map";
  }
}

class MapStop : public ::testing::TestWithParam<where> {
protected:
  parmill::backend backend() const { return GetParam().make(); }
  bool on_processes() const { return GetParam().kind == parmill::backend_kind::processes; }
  std::size_t workers() const {
    return GetParam().kind == parmill::backend_kind::inline_ ? 1 : GetParam().workers;
  }
};

INSTANTIATE_TEST_SUITE_P(
    Backends, MapStop,
    ::testing::Values(where{parmill::backend_kind::inline_, 1}, where{parmill::backend_kind::threads, 1},
                      where{parmill::backend_kind::threads, 2}, where{parmill::backend_kind::threads, 8},
                      where{parmill::backend_kind::processes, 1}, where{parmill::backend_kind::processes, 2},
                      where{parmill::backend_kind::processes, 8}),
    parmill_test::sweep_name);

/// Tests of what only worker processes do (be killed).
class MapStopProcesses : public MapStop {};
INSTANTIATE_TEST_SUITE_P(Backends, MapStopProcesses,
                         ::testing::Values(where{parmill::backend_kind::processes, 1},
                                           where{parmill::backend_kind::processes, 2},
                                           where{parmill::backend_kind::processes, 8}),
                         parmill_test::sweep_name);

/// Tests of what only the threads backend does (stop tokens, signal masks of its threads).
class MapStopThreads : public MapStop {};
INSTANTIATE_TEST_SUITE_P(Backends, MapStopThreads,
                         ::testing::Values(where{parmill::backend_kind::threads, 1},
                                           where{parmill::backend_kind::threads, 2},
                                           where{parmill::backend_kind::threads, 8}),
                         parmill_test::sweep_name);

// --- stop() from another thread --------------------------------------------------------------

// Every worker is inside an item that waits at a gate. stop() from another thread: on processes the
// items are killed (the gate never opens) and the loop ends at once; elsewhere the gate opens just
// after stop(), the running items finish, and no other item starts.
TEST_P(MapStop, FromAnotherThreadEndsTheLoopAndStartsNoNewItem) {
  call_log log;
  gate items_may_finish;
  std::size_t yielded = 0;
  clock_type::time_point stopped_at{};
  {
    auto m = parmill::map(backend(), iota_vector(1000),
                          [&](long x) {
                            log.note();
                            items_may_finish.wait();
                            return x;
                          },
                          {.chunk = 1});
    std::thread stopper([&] {
      ASSERT_TRUE(log.wait_for(workers())) << "every worker started an item";
      stopped_at = clock_type::now();
      m.stop();
      if (!on_processes()) items_may_finish.open(); // a thread cannot be killed: let it finish
    });
    for (auto& r : m) {
      (void)r;
      ++yielded;
    }
    EXPECT_LT(clock_type::now() - stopped_at, prompt) << "the loop ended promptly after stop()";
    stopper.join();
    EXPECT_TRUE(m.stop_requested());
  }
  EXPECT_LT(clock_type::now() - stopped_at, prompt) << "the map was joined promptly after stop()";
  EXPECT_EQ(yielded, 0U) << "no outcome is yielded after stop()";
  EXPECT_EQ(log.count(), workers()) << "no item started after stop()";
  if (on_processes()) expect_no_worker_left(log.pids());
}

// A worker process that never returns is killed by stop(): the loop ends within `prompt`, and the
// destructor leaves no process behind.
TEST_P(MapStopProcesses, FromAnotherThreadKillsAnItemThatHangsInAWorkerProcess) {
  call_log log;
  clock_type::time_point stopped_at{};
  {
    gate never; // item 0 waits 20 s: that long, if stop() did not kill it
    auto m = parmill::map(backend(), iota_vector(10),
                          [&](long x) {
                            log.note();
                            if (x == 0) never.wait();
                            return x;
                          },
                          {.chunk = 1});
    std::thread stopper([&] {
      ASSERT_TRUE(log.wait_for(1));
      stopped_at = clock_type::now();
      m.stop();
    });
    for (auto& r : m)
      (void)r;
    EXPECT_LT(clock_type::now() - stopped_at, prompt);
    stopper.join();
  }
  EXPECT_LT(clock_type::now() - stopped_at, prompt);
  expect_no_worker_left(log.pids());
}

/// Waits at most `limit` for process `pid` (not necessarily a child) to end; true when it did.
bool wait_for_exit(pid_t pid, std::chrono::milliseconds limit) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH; // already gone
  pollfd p{fd, POLLIN, 0};
  const bool ended = ::poll(&p, 1, static_cast<int>(limit.count())) == 1;
  ::close(fd);
  return ended;
}

// stop() itself (not only the end of the loop) kills the worker processes of the running items:
// they are gone while the loop body that called it is still running.
TEST_P(MapStopProcesses, KillsTheRunningWorkerProcessesAtOnceEvenWhileTheLoopBodyRuns) {
  call_log log;
  std::set<pid_t> hanging;
  {
    gate never; // items 1 .. workers() wait 20 s: that long, if stop() did not kill them
    const auto hangs = [this](long x) { return x != 0 && x <= static_cast<long>(workers()); };
    auto m = parmill::map(backend(), iota_vector(static_cast<long>(workers()) + 3),
                          [&](long x) {
                            log.note();
                            if (hangs(x)) never.wait();
                            return x;
                          },
                          {.chunk = 1});
    for (auto& r : m) {
      ASSERT_EQ(r.index(), 0U);
      // Item 0's worker goes on to item `workers()`: then every worker hangs in an item.
      ASSERT_TRUE(log.wait_for(workers() + 1));
      hanging = log.pids();
      m.stop();
      for (pid_t pid : hanging)
        EXPECT_TRUE(wait_for_exit(pid, 3000ms)) << "worker process " << pid << " was killed by stop()";
    }
  }
  EXPECT_EQ(hanging.size(), workers());
  EXPECT_EQ(log.count(), workers() + 1);
}

// SIGINT and its like are blocked in the map's own threads, so that a program's handler runs on
// one of the program's threads (which may destroy the map once the loop is over).
TEST_P(MapStopThreads, TheMapsOwnThreadsBlockTheTerminalsSignals) {
  for (auto& r : parmill::map(backend(), iota_vector(20), [](long) {
         sigset_t mask;
         ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
         return static_cast<int>(sigismember(&mask, SIGINT) == 1 && sigismember(&mask, SIGTERM) == 1 &&
                                 sigismember(&mask, SIGHUP) == 1 && sigismember(&mask, SIGQUIT) == 1);
       }))
    EXPECT_EQ(*r, 1) << "item " << r.index() << " ran with SIGINT, SIGTERM, SIGHUP and SIGQUIT blocked";
  sigset_t mask;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  EXPECT_FALSE(sigismember(&mask, SIGINT)) << "the caller's own mask is left as it was";
}

// --- stop() from the loop body, before begin(), twice ------------------------------------------

TEST_P(MapStop, FromTheLoopBodyYieldsNothingMore) {
  call_log log;
  std::size_t after_stop = 0;
  bool stopped = false;
  {
    auto m = parmill::map(backend(), iota_vector(1000), [&](long x) {
      log.note();
      return x;
    });
    EXPECT_FALSE(m.stop_requested());
    for (auto& r : m) {
      if (stopped) ++after_stop;
      if (r.index() == 5) {
        m.stop();
        stopped = true;
      }
    }
    EXPECT_TRUE(m.stop_requested());
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(after_stop, 0U) << "the loop ends at the increment after stop()";
  EXPECT_GE(log.count(), 6U);
  if (on_processes()) expect_no_worker_left(log.pids());
}

TEST_P(MapStop, BeforeBeginRunsNothing) {
  call_log log;
  std::size_t yielded = 0;
  {
    auto m = parmill::map(backend(), iota_vector(100), [&](long x) {
      log.note();
      return x;
    });
    m.stop();
    EXPECT_TRUE(m.stop_requested());
    for (auto& r : m) {
      (void)r;
      ++yielded;
    }
  }
  EXPECT_EQ(yielded, 0U);
  EXPECT_EQ(log.count(), 0U) << "no item starts when the map was stopped before begin()";
}

TEST_P(MapStop, TwiceAndAfterTheEndIsHarmless) {
  std::size_t yielded = 0;
  auto m = parmill::map(backend(), iota_vector(100), [](long x) { return x; });
  for (auto& r : m) {
    ++yielded;
    if (r.index() == 3) {
      m.stop();
      m.stop();
    }
  }
  m.stop();
  EXPECT_EQ(yielded, 4U);
  EXPECT_TRUE(m.stop_requested());

  // A map that ran to its end, then stop(): nothing changes.
  std::size_t all = 0;
  auto finished = parmill::map(backend(), iota_vector(50), [](long x) { return x; });
  for (auto& r : finished) {
    (void)r;
    ++all;
  }
  finished.stop();
  EXPECT_EQ(all, 50U);
}

TEST_P(MapStop, CloseInTheLoopEndsTheIterationAndTheRun) {
  // close() in the loop body: the outcome in hand stays valid, the next increment reaches the end,
  // and no item starts after close() has returned (every worker has ended by then).
  call_log log;
  auto m = parmill::map(backend(), iota_vector(1000), [&](long x) {
    log.note();
    return x;
  });
  std::size_t yielded = 0;
  std::size_t started_at_close = 0;
  for (auto& r : m) {
    ++yielded;
    if (r.index() == 3) {
      m.close();
      started_at_close = log.count();
      EXPECT_EQ(*r, 3) << "the outcome in hand is still valid after close()";
    }
  }
  EXPECT_EQ(yielded, 4U);
  EXPECT_EQ(log.count(), started_at_close) << "an item started after close() returned";
  m.close(); // idempotent
  EXPECT_FALSE(m.stop_requested()) << "close() is not stop()";
  EXPECT_THROW((void)m.begin(), std::logic_error);
}

TEST_P(MapStop, CloseAfterTheEndThenStopIsHarmless) {
  auto m = parmill::map(backend(), iota_vector(50), [](long x) { return x; });
  long sum = 0;
  for (auto& r : m)
    sum += *r;
  m.close();
  m.stop();
  m.close();
  EXPECT_EQ(sum, 49 * 50 / 2);
}

TEST_P(MapStop, CloseBeforeBeginRunsNothingAndForbidsBegin) {
  call_log log;
  auto m = parmill::map(backend(), iota_vector(100), [&](long x) {
    log.note();
    return x;
  });
  m.close();
  EXPECT_THROW((void)m.begin(), std::logic_error);
  EXPECT_EQ(log.count(), 0U);
}

// The iteration ends quietly: a failure (under on_error::raise) that the run has already met, but
// not yet yielded, is not thrown once stop() has been called.
TEST_P(MapStop, EndsQuietlyThoughAFailureLiesAhead) {
  call_log log;
  std::size_t yielded = 0;
  auto m = parmill::map(backend(), iota_vector(100),
                        [&](long x) {
                          log.note();
                          if (x == 11) throw std::runtime_error("item 11 fails");
                          return x;
                        },
                        {.chunk = 1});
  EXPECT_NO_THROW({
    for (auto& r : m) {
      ++yielded;
      if (r.index() != 10) continue;
      if (GetParam().kind != parmill::backend_kind::inline_) {
        EXPECT_TRUE(log.wait_for(12)) << "item 11 ran ahead of the consumer";
      }
      m.stop();
    }
  });
  EXPECT_EQ(yielded, 11U);
}

// --- stop() from a signal handler ----------------------------------------------------------------

/// What the SIGINT handler of these tests stops: set while a loop runs. `handled` is written to
/// (async-signal-safe) once the handler has run, so a test can wait for it.
template <class Range>
struct sigint_target {
  static inline std::atomic<Range*> range{nullptr};
  static inline int handled = -1;
  static void handler(int) {
    const int saved = errno;
    if (Range* r = range.load()) r->stop();
    if (handled >= 0) {
      [[maybe_unused]] const auto n = ::write(handled, "s", 1);
    }
    errno = saved;
  }
};

/// Installs `handler` for SIGINT while it lives, and restores the previous disposition.
class sigint_handler {
public:
  explicit sigint_handler(void (*handler)(int)) {
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    EXPECT_EQ(::sigaction(SIGINT, &action, &previous_), 0);
  }
  ~sigint_handler() { ::sigaction(SIGINT, &previous_, nullptr); }
  sigint_handler(const sigint_handler&) = delete;
  sigint_handler& operator=(const sigint_handler&) = delete;

private:
  struct sigaction previous_ {};
};

TEST_P(MapStop, FromASignalHandlerInTheLoopBodyEndsTheLoop) {
  call_log log;
  std::size_t after_signal = 0;
  bool raised = false;
  {
    auto m = parmill::map(backend(), iota_vector(1000), [&](long x) {
      log.note();
      return x;
    });
    using target = sigint_target<decltype(m)>;
    target::range = &m;
    {
      sigint_handler installed(&target::handler);
      for (auto& r : m) {
        if (raised) ++after_signal;
        if (r.index() == 5) {
          ::raise(SIGINT);
          raised = true;
        }
      }
    }
    target::range = nullptr;
    EXPECT_TRUE(m.stop_requested());
  }
  EXPECT_TRUE(raised);
  EXPECT_EQ(after_signal, 0U);
  if (on_processes()) expect_no_worker_left(log.pids());
}

// SIGINT sent to the whole program (as a terminal's Ctrl-C is) while every worker is inside an
// item: whichever thread runs the handler, the loop ends, no new item starts, no process is left.
TEST_P(MapStop, SigintToTheProgramWhileItemsRunEndsTheLoop) {
  call_log log;
  gate items_may_finish;
  int handled[2];
  ASSERT_EQ(::pipe(handled), 0);
  std::size_t yielded = 0;
  clock_type::time_point signalled_at{};
  {
    auto m = parmill::map(backend(), iota_vector(1000),
                          [&](long x) {
                            log.note();
                            items_may_finish.wait();
                            return x;
                          },
                          {.chunk = 1});
    using target = sigint_target<decltype(m)>;
    target::range = &m;
    target::handled = handled[1];
    {
      sigint_handler installed(&target::handler);
      std::thread signaller([&] {
        ASSERT_TRUE(log.wait_for(workers()));
        signalled_at = clock_type::now();
        ::kill(::getpid(), SIGINT);
        pollfd p{handled[0], POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 10000), 1) << "the handler ran";
        if (!on_processes()) items_may_finish.open();
      });
      for (auto& r : m) {
        (void)r;
        ++yielded;
      }
      EXPECT_LT(clock_type::now() - signalled_at, prompt);
      signaller.join();
    }
    target::range = nullptr;
    target::handled = -1;
  }
  ::close(handled[0]);
  ::close(handled[1]);
  EXPECT_EQ(yielded, 0U);
  EXPECT_EQ(log.count(), workers());
  if (on_processes()) expect_no_worker_left(log.pids());
}

// --- the worker's stop token ------------------------------------------------------------------

// On threads, stop() requests every worker's stop token (soon after, from one of the map's own
// threads), so a cooperative item ends early; an item that never looks at it would run on.
TEST_P(MapStopThreads, StopRequestsTheWorkersStopToken) {
  call_log log;
  std::atomic<std::size_t> ended_by_token{0};
  clock_type::time_point stopped_at{};
  {
    auto m = parmill::map(
        backend(), iota_vector(1000), parmill::per_worker([&](const parmill::worker_context& context) {
          return [&, token = context.stop](long x) {
            log.note();
            std::mutex mutex;
            std::condition_variable_any never;
            std::unique_lock lock(mutex);
            if (never.wait_for(lock, token, 20s, [] { return false; }) || token.stop_requested())
              ended_by_token.fetch_add(1);
            return x;
          };
        }),
        {.chunk = 1});
    std::thread stopper([&] {
      ASSERT_TRUE(log.wait_for(workers()));
      stopped_at = clock_type::now();
      m.stop();
    });
    for (auto& r : m)
      (void)r;
    stopper.join();
  }
  EXPECT_LT(clock_type::now() - stopped_at, prompt) << "the running items saw the token and ended";
  EXPECT_EQ(ended_by_token.load(), workers());
  EXPECT_EQ(log.count(), workers());
}

// --- Ctrl-C on a terminal ------------------------------------------------------------------------

/// Reads the pseudo-terminal's master side into `text` until `done(text)`, or the child closed the
/// terminal, or `limit` passed. Returns `done(text)`.
template <class Done>
bool read_terminal(int master, std::string& text, Done done, clock_type::duration limit) {
  const auto deadline = clock_type::now() + limit;
  while (!done(text)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0) return false;
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n <= 0) return done(text); // EIO: the child closed the terminal
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

/// The pids of the lines "started <index> in <pid>" of `text`.
std::set<pid_t> started_pids(const std::string& text) {
  std::set<pid_t> pids;
  for (std::size_t at = text.find("started "); at != std::string::npos; at = text.find("started ", at + 1)) {
    long index = 0, pid = 0;
    if (std::sscanf(text.c_str() + at, "started %ld in %ld", &index, &pid) == 2)
      pids.insert(static_cast<pid_t>(pid));
  }
  return pids;
}

/// This process's children now (from /proc/self/task/*/children).
std::set<pid_t> children_now() {
  std::set<pid_t> pids;
  const std::string tasks = "/proc/self/task/";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::FILE* f = std::fopen((task.path() / "children").c_str(), "r");
    if (f == nullptr) continue;
    long pid = 0;
    while (std::fscanf(f, "%ld", &pid) == 1)
      pids.insert(static_cast<pid_t>(pid));
    std::fclose(f);
  }
  return pids;
}

/// Fails for every descendant of an ended helper that came to this subreaper, and ends it.
void expect_and_end_no_orphan() {
  for (pid_t orphan : children_now()) {
    ADD_FAILURE() << "process " << orphan << " outlived the program that started it";
    ::kill(orphan, SIGKILL);
  }
  int status = 0;
  while (::waitpid(-1, &status, WNOHANG) > 0) {
  }
}

// The helper program runs a map whose every item hangs (on processes for ever; on threads until
// its stop token; inline until a signal interrupts it), with the Ctrl-C handler of the documented
// pattern, in a pseudo-terminal. A ^C typed on the terminal ends it cleanly, promptly, and no
// process of it is left.
TEST_P(MapStop, CtrlCOnATerminalEndsTheProgramCleanly) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const std::string kind(to_string(GetParam().kind));
  const std::string count = std::to_string(GetParam().workers);
  int master = -1;
  const pid_t child = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    const char* path = PARMILL_CTRL_C_HELPER;
    ::execl(path, path, kind.c_str(), count.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string text;
  const bool all_started = read_terminal(
      master, text, [&](const std::string& t) { return count_of(t, "started ") >= workers(); }, patience);
  EXPECT_TRUE(all_started) << "output so far:\n" << text;
  const auto interrupted_at = clock_type::now();
  ASSERT_EQ(::write(master, "\x03", 1), 1);
  const bool ended = read_terminal(
      master, text, [](const std::string& t) { return t.find("ended quietly") != std::string::npos; },
      patience);
  EXPECT_TRUE(ended) << "output:\n" << text;
  if (!ended) ::kill(child, SIGKILL);
  // The helper exits after its last line: the terminal closes (EIO) once it and every process that
  // inherited the terminal have ended.
  read_terminal(
      master, text, [](const std::string&) { return false; }, 5s);
  if (clock_type::now() - interrupted_at > 5s) ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const auto took = clock_type::now() - interrupted_at;
  ::close(master);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status << "\n" << text;
  EXPECT_LT(took, prompt) << "the program ended promptly after ^C";
  EXPECT_EQ(count_of(text, "started "), workers()) << "no item started after ^C:\n" << text;
  std::set<pid_t> workers_started = started_pids(text);
  workers_started.erase(child); // inline and threads run their items in the program itself
  for (pid_t pid : workers_started)
    EXPECT_EQ(::kill(pid, 0), -1) << "process " << pid << " outlived the program";
  expect_and_end_no_orphan();
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

} // namespace
