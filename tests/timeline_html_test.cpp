// The timeline page as a person sees it: opened in headless Chromium, its DOM after the script
// ran says how many lanes and bars were drawn, in which colours, and what the summary says.
#include <gtest/gtest.h>

#include <parmill/timeline.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "helpers/headless_browser.hpp"
#include "helpers/timeline_samples.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A scratch directory for one test, removed at its end.
class TimelineHtml : public ::testing::Test {
protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "parmill-timeline-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    dir_ = name;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write_page(const parmill::timeline& run, const std::string& name = "run.html") {
    const fs::path page = dir_ / name;
    std::ofstream out(page, std::ios::binary);
    parmill::write_timeline_html(out, run);
    return page;
  }
  parmill_test::browser_run open(const fs::path& page) {
    auto run = parmill_test::dump_dom(page, dir_ / "browser");
    EXPECT_TRUE(run.ok()) << "chromium: status " << run.status << (run.timed_out ? " (timed out)" : "")
                          << "\n"
                          << run.log.substr(0, 4000);
    return run;
  }
  std::string attribute(const std::string& dom, const std::string& name) {
    return parmill_test::element_attribute(dom, "timeline", name).value_or("(missing)");
  }

  fs::path dir_;
};

/// The text of the `data-key="key"` cell that follows `anchor` in `dom`.
std::string cell_after(const std::string& dom, const std::string& anchor, const std::string& key) {
  const std::size_t from = dom.find(anchor);
  if (from == std::string::npos) return "(no " + anchor + ")";
  const std::string marker = "data-key=\"" + key + "\">";
  const std::size_t at = dom.find(marker, from);
  if (at == std::string::npos) return "(no " + key + ")";
  const std::size_t start = at + marker.size();
  return dom.substr(start, dom.find('<', start) - start);
}

TEST_F(TimelineHtml, ShowsOneLanePerWorkerOneBarPerSpanAndEachOutcomeInItsColour) {
  const parmill::timeline run = parmill_test::sample_timeline();
  const auto browser = open(write_page(run));
  const std::string& dom = browser.dom;
  ASSERT_EQ(attribute(dom, "data-rendered"), "true") << dom.substr(0, 3000);
  EXPECT_EQ(parmill_test::count_of(dom, "class=\"lane-name\""), run.lanes.size());
  EXPECT_EQ(attribute(dom, "data-lanes"), "3");
  EXPECT_EQ(attribute(dom, "data-bars-drawn"), std::to_string(run.spans.size()));
  for (const auto outcome :
       {parmill::span_outcome::ok, parmill::span_outcome::failed, parmill::span_outcome::retried,
        parmill::span_outcome::timed_out, parmill::span_outcome::crashed, parmill::span_outcome::cancelled}) {
    SCOPED_TRACE(std::string(parmill::to_string(outcome)));
    std::size_t expected = 0;
    for (const auto& span : run.spans)
      expected += span.outcome == outcome;
    EXPECT_EQ(attribute(dom, "data-drawn-" + std::string(parmill::to_string(outcome))),
              std::to_string(expected));
  }
  // The failed bar was drawn in the colour the legend gives "failed".
  const std::size_t legend = dom.find("data-outcome=\"failed\" data-color=\"");
  ASSERT_NE(legend, std::string::npos);
  const std::string color = dom.substr(legend + 34, 7);
  EXPECT_NE(attribute(dom, "data-drawn-colors").find("&quot;" + color + "&quot;:1"), std::string::npos)
      << attribute(dom, "data-drawn-colors") << " has no bar in " << color;
  std::cout << "[          ] chromium took " << browser.elapsed.count() << " ms; the page rendered at "
            << attribute(dom, "data-render-ms") << " ms\n";
}

TEST_F(TimelineHtml, TheSummarySaysWhatTheRunDid) {
  const parmill::timeline run = parmill_test::sample_timeline();
  const std::string dom = open(write_page(run)).dom;
  EXPECT_EQ(cell_after(dom, "id=\"totals\"", "spans"), "7");
  EXPECT_EQ(cell_after(dom, "id=\"totals\"", "items"), "106");
  EXPECT_EQ(cell_after(dom, "id=\"totals\"", "failed-spans"), "3");
  EXPECT_EQ(cell_after(dom, "id=\"totals\"", "lanes"), "3");
  EXPECT_NE(dom.find("data-ns=\"100000000\" data-key=\"wall\""), std::string::npos);
  EXPECT_EQ(cell_after(dom, "<tr data-outcome=\"ok\"", "items"), "101");
  EXPECT_EQ(cell_after(dom, "<tr data-outcome=\"failed\"", "spans"), "1");
  // worker 0: 10 ms + 40 ms of 100 ms; worker 2: 33 ms.
  EXPECT_EQ(cell_after(dom, "<tr data-lane=\"0\"", "utilisation"), "50.0 %");
  EXPECT_EQ(cell_after(dom, "<tr data-lane=\"2\"", "utilisation"), "33.0 %");
  EXPECT_NE(dom.find("stage load: 9 items, 1 failed"), std::string::npos);
  // The longest span first in its table, and every span counted once in the histogram.
  const std::size_t longest = dom.find("id=\"longest\"");
  EXPECT_LT(dom.find("data-ns=\"40000000\"", longest), dom.find("data-ns=\"39000000\"", longest));
  std::size_t counted = 0;
  const std::size_t histogram = dom.find("id=\"histogram\"");
  for (std::size_t at = dom.find("data-key=\"count\">", histogram); at != std::string::npos;
       at = dom.find("data-key=\"count\">", at + 1))
    counted += std::stoul(dom.substr(at + 17));
  EXPECT_EQ(counted, run.spans.size());
}

