// The self-contained HTML page of a timeline: the header, legend, lane names and summary written
// here as HTML (readable without running the script), the spans as a compact JSON object that the
// page's script (timeline_page.cpp) draws on a canvas.
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "parmill/timeline.hpp"
#include "timeline_page.hpp"
#include "timeline_text.hpp"

namespace parmill {
namespace {

using timeline_text::json_context;
using timeline_text::write_html_text;
using timeline_text::write_json_string;

constexpr std::array all_outcomes{span_outcome::ok,        span_outcome::retried, span_outcome::cancelled,
                                  span_outcome::timed_out, span_outcome::failed,  span_outcome::crashed};

/// The colour of each outcome on the page, in the page's drawing order (later ones on top).
constexpr std::string_view color_of(span_outcome outcome) noexcept {
  switch (outcome) {
  case span_outcome::ok: return "#4c9a52";
  case span_outcome::failed: return "#d62728";
  case span_outcome::retried: return "#f0a30a";
  case span_outcome::timed_out: return "#8e44ad";
  case span_outcome::crashed: return "#222222";
  case span_outcome::cancelled: return "#a0a0a0";
  }
  return "#ff00ff";
}

std::size_t outcome_position(span_outcome outcome) noexcept {
  return static_cast<std::size_t>(std::find(all_outcomes.begin(), all_outcomes.end(), outcome) -
                                  all_outcomes.begin());
}

constexpr int axis_height = 22;           ///< pixels above the first lane
constexpr std::size_t longest_shown = 10; ///< rows of the "longest spans" table
constexpr std::size_t histogram_bins = 12;
constexpr std::size_t page_label_bytes = 240; ///< longer labels are cut in the page (not in traces)

/// Pixels per lane: 20, less when there are so many lanes that the canvas would be too tall.
int row_height(std::size_t lanes) noexcept {
  constexpr std::size_t tallest_canvas = 24000;
  return static_cast<int>(std::clamp<std::size_t>(lanes == 0 ? 20 : tallest_canvas / lanes, 2, 20));
}

std::string format_duration(std::chrono::nanoseconds duration) {
  const double ns = static_cast<double>(duration.count());
  const double magnitude = std::abs(ns);
  char text[48];
  if (magnitude < 1e3)
    std::snprintf(text, sizeof text, "%lld ns", static_cast<long long>(duration.count()));
  else if (magnitude < 1e6)
    std::snprintf(text, sizeof text, "%.3g µs", ns / 1e3);
  else if (magnitude < 1e9)
    std::snprintf(text, sizeof text, "%.3g ms", ns / 1e6);
  else
    std::snprintf(text, sizeof text, "%.4g s", ns / 1e9);
  return text;
}

std::string format_percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %%", fraction * 100.0);
  return text;
}

/// `label` cut to at most `page_label_bytes` bytes at a UTF-8 boundary, with "…" when cut.
std::string_view shortened(std::string_view label, bool& cut) noexcept {
  cut = label.size() > page_label_bytes;
  if (!cut) return label;
  std::size_t end = page_label_bytes;
  while (end > page_label_bytes - 3 && (static_cast<unsigned char>(label[end]) & 0xC0) == 0x80)
    --end;
  return label.substr(0, end);
}

/// `a + b`, held at the limits of nanoseconds instead of overflowing (times come from files).
std::chrono::nanoseconds saturated_sum(std::chrono::nanoseconds a, std::chrono::nanoseconds b) noexcept {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a.count(), b.count(), &sum)) sum = b.count() > 0 ? INT64_MAX : INT64_MIN;
  return std::chrono::nanoseconds{sum};
}

/// What the summary says, computed once from the spans.
struct run_summary {
  std::chrono::nanoseconds wall{};
  std::uint64_t items = 0;
  std::array<std::uint64_t, all_outcomes.size()> spans_by_outcome{};
  std::array<std::uint64_t, all_outcomes.size()> items_by_outcome{};
  std::vector<std::chrono::nanoseconds> busy; ///< per lane
  std::vector<std::size_t> longest;           ///< span indices, longest first
  struct bin {
    std::chrono::nanoseconds from{}, to{};
    std::uint64_t spans = 0;
  };
  std::vector<bin> histogram;
};

