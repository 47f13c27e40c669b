// cli/run.cpp: the command as a user of the library: the jobs are a lazy input range, running one
// is a per-worker function on parmill::threads(-j), and the output, progress and --halt are the
// consumer of the map's outcomes. The job log is written by the job slot as each job ends, whatever
// the output order (under MPI, by rank 0's consumer as each outcome arrives).
#include "run.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unistd.h>

#include "command_template.hpp"
#include "halt.hpp"
#include "inputs.hpp"
#include "job_log.hpp"
#include "job_runner.hpp"
#include "median_runtime.hpp"
#include "ordered_lines.hpp"
#include "output.hpp"
#include "parmill/map.hpp"
#include "parmill/progress.hpp"
#include "parmill/workers.hpp"
#include "signals.hpp"

namespace parmill::cli {
namespace {

/// What a stop signal acts on: made before anything else of the run, so that a signal is handled
/// from the start (the input may be read, and wait, before the first job starts).
struct stop_control {
  std::atomic<bool> stop{false};        ///< no job starts once set
  std::atomic<bool> interrupted{false}; ///< SIGINT or SIGTERM
  running_jobs registry;
  output_writer output;
};

/// The job slots ({%}, $PARALLEL_JOBSLOT): each job takes the lowest free one, as in GNU parallel,
/// so that the first job is always in slot 1. Thread-safe.
class job_slots {
public:
  /// The lowest free slot, from 1, now taken.
  std::size_t take() {
    std::lock_guard lock(mutex_);
    const auto free = std::find(taken_.begin(), taken_.end(), false);
    const auto slot = static_cast<std::size_t>(free - taken_.begin());
    if (free == taken_.end())
      taken_.push_back(true);
    else
      *free = true;
    return slot + 1;
  }
  /// Gives `slot` back.
  void give_back(std::size_t slot) {
    std::lock_guard lock(mutex_);
    taken_.at(slot - 1) = false;
  }
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

/// What every job's worker shares: the parts of the options the workers read, and the run's state.
struct shared_state {
  shared_state(const options& o, const command_template* cmd, stop_control& control)
      : inputs(o), execution(o), output(o), failures(o), command(cmd), registry(control.registry),
        writer(control.output), stop(&control.stop) {}
  const input_options& inputs;               // --pipe, and --pipepart's file
  const execution_options& execution;        // the shell, --delay
  const output_options& output;              // how output is printed, --tag
  const failure_options& failures;           // --retries, --timeout, --halt
  const command_template* command = nullptr; // null: each input is a command
  std::optional<command_template> tagstring;
  running_jobs& registry;
  output_writer& writer;
  const results_directory* results = nullptr; // --results
  job_stream* shared_blocks = nullptr;        // --pipe --round-robin: where jobs take more blocks
  median_runtime median;
  job_slots slots;
  std::mutex delay_mutex;
  std::chrono::steady_clock::time_point next_start{};
  std::atomic<bool>* stop; // no job starts once set
  std::mutex halt_mutex;   // guards halt and halted_status
  std::optional<halt_tracker> halt;
  int halted_status = 0;
  bool halt_in_workers = true; // false under MPI: rank 0 sees every job, a worker rank only its own
  job_log* log = nullptr;      // written by the job slots; null under MPI (rank 0's consumer writes)
  ordered_lines* in_order_lines = nullptr; // -k --line-buffer (not under MPI): lines in the output's order
  std::mutex log_failure_mutex;            // guards log_failure
  std::exception_ptr log_failure;          // the first line a job slot could not write: the run stops
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
  /// Crosses to rank 0 under MPI (parmill/codec.hpp).
  static constexpr auto parmill_fields =
      std::tuple{&job_outcome::values, &job_outcome::command, &job_outcome::tag, &job_outcome::result,
                 &job_outcome::ran,    &job_outcome::stopped, &job_outcome::host};
};

/// The values of a job joined by spaces: the command when there is none, and --tag's text.
std::string joined_values(const job_values& v) {
  std::string text;
  for (const record& r : v.records)
    for (const std::string& column : r)
      text += (text.empty() ? "" : " ") + column;
  return text;
}

/// The shell code of a job: its command rendered, or the input itself when there is no command.
std::string command_of(const shared_state& s, const job_values& v) {
  if (s.command != nullptr) return s.command->shell_command(v);
  return joined_values(v);
}

/// The text before each output line of the job: --tagstring rendered, --tag's values, or none.
std::optional<std::string> tag_of(const shared_state& s, const job_values& v) {
  if (s.tagstring) return s.tagstring->render_plain(v);
  if (!s.output.tag) return std::nullopt;
  return joined_values(v);
}

/// Counts a finished job for --halt. The first time the condition holds it says so, stops new
/// jobs and sets the exit status; returns true then when running jobs must be killed (`now`).
/// Called by the job slots, or under MPI by rank 0 as outcomes arrive (a rank sees only its own
/// jobs), so that no job starts once the condition holds.
bool record_for_halt(shared_state& s, const job_outcome& done) {
  std::lock_guard lock(s.halt_mutex);
  const halt_policy& h = s.failures.halt;
  if (s.halt->relevant(done.result)) { // GNU parallel names every job that counts toward --halt
    const char* what = h.on == halt_policy::why::fail      ? "failed"
                       : h.on == halt_policy::why::success ? "succeeded"
                                                           : "finished";
    s.writer.message(std::string("parmill: This job ") + what + ":\n" + done.command + "\n");
  }
  if (!s.halt->count(done.result)) return false;
  s.stop->store(true);
  s.halted_status = s.halt->exit_status();
  return h.at == halt_policy::when::now;
}

/// --results: saves a finished job's output. A save that fails fails the job (exit value 255,
/// unless it had failed already) and says why on standard error. Called where --halt counts the
/// job (its slot, or rank 0 under MPI), before the job log records it.
void save_results(shared_state& s, job_outcome& done) {
  if (s.results == nullptr || !done.ran || s.results->one_file()) return; // one file: by the consumer
  try {
    s.results->save(done.values, done.result);
  } catch (const std::exception& e) {
    s.writer.message(std::string("parmill: ") + e.what() + "\n");
    if (!done.result.failed()) done.result.exit_value = 255;
  }
}

/// How a job's output is handled: -u, --line-buffer, or whole (the default).
output_mode output_mode_of(const output_options& o) {
  return o.ungroup ? output_mode::ungroup : o.line_buffer ? output_mode::line_buffer : output_mode::group;
}

/// When a job started now must end: --timeout's fixed limit, or its percentage of the median
/// runtime of the successful jobs so far (none until three have succeeded).
std::optional<std::chrono::steady_clock::time_point> deadline_of(const timeout_policy& timeout,
                                                                 median_runtime& median) {
  using clock = std::chrono::steady_clock;
  if (timeout.fixed.count() > 0)
    return clock::now() + std::chrono::duration_cast<clock::duration>(timeout.fixed);
  if (timeout.percent_of_median > 0)
    if (const auto seconds = median.get())
      return clock::now() + std::chrono::duration_cast<clock::duration>(
                                std::chrono::duration<double>(*seconds * timeout.percent_of_median / 100));
  return std::nullopt;
}

/// One job slot: runs the jobs given to it, one at a time.
class job_worker {
public:
  job_worker(shared_state& s, std::string host) : s_(s), host_(std::move(host)) {}

