// parmill/mpi.hpp: the mpi backend, in the optional component parmill::mpi (built with
// -DPARMILL_WITH_MPI=ON; link parmill::mpi). Every rank runs the same program:
//
//   int main(int argc, char** argv) {
//     parmill::mpi_session mpi(argc, argv);                 // MPI_Init_thread ... MPI_Finalize
//     for (auto& r : parmill::map(parmill::mpi(), inputs, worker))
//       use(*r);                                            // rank 0 gets every outcome
//   }                                                       // the other ranks served, got none
//
// Only the plain MPI C API is used, so any MPI implementation with MPI_THREAD_MULTIPLE works
// (Open MPI, MPICH).
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "parmill/backend.hpp"
#include "parmill/export.hpp"

namespace parmill {

/// Thrown by a map on the mpi backend when a rank stops answering: with a `.timeout`, when a worker
/// slot with work says nothing for the time limit and a grace period (its rank answers for a late
/// call itself, so this means the rank as a whole is gone or stuck). The job cannot go on, so the
/// run ends with this error, which names the rank and the items it held; outcomes already yielded
/// are kept. MPI cannot recover a lost rank, so the `mpi_session` then ends the whole job
/// (MPI_Abort) instead of finalising.
class PARMILL_API rank_lost : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// MPI for the life of this object: initialises it (with MPI_THREAD_MULTIPLE, which parmill needs)
/// unless the program already did, and finalises it at the end if it initialised it. Make one, on
/// every rank, before the first `parmill::mpi()`. If a rank was lost during a run (`rank_lost`),
/// the destructor ends the whole job with MPI_Abort instead, since finalising would wait forever.
class PARMILL_API mpi_session {
public:
  /// Initialises MPI; throws `std::runtime_error` when the MPI library cannot give
  /// MPI_THREAD_MULTIPLE.
  mpi_session(int& argc, char**& argv);
  /// Finalises MPI (or aborts the job when a rank was lost).
  ~mpi_session();
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;

  /// This process's rank, 0 .. size()-1.
  [[nodiscard]] int rank() const noexcept;
  /// How many ranks the job has.
  [[nodiscard]] int size() const noexcept;
  /// True on rank 0, the rank that reads inputs and receives outcomes.
  [[nodiscard]] bool is_root() const noexcept { return rank() == 0; }
  /// The name of this rank's machine.
  [[nodiscard]] const std::string& host() const noexcept;
  /// On rank 0: which items each rank holds now, one line per rank that holds some ("rank 2
  /// (node7) holds items 40 to 47"); for a message when the job is being stopped from outside.
  [[nodiscard]] std::string held_items() const;

private:
  struct state;
  std::unique_ptr<state> state_;
};

/// The mpi backend: the ranks of the job but rank 0 each run `slots_per_rank` workers (threads
/// of their own), fed by rank 0 in chunks (dynamic load balancing; small items are batched
/// automatically, as on threads). Rank 0 reads the inputs and receives the outcomes; a map on
/// the other ranks serves until rank 0's map ends and then yields nothing. Every rank must run the
/// same maps in the same order. Idle ranks sleep between polls rather than spin. With a single
/// rank, the work runs on `slots_per_rank` threads of rank 0. Needs a live `mpi_session`; throws
/// `std::logic_error` otherwise.
PARMILL_API backend mpi(std::size_t slots_per_rank = 1);

} // namespace parmill