std::vector<run_summary::bin> duration_histogram(const timeline& run) {
  if (run.spans.empty()) return {};
  const auto [shortest, longest] =
      std::minmax_element(run.spans.begin(), run.spans.end(),
                          [](const auto& a, const auto& b) { return a.duration < b.duration; });
  const double low = std::max<double>(1.0, static_cast<double>(shortest->duration.count()));
  const double high = std::max<double>(low, static_cast<double>(longest->duration.count()));
  const std::size_t bins = high <= low ? 1 : histogram_bins;
  const bool logarithmic = high / low > 20.0; // a wide range: equal ratios, else equal widths
  const auto edge = [&](std::size_t i) {
    const double f = static_cast<double>(i) / static_cast<double>(bins);
    return logarithmic ? low * std::pow(high / low, f) : low + (high - low) * f;
  };
  std::vector<run_summary::bin> histogram(bins);
  for (std::size_t i = 0; i < bins; ++i) {
    histogram[i].from = std::chrono::nanoseconds{static_cast<std::int64_t>(std::floor(edge(i)))};
    histogram[i].to = std::chrono::nanoseconds{static_cast<std::int64_t>(std::ceil(edge(i + 1)))};
  }
  for (const timeline_span& span : run.spans) {
    const double d = std::max(low, static_cast<double>(span.duration.count()));
    const double position = logarithmic ? std::log(d / low) / std::log(high / low) : (d - low) / (high - low);
    const auto bin = std::min(
        bins - 1, static_cast<std::size_t>(
                      std::isfinite(position) ? std::max(0.0, position) * static_cast<double>(bins) : 0.0));
    ++histogram[bin].spans;
  }
  return histogram;
}

run_summary summarise(const timeline& run) {
  run_summary summary;
  summary.wall = std::max(run.wall, std::chrono::nanoseconds{0});
  summary.busy.assign(run.lanes.size(), std::chrono::nanoseconds{0});
  for (const timeline_span& span : run.spans) {
    summary.wall = std::max(summary.wall, saturated_sum(span.start, span.duration));
    summary.items += span.items;
    const std::size_t o = outcome_position(span.outcome);
    ++summary.spans_by_outcome[o];
    summary.items_by_outcome[o] += span.items;
    summary.busy[span.lane] =
        saturated_sum(summary.busy[span.lane], std::max(span.duration, std::chrono::nanoseconds{0}));
  }
  std::vector<std::size_t> order(run.spans.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const std::size_t shown = std::min(longest_shown, order.size());
  std::partial_sort(
      order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown), order.end(),
      [&](std::size_t a, std::size_t b) { return run.spans[a].duration > run.spans[b].duration; });
  order.resize(shown);
  summary.longest = std::move(order);
  summary.histogram = duration_histogram(run);
  return summary;
}

void write_swatch(std::ostream& out, span_outcome outcome) {
  out << "<span class=\"swatch\" style=\"background:" << color_of(outcome) << "\"></span>";
}

void write_head(std::ostream& out, const timeline& run, const run_summary& summary) {
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         "<meta name=\"generator\" content=\"parmill\">\n<title>";
  write_html_text(out,
                  run.title.empty() ? std::string_view("parmill timeline") : std::string_view(run.title));
  out << "</title>\n<style>" << timeline_page::style << "</style>\n</head>\n<body>\n<header><h1>";
  write_html_text(out,
                  run.title.empty() ? std::string_view("parmill timeline") : std::string_view(run.title));
  out << "</h1>\n<p class=\"meta\">" << run.spans.size() << " spans, " << summary.items << " items on "
      << run.lanes.size() << " lanes in " << format_duration(summary.wall) << "</p></header>\n";
}

void write_legend(std::ostream& out, const run_summary& summary) {
  out << "<div id=\"legend\">";
  for (std::size_t o = 0; o < all_outcomes.size(); ++o) {
    out << "<span class=\"legend-item\" data-outcome=\"" << to_string(all_outcomes[o]) << "\" data-color=\""
        << color_of(all_outcomes[o]) << "\" data-spans=\"" << summary.spans_by_outcome[o] << "\">";
    write_swatch(out, all_outcomes[o]);
    out << to_string(all_outcomes[o]) << " (" << summary.spans_by_outcome[o] << ")</span>";
  }
  out << "</div>\n<p class=\"help\">Wheel: zoom · drag: pan · double-click: the whole run · hover a bar for "
         "details</p>\n";
}