  job_outcome operator()(job& j) {
    job_outcome out;
    if (s_.stop->load()) return out;
    wait_for_delay();                // before taking a slot: a job waiting for --delay holds none
    if (s_.stop->load()) return out; // the run halted, or was stopped, during the delay
    out.ran = true;
    out.host = host_;
    out.values = std::move(j.values);
    const job_slots::lease slot_taken(s_.slots); // the lowest free slot, until the job has ended
    out.values.slot = slot_taken.slot;
    out.command = command_of(s_, out.values);
    out.tag = tag_of(s_, out.values);
    spawn_request request = request_for(j, out);
    run_attempts(request, out);
    // Whether parmill stopped the run is known for sure only after it began, so a job that ended
    // on its own just then counts as stopped too: it runs again on --resume, never is lost.
    out.stopped = s_.registry.terminating() && !out.result.timed_out;
    if (!out.result.failed()) s_.median.add(out.result.runtime.count());
    if (s_.halt_in_workers) save_results(s_, out);
    log_when_ended(out);
    count_for_halt(out);
    return out;
  }

private:
  /// How to start `j`, whose command and tag are in `out` (which must outlive the request).
  spawn_request request_for(job& j, const job_outcome& out) {
    spawn_request request;
    if (s_.command != nullptr && !s_.command->needs_shell())
      request.argv = s_.command->argv(out.values);
    else
      request.argv = {s_.execution.shell, "-c", out.command};
    request.extra_env = {"PARALLEL_SEQ=" + std::to_string(out.values.seq),
                         "PARALLEL_JOBSLOT=" + std::to_string(out.values.slot)};
    if (s_.inputs.pipe) request.stdin_data = &j.stdin_data;
    if (j.part_end > j.part_begin)
      request.stdin_more = file_part_reader(s_.inputs.sources[0].path, j.part_begin, j.part_end);
    if (s_.shared_blocks != nullptr)
      request.stdin_more = [this](std::string& block) { return s_.shared_blocks->next_shared_block(block); };
    request.mode = output_mode_of(s_.output);
    if (request.mode == output_mode::line_buffer)
      request.line_sink = [this, tag = out.tag ? &*out.tag : nullptr,
                           position = j.position](const std::string& line, bool is_error) {
        write_live(position, line, is_error, tag);
      };
    return request;
  }

