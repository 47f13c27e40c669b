// cli/run.hpp: runs the jobs an invocation describes and returns the exit status.
#pragma once

#include <functional>
#include <string>

#include "options.hpp"
#include "parmill/backend.hpp"

namespace parmill::cli {

/// The command under `mpirun`: where the jobs run, whether this is rank 0 (which reads the
/// inputs, prints the output and writes the job log), and what each rank holds now.
struct cluster {
  backend where;                           ///< parmill::mpi(-j): -j job slots on each other rank
  bool root = true;                        ///< rank 0
  std::function<std::string()> held_items; ///< "rank 2 holds items 4 to 4" lines, for a stop message
};

/// Runs every job of `o` (or prints them, with --dry-run) and returns GNU parallel's exit status.
/// Under MPI (`ranks` not null) rank 0 drives and the other ranks run jobs. Throws `usage_error`
/// for problems found before any job runs (an unreadable input file or log).
[[nodiscard]] int run(const options& o, const cluster* ranks = nullptr);

} // namespace parmill::cli
