// The processes backend under hostile workers and hostile surroundings: nested maps on every
// combination of backends, a worker that reads the terminal or stops itself, a stopped spawner, and
// descendants of workers (in their worker's process group or escaped from it) that must not outlive
// a timeout, the map, or the program. Every test that could hang runs its map in a forked child
// and waits for it with a deadline, so a regression fails instead of stalling the suite.
#include <parmill/map.hpp>
#include <parmill/pipeline.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <latch>
#include <poll.h>
#include <ranges>
#include <stdexcept>
#include <string>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    v[static_cast<std::size_t>(i)] = i;
  return v;
}

int milliseconds_until(clock_type::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  return static_cast<int>(std::max<long long>(0, left));
}

/// Waits until child `pid` ends or `deadline` passes (then kills its process group and it).
/// Returns its wait status, or nothing if it had to be killed.
std::optional<int> wait_with_deadline(pid_t pid, clock_type::time_point deadline) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    while (::poll(&p, 1, milliseconds_until(deadline)) < 0 && errno == EINTR) {
    }
    ::close(pidfd);
  }
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return status;
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return std::nullopt;
}

/// Runs `body` in a forked child (the leader of its own process group) and returns what it
/// reports: empty when it succeeded, else what went wrong ("hung" if it did not end within
/// `limit`). A hang therefore fails the test instead of stalling the suite.
std::string run_bounded(const std::function<std::string()>& body, std::chrono::milliseconds limit = 8s,
                        const std::function<void()>& setup_child = {}) {
  int report[2];
  if (::pipe(report) != 0) return "pipe failed";
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    ::setpgid(0, 0);
    if (setup_child) setup_child();
    std::string problem;
    try {
      problem = body();
    } catch (const std::exception& e) {
      problem = std::string("threw: ") + e.what();
    }
    [[maybe_unused]] const auto written = ::write(report[1], problem.data(), problem.size());
    ::_exit(problem.empty() ? 0 : 1);
  }
  ::close(report[1]);
  const auto status = wait_with_deadline(pid, clock_type::now() + limit);
  std::string problem;
  char buffer[4096];
  ssize_t n;
  ::fcntl(report[0], F_SETFL, O_NONBLOCK);
  while ((n = ::read(report[0], buffer, sizeof buffer)) > 0)
    problem.append(buffer, static_cast<std::size_t>(n));
  ::close(report[0]);
  if (!status) return "hung: still running after " + std::to_string(limit.count()) + " ms; " + problem;
  if (!WIFEXITED(*status)) return "the child was killed by signal " + std::to_string(WTERMSIG(*status));
  if (WEXITSTATUS(*status) != 0 && problem.empty())
    return "exit status " + std::to_string(WEXITSTATUS(*status));
  return problem;
}

// --- descendants marked by an environment variable, found by scanning /proc ----------------------