  /// --line-buffer: one line of the job at `position`, in the output's order with -k.
  void write_live(std::size_t position, const std::string& line, bool is_error, const std::string* tag) {
    if (s_.in_order_lines != nullptr)
      s_.in_order_lines->write(position, line, is_error, tag);
    else
      s_.writer.write_line(line, is_error, tag);
    // Output closed (`| head`): jobs that never end must not keep the run going.
    if (s_.writer.broken() && !s_.stop->exchange(true)) s_.registry.terminate_all();
  }

  /// Runs the job, again while it fails, up to --retries times in all (unless the run is stopping).
  void run_attempts(spawn_request& request, job_outcome& out) {
    const std::size_t attempts = std::max<std::size_t>(1, s_.failures.retries);
    for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
      if (attempt > 0) wait_for_delay();
      print_command(request, out, attempt == 0);
      request.deadline = deadline_of(s_.failures.timeout, s_.median);
      try {
        out.result = run_process(request, s_.registry);
      } catch (const std::exception& e) {
        out.result = process_result{};
        out.result.exit_value = 255;
        out.result.err = std::string("parmill: cannot start the job: ") + e.what() + "\n";
      }
      if (!out.result.failed() || s_.registry.terminating()) break;
    }
  }

  /// -t: the command on standard error at each attempt; -v: on standard output as the job first
  /// starts, when its output is not printed whole (then the consumer prints it before the output).
  void print_command(const spawn_request& request, const job_outcome& out, bool first_attempt) {
    if (s_.output.verbose) s_.writer.message(out.command + "\n");
    if (!s_.output.print_command || !first_attempt || request.mode == output_mode::group) return;
    if (request.line_sink) // -v: as the job starts, as GNU parallel
      request.line_sink(out.command + "\n", false);
    else
      s_.writer.write_line(out.command + "\n", false, out.tag ? &*out.tag : nullptr);
  }