void write_lanes(std::ostream& out, const timeline& run) {
  out << "<div id=\"timeline\" data-lanes=\"" << run.lanes.size() << "\" data-spans=\"" << run.spans.size()
      << "\" style=\"--row:" << row_height(run.lanes.size()) << "px;--axis:" << axis_height << "px\">\n"
      << "<div id=\"lane-names\">";
  for (std::size_t lane = 0; lane < run.lanes.size(); ++lane) {
    out << "<div class=\"lane-name\" data-lane=\"" << lane << "\" title=\"";
    write_html_text(out, run.lanes[lane]);
    out << "\">";
    write_html_text(out, run.lanes[lane]);
    out << "</div>";
  }
  out << "</div>\n<div id=\"plot\"><canvas id=\"canvas\"></canvas></div>\n<div id=\"tooltip\" hidden></div>\n"
         "</div>\n";
}

void write_totals(std::ostream& out, const timeline& run, const run_summary& summary) {
  std::uint64_t failed_spans = 0, failed_items = 0;
  for (std::size_t o = 0; o < all_outcomes.size(); ++o)
    if (all_outcomes[o] == span_outcome::failed || all_outcomes[o] == span_outcome::timed_out ||
        all_outcomes[o] == span_outcome::crashed)
      failed_spans += summary.spans_by_outcome[o], failed_items += summary.items_by_outcome[o];
  const auto row = [&](std::string_view key, std::string_view name, const auto& value) {
    out << "<tr><th>" << name << "</th><td class=\"number\" data-key=\"" << key << "\">" << value
        << "</td></tr>\n";
  };
  out << "<table id=\"totals\">\n";
  row("spans", "spans (jobs, or chunks of items)", run.spans.size());
  row("items", "items", summary.items);
  row("failed-spans", "failed spans (failed, timed out, crashed)", failed_spans);
  row("failed-items", "failed items", failed_items);
  row("lanes", "lanes (workers or job slots)", run.lanes.size());
  // The exact wall time in nanoseconds is for programs (and tests) reading the page, not for people.
  out << "<tr><th>wall time</th><td class=\"number\" data-ns=\"" << summary.wall.count()
      << "\" data-key=\"wall\">" << format_duration(summary.wall) << "</td></tr>\n";
  out << "</table>\n";
}

void write_outcomes(std::ostream& out, const run_summary& summary) {
  out << "<h3>Outcomes</h3>\n<table id=\"outcomes\"><tr><th>outcome</th><th class=\"number\">spans</th>"
         "<th class=\"number\">items</th></tr>\n";
  for (std::size_t o = 0; o < all_outcomes.size(); ++o) {
    out << "<tr data-outcome=\"" << to_string(all_outcomes[o]) << "\"><td>";
    write_swatch(out, all_outcomes[o]);
    out << ' ' << to_string(all_outcomes[o]) << "</td><td class=\"number\" data-key=\"spans\">"
        << summary.spans_by_outcome[o] << "</td><td class=\"number\" data-key=\"items\">"
        << summary.items_by_outcome[o] << "</td></tr>\n";
  }
  out << "</table>\n";
}

void write_utilisation(std::ostream& out, const timeline& run, const run_summary& summary) {
  out << "<h3>Utilisation per lane</h3>\n<table id=\"utilisation\"><tr><th>lane</th><th "
         "class=\"number\">busy</th>"
         "<th class=\"number\">of the wall time</th><th></th></tr>\n";
  const double wall = static_cast<double>(std::max<std::int64_t>(1, summary.wall.count()));
  for (std::size_t lane = 0; lane < run.lanes.size(); ++lane) {
    const double fraction = static_cast<double>(summary.busy[lane].count()) / wall;
    out << "<tr data-lane=\"" << lane << "\"><td class=\"text\">";
    write_html_text(out, run.lanes[lane]);
    out << "</td><td class=\"number\" data-busy-ns=\"" << summary.busy[lane].count() << "\">"
        << format_duration(summary.busy[lane]) << "</td><td class=\"number\" data-key=\"utilisation\">"
        << format_percent(fraction) << "</td><td><div class=\"bar\" style=\"width:"
        << static_cast<int>(std::clamp(fraction, 0.0, 1.0) * 200.0) << "px\"></div></td></tr>\n";
  }
  out << "</table>\n";
}

