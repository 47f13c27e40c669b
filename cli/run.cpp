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

/// What every job's worker shares.
struct shared_state {
  shared_state(const options& opts, const command_template* cmd, stop_control& control)
      : o(opts), command(cmd), registry(control.registry), output(control.output), stop(&control.stop) {}
  const options& o;
  const command_template* command = nullptr; // null: each input is a command
  std::optional<command_template> tagstring;
  running_jobs& registry;
  output_writer& output;
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

/// The shell code of a job: its command rendered, or the input itself when there is no command.
std::string command_of(const shared_state& s, const job_values& v) {
  if (s.command != nullptr) return s.command->shell_command(v);
  std::string code;
  for (const record& r : v.records)
    for (const std::string& column : r)
      code += (code.empty() ? "" : " ") + column;
  return code;
}

std::optional<std::string> tag_of(const shared_state& s, const job_values& v) {
  if (s.tagstring) return s.tagstring->render_plain(v);
  if (!s.o.tag) return std::nullopt;
  std::string tag;
  for (const record& r : v.records)
    for (const std::string& column : r)
      tag += (tag.empty() ? "" : " ") + column;
  return tag;
}

/// Counts a finished job for --halt. The first time the condition holds it says so, stops new
/// jobs and sets the exit status; returns true then when running jobs must be killed (`now`).
/// Called by the job slots, or under MPI by rank 0 as outcomes arrive (a rank sees only its own
/// jobs), so that no job starts once the condition holds.
bool record_for_halt(shared_state& s, const job_outcome& done) {
  std::lock_guard lock(s.halt_mutex);
  const auto& h = s.o.halt;
  if (s.halt->relevant(done.result)) { // GNU parallel names every job that counts toward --halt
    const char* what = h.on == halt_policy::why::fail      ? "failed"
                       : h.on == halt_policy::why::success ? "succeeded"
                                                           : "finished";
    s.output.message(std::string("parmill: This job ") + what + ":\n" + done.command + "\n");
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
    s.output.message(std::string("parmill: ") + e.what() + "\n");
    if (!done.result.failed()) done.result.exit_value = 255;
  }
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
    const std::size_t slot = slot_taken.slot;
    out.values.slot = slot;
    out.command = command_of(s_, out.values);
    out.tag = tag_of(s_, out.values);
    spawn_request request;
    if (s_.command != nullptr && !s_.command->needs_shell())
      request.argv = s_.command->argv(out.values);
    else
      request.argv = {s_.o.shell, "-c", out.command};
    request.extra_env = {"PARALLEL_SEQ=" + std::to_string(out.values.seq),
                         "PARALLEL_JOBSLOT=" + std::to_string(slot)};
    if (s_.o.pipe) request.stdin_data = &j.stdin_data;
    if (j.part_end > j.part_begin)
      request.stdin_more = file_part_reader(s_.o.sources[0].path, j.part_begin, j.part_end);
    if (s_.shared_blocks != nullptr)
      request.stdin_more = [this](std::string& block) { return s_.shared_blocks->next_shared_block(block); };
    request.mode = s_.o.ungroup       ? output_mode::ungroup
                   : s_.o.line_buffer ? output_mode::line_buffer
                                      : output_mode::group;
    const std::string* tag = out.tag ? &*out.tag : nullptr;
    if (request.mode == output_mode::line_buffer)
      request.line_sink = [this, tag, position = j.position](const std::string& line, bool is_error) {
        if (s_.in_order_lines != nullptr)
          s_.in_order_lines->write(position, line, is_error, tag);
        else
          s_.output.write_line(line, is_error, tag);
        // Output closed (`| head`): jobs that never end must not keep the run going.
        if (s_.output.broken() && !s_.stop->exchange(true)) s_.registry.terminate_all();
      };
    const std::size_t attempts = std::max<std::size_t>(1, s_.o.retries);
    for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
      if (attempt > 0) wait_for_delay();
      if (s_.o.verbose) s_.output.message(out.command + "\n");
      if (s_.o.print_command && attempt == 0 && request.mode != output_mode::group) {
        if (request.line_sink) // -v: as the job starts, as GNU parallel
          request.line_sink(out.command + "\n", false);
        else
          s_.output.write_line(out.command + "\n", false, tag);
      }
      request.deadline.reset();
      if (s_.o.timeout.fixed.count() > 0)
        request.deadline =
            std::chrono::steady_clock::now() +
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(s_.o.timeout.fixed);
      else if (s_.o.timeout.percent_of_median > 0)
        if (const auto median = s_.median.get())
          request.deadline =
              std::chrono::steady_clock::now() +
              std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(*median * s_.o.timeout.percent_of_median / 100));
      try {
        out.result = run_process(request, s_.registry);
      } catch (const std::exception& e) {
        out.result = process_result{};
        out.result.exit_value = 255;
        out.result.err = std::string("parmill: cannot start the job: ") + e.what() + "\n";
      }
      if (!out.result.failed() || s_.registry.terminating()) break;
    }
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
    if (s_.o.delay_seconds <= 0) return;
    std::chrono::steady_clock::time_point start;
    {
      std::lock_guard lock(s_.delay_mutex);
      start = std::max(std::chrono::steady_clock::now(), s_.next_start);
      s_.next_start = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(s_.o.delay_seconds));
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
map_options job_map_options(const options& o) {
  return {.order = o.keep_order ? order::input : order::completion,
          .window = 0,
          .chunk = 1,
          .on_error = on_error::yield,
          .max_failures = unlimited,
          .retries = 0,
          .progress = {}};
}

