// fuzz/job_log_timeline_fuzz.cpp: parmill-timeline's reading of a job log anyone may have written
// (parmill's, GNU parallel's, or any bytes), through to the page. It must never crash, hang or grow
// without bound; it either throws timeline_input_error (not a job log) or draws a timeline.
// Checked on every input: every bar is on a lane that exists, inside the run's wall time, no two
// bars of one lane overlap by more than the log's resolution, there are no more lanes than bars,
// at most max_timeline_spans bars, and the warnings stay capped.
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "timeline_job_log.hpp"
#include "timeline_jobs.hpp"

namespace {

void check(bool holds) {
  if (!holds) std::abort();
}

/// True when no two bars of one lane overlap by more than the job log's resolution.
bool lanes_never_overlap(const parmill::timeline& run) {
  const auto tolerance = parmill::cli::job_log_resolution;
  for (std::size_t a = 0; a < run.spans.size(); ++a)
    for (std::size_t b = a + 1; b < run.spans.size(); ++b) {
      const auto& x = run.spans[a];
      const auto& y = run.spans[b];
      if (x.lane == y.lane && x.start + tolerance < y.start + y.duration &&
          y.start + tolerance < x.start + x.duration)
        return false;
    }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  parmill::cli::job_log_timeline logs;
  try {
    logs.add(in, "fuzz.log");
  } catch (const parmill::cli::timeline_input_error&) {
    return 0; // what parmill-timeline reports as "not a job log", exit 255
  }
  check(logs.warnings().size() <= 11);
  const parmill::timeline run = logs.take("fuzz");
  check(run.spans.size() <= parmill::cli::max_timeline_spans);
  check(run.lanes.size() <= run.spans.size());
  for (const auto& span : run.spans) {
    check(span.lane < run.lanes.size());
    check(span.start.count() >= 0 && span.duration.count() >= 0);
    check(span.start + span.duration <= run.wall);
    check(span.label.size() <= parmill::cli::max_timeline_label);
  }
  if (run.spans.size() <= 200) check(lanes_never_overlap(run));
  std::ostringstream page;
  parmill::write_timeline_html(page, run);
  return 0;
}
