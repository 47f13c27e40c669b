// --timeline and parmill-timeline: lanes by start time, jobs as bars, the job log reader on any
// bytes, the pages of real runs (parmill's and GNU parallel's), and what a person sees in them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "helpers/headless_browser.hpp"
#include "helpers/timeline_samples.hpp"
#include "run_helpers.hpp"
#include "timeline_job_log.hpp"
#include "timeline_jobs.hpp"
#include "timeline_page.hpp"

namespace {

using namespace std::chrono_literals;
using parmill::span_outcome;
using parmill::timeline;
using parmill::cli::assign_lanes;
using parmill::cli::job_log_timeline;
using parmill::cli::lane_interval;
using parmill::cli::process_result;
using parmill_test::scratch;

const std::string header = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// The most intervals that overlap at one time, an interval that ends at t and one that starts at
/// t not overlapping (an empty interval at t overlaps those that hold t but not those that start
/// there): the fewest lanes they can be drawn on.
std::size_t most_at_once(const std::vector<lane_interval>& intervals) {
  enum kind { end, point, start }; // at one time: ends first, then empty intervals, then starts
  std::vector<std::pair<std::chrono::nanoseconds, kind>> events;
  for (const lane_interval& i : intervals) {
    if (i.duration == 0ns) {
      events.emplace_back(i.start, point);
    } else {
      events.emplace_back(i.start, start);
      events.emplace_back(i.start + i.duration, end);
    }
  }
  std::sort(events.begin(), events.end());
  std::size_t now = 0, most = 0;
  for (const auto& [at, what] : events) {
    if (what == end) --now;
    if (what == start) ++now;
    most = std::max(most, what == point ? now + 1 : now);
  }
  return most;
}

/// True when no two intervals on one lane overlap (by more than `tolerance`).
bool lanes_never_overlap(const std::vector<lane_interval>& intervals, const std::vector<std::size_t>& lane,
                         std::chrono::nanoseconds tolerance = {}) {
  for (std::size_t a = 0; a < intervals.size(); ++a)
    for (std::size_t b = a + 1; b < intervals.size(); ++b) {
      if (lane[a] != lane[b]) continue;
      const auto& x = intervals[a];
      const auto& y = intervals[b];
      if (x.start + tolerance < y.start + y.duration && y.start + tolerance < x.start + x.duration)
        return false;
    }
  return true;
}

std::size_t lanes_used(const std::vector<std::size_t>& lane) {
  return lane.empty() ? 0 : *std::max_element(lane.begin(), lane.end()) + 1;
}

process_result ended(int exit_value, int signal = 0, bool timed_out = false) {
  process_result r;
  r.exit_value = exit_value;
  r.signal = signal;
  r.timed_out = timed_out;
  r.started = std::chrono::system_clock::now();
  r.runtime = 10ms;
  return r;
}

/// The timeline of the job log `text`, and the warnings of reading it.
timeline from_log(const std::string& text, std::vector<std::string>* warnings = nullptr) {
  job_log_timeline logs;
  std::istringstream in(text);
  logs.add(in, "test.log");
  if (warnings != nullptr) *warnings = logs.warnings();
  return logs.take("test");
}

std::string row(const std::string& seq, const std::string& start, const std::string& runtime,
                const std::string& exit_value = "0", const std::string& signal = "0",
                const std::string& command = "") {
  return seq + "\t:\t" + start + "\t" + runtime + "\t0\t0\t" + exit_value + "\t" + signal + "\t" +
         (command.empty() ? "echo " + seq : command) + "\n";
}

const parmill::timeline_span& span_of(const timeline& run, std::uint64_t seq) {
  for (const auto& s : run.spans)
    if (s.first_item == seq) return s;
  throw std::runtime_error("no span for job " + std::to_string(seq));
}

} // namespace

// --- lanes ---------------------------------------------------------------------------------------

TEST(TimelineLanes, AJobThatStartsWhenAnotherEndsTakesItsLane) {
  const std::vector<lane_interval> jobs{{0ms, 10ms}, {10ms, 5ms}, {15ms, 5ms}};
  EXPECT_EQ(assign_lanes(jobs), (std::vector<std::size_t>{0, 0, 0}));
}

TEST(TimelineLanes, TheLaneThatFreedEarliestIsReused) {
  // Lane 0 frees at 30, lane 1 at 20: the job starting at 40 takes lane 1.
  const std::vector<lane_interval> jobs{{0ms, 30ms}, {5ms, 15ms}, {40ms, 1ms}};
  EXPECT_EQ(assign_lanes(jobs), (std::vector<std::size_t>{0, 1, 1}));
}