/// --tagstring's template, when there is one.
void set_tagstring(shared_state& s, const std::map<std::string, std::size_t>& names) {
  if (s.o.tagstring)
    s.tagstring.emplace(std::vector<std::string>{*s.o.tagstring}, true, names, false, s.o.multiple_args,
                        s.o.names, s.o.plus);
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

/// A rank other than 0 under MPI: runs the jobs rank 0 sends, -j at a time, until the run ends.
/// It reads no input and writes no log: rank 0 does.
int serve(const options& o, const cluster& ranks) {
  stop_control control;
  signal_watcher signals(
      [&] {
        control.registry.terminate_all();
        std::_Exit(255); // the MPI job is ending (Ctrl-C, or another rank died): no job is left
      },
      [] {});
  const std::optional<command_template> command = make_command(o, {});
  shared_state shared(o, command ? &*command : nullptr, control);
  set_tagstring(shared, {});
  shared.halt.emplace(o.halt, 0);
  shared.halt_in_workers = false;
  for (auto& served : parmill::map(ranks.where, std::ranges::empty_view<job>{},
                                   per_worker(job_worker_factory(shared)), job_map_options(o)))
    (void)served; // nothing comes out here: outcomes go to rank 0
  return 0;
}

/// The signal thread of rank 0 (or of a run without MPI). SIGINT and SIGTERM: no job starts, the
/// input stops (a reader waiting for input returns), every running job's group gets TERM then
/// KILL; under MPI the run ends at once. SIGHUP: no job starts and the input stops; the running
/// jobs finish.
signal_watcher watch_signals(stop_control& control, const cluster* ranks) {
  return signal_watcher(
      [&control, ranks] {
        control.interrupted = true;
        control.stop = true;
        stop_input();
        control.registry.terminate_all();
        if (ranks != nullptr) {
          const std::string held = ranks->held_items();
          control.output.message(
              "parmill: stopped by a signal (under MPI, mpirun sends one when a rank dies); the "
              "job log has every job that finished" +
              std::string(held.empty() ? ".\n"
                                       : "; still running (by position in this run's input, "
                                         "from 0; on a first run, job {#} is position + 1):\n") +
              held);
          // The jobs held by a dead rank will never be answered: end now (the job log is written
          // through, and this rank's own jobs are gone) rather than wait to be killed.
          std::_Exit(255);
        }
      },
      [&control] {
        control.stop = true;
        stop_input();
        control.output.message(
            "parmill: SIGHUP received: starting no more jobs, waiting for the running ones\n");
      });
}

} // namespace

