// Scenario: one function describes the work; where it runs is the caller's choice. Run it under
// mpirun (mpirun -np 3 example_same_code_everywhere): the same map runs on threads, on processes
// and on the MPI ranks, with a per-worker object each time, and gives the same answer.
#include <parmill/mpi.hpp>
#include <parmill/parmill.hpp>

#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

namespace {

/// A worker with state of its own, built once inside each worker (a thread, a process or a rank).
class scorer {
public:
  explicit scorer(const parmill::worker_context& context) : where_(to_string(context.backend)) {}
  long operator()(const std::string& word) const { return static_cast<long>(word.size()) * 10; }

private:
  std::string where_;
};

/// The work, written once: the backend is a parameter.
long total_score(const parmill::backend& where, const std::vector<std::string>& words) {
  long total = 0;
  for (auto& r : parmill::map(where, words, parmill::per_worker<scorer>(), {.progress = {}}))
    total += *r;
  return total;
}

} // namespace

int main(int argc, char** argv) {
  parmill::mpi_session mpi(argc, argv); // every rank runs main; rank 0 reports
  std::vector<std::string> words;
  for (int i = 0; i < 10000; ++i)
    words.push_back(std::string(static_cast<std::size_t>(i % 7 + 1), 'x'));
  const long expected = std::accumulate(words.begin(), words.end(), 0L, [](long sum, const std::string& w) {
    return sum + static_cast<long>(w.size()) * 10;
  });

  const long on_threads = total_score(parmill::threads(2), words);
  const long on_processes = total_score(parmill::processes(2), words);
  const long on_ranks = total_score(parmill::mpi(), words); // 0 on the ranks that served
  if (!mpi.is_root()) return 0;
  std::printf("threads: %ld, processes: %ld, mpi (%d ranks): %ld, expected %ld\n", on_threads, on_processes,
              mpi.size(), on_ranks, expected);
  return on_threads == expected && on_processes == expected && on_ranks == expected ? 0 : 1;
}