TEST(TimelineLanes, ExactlyAsManyLanesAsJobsRanAtOnceOnRandomIntervals) {
  std::mt19937 random(18);
  for (int round = 0; round < 500; ++round) {
    std::vector<lane_interval> jobs(random() % 60);
    for (auto& job : jobs) // small integer times: many equal starts and ends, and empty jobs
      job = {std::chrono::milliseconds(random() % 40), std::chrono::milliseconds(random() % 10)};
    const std::vector<std::size_t> lane = assign_lanes(jobs);
    ASSERT_TRUE(lanes_never_overlap(jobs, lane)) << "round " << round;
    ASSERT_EQ(lanes_used(lane), most_at_once(jobs)) << "round " << round;
  }
}

TEST(TimelineLanes, AJobLogsMillisecondRoundingNeedsNoExtraLane) {
  // One slot, two jobs one after the other; rounded to milliseconds, the first seems to end 1 ms
  // after the second started (start 1.0005 -> 1.001, runtime 0.4999 -> 0.500; next start 1.5004 ->
  // 1.500).
  std::vector<std::string> warnings;
  const timeline run =
      from_log(header + row("1", "1000.001", "0.500") + row("2", "1000.500", "0.100"), &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(run.lanes, (std::vector<std::string>{"slot 1"}));
}

// --- jobs as bars ----------------------------------------------------------------------------------

TEST(TimelineJobs, EachWayAJobEndsHasItsOutcome) {
  using parmill::cli::job_outcome_of;
  EXPECT_EQ(job_outcome_of(ended(0), false, false), span_outcome::ok);
  EXPECT_EQ(job_outcome_of(ended(3), false, false), span_outcome::failed);
  EXPECT_EQ(job_outcome_of(ended(0, 9), false, false), span_outcome::crashed);
  EXPECT_EQ(job_outcome_of(ended(-1, 15, true), false, false), span_outcome::timed_out);
  EXPECT_EQ(job_outcome_of(ended(3), false, true), span_outcome::retried);
  EXPECT_EQ(job_outcome_of(ended(-1, 15, true), false, true), span_outcome::retried);
  EXPECT_EQ(job_outcome_of(ended(-1, 15), true, false), span_outcome::cancelled);
}

TEST(TimelineJobs, ALanePerSlotAndABarPerAttemptWithItsJobsNumbersAndCommand) {
  const auto start = std::chrono::system_clock::now();
  parmill::cli::timeline_recorder recorder("parmill echo", start);
  process_result r = ended(0);
  r.started = start + 5ms;
  recorder.record(1, {.host = ":", .rank = 0, .slot = 2}, "echo a", r, span_outcome::ok);
  recorder.record(2, {.host = ":", .rank = 0, .slot = 1}, "echo b", ended(3), span_outcome::retried);
  recorder.record(2, {.host = ":", .rank = 0, .slot = 1}, "echo b", ended(3), span_outcome::failed);
  const timeline run = recorder.snapshot();
  EXPECT_EQ(run.title, "parmill echo");
  EXPECT_EQ(run.lanes, (std::vector<std::string>{"slot 1", "slot 2"}));
  ASSERT_EQ(run.spans.size(), 3U);
  const auto& first = span_of(run, 1);
  EXPECT_EQ(first.lane, 1U);
  EXPECT_EQ(first.start, 5ms);
  EXPECT_EQ(first.duration, 10ms);
  EXPECT_EQ(first.label, "echo a");
  EXPECT_EQ(first.items, 1U);
  EXPECT_EQ(recorder.recorded(), 3U);
  EXPECT_GE(run.wall, 15ms);
  ASSERT_FALSE(run.summary.empty());
  EXPECT_EQ(run.summary[0], "job attempts: 3 (1 ok, 1 failed, 1 retried)");
}

TEST(TimelineJobs, ALongRunKeepsTheNewestBarsAndEveryFailureWithinItsLimit) {
  parmill::cli::timeline_recorder recorder("t", std::chrono::system_clock::now(), 10);
  recorder.record(1, {.host = ":", .rank = 0, .slot = 1}, "fails", ended(1), span_outcome::failed);
  for (std::uint64_t seq = 2; seq <= 100; ++seq)
    recorder.record(seq, {.host = ":", .rank = 0, .slot = 1}, "ok", ended(0), span_outcome::ok);
  const timeline run = recorder.snapshot();
  ASSERT_EQ(run.spans.size(), 10U);
  EXPECT_EQ(span_of(run, 1).outcome, span_outcome::failed);
  for (std::uint64_t seq = 92; seq <= 100; ++seq)
    EXPECT_EQ(span_of(run, seq).outcome, span_outcome::ok);
  ASSERT_EQ(run.summary.size(), 2U);
  EXPECT_EQ(run.summary[0], "job attempts: 100 (99 ok, 1 failed)");
  EXPECT_NE(run.summary[1].find("not drawn: 90 of the oldest (90 ok)"), std::string::npos) << run.summary[1];
}

TEST(TimelineJobs, ALongCommandIsCutNeverInsideACharacter) {
  const std::string e_acute = "\xc3\xa9";
  std::string command;
  for (int i = 0; i < 200; ++i)
    command += e_acute;
  const std::string label = parmill::cli::timeline_label(command);
  EXPECT_LE(label.size(), parmill::cli::max_timeline_label);
  ASSERT_TRUE(label.ends_with("..."));
  const std::string kept = label.substr(0, label.size() - 3);
  EXPECT_EQ(kept.size() % 2, 0U);
  EXPECT_EQ(kept.find_first_not_of(e_acute), std::string::npos);
  EXPECT_EQ(parmill::cli::timeline_label("echo short"), "echo short");
}

TEST(TimelineJobs, EachRanksSlotsAreLanesOfTheirOwnEvenOnOneMachine) {
  parmill::cli::timeline_recorder recorder("t", std::chrono::system_clock::now());
  recorder.record(1, {.host = "node2", .rank = 1, .slot = 1}, "a", ended(0), span_outcome::ok);
  recorder.record(2, {.host = ":", .rank = 0, .slot = 1}, "b", ended(0), span_outcome::ok);
  recorder.record(3, {.host = "node2", .rank = 2, .slot = 1}, "c", ended(0), span_outcome::ok);
  EXPECT_EQ(recorder.snapshot().lanes,
            (std::vector<std::string>{"slot 1", "node2 rank 1 slot 1", "node2 rank 2 slot 1"}));
}

// --- the job log reader ------------------------------------------------------------------------

TEST(TimelineJobLog, EveryOutcomeAJobLogCanTell) {
  const timeline run =
      from_log(header + row("1", "100.000", "1.000") + row("2", "100.000", "1.000", "2") +
               row("3", "100.000", "1.000", "0", "9") + row("4", "100.000", "1.000", "-1", "15") +
               row("5", "100.000", "1.000", "1") + row("5", "101.000", "0.500"));
  EXPECT_EQ(span_of(run, 1).outcome, span_outcome::ok);
  EXPECT_EQ(span_of(run, 2).outcome, span_outcome::failed);
  EXPECT_EQ(span_of(run, 2).exit_status, 2);
  EXPECT_EQ(span_of(run, 3).outcome, span_outcome::crashed);
  EXPECT_EQ(span_of(run, 3).signal, 9);
  EXPECT_EQ(span_of(run, 4).outcome, span_outcome::timed_out);
  std::map<span_outcome, int> of_job_5;
  for (const auto& s : run.spans)
    if (s.first_item == 5) ++of_job_5[s.outcome];
  EXPECT_EQ(of_job_5, (std::map<span_outcome, int>{{span_outcome::ok, 1}, {span_outcome::retried, 1}}));
  EXPECT_EQ(run.lanes.size(), 5U); // five jobs at once at 100.000
  EXPECT_EQ(run.wall, 1500ms);
  EXPECT_EQ(run.summary.at(0), "jobs in the log: 6 (2 ok, 1 failed, 1 retried, 1 timed_out, 1 crashed)");
}

TEST(TimelineJobLog, TimesComeExactlyFromTheDecimalsAndCountFromTheFirstStart) {
  const timeline run =
      from_log(header + row("1", "1796308894.661", "     0.106") + row("2", "1796308894.666", "0.2"));
  EXPECT_EQ(span_of(run, 1).start, 0ns);
  EXPECT_EQ(span_of(run, 1).duration, 106ms);
  EXPECT_EQ(span_of(run, 2).start, 5ms);
  EXPECT_EQ(span_of(run, 2).duration, 200ms);
}

TEST(TimelineJobLog, StartTimesFarInTheFutureDoNotOverflow) {
  // Found by the fuzzer: Starttime 17963009863.864 s in microseconds, made nanoseconds for the
  // lanes, overflowed (UBSan: signed integer overflow). Starttime may go up to 10^12 s.
  const timeline run = from_log(header + row("1", "17963009863.864", "1") + row("2", "17963009864.364", "1"));
  EXPECT_EQ(run.lanes.size(), 2U);
  EXPECT_EQ(span_of(run, 2).start, 500ms);
  EXPECT_NE(span_of(run, 1).lane, span_of(run, 2).lane);
}

TEST(TimelineJobLog, ACommandsNulBytesAreItsNewlines) {
  const timeline run = from_log(header + row("1", "1.0", "1.0", "0", "0", std::string("echo a\0echo b", 13)));
  EXPECT_EQ(span_of(run, 1).label, "echo a\necho b");
}

TEST(TimelineJobLog, NotAJobLogIsRefusedNamingIt) {
  for (const std::string& text :
       std::vector<std::string>{"hello\n", "Seq\tHost\n1\t:\n", std::string("\0\0\0\n", 4), "{not json"}) {
    try {
      (void)from_log(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const parmill::cli::timeline_input_error& e) {
      EXPECT_NE(std::string(e.what()).find("'test.log' is not a job log"), std::string::npos) << e.what();
    }
  }
}

TEST(TimelineJobLog, AnEmptyLogOrAHeaderAloneHoldsNoJobs) {
  for (const std::string& text : {std::string(), header, header + header}) {
    const timeline run = from_log(text);
    EXPECT_TRUE(run.spans.empty());
    EXPECT_TRUE(run.lanes.empty());
    EXPECT_EQ(run.summary.at(0), "jobs in the log: 0 (none)");
  }
}

TEST(TimelineJobLog, MalformedLinesAreSkippedWithAWarningNamingTheLine) {
  const std::string huge(400, '9');
  std::vector<std::string> warnings;
  const timeline run = from_log(header + row("1", "10.0", "1.0") + "2\t:\t10.0\n" + // missing columns
                                    row("3", huge, "1.0") + row("4", "10.0", "-1.0") + row("0", "10", "1") +
                                    row("6", "10.0", "1e3") + row("7", "10.0", "1.0", "99999999999") +
                                    row("8", "10.0", huge) + std::string(5000, 'x') + "\n" +
                                    row("10", "10.0", "1.0") + "11\t:\t10.0\t1.0\t0\t0\t0\t0\tcut short",
                                &warnings);
  std::vector<std::uint64_t> drawn;
  for (const auto& s : run.spans)
    drawn.push_back(s.first_item);
  std::sort(drawn.begin(), drawn.end());
  EXPECT_EQ(drawn, (std::vector<std::uint64_t>{1, 10, 11})); // a last line without newline: read
  ASSERT_EQ(warnings.size(), 8U);
  EXPECT_EQ(warnings[0],
            "job log 'test.log' line 3: it has 3 columns, not 9 or more; that line is not drawn");
  EXPECT_NE(warnings[1].find("line 4: Starttime '999"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[2].find("line 5: JobRuntime '-1.0' is not"), std::string::npos) << warnings[2];
  EXPECT_NE(warnings[3].find("line 6: Seq '0' is not a positive integer"), std::string::npos) << warnings[3];
  EXPECT_NE(warnings[4].find("line 7: JobRuntime '1e3'"), std::string::npos) << warnings[4];
  EXPECT_NE(warnings[5].find("line 8: Exitval '99999999999' is not an integer"), std::string::npos);
  EXPECT_NE(warnings[6].find("line 9: JobRuntime '999"), std::string::npos) << warnings[6];
  EXPECT_NE(warnings[7].find("line 10: its first eight columns are longer than 4096 bytes"),
            std::string::npos)
      << warnings[7];
}

TEST(TimelineJobLog, ManyMalformedLinesGiveTenWarningsAndACount) {
  std::string text = header;
  for (int i = 0; i < 25; ++i)
    text += "garbage\n";
  std::vector<std::string> warnings;
  (void)from_log(text, &warnings);
  ASSERT_EQ(warnings.size(), 11U);
  EXPECT_EQ(warnings.back(), "job log 'test.log': 15 more malformed lines, not drawn");
}

TEST(TimelineJobLog, AnyBytesAfterTheHeaderNeverCrashAndNeverDrawMoreLanesThanJobs) {
  std::mt19937 random(18);
  const std::string pieces[] = {"\t", "\n", "1", "0", ".", "-", ":", "9999999999999", "\0", "\xff", " ", "x"};
  for (int round = 0; round < 2000; ++round) {
    std::string text = header;
    for (int n = random() % 80; n > 0; --n)
      text += pieces[random() % std::size(pieces)];
    const timeline run = from_log(text);
    EXPECT_LE(run.lanes.size(), run.spans.size());
    for (const auto& s : run.spans) {
      EXPECT_LT(s.lane, run.lanes.size());
      EXPECT_GE(s.start, 0ns);
      EXPECT_LE(s.start + s.duration, run.wall);
    }
  }
}

TEST(TimelineJobLog, JobsOnAnotherHostGetLanesOfTheirOwn) {
  const timeline run = from_log(header + "1\tnode2\t10.0\t1.0\t0\t0\t0\t0\ta\n" + row("2", "10.0", "1.0") +
                                row("3", "10.5", "1.0"));
  EXPECT_EQ(run.lanes, (std::vector<std::string>{"slot 1", "slot 2", "node2 slot 1"}));
}

TEST(TimelineJobLog, AtMostTheLimitOfBarsTheNewestSuccessfulOnesAndEveryFailure) {
  std::string text = header + row("1", "0", "0.001", "5");
  const std::size_t jobs = parmill::cli::max_timeline_spans + 50;
  for (std::size_t seq = 2; seq <= jobs; ++seq)
    text += row(std::to_string(seq), std::to_string(seq) + ".0", "0.5");
  const timeline run = from_log(text);
  ASSERT_EQ(run.spans.size(), parmill::cli::max_timeline_spans);
  EXPECT_EQ(span_of(run, 1).outcome, span_outcome::failed);
  EXPECT_EQ(span_of(run, jobs).outcome, span_outcome::ok);
  EXPECT_THROW((void)span_of(run, 2), std::runtime_error); // among the oldest successful ones
  EXPECT_NE(run.summary.at(1).find("not drawn: 50 of the oldest jobs"), std::string::npos)
      << run.summary.at(1);
}

// --- the command and the converter, run as users run them ---------------------------------------

namespace {

namespace fs = std::filesystem;
using parmill_test::ran;

ran run_parmill(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), PARMILL_BINARY);
  return parmill_test::run_program(std::move(args), input);
}

ran run_converter(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), PARMILL_TIMELINE_BINARY);
  return parmill_test::run_program(std::move(args), input);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// The page at `page` as headless Chromium shows it: its DOM once the page's script has drawn it.
std::string dom_of(const std::string& page, const scratch& s) {
  const auto browser =
      parmill_test::dump_dom(page, s.dir / "browser", {.deadline = std::chrono::seconds(60)});
  EXPECT_TRUE(browser.ok()) << "chromium: status " << browser.status << "\n" << browser.log.substr(0, 3000);
  EXPECT_EQ(parmill_test::element_attribute(browser.dom, "timeline", "data-rendered"), "true");
  return browser.dom;
}

/// The attribute `name` of the drawn timeline in `dom`.
std::string drawn(const std::string& dom, const std::string& name) {
  return parmill_test::element_attribute(dom, "timeline", name).value_or("(no " + name + ")");
}

/// The text of the `data-key="key"` cell of the summary's totals in `dom`.
std::string total(const std::string& dom, const std::string& key) {
  const std::size_t from = dom.find("id=\"totals\"");
  const std::string marker = "data-key=\"" + key + "\">";
  const std::size_t at = from == std::string::npos ? from : dom.find(marker, from);
  if (at == std::string::npos) return "(no " + key + ")";
  const std::size_t start = at + marker.size();
  return dom.substr(start, dom.find('<', start) - start);
}

/// Job log lines (after the header) of `log`, split into columns.
std::vector<std::vector<std::string>> log_rows(const std::string& log) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_file(log));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> columns;
    std::istringstream fields(line);
    for (std::string column; std::getline(fields, column, '\t');)
      columns.push_back(column);
    rows.push_back(columns);
  }
  return rows;
}

