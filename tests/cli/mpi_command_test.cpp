// The parmill command under mpirun, run as users run it: `mpirun -np N parmill ...`.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "run_helpers.hpp"

namespace {


using parmill_test::lines;
using parmill_test::ran;
using parmill_test::scratch;

/// Runs `mpirun -np ranks parmill args...` with `input` on its standard input (rank 0's).
ran mpirun_parmill(int ranks, std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), {PARMILL_MPIEXEC, "-np", std::to_string(ranks), PARMILL_BINARY});
  return parmill_test::run_program(
      std::move(args), input,
      {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OMPI_MCA_rmaps_base_oversubscribe=1",
       "OMPI_MCA_btl=self,vader", "OMPI_MCA_oob_tcp_if_include=lo",
       // Open MPI's unloaded plugins make leak reports unattributable (see tests/CMakeLists.txt);
       // memory errors are still checked.
       "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"},
      // Open MPI's mpirun can hang after a rank dies, ignoring SIGTERM, with its ranks already
      // gone: it is killed after 40 s so that the test goes on (the job log is what it checks).
      std::chrono::steady_clock::now() + std::chrono::seconds(40));
}

std::string numbers(int from, int to) {
  std::string text;
  for (int i = from; i <= to; ++i)
    text += std::to_string(i) + "\n";
  return text;
}

/// The job log's rows (header skipped), split at tabs.
std::vector<std::vector<std::string>> log_rows(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(in, line); // the header
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream cells(line);
    for (std::string f; std::getline(cells, f, '\t');)
      fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

class MpiCommand : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(Ranks, MpiCommand, ::testing::Values(2, 3, 5));

TEST_P(MpiCommand, SpreadsManyJobsOverTheOtherRanksAndLogsTheirHost) {
  scratch dir;
  const ran r = mpirun_parmill(GetParam(), {"-j2", "--joblog", dir / "log", "echo {} $OMPI_COMM_WORLD_RANK"},
                               numbers(1, 300));
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<int> seen;
  std::map<int, int> per_rank;
  for (const std::string& line : lines(r.out)) {
    std::stringstream words(line);
    int job = 0, rank = -1;
    words >> job >> rank;
    EXPECT_TRUE(seen.insert(job).second) << "job " << job << " ran twice";
    EXPECT_GE(rank, 1) << "rank 0 reads, prints and logs; the others run the jobs";
    ++per_rank[rank];
  }
  EXPECT_EQ(seen.size(), 300U);
  EXPECT_EQ(per_rank.size(), static_cast<std::size_t>(GetParam() - 1)) << "every other rank ran jobs";
  const auto rows = log_rows(dir / "log");
  ASSERT_EQ(rows.size(), 300U);
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 9U);
    EXPECT_EQ(row[1], host_name()) << "the Host column names the machine that ran the job";
    EXPECT_EQ(row[6], "0");
  }
}

TEST_P(MpiCommand, KeepOrderPrintsInInputOrder) {
  const ran ordered = mpirun_parmill(GetParam(), {"-k", "-j3", "echo"}, numbers(1, 100));
  ASSERT_EQ(ordered.status, 0) << ordered.err;
  EXPECT_EQ(ordered.out, numbers(1, 100));
}

TEST_P(MpiCommand, FailuresCountInTheExitStatusAsWithoutMpi) {
  const ran r = mpirun_parmill(GetParam(), {"-j2", "exit {}"}, "0\n1\n2\n0\n3\n");
  EXPECT_EQ(r.status, 3) << "three jobs failed: " << r.err;
}

TEST(MpiCommandFaults, ARankThatDiesMidRunLosesNothingAndResumeFinishesTheRest) {
  scratch dir;
  const std::string marker = dir / "died";
  // Job 40 kills its own rank (the job's parent), once; mpirun then ends the whole MPI job.
  const std::string job = "if [ {} = 40 ] && [ ! -e " + marker + " ]; then touch " + marker +
                          "; kill -KILL $PPID; sleep 1; fi; echo {}";
  const ran first = mpirun_parmill(3, {"-j2", "--joblog", dir / "log", job}, numbers(1, 200));
  EXPECT_NE(first.status, 0) << "the MPI job was aborted";
  EXPECT_NE(first.err.find("rank"), std::string::npos) << "mpirun names the rank that died: " << first.err;
  const auto logged = log_rows(dir / "log");
  EXPECT_LT(logged.size(), 200U);
  std::set<std::string> done;
  for (const auto& row : logged) {
    ASSERT_EQ(row.size(), 9U) << "every line of the job log is whole";
    EXPECT_TRUE(done.insert(row[0]).second);
  }
  for (const std::string& line : lines(first.out))
    EXPECT_TRUE(done.count(line)) << "job " << line << " printed its output, so the log has it";

  const ran second = mpirun_parmill(3, {"-j2", "--resume", "--joblog", dir / "log", job}, numbers(1, 200));
  ASSERT_EQ(second.status, 0) << second.err;
  const auto all = log_rows(dir / "log");
  std::set<std::string> seqs;
  for (const auto& row : all)
    EXPECT_TRUE(seqs.insert(row[0]).second) << "job " << row[0] << " is logged once";
  EXPECT_EQ(seqs.size(), 200U) << "the rerun finished exactly the rest";
  EXPECT_EQ(lines(second.out).size(), 200U - logged.size());
}

} // namespace
