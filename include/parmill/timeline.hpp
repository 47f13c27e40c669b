// parmill/timeline.hpp: a picture of a run. Who worked on what, when, and how it ended: the
// model shared by the library's trace recorder, the command's --timeline and the job log
// converter, and the two ways to write it (Chrome Trace Event JSON, a self-contained HTML page).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "parmill/export.hpp"

namespace parmill {

/// How the work a span stands for ended. A span merging several tiny items has one outcome:
/// only spans of successful items are ever merged.
enum class span_outcome : std::uint8_t {
  ok,        ///< the item (or job) succeeded
  failed,    ///< it failed for good: an exception, or a job's non-zero exit status
  retried,   ///< it failed and was tried again (a later span shows the next attempt)
  timed_out, ///< it ran past its time limit and was stopped
  crashed,   ///< its process or rank died (a job killed by a signal)
  cancelled, ///< the run stopped before it finished
};

/// The name of an outcome as written in traces and pages: "ok", "failed", "retried", ...
[[nodiscard]] constexpr std::string_view to_string(span_outcome outcome) noexcept {
  switch (outcome) {
  case span_outcome::ok: return "ok";
  case span_outcome::failed: return "failed";
  case span_outcome::retried: return "retried";
  case span_outcome::timed_out: return "timed_out";
  case span_outcome::crashed: return "crashed";
  case span_outcome::cancelled: return "cancelled";
  }
  return "unknown";
}

/// One bar: lane `lane` (a worker or a job slot) was busy with `items` items, the first being
/// `first_item`, from `start` for `duration`. Times count from the run's start. The items of a
/// chunk are consecutive; a span that the recorder merged from several chunks of one worker
/// names the first chunk's first item and counts them all. `label` and `stage` may hold any
/// bytes: every writer escapes them.
struct timeline_span {
  std::size_t lane = 0;                    ///< index into `timeline::lanes`
  std::chrono::nanoseconds start{};        ///< since the run began
  std::chrono::nanoseconds duration{};     ///< how long the lane was busy with it
  span_outcome outcome = span_outcome::ok; ///< how it ended
  std::uint64_t first_item = 0;            ///< the item's index in the input, or the job's sequence number
  std::uint64_t items = 1; ///< how many items ran in it (1 for a job); merged: not always consecutive
  std::string label{};     ///< a job's command line, or a description; may be empty
  std::string stage{};     ///< in a pipeline, the stage's name; empty otherwise
  int exit_status = 0;     ///< a job's exit status (0 for library items)
  int signal = 0;          ///< the signal that ended a job, 0 if none
};

/// A whole run: its lanes, in the order they are drawn, and its spans, in any order.
/// `summary` holds extra named lines shown under the page's own summary (a pipeline's report,
/// for instance), in order.
struct timeline {
  std::string title{};                ///< shown at the top of the page; any bytes
  std::vector<std::string> lanes{};   ///< one name per lane ("worker 0", "slot 3", ...)
  std::vector<timeline_span> spans{}; ///< the bars, in any order
  std::chrono::nanoseconds wall{};    ///< the run's duration (at least the last span's end)
  std::vector<std::string> summary{}; ///< extra lines for the page's summary; any bytes
};

/// Writes `run` in the Chrome Trace Event format (a JSON object with "traceEvents"): one
/// complete ("X") event per span (ts and dur in microseconds with three decimals, so nanoseconds
/// survive; pid 1; tid the lane; cat the outcome; args first_item, items, label, stage,
/// exit_status, signal), on one track per lane, named with thread_name metadata events, and the
/// top-level fields "parmill_trace" (1), "title", "wall_ns" and "summary". Perfetto and
/// chrome://tracing open it; `read_chrome_trace` reads it back unchanged. Any bytes are safe:
/// the output is always valid UTF-8 JSON. Well-formed UTF-8 is written as it is; each byte that
/// is not part of well-formed UTF-8 is written as the JSON escape of the code point U+0080..U+00FF
/// equal to its value (a viewer shows the Latin-1 character; `read_chrome_trace` turns it back
/// into the byte).
/// Throws `std::invalid_argument` when a span's lane is not one of `run.lanes`, and
/// `std::runtime_error` when the stream fails.
PARMILL_API void write_chrome_trace(std::ostream& out, const timeline& run);

/// Reads a trace written by `write_chrome_trace`. Throws `std::runtime_error` naming the byte
/// offset of the first problem for anything else (any bytes are safe to pass).
[[nodiscard]] PARMILL_API timeline read_chrome_trace(std::istream& in);

/// Writes `run` as one self-contained HTML page: a lane per worker or slot, a bar per span
/// coloured by outcome (with a legend) and a tooltip (item or command, items, stage, start,
/// duration, exit status, signal), zoom (wheel) and pan (drag; double-click shows the whole run),
/// and a summary (spans, items, failures by outcome, utilisation per lane, the ten longest spans,
/// a histogram of durations, then `run.summary`). No external script, font or network access.
/// The bars are drawn on a canvas from data embedded in the page (about 40 bytes per span plus
/// its label; labels longer than 240 bytes are cut in the page), so 100,000 spans with short
/// labels make a page of about 7 MB that draws in well under two seconds. Text is HTML-escaped
/// (bytes that are not UTF-8 show as U+FFFD there, as Latin-1 characters in tooltips), and
/// nothing in the data can end its script element. After drawing, the element whose id is
/// "timeline" carries what was drawn, for tests: data-lanes, data-spans, data-bars-drawn,
/// data-drawn-OUTCOME, data-drawn-colors, data-rendered, data-render-ms. Throws
/// `std::invalid_argument` when a span's lane is not one of `run.lanes`.
PARMILL_API void write_timeline_html(std::ostream& out, const timeline& run);

/// Reads the trace file `trace` (as `read_chrome_trace`) and writes its page to `html`,
/// replacing it atomically. Throws `std::runtime_error` naming the file on failure.
PARMILL_API void write_timeline_html(const std::filesystem::path& trace, const std::filesystem::path& html);

} // namespace parmill