/// How many rows of a job log failed (Exitval or Signal not 0).
std::size_t failed_rows(const std::vector<std::vector<std::string>>& rows) {
  return static_cast<std::size_t>(std::count_if(
      rows.begin(), rows.end(), [](const auto& r) { return r.at(6) != "0" || r.at(7) != "0"; }));
}

bool gnu_parallel_installed() { return fs::exists("/usr/bin/parallel"); }

} // namespace

TEST(TimelineCommand, ThePageHasALanePerSlotABarPerJobEachFailureInItsColourAndTheRunsNumbers) {
  scratch s;
  // Four jobs that wait for each other (so that four slots are used), each ending its own way.
  const std::string wait_all =
      "n=0; touch " + s / "{}" + "; while [ $(ls " + s.dir.string() +
      " | grep -c '^[a-d]$') -lt 4 ] && [ $n -lt 500 ]; do n=$((n+1)); sleep 0.01; done; ";
  const ran r = run_parmill({"-j4", "--timeline", s / "page.html", "--joblog", s / "log", "--timeout", "5",
                             wait_all + "echo slot {%}; case {} in b) exit 3;; c) kill -9 $$;; esac",
                             ":::", "a", "b", "c", "d"});
  EXPECT_EQ(r.status, 2) << r.err;
  std::set<std::string> slots;
  for (const std::string& line : parmill_test::lines(r.out))
    slots.insert(line);
  const auto rows = log_rows(s / "log");
  ASSERT_EQ(rows.size(), 4U);
  const std::string dom = dom_of(s / "page.html", s);
  EXPECT_EQ(drawn(dom, "data-lanes"), std::to_string(slots.size()));
  EXPECT_EQ(parmill_test::count_of(dom, "class=\"lane-name\""), slots.size());
  EXPECT_EQ(drawn(dom, "data-bars-drawn"), "4");
  EXPECT_EQ(drawn(dom, "data-drawn-ok"), "2");
  EXPECT_EQ(drawn(dom, "data-drawn-failed"), "1");
  EXPECT_EQ(drawn(dom, "data-drawn-crashed"), "1");
  const std::size_t legend = dom.find("data-outcome=\"failed\" data-color=\"");
  ASSERT_NE(legend, std::string::npos);
  const std::string failed_colour = dom.substr(legend + 34, 7);
  EXPECT_NE(drawn(dom, "data-drawn-colors").find("&quot;" + failed_colour + "&quot;:1"), std::string::npos)
      << drawn(dom, "data-drawn-colors");
  EXPECT_EQ(total(dom, "spans"), std::to_string(rows.size()));
  EXPECT_EQ(total(dom, "failed-spans"), std::to_string(failed_rows(rows)));
  EXPECT_EQ(total(dom, "lanes"), std::to_string(slots.size()));
  EXPECT_NE(dom.find("job attempts: 4 (2 ok, 1 failed, 1 crashed)"), std::string::npos);
}