void write_what(std::ostream& out, const timeline_span& span) {
  if (!span.label.empty()) {
    bool cut = false;
    write_html_text(out, shortened(span.label, cut));
    out << (cut ? "…" : "");
    return;
  }
  if (!span.stage.empty()) {
    write_html_text(out, span.stage);
    out << ": ";
  }
  if (span.items == 1)
    out << "item " << span.first_item;
  else
    out << span.items << " items " << span.first_item << ".." << span.first_item + span.items - 1;
}

void write_longest(std::ostream& out, const timeline& run, const run_summary& summary) {
  out << "<h3>The " << longest_shown
      << " longest spans</h3>\n<table id=\"longest\"><tr><th class=\"number\">"
         "duration</th><th>outcome</th><th>lane</th><th>what</th><th class=\"number\">exit</th></tr>\n";
  for (std::size_t i : summary.longest) {
    const timeline_span& span = run.spans[i];
    out << "<tr><td class=\"number\" data-ns=\"" << span.duration.count() << "\">"
        << format_duration(span.duration) << "</td><td>";
    write_swatch(out, span.outcome);
    out << ' ' << to_string(span.outcome) << "</td><td>";
    write_html_text(out, run.lanes[span.lane]);
    out << "</td><td class=\"text\">";
    write_what(out, span);
    out << "</td><td class=\"number\">" << span.exit_status;
    if (span.signal != 0) out << " (signal " << span.signal << ")";
    out << "</td></tr>\n";
  }
  out << "</table>\n";
}

void write_histogram(std::ostream& out, const run_summary& summary) {
  out << "<h3>Durations</h3>\n<table id=\"histogram\"><tr><th>from</th><th>to</th><th "
         "class=\"number\">spans</th>"
         "<th></th></tr>\n";
  std::uint64_t most = 1;
  for (const auto& bin : summary.histogram)
    most = std::max(most, bin.spans);
  for (const auto& bin : summary.histogram)
    out << "<tr><td>" << format_duration(bin.from) << "</td><td>" << format_duration(bin.to)
        << "</td><td class=\"number\" data-key=\"count\">" << bin.spans
        << "</td><td><div class=\"bar\" style=\"width:" << bin.spans * 300 / most
        << "px\"></div></td></tr>\n";
  out << "</table>\n";
}

void write_summary(std::ostream& out, const timeline& run, const run_summary& summary) {
  out << "<section id=\"summary\">\n<h2>Summary</h2>\n";
  write_totals(out, run, summary);
  write_outcomes(out, summary);
  write_utilisation(out, run, summary);
  write_longest(out, run, summary);
  write_histogram(out, summary);
  if (!run.summary.empty()) {
    out << "<h3>Report</h3>\n<pre id=\"report-lines\">";
    for (const std::string& line : run.summary) {
      write_html_text(out, line);
      out << '\n';
    }
    out << "</pre>\n";
  }
  out << "</section>\n";
}