  /// Writes the job's line as soon as it ends, before its output is printed (with -k that can be
  /// much later), and before --halt may stop the run. The trade-off: a job that ended but whose
  /// output was not yet printed when parmill was killed (kill -9) is in the log, so --resume does
  /// not run it again and that output is lost; what the log says was done was done. A line that
  /// cannot be written (a full disk) stops the run: no job starts, and parmill then fails with it.
  void log_when_ended(const job_outcome& out) {
    if (s_.log == nullptr || out.stopped) return;
    try {
      s_.log->record(out.values.seq, out.host, out.result, out.command);
    } catch (const std::exception&) {
      std::lock_guard lock(s_.log_failure_mutex);
      if (!s_.log_failure) s_.log_failure = std::current_exception();
      s_.stop->store(true);
    }
  }

  /// --halt is decided here, as each job ends, so that no job starts after the condition holds.
  void count_for_halt(const job_outcome& out) {
    if (s_.halt_in_workers && record_for_halt(s_, out)) s_.registry.terminate_all();
  }

  void wait_for_delay() {
    if (s_.execution.delay_seconds <= 0) return;
    std::chrono::steady_clock::time_point start;
    {
      std::lock_guard lock(s_.delay_mutex);
      start = std::max(std::chrono::steady_clock::now(), s_.next_start);
      s_.next_start = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(s_.execution.delay_seconds));
    }
    std::this_thread::sleep_until(start); // --delay: the pause the user asked for between starts
  }

  shared_state& s_;
  std::string host_;
};

/// Builds each worker slot's job_worker, inside its worker (its thread, or its rank's thread).
auto job_worker_factory(shared_state& shared) {
  return [&shared](const worker_context& context) {
    return job_worker(shared, context.backend == backend_kind::mpi ? context.host : ":");
  };
}

/// Jobs go one at a time to whichever slot is free, in completion order unless -k.
map_options job_map_options(const output_options& o) {
  return {.order = o.keep_order ? order::input : order::completion,
          .window = 0,
          .chunk = 1,
          .on_error = on_error::yield,
          .max_failures = unlimited,
          .retries = 0,
          .progress = {}};
}

/// --tagstring's template, when there is one.
void set_tagstring(shared_state& s, const template_options& templates,
                   const std::map<std::string, std::size_t>& names) {
  if (s.output.tagstring)
    s.tagstring.emplace(std::vector<std::string>{*s.output.tagstring}, true, names, false,
                        templates.multiple_args, templates.names, templates.plus);
}

/// Writes the run's output above its progress bar (output_writer::attach_bar) while this exists.
class bar_attachment {
public:
  bar_attachment(output_writer& output, progress_bar* bar) : output_(output) {
    if (bar != nullptr) output_.attach_bar(*bar);
  }
  ~bar_attachment() { output_.detach_bar(); }
  bar_attachment(const bar_attachment&) = delete;
  bar_attachment& operator=(const bar_attachment&) = delete;

private:
  output_writer& output_;
};

/// A rank other than 0 under MPI, on SIGINT or SIGTERM: the MPI job is ending (Ctrl-C, or another
/// rank died), so this rank's jobs are killed and it ends at once.
[[noreturn]] void end_rank(stop_control& control) {
  control.registry.terminate_all();
  std::_Exit(255); // no job is left
}

/// A rank other than 0 under MPI: runs the jobs rank 0 sends, -j at a time, until the run ends.
/// It reads no input and writes no log: rank 0 does.
int serve(const options& o, const cluster& ranks) {
  stop_control control;
  signal_watcher signals([&control] { end_rank(control); }, [] {});
  const std::optional<command_template> command = make_command(o, o, {});
  shared_state shared(o, command ? &*command : nullptr, control);
  set_tagstring(shared, o, {});
  shared.halt.emplace(o.halt, 0);
  shared.halt_in_workers = false;
  for (auto& served : parmill::map(ranks.where, std::ranges::empty_view<job>{},
                                   per_worker(job_worker_factory(shared)), job_map_options(o)))
    (void)served; // nothing comes out here: outcomes go to rank 0
  return 0;
}

/// SIGINT or SIGTERM on rank 0 (or without MPI): no job starts, the input stops (a reader waiting
/// for input returns), every running job's group gets TERM then KILL; under MPI the run ends at once.
void on_interrupt(stop_control& control, const cluster* ranks) {
  control.interrupted = true;
  control.stop = true;
  stop_input();
  control.registry.terminate_all();
  if (ranks == nullptr) return;
  const std::string held = ranks->held_items();
  control.output.message("parmill: stopped by a signal (under MPI, mpirun sends one when a rank dies); the "
                         "job log has every job that finished" +
                         std::string(held.empty() ? ".\n"
                                                  : "; still running (by position in this run's input, "
                                                    "from 0; on a first run, job {#} is position + 1):\n") +
                         held);
  // The jobs held by a dead rank will never be answered: end now (the job log is written through,
  // and this rank's own jobs are gone) rather than wait to be killed.
  std::_Exit(255);
}

/// SIGHUP: no job starts and the input stops; the running jobs finish.
void on_hangup(stop_control& control) {
  control.stop = true;
  stop_input();
  control.output.message("parmill: SIGHUP received: starting no more jobs, waiting for the running ones\n");
}

/// The signal thread of rank 0 (or of a run without MPI).
signal_watcher watch_signals(stop_control& control, const cluster* ranks) {
  return signal_watcher([&control, ranks] { on_interrupt(control, ranks); },
                        [&control] { on_hangup(control); });
}

/// --resume and --resume-failed: the jobs the job log records as done.
std::set<std::size_t> jobs_to_skip(const failure_options& failures) {
  if (!failures.resume && !failures.resume_failed) return {};
  return jobs_done(*failures.joblog, !failures.resume_failed);
}

/// --dry-run: prints each job's command instead of running it.
int print_commands(job_stream& jobs, shared_state& shared, const options& o, const stop_control& control) {
  for (auto& j : jobs) {
    j.values.slot = (j.values.seq - 1) % o.jobs + 1;
    const std::string code = command_of(shared, j.values);
    shared.writer.write_line(code + "\n", false, nullptr);
    if (o.verbose) shared.writer.message(code + "\n"); // -t: on standard error too, as GNU parallel
  }
  return control.interrupted ? 255 : 0;
}

/// Rank 0's (or the only process's) consumer of the map's outcomes: prints each job's output in
/// the output's order, writes what the job slots do not (the --results file, the job log under MPI
/// or on standard output), and advances the bar.
class outcome_consumer {
public:
  outcome_consumer(shared_state& shared, stop_control& control, results_directory* results, job_log* log,
                   progress_bar* bar)
      : s_(shared), control_(control), results_(results), log_(log), bar_(bar) {}