TEST(TimelineCommand, EachAttemptOfARetriedJobAndATimeoutAreBarsOfTheirOwn) {
  scratch s;
  const std::string count = s / "attempts";
  // Job a fails twice, then succeeds; job b fails twice, then times out on its third attempt. The
  // limit leaves every attempt that is not meant to time out the time to start a shell on a loaded
  // machine; only b's last attempt waits it out.
  const ran r =
      run_parmill({"-j1", "--retries", "3", "--timeout", "3", "--timeline", s / "page.html",
                   "echo x >> " + count + "; case {} in a) [ $(wc -l < " + count +
                       ") -ge 3 ];; b) [ $(wc -l < " + count + ") -ge 6 ] && exec sleep 60; exit 1;; esac",
                   ":::", "a", "b"});
  EXPECT_EQ(r.status, 1) << r.err;
  const std::string dom = dom_of(s / "page.html", s);
  EXPECT_EQ(drawn(dom, "data-drawn-retried"), "4");
  EXPECT_EQ(drawn(dom, "data-drawn-ok"), "1");
  EXPECT_EQ(drawn(dom, "data-drawn-timed_out"), "1");
  EXPECT_EQ(drawn(dom, "data-lanes"), "1");
}

TEST(TimelineCommand, AJobThatHaltNowKillsIsDrawnAsCancelled) {
  scratch s;
  const std::string started = s / "started";
  // Job b runs until killed (at most 20 s); job a fails once b has started, and --halt now kills b.
  const ran r =
      run_parmill({"-j2", "--halt", "now,fail=1", "--timeline", s / "page.html",
                   "n=0; case {} in a) while [ ! -e " + started +
                       " ] && [ $n -lt 2000 ]; do n=$((n+1)); sleep 0.01; done; exit 1;; b) touch " +
                       started + "; while [ $n -lt 2000 ]; do n=$((n+1)); sleep 0.01; done;; esac",
                   ":::", "a", "b"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(read_file(s / "page.html").find("job attempts: 2 (1 failed, 1 cancelled)"), std::string::npos)
      << r.err;
}

TEST(TimelineCommand, APageThatCannotBeWrittenStopsTheRunBeforeAnyJob) {
  scratch s;
  fs::create_directory(s / "dir");
  for (const std::string& page : {s / "missing/page.html", s / "dir", std::string()}) {
    SCOPED_TRACE(page);
    const ran r = run_parmill({"--timeline", page, "touch", s / "ran", ":::", "1"});
    EXPECT_EQ(r.status, 255);
    EXPECT_NE(r.err.find("parmill: Error: --timeline: "), std::string::npos) << r.err;
    if (!page.empty()) {
      EXPECT_NE(r.err.find("'" + page + "'"), std::string::npos) << r.err;
    }
    EXPECT_FALSE(fs::exists(s / "ran"));
  }
}

TEST(TimelineCommand, ThePageIsRewrittenWhileJobsRunAndNeverSeenHalfWritten) {
  scratch s;
  const std::string page = s / "page.html", release = s / "release";
  parmill_test::background parmill{
      parmill_test::start_program({PARMILL_BINARY, "-j2", "--timeline", page,
                                   "[ {} = fast ] && exit 0; n=0; while [ ! -e " + release +
                                       " ] && [ $n -lt 2000 ]; do n=$((n+1)); sleep 0.01; done",
                                   ":::", "fast", "slow"})};
  ASSERT_GT(parmill.pid, 0);
  // The first page (written before any job) has no bar; a later one has the fast job's.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  bool rewritten = false;
  std::size_t reads = 0;
  while (!rewritten && std::chrono::steady_clock::now() < deadline) {
    const std::string html = read_file(page);
    if (!html.empty()) {
      ++reads;
      ASSERT_NE(html.find("</html>"), std::string::npos) << "a page seen half written";
      rewritten = html.find("[ fast = fast ]") != std::string::npos; // the fast job's bar (not the title)
      ASSERT_NE(html.find(parmill::cli::still_running_line), std::string::npos);
    }
    ::poll(nullptr, 0, 20); // the page changes in its own time: look again
  }
  EXPECT_TRUE(rewritten) << "after " << reads << " reads";
  EXPECT_TRUE(parmill_test::process_running(parmill.pid)) << "the slow job was still running";
  std::ofstream(release).put('\n');
  EXPECT_EQ(parmill.wait(), 0);
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(s.dir))
    left.push_back(entry.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"page.html", "release"})) << "no temporary file is left";
  EXPECT_NE(read_file(page).find("job attempts: 2 (2 ok)"), std::string::npos);
  EXPECT_EQ(read_file(page).find(parmill::cli::still_running_line), std::string::npos);
}