TEST_F(TimelineHtml, HostileBytesStayText) {
  const std::string hostile = parmill_test::hostile_bytes();
  parmill::timeline run{
      .title = hostile, .lanes = {hostile, "<b>bold</b>"}, .wall = 1ms, .summary = {hostile}};
  run.spans.push_back({.lane = 0, .duration = 1us, .label = hostile, .stage = hostile});
  run.spans.push_back(
      {.lane = 1, .start = 2us, .duration = 1us, .label = "</script><script>document.title='x'</script>"});
  const fs::path page = write_page(run);
  std::ifstream in(page, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(parmill_test::is_valid_utf8(text.str()));
  EXPECT_EQ(parmill_test::count_of(text.str(), "</script>"), 2u) << "only the page's own two scripts end";
  const std::string dom = open(page).dom;
  EXPECT_EQ(attribute(dom, "data-rendered"), "true") << "the script ran despite the data";
  EXPECT_EQ(attribute(dom, "data-bars-drawn"), "2");
  EXPECT_EQ(parmill_test::count_of(dom, "<b>"), 0u);
  EXPECT_EQ(parmill_test::count_of(dom, "class=\"lane-name\""), 2u);
}

TEST_F(TimelineHtml, AnEmptyRunIsAPageToo) {
  const std::string dom = open(write_page(parmill::timeline{})).dom;
  EXPECT_EQ(attribute(dom, "data-rendered"), "true");
  EXPECT_EQ(attribute(dom, "data-bars-drawn"), "0");
}

TEST_F(TimelineHtml, AHundredThousandSpansMakeAPageUnderTenMegabytesThatRenders) {
  parmill::timeline run{.title = "100000 jobs", .wall = 0ns};
  constexpr std::size_t lanes = 32, spans = 100'000;
  for (std::size_t lane = 0; lane < lanes; ++lane)
    run.lanes.push_back("slot " + std::to_string(lane + 1));
  std::vector<std::chrono::nanoseconds> lane_end(lanes);
  for (std::size_t i = 0; i < spans; ++i) {
    const std::size_t lane = i % lanes;
    const auto duration = std::chrono::microseconds(200 + (i * 7919) % 5000);
    const auto outcome = i % 97 == 0 ? parmill::span_outcome::failed : parmill::span_outcome::ok;
    run.spans.push_back({.lane = lane,
                         .start = lane_end[lane],
                         .duration = duration,
                         .outcome = outcome,
                         .first_item = i,
                         .label = "process_file input/file_" + std::to_string(i) + ".dat",
                         .exit_status = outcome == parmill::span_outcome::ok ? 0 : 1});
    lane_end[lane] += duration + 10us;
    run.wall = std::max(run.wall, lane_end[lane]);
  }
  const fs::path page = write_page(run);
  const auto size = fs::file_size(page);
  EXPECT_LT(size, 10u * 1000 * 1000);
  const auto browser = open(page);
  EXPECT_EQ(attribute(browser.dom, "data-bars-drawn"), std::to_string(spans));
  EXPECT_EQ(parmill_test::count_of(browser.dom, "class=\"lane-name\""), lanes);
  std::cout << "[          ] 100000 spans: page " << size << " bytes; chromium took "
            << browser.elapsed.count() << " ms in all; the first frame was drawn "
            << attribute(browser.dom, "data-render-ms") << " ms after navigation began\n";
}

TEST_F(TimelineHtml, WritesThePageOfATraceFileAndNamesTheFileOnError) {
  const fs::path trace = dir_ / "run.json", html = dir_ / "run.html";
  {
    std::ofstream out(trace, std::ios::binary);
    parmill::write_chrome_trace(out, parmill_test::sample_timeline());
  }
  parmill::write_timeline_html(trace, html);
  EXPECT_TRUE(fs::exists(html));
  EXPECT_FALSE(fs::exists(dir_ / "run.html.tmp"));
  const std::string dom = open(html).dom;
  EXPECT_EQ(attribute(dom, "data-bars-drawn"), "7");
  {
    std::ofstream out(trace, std::ios::binary | std::ios::trunc);
    out << "{\"parmill_trace\":1,";
  }
  try {
    parmill::write_timeline_html(trace, html);
    FAIL() << "accepted a truncated trace";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(trace.string()), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("at byte 19"), std::string::npos) << error.what();
  }
  EXPECT_THROW(parmill::write_timeline_html(dir_ / "missing.json", html), std::runtime_error);
}

} // namespace