  void operator()(outcome<job_outcome>& outcome) {
    if (s_.in_order_lines != nullptr) s_.in_order_lines->ended(outcome.index());
    if (!outcome.has_value()) { // the worker itself failed (it catches the job's own failures)
      s_.writer.message("parmill: " + outcome.error().message + "\n");
      return;
    }
    job_outcome& done = *outcome;
    if (!done.ran) return;
    save_record(done);
    if (!s_.halt_in_workers) save_results(s_, done); // under MPI: saved on rank 0
    print(done);
    if (log_ != nullptr && s_.log == nullptr && !done.stopped)
      log_->record(done.values.seq, done.host, done.result, done.command);
    if (bar_ != nullptr) {
      if (done.result.failed())
        bar_->fail();
      else
        bar_->advance();
    }
    if (s_.writer.broken() && !control_.stop.exchange(true)) s_.registry.terminate_all();
    if (!s_.halt_in_workers) (void)record_for_halt(s_, done); // under MPI: running jobs finish
  }

private:
  /// --results x.json/.csv/.tsv: the job's record, in the output's order.
  void save_record(const job_outcome& done) {
    if (results_ == nullptr || !results_->one_file()) return;
    try {
      results_->save_record(done.values, done.result, done.command, done.host);
    } catch (const std::exception& e) {
      s_.writer.message(std::string("parmill: ") + e.what() + "\n");
    }
  }

