// cli/job_worker.hpp: running a job, as a parmill worker: each job slot takes the lowest free slot
// number, runs its job (again on failure, up to --retries; with --timeout and --delay), prints -t
// and -v, and as the job ends saves --results, writes its job log line and counts it for --halt.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "command_template.hpp"
#include "halt.hpp"
#include "inputs.hpp"
#include "job_log.hpp"
#include "job_runner.hpp"
#include "median_runtime.hpp"
#include "options.hpp"
#include "ordered_lines.hpp"
#include "output.hpp"
#include "parmill/worker_context.hpp"
#include "timeline_jobs.hpp"

namespace parmill::cli {

/// The job slots ({%}, $PARALLEL_JOBSLOT): each job takes the lowest free one, as in GNU parallel,
/// so that the first job is always in slot 1. Thread-safe; memory: one bit per slot ever taken at
/// once (-j).
class job_slots {
public:
  /// The lowest free slot, from 1, now taken.
  std::size_t take();
  /// Gives back `slot`, which `take` returned. Throws std::out_of_range for a slot never taken.
  void give_back(std::size_t slot);
  /// A slot taken for as long as it lives.
  struct lease {
    explicit lease(job_slots& s) : slots(s), slot(s.take()) {}
    ~lease() { slots.give_back(slot); }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    job_slots& slots;
    const std::size_t slot;
  };

private:
  std::mutex mutex_;
  std::vector<bool> taken_; // at most one per job running at once: -j
};

/// What every job slot shares: the parts of the options the slots read, and the run's state. The
/// options, the command, the registry, the writer and the stop flag must outlive it.
struct shared_state {
  shared_state(const options& o, const command_template* cmd, running_jobs& jobs_registry,
               output_writer& run_writer, std::atomic<bool>& stop_flag)
      : inputs(o), execution(o), output(o), failures(o), command(cmd), registry(jobs_registry),
        writer(run_writer), stop(&stop_flag) {}
  const input_options& inputs;               ///< --pipe, and --pipepart's file
  const execution_options& execution;        ///< the shell, --delay
  const output_options& output;              ///< how output is printed, --tag
  const failure_options& failures;           ///< --retries, --timeout, --halt
  const command_template* command = nullptr; ///< null: each input is a command
  std::optional<command_template> tagstring; ///< --tagstring
  running_jobs& registry;
  output_writer& writer;
  const results_directory* results = nullptr; ///< --results
  job_stream* shared_blocks = nullptr;        ///< --pipe --round-robin: where jobs take more blocks
  median_runtime median;                      ///< of successful jobs, for --timeout N%
  job_slots slots;
  std::mutex delay_mutex; ///< guards next_start
  std::chrono::steady_clock::time_point next_start{};
  std::atomic<bool>* stop; ///< no job starts once set
  std::mutex halt_mutex;   ///< guards halt and halted_status
  std::optional<halt_tracker> halt;
  int halted_status = 0;
  bool halt_in_workers = true; ///< false under MPI: rank 0 sees every job, a worker rank only its own
  job_log* log = nullptr;      ///< written by the job slots; null under MPI (rank 0's consumer writes)
  ordered_lines* in_order_lines = nullptr; ///< -k --line-buffer (not under MPI): lines in the output's order
  std::mutex log_failure_mutex;            ///< guards log_failure
  std::exception_ptr log_failure;          ///< the first line a job slot could not write: the run stops
  /// --timeline: where the job slots record the attempts that --retries runs again (the consumer
  /// records each job's last one); null without --timeline, and under MPI on the other ranks.
  timeline_recorder* timeline = nullptr;
};

/// A finished job, as the consumer sees it.
struct job_outcome {
  job_values values;
  std::string command;
  std::optional<std::string> tag;
  process_result result;
  bool ran = false; ///< false: not started, because the run was stopping
  /// Ended while parmill was stopping the run (Ctrl-C, TERM, --halt now, a closed output), so
  /// killed by parmill or at best cut short: not in the job log, so that --resume runs it again (as
  /// GNU parallel 20221122 logs no line for such jobs). A timed-out job is not `stopped`.
  bool stopped = false;
  std::string host = ":"; ///< the job log's Host: ":" here, the rank's machine under MPI
  int rank = 0;           ///< under MPI, the rank that ran it (--timeline's lanes)
  /// Crosses to rank 0 under MPI (parmill/codec.hpp).
  static constexpr auto parmill_fields =
      std::tuple{&job_outcome::values, &job_outcome::command, &job_outcome::tag,  &job_outcome::result,
                 &job_outcome::ran,    &job_outcome::stopped, &job_outcome::host, &job_outcome::rank};
};

/// The shell code of a job: its command rendered, or the input itself when there is no command.
[[nodiscard]] std::string command_of(const shared_state& s, const job_values& v);

/// Counts a finished job for --halt. The first time the condition holds it says so, stops new
/// jobs and sets the exit status; returns true then when running jobs must be killed (`now`).
/// Called by the job slots, or under MPI by rank 0 as outcomes arrive (a rank sees only its own
/// jobs), so that no job starts once the condition holds. `s.halt` must be set.
bool record_for_halt(shared_state& s, const job_outcome& done);

/// Standard output was closed by its reader (`| head`): stops the run and kills the running jobs
/// (once), so that jobs that never end do not keep it going.
void stop_if_output_closed(shared_state& s);

/// --results: saves a finished job's output. A save that fails fails the job (exit value 255,
/// unless it had failed already) and says why on standard error. Called where --halt counts the
/// job (its slot, or rank 0 under MPI), before the job log records it.
void save_results(shared_state& s, job_outcome& done);

/// One job slot: runs the jobs given to it, one at a time. Never throws for a job's failure (a job
/// parmill could not set up has exit value 255 and says why on its standard error; a program not
/// found or not runnable gets 127 or 126, as from the shell).
class job_worker {
public:
  job_worker(shared_state& s, std::string host, int rank = 0) : s_(s), host_(std::move(host)), rank_(rank) {}
  /// Runs `j` (taking its values and block) unless the run is stopping (then `ran` is false).
  job_outcome operator()(job& j);

private:
  spawn_request request_for(job& j, const job_outcome& out);
  void write_live(std::size_t position, const std::string& line, bool is_error, const std::string* tag);
  void run_attempts(spawn_request& request, job_outcome& out);
  void print_command(const spawn_request& request, const job_outcome& out, bool first_attempt);
  void log_when_ended(const job_outcome& out);
  void count_for_halt(const job_outcome& out);
  void wait_for_delay();

  shared_state& s_;
  std::string host_;
  int rank_;
};

/// Builds each worker slot's job_worker, inside its worker (its thread, or its rank's thread).
inline auto job_worker_factory(shared_state& shared) {
  return [&shared](const worker_context& context) {
    const bool mpi = context.backend == backend_kind::mpi;
    return job_worker(shared, mpi ? context.host : ":", mpi ? context.rank : 0);
  };
}

} // namespace parmill::cli