/// A marker no other process has: every process a test starts carries PARMILL_TEST_MARKER=<it>.
std::string new_marker() {
  static std::atomic<int> counter{0};
  return "parmill-faults-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

std::string read_whole(const std::string& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

/// The live (not zombie) processes whose environment holds PARMILL_TEST_MARKER=`marker`.
std::vector<pid_t> marked_processes(const std::string& marker) {
  std::vector<pid_t> found;
  const std::string wanted = std::string("PARMILL_TEST_MARKER=") + marker + '\0';
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return found;
  while (const dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    const std::string dir = std::string("/proc/") + entry->d_name;
    std::string environment = read_whole(dir + "/environ");
    environment.push_back('\0');
    if (environment.find(wanted) == std::string::npos) continue;
    const std::string stat = read_whole(dir + "/stat");
    const auto paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') continue;
    found.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return found;
}

/// Polls /proc until `count` marked processes are alive (true), or `limit` passes (false).
bool wait_for_marked(const std::string& marker, std::size_t count, std::chrono::milliseconds limit = 3s) {
  const auto deadline = clock_type::now() + limit;
  for (;;) {
    if (marked_processes(marker).size() >= count) return true;
    if (clock_type::now() > deadline) return false;
    ::poll(nullptr, 0, 10);
  }
}

/// Polls /proc until at most `at_most` marked processes are alive; returns how many are after
/// `limit` at the latest.
std::size_t marked_count_after(const std::string& marker, std::size_t at_most,
                               std::chrono::milliseconds limit) {
  const auto deadline = clock_type::now() + limit;
  for (;;) {
    const std::size_t count = marked_processes(marker).size();
    if (count <= at_most || clock_type::now() > deadline) return count;
    ::poll(nullptr, 0, 10);
  }
}

/// Polls /proc until no marked process is alive; returns the survivors after `limit` (and kills
/// them, so that a failing test leaves nothing behind).
std::vector<pid_t> survivors_after(const std::string& marker, std::chrono::milliseconds limit = 2s) {
  if (marked_count_after(marker, 0, limit) == 0) return {};
  auto left = marked_processes(marker);
  for (pid_t pid : left)
    ::kill(pid, SIGKILL);
  return left;
}

std::string describe(const std::vector<pid_t>& pids) {
  std::string text;
  for (pid_t pid : pids)
    text += (text.empty() ? "" : ", ") + std::to_string(pid);
  return text.empty() ? "none" : text;
}

/// A shell command that starts, in the background, a marked `sleep 60` that ignores SIGTERM and
/// stays in the caller's process group.
std::string marked_sleep_in_group(const std::string& marker) {
  return "(trap '' TERM; exec env PARMILL_TEST_MARKER=" + marker + " sleep 60) &";
}

/// The same, but escaped into a session of its own (so no group kill reaches it).
std::string marked_sleep_escaped(const std::string& marker) {
  return "setsid sh -c \"trap '' TERM; exec env PARMILL_TEST_MARKER=" + marker + " sleep 60\" &";
}

int run_shell(const std::string& command) { return std::system(command.c_str()); }

} // namespace

// --- nested maps (issue 14, point 9) -------------------------------------------------------------

namespace {

/// What each outer item computes with its own inner map on `inner`: the sum of x * (item + 1).
int sum_with_inner_map(parmill::backend inner, int item) {
  int sum = 0;
  for (auto& r : parmill::map(inner, iota_vector(5), [item](int x) { return x * (item + 1); }))
    sum += *r;
  return sum;
}

std::string check_nested(parmill::backend outer, parmill::backend inner) {
  std::vector<int> sums(4, -1);
  for (auto& r :
       parmill::map(outer, iota_vector(4), [inner](int item) { return sum_with_inner_map(inner, item); }))
    sums[r.index()] = *r;
  for (int item = 0; item < 4; ++item)
    if (sums[static_cast<std::size_t>(item)] != 10 * (item + 1))
      return "item " + std::to_string(item) + " gave " + std::to_string(sums[static_cast<std::size_t>(item)]);
  return "";
}

} // namespace

TEST(ProcessesNested, ProcessesInProcesses) {
  EXPECT_EQ(run_bounded([] { return check_nested(parmill::processes(2), parmill::processes(2)); }), "");
}

TEST(ProcessesNested, ThreadsInProcesses) {
  EXPECT_EQ(run_bounded([] { return check_nested(parmill::processes(2), parmill::threads(2)); }), "");
}

TEST(ProcessesNested, ProcessesInThreads) {
  EXPECT_EQ(run_bounded([] { return check_nested(parmill::threads(2), parmill::processes(2)); }), "");
}

TEST(ProcessesNested, ProcessesInProcessesInProcesses) {
  EXPECT_EQ(run_bounded([] {
              int total = 0;
              for (auto& r : parmill::map(parmill::processes(2), iota_vector(2), [](int) {
                     return check_nested(parmill::processes(1), parmill::processes(1)).empty() ? 1 : 0;
                   }))
                total += *r;
              return total == 2 ? std::string() : "a nested map failed";
            }),
            "");
}

TEST(ProcessesNested, AWorkersOwnDescriptorsSurviveItsNestedMap) {
  // Two processes stages of one pipeline: the first stage's spawner is forked, so parmill owns
  // descriptors in this process, when the second stage's spawner is forked; that spawner closes
  // them. A worker of the second stage then opens files, which reuse those numbers, and hands them
  // to a nested map: the nested spawner must not close them (they belong to the worker).
  // Every spawner is forked before any thread of the pipeline starts, as ThreadSanitizer needs
  // when a worker goes on to start threads of its own.
  EXPECT_EQ(run_bounded([] {
              auto opens_files_for_a_nested_map = [](int&) {
                std::vector<int> files;
                for (int i = 0; i < 8; ++i)
                  files.push_back(::open("/dev/null", O_RDONLY)); // the lowest free numbers
                int open_in_nested = 0;
                for (auto& inner : parmill::map(parmill::processes(1), files,
                                                [](int fd) { return ::fcntl(fd, F_GETFD) != -1 ? 1 : 0; }))
                  open_in_nested += *inner;
                return open_in_nested;
              };
              auto p = parmill::pipeline_builder()
                           .source(iota_vector(2))
                           .pipe([](int& x) { return x; }, {.backend = parmill::processes(2)})
                           .pipe(opens_files_for_a_nested_map, {.backend = parmill::processes(1)})
                           .build(parmill::inline_backend());
              for (auto& r : p)
                if (*r != 8)
                  return "only " + std::to_string(*r) + " of the worker's 8 files reached its nested map";
              return std::string();
            }),
            "");
}

// --- the terminal and stopped processes (issue 14, point 8) --------------------------------------

namespace {

/// In the forked child: a new session whose controlling terminal is a fresh pseudo-terminal, on
/// standard input, with the child in the foreground (a program run from a terminal).
void take_a_terminal() {
  ::setsid();
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) ::_exit(3);
  const int slave = ::open(::ptsname(master), O_RDWR); // becomes the controlling terminal
  if (slave < 0) ::_exit(4);
  ::dup2(slave, 0);
  ::tcsetpgrp(0, ::getpgrp());
}

} // namespace

TEST(ProcessesTerminal, AMapEndsWhileAForkOfTheProgramHoldsItsSockets) {
  // The program forks (without exec) while the map runs: the fork holds copies of the workers'
  // and the spawner's sockets. Closing them would not end the workers; the map must end anyway.
  EXPECT_EQ(run_bounded(
                [] {
                  pid_t bystander = -1;
                  std::size_t ok = 0;
                  for (auto& r : parmill::map(parmill::processes(2), iota_vector(4), [](int x) { return x; },
                                              {.chunk = 1})) {
                    ok += r.has_value();
                    if (r.index() == 0 && (bystander = ::fork()) == 0)
                      for (;;)
                        ::pause();
                  }
                  ::kill(bystander, SIGKILL);
                  ::waitpid(bystander, nullptr, 0);
                  return ok == 4 ? std::string() : std::to_string(ok) + " items succeeded";
                },
                3s),
            "");
}

TEST(ProcessesTerminal, AWorkerReadingStandardInputGetsEndOfFileFromDevNull) {
  EXPECT_EQ(run_bounded(
                [] {
                  for (auto& r : parmill::map(parmill::processes(1), iota_vector(1), [](int) {
                         char c = 0;
                         const auto n = ::read(0, &c, 1);
                         char target[64] = {};
                         [[maybe_unused]] const auto length =
                             ::readlink("/proc/self/fd/0", target, sizeof target - 1);
                         return std::to_string(n) + " " + target;
                       }))
                    if (*r != "0 /dev/null") return "the worker's read of standard input gave: " + *r;
                  return std::string();
                },
                5s, take_a_terminal),
            "");
}

TEST(ProcessesTerminal, AWorkerThatStopsItselfTimesOutAndTheRunGoesOn) {
  EXPECT_EQ(run_bounded([] {
              std::string problems;
              std::size_t ok = 0;
              {
                auto run = parmill::map(parmill::processes(2), iota_vector(6),
                                        [](int x) {
                                          if (x == 2) ::raise(SIGSTOP);
                                          return x;
                                        },
                                        {.on_error = parmill::on_error::yield, .timeout = 2s});
                for (auto& r : run) {
                  if (r)
                    ++ok;
                  else if (r.index() != 2 || r.error().kind != parmill::failure_kind::timed_out)
                    problems += "item " + std::to_string(r.index()) + ": " + r.error().describe() + "; ";
                }
              } // the map's destructor returns
              if (ok != 5) problems += std::to_string(ok) + " items succeeded; ";
              return problems;
            }),
            "");
}

TEST(ProcessesTerminal, AWorkerThatStopsWhileEndingIsKilledAndReaped) {
  // Each worker is replaced after one item; its per-worker state stops the process as it is
  // destroyed, while the worker ends. The reap must not wait for ever.
  struct stops_when_destroyed {
    bool armed = false;
    int operator()(int x) {
      armed = true;
      return x;
    }
    ~stops_when_destroyed() {
      if (armed) ::raise(SIGSTOP);
    }
  };
  EXPECT_EQ(run_bounded([] {
              std::size_t ok = 0;
              for (auto& r : parmill::map(parmill::processes(2), iota_vector(4),
                                          parmill::per_worker([](const parmill::worker_context&) {
                                            return stops_when_destroyed{};
                                          }),
                                          {.chunk = 1, .max_items_per_worker = 1}))
                ok += r.has_value();
              return ok == 4 ? std::string() : std::to_string(ok) + " items succeeded";
            }),
            "");
}

/// A per-worker object whose destructor, in each of worker `slow_worker`'s processes that ran an
/// item, first writes a byte to `started` (if not -1) and then reads a byte from `gate` (a pipe):
/// the process is slow to end until the test lets it.
struct slow_to_end {
  std::size_t index = 0;
  std::size_t slow_worker = 0;
  int started = -1;
  int gate = -1;
  bool armed = false;
  int operator()(int x) {
    armed = index == slow_worker;
    return x;
  }
  slow_to_end(std::size_t i, std::size_t slow, int started_fd, int gate_fd)
      : index(i), slow_worker(slow), started(started_fd), gate(gate_fd) {}
  slow_to_end(slow_to_end&& other) noexcept
      : index(other.index), slow_worker(other.slow_worker), started(other.started), gate(other.gate),
        armed(std::exchange(other.armed, false)) {}
  slow_to_end& operator=(slow_to_end&&) = delete;
  ~slow_to_end() {
    if (!armed) return;
    char byte = 1;
    if (started >= 0) [[maybe_unused]]
      const auto w = ::write(started, &byte, 1);
    [[maybe_unused]] const auto r = ::read(gate, &byte, 1);
  }
};

TEST(ProcessesTerminal, AWorkerSlowToEndDoesNotHoldUpTheStartOfAnother) {
  // Every worker process is replaced after one item. Worker 0's first process is slow to end (its
  // per-worker object waits as it is destroyed), until the test has seen every other item: worker
  // 1 must go on starting a process per item meanwhile. (The spawner once waited for the slow end
  // while every other worker waited to start.)
  EXPECT_EQ(run_bounded([] {
              int gate[2];
              if (::pipe(gate) != 0) return std::string("pipe failed");
              std::size_t seen = 0;
              for (auto& r : parmill::map(
                       parmill::processes(2), iota_vector(12),
                       parmill::per_worker([fd = gate[0]](const parmill::worker_context& c) {
                         return slow_to_end(c.index, 0, -1, fd);
                       }),
                       {.order = parmill::order::completion, .chunk = 1, .max_items_per_worker = 1})) {
                if (!r) return "item " + std::to_string(r.index()) + ": " + r.error().describe();
                if (++seen == 11) { // all but worker 0's first item, which waits for its end
                  const char bytes[12] = {};
                  if (::write(gate[1], bytes, sizeof bytes) != sizeof bytes)
                    return std::string("write failed");
                }
              }
              return seen == 12 ? std::string() : std::to_string(seen) + " items seen";
            }),
            "");
}

/// A map of 4 items on one worker process whose per-worker object, in each process that ran an
/// item, writes a byte to `started` as it is destroyed and then waits for `gate` (never written).
auto map_stuck_ending(int started, int gate, parmill::map_options options = {}) {
  return parmill::map(parmill::processes(1), iota_vector(4),
                      parmill::per_worker([started, gate](const parmill::worker_context& c) {
                        return slow_to_end(c.index, 0, started, gate);
                      }),
                      std::move(options));
}

/// A thread that calls `run.stop()` once `started` is readable: a worker is stuck ending then.
template <class Run>
std::thread stop_once_stuck(Run& run, int started) {
  return std::thread([&run, started] {
    char byte;
    if (::read(started, &byte, 1) == 1) run.stop();
  });
}

TEST(ProcessesTerminal, StopEndsAWorkerStuckInItsPerWorkerDestructor) {
  // The worker's process ends after its item and never finishes destroying its per-worker object;
  // stop() must end it (killed) and the run, within its promise.
  EXPECT_EQ(run_bounded([] {
              int started[2], gate[2];
              if (::pipe(started) != 0 || ::pipe(gate) != 0) return std::string("pipe failed");
              auto run = map_stuck_ending(started[1], gate[0], {.chunk = 1, .max_items_per_worker = 1});
              std::thread stopper = stop_once_stuck(run, started[0]);
              std::size_t seen = 0;
              for (auto& r : run)
                seen += r.has_value();
              stopper.join();
              return seen <= 1 ? std::string() : std::to_string(seen) + " items seen after the stop";
            }),
            "");
}

TEST(ProcessesTerminal, StopDuringCloseKillsAWorkerStuckInItsPerWorkerDestructor) {
  // The run ends by itself, so close() waits for the worker to destroy its per-worker object,
  // which never ends; stop() from another thread (as from Ctrl-C's handler) must end that wait.
  EXPECT_EQ(run_bounded([] {
              int started[2], gate[2];
              if (::pipe(started) != 0 || ::pipe(gate) != 0) return std::string("pipe failed");
              auto run = map_stuck_ending(started[1], gate[0]);
              std::size_t seen = 0;
              for (auto& r : run)
                seen += r.has_value();
              std::thread stopper = stop_once_stuck(run, started[0]);
              run.close();
              stopper.join();
              return seen == 4 ? std::string() : std::to_string(seen) + " items seen";
            }),
            "");
}

TEST(ProcessesTerminal, AStoppedPipelineKillsAStageWorkerStuckInItsPerWorkerDestructor) {
  // The second stage's reader waits inside the first stage for its next item when stop() comes;
  // the source, released after it, ends: the first stage's map then meets the end of its own
  // input, but the pipeline was stopped, so its worker, stuck destroying its per-worker object,
  // must be killed, not awaited.
  EXPECT_EQ(run_bounded([] {
              int gate[2];
              if (::pipe(gate) != 0) return std::string("pipe failed");
              std::latch first_seen{1}, release{1};
              auto source = std::views::iota(0) | std::views::transform([&release](int i) {
                              if (i > 0) release.wait(); // the stages wait for item 1
                              return i;
                            }) |
                            std::views::take_while([](int i) { return i < 1; });
              auto p = parmill::pipeline_builder()
                           .source(source)
                           .pipe(parmill::per_worker([fd = gate[0]](const parmill::worker_context& c) {
                                   return slow_to_end(c.index, 0, -1, fd);
                                 }),
                                 {.backend = parmill::processes(1)})
                           .pipe([](int& x) { return x; })
                           .build(parmill::threads(1));
              std::thread stopper([&] {
                first_seen.wait();
                p.stop();
                release.count_down();
              });
              std::size_t seen = 0;
              for (auto& r : p) {
                seen += r.has_value();
                if (seen == 1) first_seen.count_down();
              }
              stopper.join();
              return seen == 1 ? std::string() : std::to_string(seen) + " items seen";
            }),
            "");
}

TEST(ProcessesTerminal, AtTheEndOfARunEveryWorkerFinishesDestroyingItsPerWorkerObject) {
  // A run that ended by itself does not kill workers still destroying their per-worker objects when
  // the map is destroyed right after: the destructor of every object that ran an item runs to its
  // end.
  EXPECT_EQ(run_bounded([] {
              int ran[2], done[2];
              if (::pipe(ran) != 0 || ::pipe(done) != 0) return std::string("pipe failed");
              struct finishes {
                int ran, done;
                bool armed = false;
                int operator()(int x) {
                  const char byte = 1;
                  if (!std::exchange(armed, true)) [[maybe_unused]]
                    const auto w = ::write(ran, &byte, 1);
                  return x;
                }
                finishes(int ran_fd, int done_fd) : ran(ran_fd), done(done_fd) {}
                finishes(finishes&& o) noexcept
                    : ran(o.ran), done(o.done), armed(std::exchange(o.armed, false)) {}
                finishes& operator=(finishes&&) = delete;
                ~finishes() {
                  if (!armed) return;
                  std::this_thread::sleep_for(100ms); // a teardown that takes a while
                  const char byte = 1;
                  [[maybe_unused]] const auto w = ::write(done, &byte, 1);
                }
              };
              {
                for (auto& r :
                     parmill::map(parmill::processes(2), iota_vector(100),
                                  parmill::per_worker([r = ran[1],
                                  d = done[1]](const parmill::worker_context&) { return finishes(r, d); }),
                                  {.chunk = 1}))
                  if (!r) return r.error().describe();
              } // destroyed as soon as the loop ends
              const auto count = [](int fd) {
                ::fcntl(fd, F_SETFL, O_NONBLOCK);
                char bytes[8];
                return ::read(fd, bytes, sizeof bytes);
              };
              const auto objects = count(ran[0]), finished = count(done[0]);
              if (objects < 1) return std::string("no per-worker object ran an item");
              return finished == objects ? std::string()
                                         : std::to_string(finished) + " of " + std::to_string(objects) +
                                               " destructors finished";
            }),
            "");
}

TEST(ProcessesTerminal, AStoppedSpawnerDoesNotHangTheMapsDestructor) {
  EXPECT_EQ(run_bounded([] {
              pid_t spawner = -1;
              {
                auto run = parmill::map(parmill::processes(1), iota_vector(100),
                                        [](int) { return static_cast<long>(::getppid()); });
                auto it = run.begin();
                spawner = static_cast<pid_t>(**it);
                ::kill(spawner, SIGSTOP);
              } // destroyed with the spawner stopped
              if (::kill(spawner, 0) == 0) return std::string("the spawner is still there");
              return std::string();
            }),
            "");
}

TEST(ProcessesTerminal, AStoppedSpawnerIsContinuedWhenTheRunNeedsIt) {
  // Every item needs a new worker (.max_items_per_worker = 1): with the spawner stopped after the
  // first, the run must go on, not wait for ever for its answer.
  EXPECT_EQ(run_bounded([] {
              std::size_t ok = 0;
              for (auto& r : parmill::map(parmill::processes(1), iota_vector(4),
                                          [](int) { return static_cast<long>(::getppid()); },
                                          {.chunk = 1, .max_items_per_worker = 1})) {
                ok += r.has_value();
                if (r.index() == 0) ::kill(static_cast<pid_t>(*r), SIGSTOP);
              }
              return ok == 4 ? std::string() : std::to_string(ok) + " items succeeded";
            }),
            "");
}

// --- descendants of workers (issue 14, point 7) --------------------------------------------------

TEST(ProcessesDescendants, ATimeoutKillTakesTheWorkersChildren) {
  const std::string marker = new_marker();
  int started[2];
  ASSERT_EQ(::pipe(started), 0);
  std::vector<pid_t> left;
  bool timed_out = false;
  {
    auto run = parmill::map(parmill::processes(1), iota_vector(1),
                            [&](int) {
                              // A child that ignores TERM, then wait for it (for a minute).
                              return run_shell("(trap '' TERM; exec env PARMILL_TEST_MARKER=" + marker +
                                               " sleep 60) & echo started >&" + std::to_string(started[1]) +
                                               "; wait");
                            },
                            {.on_error = parmill::on_error::yield, .timeout = 3s}); // time to start the child
    for (auto& r : run) {
      timed_out = !r && r.error().kind == parmill::failure_kind::timed_out;
      left = survivors_after(marker); // while the map still exists
    }
  }
  ::close(started[1]);
  ::fcntl(started[0], F_SETFL, O_NONBLOCK);
  char buffer[16] = {};
  EXPECT_GT(::read(started[0], buffer, sizeof buffer), 0) << "the worker's child never started";
  ::close(started[0]);
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(left.empty()) << "survivors of the timeout: " << describe(left);
}

namespace {

/// Item 0 leaves a child in its worker's process group; item 1 one that escaped into a session of
/// its own; both ignore SIGTERM, and each item sees its child alive before it returns. Runs the map
/// to its end (or, with `leave_early`, leaves the loop at item 1 while later items run) and returns
/// what survives it.
std::vector<pid_t> survivors_of_a_map(bool leave_early) {
  const std::string marker = new_marker();
  const std::string in_group = marker + "-in-group", escaped = marker + "-escaped";
  {
    auto run = parmill::map(parmill::processes(2), iota_vector(leave_early ? 6 : 2), [&](int x) {
      if (x >= 2) {
        ::poll(nullptr, 0, 200); // still running when the loop is left
        return 1;
      }
      run_shell(x == 0 ? marked_sleep_in_group(in_group) : marked_sleep_escaped(escaped));
      return wait_for_marked(x == 0 ? in_group : escaped, 1) ? 1 : 0;
    });
    for (auto& r : run) {
      EXPECT_EQ(*r, 1) << "item " << r.index() << " saw no child of its own";
      if (leave_early && r.index() == 1) break;
    }
  }
  auto left = survivors_after(in_group);
  for (pid_t pid : survivors_after(escaped, 100ms))
    left.push_back(pid);
  return left;
}

} // namespace

TEST(ProcessesDescendants, TheEndOfTheMapTakesEveryDescendant) {
  const auto left = survivors_of_a_map(false);
  EXPECT_TRUE(left.empty()) << "survivors of the map: " << describe(left);
}

TEST(ProcessesDescendants, DestroyingTheMapMidStreamTakesEveryDescendant) {
  const auto left = survivors_of_a_map(true);
  EXPECT_TRUE(left.empty()) << "survivors of the map: " << describe(left);
}

TEST(ProcessesDescendants, ReplacedWorkersLeaveNoDescendants) {
  // .max_items_per_worker replaces each worker after its item: what it left behind goes with it.
  const std::string marker = new_marker();
  std::size_t left = 0;
  {
    auto run = parmill::map(parmill::processes(1), iota_vector(3),
                            [&](int) { return run_shell(marked_sleep_in_group(marker)); },
                            {.chunk = 1, .max_items_per_worker = 1});
    for (auto& r : run)
      if (r.index() == 2) left = marked_count_after(marker, 1, 2s);
  }
  // The last worker may still be alive when item 2 is yielded; the first two were replaced.
  EXPECT_LE(left, 1U) << "survivors of replaced workers: " << describe(marked_processes(marker));
  const auto after = survivors_after(marker);
  EXPECT_TRUE(after.empty()) << "survivors of the map: " << describe(after);
}

namespace {

/// Runs a map in a forked child whose items leave marked descendants (in their group and escaped)
/// and then hang; kills the child with `signal` once they are all there; no marked process may
/// survive it. With `bystander`, the program has also forked a child of its own that holds copies
/// of all its descriptors (so the spawner's socket does not close when the program dies).
void expect_no_descendant_outlives_a_program_killed_by(int signal, bool bystander = false) {
  const std::string marker = new_marker();
  std::fflush(nullptr);
  const pid_t program = ::fork();
  ASSERT_GE(program, 0);
  if (program == 0) {
    ::setpgid(0, 0);
    for (auto& r :
         parmill::map(parmill::processes(3), iota_vector(3),
                      [&](int x) {
                        if (x == 0) return 0;
                        run_shell(marked_sleep_in_group(marker) + " " + marked_sleep_escaped(marker));
                        for (;;)
                          ::pause();
                      },
                      {.chunk = 1}))
      if (bystander && r.index() == 0 && ::fork() == 0)
        for (;;)
          ::pause(); // in the program's group: killed with it below
    ::_exit(0);
  }
  const bool all_started = wait_for_marked(marker, 4, 5s);
  ::kill(program, signal);
  const auto status = wait_with_deadline(program, clock_type::now() + 5s);
  const auto left = survivors_after(marker);
  ::kill(-program, SIGKILL); // the bystander
  EXPECT_TRUE(all_started) << "found: " << describe(marked_processes(marker));
  ASSERT_TRUE(status.has_value()) << "the program did not die";
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_TRUE(left.empty()) << "survivors of the program: " << describe(left);
}

} // namespace

TEST(ProcessesDescendants, NoDescendantOutlivesAProgramKilledBySigterm) {
  expect_no_descendant_outlives_a_program_killed_by(SIGTERM);
}

TEST(ProcessesDescendants, NoDescendantOutlivesAProgramKilledBySigkill) {
  expect_no_descendant_outlives_a_program_killed_by(SIGKILL);
}

TEST(ProcessesDescendants, NoDescendantOutlivesAProgramKilledWhileItsChildHoldsItsDescriptors) {
  expect_no_descendant_outlives_a_program_killed_by(SIGKILL, true);
}
