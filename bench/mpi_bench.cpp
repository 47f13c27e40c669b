// The mpi backend against a raw MPI master/worker loop, in the same run (bench/mpi_bench.sh runs
// it under mpirun -np 3). (a) 100,000 items of about 1 us, default options, against the raw loop
// (one item per message, four in flight per rank). (b) 2,000 items of 1 ms: the speedup over the
// sequential time, against the ideal (the number of worker ranks). Repetitions alternate between
// the contenders; rank 0 prints the medians.
#include <parmill/mpi.hpp>
#include <parmill/parmill.hpp>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ranges>
#include <vector>

#include "work.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

/// About 1 ms of work (the 1 us function, a thousand times).
std::uint64_t one_millisecond(std::uint64_t x) {
  for (int i = 0; i < 1000; ++i)
    x = parmill_bench::one_microsecond(x);
  return x;
}

double parmill_run(std::uint64_t items, std::uint64_t (*work)(std::uint64_t)) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = clock_type::now();
  std::uint64_t sum = 0;
  for (auto& r : parmill::map(parmill::mpi(), std::views::iota(std::uint64_t{0}, items), work))
    sum += *r;
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  if (sum == 42) std::puts("");
  return seconds;
}

/// The textbook master/worker loop: one item per message, `in_flight` outstanding per worker.
double raw_run(std::uint64_t items, std::uint64_t (*work)(std::uint64_t), int in_flight) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  constexpr int item_tag = 1, stop_tag = 2, result_tag = 3;
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = clock_type::now();
  if (rank == 0) {
    std::uint64_t next = 0, received = 0, sum = 0;
    for (int w = 1; w < size; ++w)
      for (int k = 0; k < in_flight && next < items; ++k, ++next)
        MPI_Send(&next, 1, MPI_UINT64_T, w, item_tag, MPI_COMM_WORLD);
    while (received < items) {
      std::uint64_t result[2];
      MPI_Status status;
      MPI_Recv(result, 2, MPI_UINT64_T, MPI_ANY_SOURCE, result_tag, MPI_COMM_WORLD, &status);
      ++received;
      sum += result[1];
      if (next < items) {
        MPI_Send(&next, 1, MPI_UINT64_T, status.MPI_SOURCE, item_tag, MPI_COMM_WORLD);
        ++next;
      }
    }
    for (int w = 1; w < size; ++w)
      MPI_Send(&next, 1, MPI_UINT64_T, w, stop_tag, MPI_COMM_WORLD);
    if (sum == 42) std::puts("");
  } else {
    for (;;) {
      std::uint64_t item = 0;
      MPI_Status status;
      MPI_Recv(&item, 1, MPI_UINT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
      if (status.MPI_TAG == stop_tag) break;
      const std::uint64_t result[2] = {item, work(item)};
      MPI_Send(result, 2, MPI_UINT64_T, 0, result_tag, MPI_COMM_WORLD);
    }
  }
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  parmill::mpi_session mpi(argc, argv);
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  const bool root = mpi.is_root();
  if (mpi.size() < 2) {
    std::fputs("mpi_bench: run it under mpirun with at least 2 ranks (bench/mpi_bench.sh)\n", stderr);
    return 1;
  }
  const auto workers = static_cast<double>(mpi.size() - 1);

  std::vector<double> ours, raw;
  for (int r = 0; r < reps; ++r) { // alternating, so both see the same machine
    ours.push_back(parmill_run(100'000, parmill_bench::one_microsecond));
    raw.push_back(raw_run(100'000, parmill_bench::one_microsecond, 4));
  }
  // The sequential time of the 1 ms items, measured on rank 0 alone (the others wait).
  std::vector<double> slow, sequential;
  for (int r = 0; r < std::max(5, reps / 2 + 1); ++r) {
    slow.push_back(parmill_run(2'000, one_millisecond));
    MPI_Barrier(MPI_COMM_WORLD);
    if (root) {
      const auto start = clock_type::now();
      std::uint64_t sum = 0;
      for (std::uint64_t i = 0; i < 200; ++i)
        sum += one_millisecond(i);
      sequential.push_back(10 * std::chrono::duration<double>(clock_type::now() - start).count());
      if (sum == 42) std::puts("");
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  if (root) {
    const double a = median(ours), b = median(raw);
    std::printf("ranks: %d (1 coordinator + %g workers), %d repetitions, medians\n", mpi.size(), workers,
                reps);
    std::printf(
        "(a) 100,000 x 1 us: parmill %.3f s (%.0f items/s), raw MPI master/worker %.3f s (%.0f items/s): "
        "%.2fx its throughput\n",
        a, 1e5 / a, b, 1e5 / b, b / a);
    const double seq = median(sequential), par = median(slow);
    std::printf(
        "(b) 2,000 x 1 ms: sequential %.3f s, parmill %.3f s: speedup %.2f of an ideal %.0f (%.0f%%)\n", seq,
        par, seq / par, workers, 100 * seq / par / workers);
  }
  return 0;
}
