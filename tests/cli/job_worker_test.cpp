// A job slot on its own (cli/job_worker.hpp): slot numbers, what a job gives back, --retries, a
// stopped run, and what the slot does as the job ends (the job log line, --halt).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <vector>

#include "job_worker.hpp"
#include "run_helpers.hpp"

using namespace parmill::cli;
using parmill_test::scratch;

namespace {

/// A job slot's surroundings: options (each input is a command, run by /bin/sh), and the state
/// the slots share.
struct slot_fixture {
  options o;
  running_jobs registry;
  output_writer writer;
  std::atomic<bool> stop{false};
  std::optional<shared_state> shared;

  explicit slot_fixture(void (*adjust)(options&) = [](options&) {}) {
    o.shell = "/bin/sh";
    adjust(o);
    shared.emplace(o, nullptr, registry, writer, stop);
    shared->halt.emplace(o.halt, 0);
  }
  /// Runs the shell code `code` as job `seq` in a slot.
  job_outcome run(const std::string& code, std::size_t seq = 1) {
    job j;
    j.values.seq = seq;
    j.values.records = {{code}};
    job_worker worker(*shared, ":");
    return worker(j);
  }
};

std::size_t lines_in(const std::string& path) {
  std::ifstream in(path);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

} // namespace

TEST(JobSlots, EachJobTakesTheLowestFreeSlot) {
  job_slots slots;
  EXPECT_EQ(slots.take(), 1U);
  EXPECT_EQ(slots.take(), 2U);
  EXPECT_EQ(slots.take(), 3U);
  slots.give_back(2);
  EXPECT_EQ(slots.take(), 2U);
  {
    const job_slots::lease lease(slots);
    EXPECT_EQ(lease.slot, 4U);
  }
  EXPECT_EQ(slots.take(), 4U); // the lease gave it back
}

TEST(JobWorker, AJobGivesItsOutputStatusSlotAndCommand) {
  slot_fixture f;
  const job_outcome out = f.run("echo said; echo complained >&2; exit 3", 5);
  EXPECT_TRUE(out.ran);
  EXPECT_FALSE(out.stopped);
  EXPECT_EQ(out.command, "echo said; echo complained >&2; exit 3");
  EXPECT_EQ(out.values.seq, 5U);
  EXPECT_EQ(out.values.slot, 1U);
  EXPECT_EQ(out.host, ":");
  EXPECT_EQ(out.result.out, "said\n");
  EXPECT_EQ(out.result.err, "complained\n");
  EXPECT_EQ(out.result.exit_value, 3);
  EXPECT_FALSE(out.tag);
}

TEST(JobWorker, RetriesRunAFailingJobUpToTheirNumberInAllAndStopAtASuccess) {
  const scratch s;
  const std::string runs = s / "runs";
  slot_fixture f([](options& o) { o.retries = 3; });
  EXPECT_EQ(f.run("echo x >> " + runs + "; exit 1").result.exit_value, 1);
  EXPECT_EQ(lines_in(runs), 3U);
  const std::string second = s / "second";
  EXPECT_EQ(f.run("echo x >> " + second + "; test $(wc -l < " + second + ") -ge 2").result.exit_value, 0);
  EXPECT_EQ(lines_in(second), 2U);
}

TEST(JobWorker, AStoppedRunStartsNoJob) {
  const scratch s;
  slot_fixture f;
  f.stop = true;
  const job_outcome out = f.run("touch " + s / "ran");
  EXPECT_FALSE(out.ran);
  EXPECT_FALSE(std::filesystem::exists(s / "ran"));
}

TEST(JobWorker, TheSlotWritesTheJobLogLineAsTheJobEnds) {
  const scratch s;
  slot_fixture f;
  job_log log(s / "log", false);
  f.shared->log = &log;
  (void)f.run("exit 4", 7);
  const std::vector<std::string> values = parmill_test::exit_values(s / "log");
  ASSERT_EQ(values.size(), 7U);
  EXPECT_EQ(values[6], "4");
}

TEST(JobWorker, HaltIsCountedInTheSlotAndStopsTheRun) {
  slot_fixture f([](options& o) { o.halt = parse_halt("soon,fail=1"); });
  EXPECT_EQ(f.run("exit 0").result.exit_value, 0);
  EXPECT_FALSE(f.stop);
  testing::internal::CaptureStderr(); // "This job failed:" is said on standard error
  (void)f.run("exit 6", 2);
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(f.stop);
  EXPECT_EQ(f.shared->halted_status, 6);
  EXPECT_NE(said.find("This job failed:\nexit 6"), std::string::npos) << said;
  EXPECT_FALSE(f.run("exit 0", 3).ran); // no job starts once the condition holds
}