  /// The job's output when it is printed whole (-v's command first), and a timeout's warning.
  void print(const job_outcome& done) {
    const output_options& o = s_.output;
    const std::string* tag = done.tag ? &*done.tag : nullptr;
    if (o.print_command && o.group) // -v: the command, then its output, in the output's order
      s_.writer.write_line(done.command + "\n", false, tag);
    if (!o.results_dir && o.group) s_.writer.write_job(done.result, tag);
    if (done.result.timed_out)
      s_.writer.message("parmill: Warning: This job was killed because it timed out:\nparmill: Warning: " +
                        done.command + "\n");
  }

  shared_state& s_;
  stop_control& control_;
  results_directory* results_;
  job_log* log_;
  progress_bar* bar_;
};

/// Runs the jobs and returns the exit status. `total` is the number of jobs, when read already.
int run_jobs(const options& o, const cluster* ranks, job_stream& jobs, shared_state& shared,
             stop_control& control, std::optional<std::size_t> total) {
  std::optional<results_directory> results;
  if (o.results_dir) results.emplace(*o.results_dir, jobs.column_names());
  shared.results = results ? &*results : nullptr;
  const bool wants_total = o.shuffle || o.bar || o.eta || o.progress || o.halt.percent;
  if (wants_total && !total) total = jobs.read_all();
  std::optional<job_log> log;
  if (o.joblog) log.emplace(*o.joblog, o.resume || o.resume_failed || o.joblog_append);

  std::unique_ptr<progress_bar> bar;
  if (o.bar || o.eta || o.progress) bar = std::make_unique<progress_bar>("parmill", total);
  const bar_attachment output_above_bar(control.output, bar.get());
  shared.halt.emplace(o.halt, total.value_or(0));
  shared.halt_in_workers = ranks == nullptr;
  // --joblog - (standard output): each line after its job's output, so the consumer writes it.
  if (log && ranks == nullptr && *o.joblog != "-") shared.log = &*log;
  ordered_lines in_order_lines(shared.writer);
  if (o.keep_order && o.line_buffer && ranks == nullptr) shared.in_order_lines = &in_order_lines;

  {
    outcome_consumer consume(shared, control, results ? &*results : nullptr, log ? &*log : nullptr,
                             bar.get());
    auto outcomes = parmill::map(ranks != nullptr ? ranks->where : threads(o.jobs), jobs,
                                 per_worker(job_worker_factory(shared)), job_map_options(o));
    for (auto& outcome : outcomes)
      consume(outcome);
  }
  if (bar) bar->finish();
  if (shared.log_failure) std::rethrow_exception(shared.log_failure);
  if (control.interrupted || shared.writer.broken()) return 255;
  std::lock_guard lock(shared.halt_mutex);
  if (shared.halt->halted() && o.halt.at == halt_policy::when::now) return shared.halted_status;
  return shared.halt->exit_status();
}

} // namespace

int run(const options& o, const cluster* ranks) {
  if (ranks != nullptr && o.header)
    throw usage_error("--header cannot be used under MPI (only rank 0 reads the input)");
  if (ranks != nullptr && !ranks->root) return serve(o, *ranks);
  stop_control control;
  const signal_watcher signals = watch_signals(control, ranks);
  job_stream jobs(o, o, o.jobs, jobs_to_skip(o), &control.stop);

  if (o.pipe && o.command.empty()) throw usage_error("--pipe needs a command");
  std::optional<command_template> command = make_command(o, o, jobs.column_names());
  std::optional<std::size_t> total;
  if (command && command->needs_total()) total = jobs.read_all(); // --plus {##}, {0#}: inputs read first
  if (command) command->set_run_size(total.value_or(0), o.jobs);
  shared_state shared(o, command ? &*command : nullptr, control);
  set_tagstring(shared, o, jobs.column_names());
  if (jobs.shares_blocks()) {
    if (ranks != nullptr) throw usage_error("--round-robin cannot be used under MPI");
    shared.shared_blocks = &jobs;
  }
  if (o.dry_run) return print_commands(jobs, shared, o, control);
  return run_jobs(o, ranks, jobs, shared, control, total);
}

} // namespace parmill::cli