TEST(TimelineCommand, HelpNamesTheOptionAndTheConverter) {
  const ran r = run_parmill({"--help"});
  EXPECT_NE(r.out.find("--timeline FILE.html"), std::string::npos);
  EXPECT_NE(r.out.find("The program parmill-timeline draws the same page from any job log"),
            std::string::npos);
}

TEST(TimelineConverter, GnuParallelsOwnJobLogGetsExactlyAsManyLanesAsJobsRanAtOnce) {
  if (!gnu_parallel_installed()) GTEST_SKIP() << "GNU parallel (/usr/bin/parallel) is not installed";
  scratch s;
  // -j3, six jobs of 0.3 s: three at a time, twice (unless the machine is slow to start them); job
  // 5 fails.
  const ran gnu =
      parmill_test::run_program({"/usr/bin/parallel", "--will-cite", "-j3", "--joblog", s / "gnu.log",
                                 "sleep 0.3; [ {} != 5 ]", ":::", "1", "2", "3", "4", "5", "6"},
                                "");
  ASSERT_EQ(gnu.status, 1) << gnu.err;
  const auto rows = log_rows(s / "gnu.log");
  ASSERT_EQ(rows.size(), 6U);
  // How many ran at once, by the log's own times (to its millisecond resolution): jobs that met
  // within a millisecond did not overlap.
  std::vector<lane_interval> jobs;
  for (const auto& columns : rows) {
    const auto ms = [](const std::string& seconds) {
      return std::chrono::milliseconds(std::llround(std::stod(seconds) * 1000));
    };
    jobs.push_back({ms(columns.at(2)), ms(columns.at(3)) - parmill::cli::job_log_resolution});
  }
  const std::size_t at_once = most_at_once(jobs);
  EXPECT_GE(at_once, 1U);
  EXPECT_LE(at_once, 3U);
  const ran r = run_converter({s / "gnu.log", "-o", s / "page.html"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string dom = dom_of(s / "page.html", s);
  EXPECT_EQ(drawn(dom, "data-lanes"), std::to_string(at_once));
  EXPECT_EQ(drawn(dom, "data-bars-drawn"), "6");
  EXPECT_EQ(drawn(dom, "data-drawn-failed"), "1");
  EXPECT_EQ(total(dom, "spans"), "6");
  EXPECT_EQ(total(dom, "failed-spans"), std::to_string(failed_rows(rows)));
}

TEST(TimelineConverter, ParmillsJobLogFromStandardInputAndATraceFile) {
  scratch s;
  const ran run = run_parmill({"-j2", "--joblog", s / "log", "exit {}", ":::", "0", "0", "4"});
  ASSERT_EQ(run.status, 1);
  ran r = run_converter({"-", "-o", s / "log.html", "--title", "from stdin"}, read_file(s / "log"));
  ASSERT_EQ(r.status, 0) << r.err;
  std::string html = read_file(s / "log.html");
  EXPECT_NE(html.find("from stdin"), std::string::npos);
  EXPECT_NE(html.find("jobs in the log: 3 (2 ok, 1 failed)"), std::string::npos);
  {
    std::ofstream trace(s / "run.json", std::ios::binary);
    parmill::write_chrome_trace(trace, parmill_test::sample_timeline());
  }
  r = run_converter({"-o", s / "trace.html", s / "run.json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(read_file(s / "trace.html").find("sample run"), std::string::npos);
}

TEST(TimelineConverter, HelpVersionAndEveryBadInvocationSayWhatIsWrong) {
  scratch s;
  const ran help = run_converter({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("parmill-timeline [--title TEXT] INPUT... -o PAGE.html"), std::string::npos);
  const ran version = run_converter({"--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("parmill-timeline ", 0), 0U) << version.out;
  std::ofstream(s / "not-a-log") << "hello\n";
  std::ofstream(s / "bad.json") << "{\"traceEvents\": [";
  std::ofstream(s / "log") << header;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{}, "no input"},
      {{s / "log"}, "no page to write: give -o PAGE.html"},
      {{s / "log", "-o"}, "-o needs a value"},
      {{"--frobnicate", s / "log", "-o", s / "p.html"}, "unknown option '--frobnicate'"},
      {{s / "missing", "-o", s / "p.html"}, "cannot read '" + s / "missing" + "': No such file or directory"},
      {{s / "not-a-log", "-o", s / "p.html"}, "'" + s / "not-a-log" + "' is not a job log"},
      {{s / "bad.json", "-o", s / "p.html"}, "'" + s / "bad.json" + "': "},
      {{s / "log", s / "bad.json", "-o", s / "p.html"}, "give one trace alone, or one or more job logs"},
      {{s / "log", "-o", s / "missing/p.html"}, "cannot write '" + s / "missing/p.html" + "'"},
  };
  for (const auto& [args, message] : cases) {
    const ran r = run_converter(args);
    EXPECT_EQ(r.status, 255) << message;
    EXPECT_EQ(r.err.rfind("parmill-timeline: Error: ", 0), 0U) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(s / "p.html"));
}

TEST(TimelineConverter, AHostileJobLogIsDrawnWithAWarningPerBadLine) {
  scratch s;
  std::ofstream(s / "log", std::ios::binary)
      << header << row("1", "10.0", "1.0") << std::string("\xff\x00\t\t\n", 5)
      << "3\t:\t10\t1\t0\t0\t0\t0\tcut";
  const ran r = run_converter({s / "log", "-o", s / "page.html"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "parmill-timeline: Warning: job log '" + s / "log" +
                       "' line 3: it has 3 columns, not 9 or more; that line is not drawn\n");
  EXPECT_NE(read_file(s / "page.html").find("jobs in the log: 2 (2 ok)"), std::string::npos);
}

#ifdef PARMILL_MPIEXEC
TEST(TimelineCommand, UnderMpiEachRanksSlotsAreLanesOfTheirOwnEvenOnOneMachine) {
  scratch s;
  // Two worker ranks on this machine, one slot each: each rank's slot 1 is a lane of its own.
  const ran r = parmill_test::run_program(
      {PARMILL_MPIEXEC, "-np", "3", PARMILL_BINARY, "-j1", "--timeline", s / "page.html",
       "sleep 0.2; echo $OMPI_COMM_WORLD_RANK {%}", ":::", "1", "2", "3", "4", "5", "6"},
      "",
      {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OMPI_MCA_rmaps_base_oversubscribe=1",
       "OMPI_MCA_btl=self,vader", "OMPI_MCA_oob_tcp_if_include=lo",
       "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"},
      std::chrono::steady_clock::now() + std::chrono::seconds(40));
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<std::string> lanes; // "RANK SLOT" of each job
  for (const std::string& line : parmill_test::lines(r.out))
    lanes.insert(line);
  ASSERT_FALSE(lanes.empty());
  const std::string html = read_file(s / "page.html");
  for (const std::string& lane : lanes) {
    const std::string rank = lane.substr(0, lane.find(' ')), slot = lane.substr(lane.find(' ') + 1);
    EXPECT_NE(html.find(" rank " + rank + " slot " + slot), std::string::npos) << "no lane for rank " << rank;
  }
  EXPECT_EQ(html.find("rank 0 slot"), std::string::npos) << "rank 0 runs no job";
}
#endif
