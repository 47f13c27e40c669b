// Under mpirun -np 2: item 5 stops rank 1 as a whole (SIGSTOP: a rank whose machine hangs, which
// cannot even answer for a late call). With a .timeout, rank 0's map ends with rank_lost naming
// the rank and the items it held, after yielding the outcomes before it; the session then ends the
// job (MPI_Abort), since the hung rank would never finalise. Checked by CTest's regular expressions
// on the output.
#include <parmill/mpi.hpp>
#include <parmill/parmill.hpp>

#include <csignal>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

int main(int argc, char** argv) {
  parmill::mpi_session mpi(argc, argv);
  std::vector<int> items(20);
  std::iota(items.begin(), items.end(), 0);
  try {
    for (auto& r : parmill::map(parmill::mpi(), items,
                                [](int x) {
                                  if (x == 5) ::raise(SIGSTOP); // the whole rank stops
                                  return x;
                                },
                                {.chunk = 1, .timeout = std::chrono::milliseconds(500)}))
      std::printf("outcome %zu\n", r.index());
  } catch (const parmill::rank_lost& e) {
    std::fprintf(stderr, "caught rank_lost: %s\n", e.what());
    std::fflush(nullptr);
    return 3; // the session's destructor aborts the MPI job
  }
  std::puts("the run ended without rank_lost");
  return 0;
}
