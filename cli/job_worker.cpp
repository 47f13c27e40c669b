// cli/job_worker.cpp: one job slot (see job_worker.hpp).
#include "job_worker.hpp"

#include <algorithm>
#include <thread>

namespace parmill::cli {
namespace {

/// The values of a job joined by spaces: the command when there is none, and --tag's text.
std::string joined_values(const job_values& v) {
  std::string text;
  for (const record& r : v.records)
    for (const std::string& column : r) {
      if (!text.empty()) text += ' ';
      text += column;
    }
  return text;
}

/// The text before each output line of the job: --tagstring rendered, --tag's values, or none.
std::optional<std::string> tag_of(const shared_state& s, const job_values& v) {
  if (s.tagstring) return s.tagstring->render_plain(v);
  if (!s.output.tag) return std::nullopt;
  return joined_values(v);
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

} // namespace

std::size_t job_slots::take() {
  std::lock_guard lock(mutex_);
  const auto free = std::find(taken_.begin(), taken_.end(), false);
  const auto slot = static_cast<std::size_t>(free - taken_.begin());
  if (free == taken_.end())
    taken_.push_back(true);
  else
    *free = true;
  return slot + 1;
}

void job_slots::give_back(std::size_t slot) {
  std::lock_guard lock(mutex_);
  taken_.at(slot - 1) = false;
}

std::string command_of(const shared_state& s, const job_values& v) {
  if (s.command != nullptr) return s.command->shell_command(v);
  return joined_values(v);
}

void stop_if_output_closed(shared_state& s) {
  if (s.writer.broken() && !s.stop->exchange(true)) s.registry.terminate_all();
}

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

void save_results(shared_state& s, job_outcome& done) {
  if (s.results == nullptr || !done.ran || s.results->one_file()) return; // one file: by the consumer
  try {
    s.results->save(done.values, done.result);
  } catch (const std::exception& e) {
    s.writer.message(std::string("parmill: ") + e.what() + "\n");
    if (!done.result.failed()) done.result.exit_value = 255;
  }
}

job_outcome job_worker::operator()(job& j) {
  job_outcome out;
  if (s_.stop->load()) return out;
  wait_for_delay();                // before taking a slot: a job waiting for --delay holds none
  if (s_.stop->load()) return out; // the run halted, or was stopped, during the delay
  out.ran = true;
  out.host = host_;
  out.rank = rank_;
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

/// How to start `j`, whose command and tag are in `out` (which must outlive the request).
spawn_request job_worker::request_for(job& j, const job_outcome& out) {
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
void job_worker::write_live(std::size_t position, const std::string& line, bool is_error,
                            const std::string* tag) {
  if (s_.in_order_lines != nullptr)
    s_.in_order_lines->write(position, line, is_error, tag);
  else
    s_.writer.write_line(line, is_error, tag);
  stop_if_output_closed(s_);
}

/// Runs the job, again while it fails, up to --retries times in all (unless the run is stopping).
void job_worker::run_attempts(spawn_request& request, job_outcome& out) {
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
    if (s_.timeline != nullptr && attempt + 1 < attempts) // --timeline: a bar for the failed attempt
      s_.timeline->record(out.values.seq, {out.host, out.rank, out.values.slot}, out.command, out.result,
                          span_outcome::retried);
  }
}

/// -t: the command on standard error at each attempt; -v: on standard output as the job first
/// starts, when its output is not printed whole (then the consumer prints it before the output).
void job_worker::print_command(const spawn_request& request, const job_outcome& out, bool first_attempt) {
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
void job_worker::log_when_ended(const job_outcome& out) {
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
void job_worker::count_for_halt(const job_outcome& out) {
  if (s_.halt_in_workers && record_for_halt(s_, out)) s_.registry.terminate_all();
}

void job_worker::wait_for_delay() {
  if (s_.execution.delay_seconds <= 0) return;
  std::chrono::steady_clock::time_point start;
  {
    std::lock_guard lock(s_.delay_mutex);
    start = std::max(std::chrono::steady_clock::now(), s_.next_start);
    s_.next_start = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(s_.execution.delay_seconds));
  }
  // --delay: the pause the user asked for between starts, cut short once the run stops (Ctrl-C,
  // --halt), which is looked at every 10 ms so that stopping stays prompt.
  constexpr std::chrono::steady_clock::duration slice = std::chrono::milliseconds(10);
  for (auto now = std::chrono::steady_clock::now(); now < start && !s_.stop->load();
       now = std::chrono::steady_clock::now())
    std::this_thread::sleep_for(std::min(slice, start - now));
}

} // namespace parmill::cli