int run(const options& o, const cluster* ranks) {
  if (ranks != nullptr && o.header)
    throw usage_error("--header cannot be used under MPI (only rank 0 reads the input)");
  if (ranks != nullptr && !ranks->root) return serve(o, *ranks);
  stop_control control;
  const signal_watcher signals = watch_signals(control, ranks);
  std::set<std::size_t> skip;
  if (o.resume || o.resume_failed) skip = jobs_done(*o.joblog, !o.resume_failed);
  job_stream jobs(o, std::move(skip), &control.stop);

  if (o.pipe && o.command.empty()) throw usage_error("--pipe needs a command");
  std::optional<command_template> command = make_command(o, jobs.column_names());
  std::optional<std::size_t> total;
  if (command && command->needs_total()) total = jobs.read_all(); // --plus {##}, {0#}: inputs read first
  if (command) command->set_run_size(total.value_or(0), o.jobs);
  shared_state shared(o, command ? &*command : nullptr, control);
  set_tagstring(shared, jobs.column_names());
  if (jobs.shares_blocks()) {
    if (ranks != nullptr) throw usage_error("--round-robin cannot be used under MPI");
    shared.shared_blocks = &jobs;
  }

  if (o.dry_run) {
    for (auto& j : jobs) {
      j.values.slot = (j.values.seq - 1) % o.jobs + 1;
      const std::string code = command_of(shared, j.values);
      shared.output.write_line(code + "\n", false, nullptr);
      if (o.verbose) shared.output.message(code + "\n"); // -t: on standard error too, as GNU parallel
    }
    return control.interrupted ? 255 : 0;
  }

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
  ordered_lines in_order_lines(shared.output);
  if (o.keep_order && o.line_buffer && ranks == nullptr) shared.in_order_lines = &in_order_lines;

  {
    auto outcomes = parmill::map(ranks != nullptr ? ranks->where : threads(o.jobs), jobs,
                                 per_worker(job_worker_factory(shared)), job_map_options(o));
    for (auto& outcome : outcomes) {
      if (shared.in_order_lines != nullptr) shared.in_order_lines->ended(outcome.index());
      if (!outcome.has_value()) { // the worker itself failed (it catches the job's own failures)
        shared.output.message("parmill: " + outcome.error().message + "\n");
        continue;
      }
      job_outcome& done = *outcome;
      if (!done.ran) continue;
      if (results && results->one_file()) { // --results x.json/.csv/.tsv: in the output's order
        try {
          results->save_record(done.values, done.result, done.command, done.host);
        } catch (const std::exception& e) {
          shared.output.message(std::string("parmill: ") + e.what() + "\n");
        }
      }
      if (!shared.halt_in_workers) save_results(shared, done); // under MPI: saved on rank 0
      const process_result& r = done.result;
      if (o.print_command && o.group) // -v: the command, then its output, in the output's order
        shared.output.write_line(done.command + "\n", false, done.tag ? &*done.tag : nullptr);
      if (!o.results_dir && o.group) shared.output.write_job(r, done.tag ? &*done.tag : nullptr);
      if (r.timed_out)
        shared.output.message(
            "parmill: Warning: This job was killed because it timed out:\nparmill: Warning: " + done.command +
            "\n");
      if (log && shared.log == nullptr && !done.stopped)
        log->record(done.values.seq, done.host, r, done.command);
      if (bar) {
        if (r.failed())
          bar->fail();
        else
          bar->advance();
      }
      if (shared.output.broken() && !control.stop.exchange(true)) shared.registry.terminate_all();
      if (!shared.halt_in_workers) (void)record_for_halt(shared, done); // under MPI: running jobs finish
    }
  }
  if (bar) bar->finish();
  if (shared.log_failure) std::rethrow_exception(shared.log_failure);
  if (control.interrupted || shared.output.broken()) return 255;
  std::lock_guard lock(shared.halt_mutex);
  if (shared.halt->halted() && o.halt.at == halt_policy::when::now) return shared.halted_status;
  return shared.halt->exit_status();
}

} // namespace parmill::cli
