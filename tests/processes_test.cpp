// The processes backend: every fault costs exactly the items it touched, with the right kind and
// message, and the run goes on; workers are recycled on request; no process outlives a map or the
// program that ran it. (The map conformance tests in map_test.cpp also run on processes(1, 2, 8).)
#include <parmill/map.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;

class Processes : public ::testing::TestWithParam<std::tuple<std::size_t, std::size_t>> {
protected:
  std::size_t workers() const { return std::get<0>(GetParam()); }
  std::size_t chunk() const { return std::get<1>(GetParam()); }
};

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    v[static_cast<std::size_t>(i)] = i;
  return v;
}

/// What item x does: most succeed; some throw, crash in several ways, or hang.
int faulty(int x) {
  switch (x) {
  case 3: throw std::invalid_argument("bad item three");
  case 5: // a segfault; the default action, so that a sanitizer's own handler does not report it
    std::signal(SIGSEGV, SIG_DFL);
    std::raise(SIGSEGV);
    break;
  case 7: std::abort();
  case 11: std::exit(3);
  case 13: ::kill(::getpid(), SIGKILL); break;
  case 17:
    for (;;)
      ::pause();
  default: break;
  }
  return x * 10;
}

} // namespace

INSTANTIATE_TEST_SUITE_P(WorkersAndChunks, Processes,
                         ::testing::Combine(::testing::Values(1, 2, 8), ::testing::Values(1, 0)),
                         [](const auto& info) {
                           return "workers_" + std::to_string(std::get<0>(info.param)) + "_chunk_" +
                                  (std::get<1>(info.param) ? std::to_string(std::get<1>(info.param))
                                                           : "auto");
                         });

TEST_P(Processes, EachFaultCostsExactlyTheItemItTouchedAndTheRunGoesOn) {
  std::map<std::size_t, parmill::item_error> failures;
  std::set<std::size_t> seen;
  for (auto& r : parmill::map(parmill::processes(workers()), iota_vector(40), faulty,
                              {.chunk = chunk(), .on_error = parmill::on_error::yield, .timeout = 2s})) {
    EXPECT_TRUE(seen.insert(r.index()).second) << "one outcome per item";
    if (r)
      EXPECT_EQ(*r, static_cast<int>(r.index()) * 10);
    else
      failures.emplace(r.index(), r.error());
  }
  EXPECT_EQ(seen.size(), 40U);
  ASSERT_EQ(failures.size(), 6U);
  EXPECT_EQ(failures[3].kind, parmill::failure_kind::exception);
  EXPECT_EQ(failures[3].message, "bad item three");
  try {
    std::rethrow_exception(failures[3].exception);
  } catch (const parmill::remote_error& e) {
    EXPECT_EQ(e.type(), "std::invalid_argument");
  }
  for (std::size_t crashed : {5U, 7U, 11U, 13U})
    EXPECT_EQ(failures[crashed].kind, parmill::failure_kind::crashed);
  EXPECT_NE(failures[5].message.find("signal 11"), std::string::npos) << failures[5].message;
  EXPECT_NE(failures[7].message.find("signal 6"), std::string::npos) << failures[7].message;
  EXPECT_NE(failures[11].message.find("exited with status 3"), std::string::npos) << failures[11].message;
  EXPECT_NE(failures[13].message.find("signal 9"), std::string::npos) << failures[13].message;
  EXPECT_EQ(failures[17].kind, parmill::failure_kind::timed_out);
  for (const auto& [index, e] : failures)
    EXPECT_EQ(e.index, index);
}

