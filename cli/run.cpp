// cli/run.cpp: the command as a user of the library: the jobs are a lazy input range, running one
// is a per-worker function on parmill::threads(-j) (job_worker.hpp), and the output and progress
// are the consumer of the map's outcomes. --halt is counted and the job log written by the job
// slot as each job ends, whatever the output order (under MPI, by rank 0's consumer as each
// outcome arrives).
#include "run.hpp"

#include <atomic>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include "command_template.hpp"
#include "inputs.hpp"
#include "job_log.hpp"
#include "job_runner.hpp"
#include "job_worker.hpp"
#include "ordered_lines.hpp"
#include "output.hpp"
#include "parmill/map.hpp"
#include "parmill/progress.hpp"
#include "parmill/workers.hpp"
#include "signals.hpp"
#include "timeline_jobs.hpp"
#include "timeline_page.hpp"

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
  shared_state shared(o, command ? &*command : nullptr, control.registry, control.output, control.stop);
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

/// --dry-run: prints each job's command instead of running it, with {%} as if `slots` jobs ran in
/// turn.
int print_commands(job_stream& jobs, shared_state& shared, std::size_t slots, const stop_control& control) {
  for (auto& j : jobs) {
    j.values.slot = (j.values.seq - 1) % slots + 1;
    const std::string code = command_of(shared, j.values);
    shared.writer.write_line(code + "\n", false, nullptr);
    if (shared.output.verbose) shared.writer.message(code + "\n"); // -t: on standard error too, as GNU
  }
  return control.interrupted ? 255 : 0;
}

/// Rank 0's (or the only process's) consumer of the map's outcomes: prints each job's output in
/// the output's order, writes what the job slots do not (the --results file, the job log under MPI
/// or on standard output), and advances the bar.
class outcome_consumer {
public:
  outcome_consumer(shared_state& shared, results_directory* results, job_log* log, progress_bar* bar,
                   timeline_recorder* timeline)
      : s_(shared), results_(results), log_(log), bar_(bar), timeline_(timeline) {}

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
    if (timeline_ != nullptr)
      timeline_->record(done.values.seq, {done.host, done.rank, done.values.slot}, done.command, done.result,
                        job_outcome_of(done.result, done.stopped, false));
    if (bar_ != nullptr) {
      if (done.result.failed())
        bar_->fail();
      else
        bar_->advance();
    }
    stop_if_output_closed(s_);
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
  results_directory* results_;
  job_log* log_;
  progress_bar* bar_;
  timeline_recorder* timeline_;
};

/// --timeline: the recorder of the run's jobs and its page, written once before any job starts
/// (so that a path that cannot be written stops the run first) and then as jobs end.
struct run_timeline {
  timeline_recorder recorder;
  live_timeline_page page;

  run_timeline(const std::string& path, const options& o)
      : recorder(title_of(o), std::chrono::system_clock::now()), page(checked_path(path), recorder) {}

  /// The page's title: "parmill" and the command's words (or "(each input is a command)").
  static std::string title_of(const template_options& o) {
    std::string title = "parmill";
    for (const std::string& word : o.command)
      title += " " + word;
    return o.command.empty() ? title + " (each input is a command)" : title;
  }

  static std::filesystem::path checked_path(const std::string& path) {
    if (path.empty()) throw usage_error("--timeline: the file name is empty");
    return path;
  }
};

/// Makes the --timeline page, or nothing without --timeline. Throws `usage_error` if it cannot be
/// written.
std::unique_ptr<run_timeline> start_timeline(const options& o) {
  if (!o.timeline) return nullptr;
  try {
    return std::make_unique<run_timeline>(*o.timeline, o);
  } catch (const usage_error&) {
    throw;
  } catch (const std::exception& e) {
    throw usage_error(std::string("--timeline: ") + e.what());
  }
}

/// Writes the last --timeline page; a page that cannot be written is reported, and the exit
/// status stays the jobs'.
void finish_timeline(run_timeline* timeline, output_writer& writer) {
  if (timeline == nullptr) return;
  try {
    timeline->page.finish();
  } catch (const std::exception& e) {
    writer.message(std::string("parmill: Warning: --timeline: ") + e.what() + "\n");
  }
}

/// Runs the jobs and returns the exit status. `total` is the number of jobs, when read already.
int run_jobs(const options& o, const cluster* ranks, job_stream& jobs, shared_state& shared,
             stop_control& control, std::optional<std::size_t> total) {
  const std::unique_ptr<run_timeline> timeline = start_timeline(o); // before any job starts
  shared.timeline = timeline ? &timeline->recorder : nullptr;
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
    outcome_consumer consume(shared, results ? &*results : nullptr, log ? &*log : nullptr, bar.get(),
                             shared.timeline);
    auto outcomes = parmill::map(ranks != nullptr ? ranks->where : threads(o.jobs), jobs,
                                 per_worker(job_worker_factory(shared)), job_map_options(o));
    for (auto& outcome : outcomes)
      consume(outcome);
  }
  if (bar) bar->finish();
  finish_timeline(timeline.get(), shared.writer);
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
  job_stream jobs(o, jobs_to_skip(o), &control.stop);

  if (o.pipe && o.command.empty()) throw usage_error("--pipe needs a command");
  std::optional<command_template> command = make_command(o, o, jobs.column_names());
  std::optional<std::size_t> total;
  if (command && command->needs_total()) total = jobs.read_all(); // --plus {##}, {0#}: inputs read first
  if (command) command->set_run_size(total.value_or(0), o.jobs);
  shared_state shared(o, command ? &*command : nullptr, control.registry, control.output, control.stop);
  set_tagstring(shared, o, jobs.column_names());
  if (jobs.shares_blocks()) {
    if (ranks != nullptr) throw usage_error("--round-robin cannot be used under MPI");
    shared.shared_blocks = &jobs;
  }
  if (o.dry_run) return print_commands(jobs, shared, o.jobs, control);
  return run_jobs(o, ranks, jobs, shared, control, total);
}

} // namespace parmill::cli