/// The time unit of the page's data: the smallest power of ten of nanoseconds that keeps every
/// time under ten digits.
std::int64_t data_unit(std::chrono::nanoseconds wall) noexcept {
  std::int64_t unit = 1;
  while (wall.count() / unit >= 1'000'000'000)
    unit *= 10;
  return unit;
}

/// Writes one column of the data: `"key":[v0,v1,...]`.
template <class Value>
void write_column(std::ostream& out, std::string_view key, const timeline& run, Value&& value) {
  out << ",\"" << key << "\":[";
  for (std::size_t i = 0; i < run.spans.size(); ++i) {
    if (i != 0) out.put(',');
    value(run.spans[i]);
  }
  out << ']';
}

void write_data(std::ostream& out, const timeline& run, const run_summary& summary) {
  const std::int64_t unit = data_unit(summary.wall);
  const auto script_string = [&](std::string_view text) {
    write_json_string(out, text, json_context::html_script);
  };
  out << "<script id=\"timeline-data\" type=\"application/json\">{\"unit\":" << unit
      << ",\"wall\":" << summary.wall.count() / unit << ",\"row\":" << row_height(run.lanes.size())
      << ",\"axis\":" << axis_height << ",\"outcomes\":[";
  for (std::size_t o = 0; o < all_outcomes.size(); ++o)
    out << (o ? "," : "") << '"' << to_string(all_outcomes[o]) << '"';
  out << "],\"colors\":[";
  for (std::size_t o = 0; o < all_outcomes.size(); ++o)
    out << (o ? "," : "") << '"' << color_of(all_outcomes[o]) << '"';
  out << "],\"lanes\":[";
  for (std::size_t lane = 0; lane < run.lanes.size(); ++lane) {
    out << (lane ? "," : "");
    script_string(run.lanes[lane]);
  }
  out << ']';
  write_column(out, "l", run, [&](const timeline_span& s) { out << s.lane; });
  write_column(out, "s", run, [&](const timeline_span& s) { out << s.start.count() / unit; });
  write_column(out, "d", run, [&](const timeline_span& s) {
    out << std::max<std::int64_t>(0, saturated_sum(s.duration, std::chrono::nanoseconds{unit / 2}).count() /
                                         unit);
  });
  write_column(out, "o", run, [&](const timeline_span& s) { out << outcome_position(s.outcome); });
  write_column(out, "f", run, [&](const timeline_span& s) { out << s.first_item; });
  const auto any = [&](auto&& predicate) {
    return std::any_of(run.spans.begin(), run.spans.end(), predicate);
  };
  if (any([](const timeline_span& s) { return s.items != 1; }))
    write_column(out, "n", run, [&](const timeline_span& s) { out << s.items; });
  if (any([](const timeline_span& s) { return s.exit_status != 0 || s.signal != 0 || !s.label.empty(); })) {
    write_column(out, "x", run, [&](const timeline_span& s) { out << s.exit_status; });
    write_column(out, "g", run, [&](const timeline_span& s) { out << s.signal; });
  }
  if (any([](const timeline_span& s) { return !s.label.empty(); }))
    write_column(out, "t", run, [&](const timeline_span& s) {
      bool cut = false;
      const std::string_view shown = shortened(s.label, cut);
      script_string(cut ? std::string(shown) + "…" : std::string(shown));
    });
  if (any([](const timeline_span& s) { return !s.stage.empty(); })) {
    std::vector<std::string_view> stages;
    std::unordered_map<std::string_view, std::size_t> stage_index;
    for (const timeline_span& s : run.spans)
      if (!s.stage.empty() && stage_index.try_emplace(s.stage, stages.size()).second)
        stages.push_back(s.stage);
    out << ",\"stages\":[";
    for (std::size_t i = 0; i < stages.size(); ++i) {
      out << (i ? "," : "");
      script_string(stages[i]);
    }
    out << ']';
    write_column(out, "k", run, [&](const timeline_span& s) {
      if (s.stage.empty())
        out << -1;
      else
        out << stage_index.at(s.stage);
    });
  }
  out << "}</script>\n";
}

} // namespace

void write_timeline_html(std::ostream& out, const timeline& run) {
  timeline_text::check_lanes(run, "write_timeline_html");
  const run_summary summary = summarise(run);
  write_head(out, run, summary);
  write_legend(out, summary);
  write_lanes(out, run);
  write_summary(out, run, summary);
  write_data(out, run, summary);
  out << "<script>" << timeline_page::script << "</script>\n</body></html>\n";
  if (!out) throw std::runtime_error("write_timeline_html: the stream failed");
}

void write_timeline_html(const std::filesystem::path& trace, const std::filesystem::path& html) {
  const auto fail = [](const std::filesystem::path& file, std::string_view what) {
    throw std::runtime_error("write_timeline_html: " + file.string() + ": " + std::string(what));
  };
  std::ifstream in(trace, std::ios::binary);
  if (!in) fail(trace, "cannot open it for reading");
  timeline run;
  try {
    run = read_chrome_trace(in);
  } catch (const std::runtime_error& error) {
    fail(trace, error.what());
  }
  std::filesystem::path temporary = html;
  temporary += ".tmp";
  std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
  if (!out) fail(temporary, "cannot open it for writing");
  write_timeline_html(out, run);
  out.close();
  std::error_code error;
  if (!out) {
    std::filesystem::remove(temporary, error);
    fail(temporary, "writing failed");
  }
  std::filesystem::rename(temporary, html, error);
  if (error) {
    const std::string why = error.message();
    std::filesystem::remove(temporary, error);
    fail(html, "cannot replace it: " + why);
  }
}

} // namespace parmill