TEST_P(Processes, CrashesAreRetriedOnAReplacementWorker) {
  // Each item crashes its worker the first time it runs (a marker file remembers, across
  // processes); the retry runs it on a replacement. Without retries, each is `crashed`.
  char dir_template[] = "/tmp/parmill-retry-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  auto crash_once = [dir](int x) {
    const std::string marker = dir + "/" + std::to_string(x);
    if (::access(marker.c_str(), F_OK) != 0) {
      std::fclose(std::fopen(marker.c_str(), "w"));
      std::abort();
    }
    return x;
  };
  for (std::size_t retries : {0U, 1U}) {
    std::size_t ok = 0, crashed = 0;
    for (auto& r :
         parmill::map(parmill::processes(workers()), iota_vector(6), crash_once,
                      {.chunk = chunk(), .on_error = parmill::on_error::yield, .retries = retries})) {
      if (r)
        ++ok;
      else
        crashed += r.error().kind == parmill::failure_kind::crashed;
    }
    EXPECT_EQ(ok, retries == 0 ? 0U : 6U) << retries;
    EXPECT_EQ(crashed, retries == 0 ? 6U : 0U) << retries;
    if (retries == 0) std::system(("rm -f " + dir + "/*").c_str());
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST_P(Processes, RaiseStopsAtTheFirstCrashInInputOrder) {
  std::size_t yielded = 0;
  try {
    for (auto& r : parmill::map(parmill::processes(workers()), iota_vector(40), faulty,
                                {.chunk = chunk(), .timeout = 2s})) {
      EXPECT_EQ(r.index(), yielded++);
    }
    FAIL() << "the run should have thrown";
  } catch (const parmill::item_failed& e) {
    EXPECT_EQ(e.error().index, 3U);
    EXPECT_EQ(yielded, 3U);
  }
}

TEST_P(Processes, MaxItemsPerWorkerRecyclesWorkerProcesses) {
  std::map<long, std::size_t> items_by_process;
  for (auto& r : parmill::map(parmill::processes(workers()), iota_vector(100),
                              [](int) { return static_cast<long>(::getpid()); },
                              {.chunk = chunk(), .max_items_per_worker = 10}))
    ++items_by_process[*r];
  EXPECT_GE(items_by_process.size(), 10U);
  for (const auto& [pid, items] : items_by_process) {
    EXPECT_LE(items, 10U) << "process " << pid;
    EXPECT_NE(pid, static_cast<long>(::getpid()));
  }
}

namespace {
struct record {
  std::string name;
  std::vector<double> samples;
  std::optional<std::map<std::string, int>> tags;
  static constexpr auto parmill_fields = std::tuple{&record::name, &record::samples, &record::tags};
};
} // namespace

TEST(ProcessesValues, LargeValuesAndRichTypesCrossIntact) {
  std::vector<record> input;
  input.push_back({std::string(100 * 1024 * 1024, 'x'), {1.5, 2.5}, std::nullopt});
  input.push_back({"small", std::vector<double>(1000, 0.25), std::map<std::string, int>{{"a", 1}}});
  std::vector<record> out;
  for (auto& r : parmill::map(parmill::processes(2), input, [](record& x) {
         x.name += "!";
         return x;
       }))
    out.push_back(std::move(*r));
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].name.size(), 100U * 1024 * 1024 + 1);
  EXPECT_EQ(out[0].name.back(), '!');
  EXPECT_EQ(out[0].samples, (std::vector<double>{1.5, 2.5}));
  EXPECT_FALSE(out[0].tags);
  EXPECT_EQ(out[1].samples.size(), 1000U);
  EXPECT_EQ(out[1].tags->at("a"), 1);
}

TEST(ProcessesValues, TimeoutsNeedTheProcessesBackend) {
  EXPECT_THROW(
      {
        for (auto& r :
             parmill::map(parmill::threads(2), iota_vector(3), [](int x) { return x; }, {.timeout = 1s}))
          (void)r;
      },
      std::invalid_argument);
}

// --- no process outlives the program -------------------------------------------------------------

namespace {

/// Runs the victim program, reads the pids of its three workers, sends it `signal`, and checks that
/// every descendant ends: this test process is made a subreaper, so orphans come to it, and
/// waitpid(-1) returns ECHILD only once all of them are gone.
void expect_no_survivor(int signal) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  char path[] = PARMILL_VICTIM;
  char* argv[] = {path, nullptr};
  pid_t victim = -1;
  ASSERT_EQ(::posix_spawn(&victim, path, &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::FILE* lines = ::fdopen(out[0], "r");
  std::set<long> workers;
  long pid = 0;
  while (workers.size() < 3 && std::fscanf(lines, "%ld", &pid) == 1)
    workers.insert(pid);
  std::fclose(lines);
  ASSERT_EQ(workers.size(), 3U) << "the victim's workers started";
  ::kill(victim, signal);
  int status = 0;
  ASSERT_EQ(::waitpid(victim, &status, 0), victim);
  EXPECT_TRUE(WIFSIGNALED(status));
  std::set<long> reaped;
  for (;;) {
    const pid_t child = ::waitpid(-1, &status, 0);
    if (child < 0) break; // ECHILD: no descendant is left
    reaped.insert(child);
  }
  for (long w : workers)
    EXPECT_EQ(::kill(static_cast<pid_t>(w), 0), -1) << "worker " << w << " survived";
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

} // namespace

TEST(ProcessesStop, NoWorkerOutlivesAProgramKilledBySigint) { expect_no_survivor(SIGINT); }
TEST(ProcessesStop, NoWorkerOutlivesAProgramKilledBySigterm) { expect_no_survivor(SIGTERM); }
TEST(ProcessesStop, NoWorkerOutlivesAProgramKilledBySigkill) { expect_no_survivor(SIGKILL); }
