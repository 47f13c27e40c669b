// The Chrome Trace Event form of a timeline: the round trip is exact for any bytes, the file is
// valid JSON that carries the trace format's required fields, and anything else is refused with
// the byte offset of the problem.
#include <gtest/gtest.h>

#include <parmill/timeline.hpp>

#include <cstdint>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

#include "helpers/timeline_samples.hpp"

using namespace std::chrono_literals;

namespace {

std::string trace_text(const parmill::timeline& run) {
  std::ostringstream out;
  parmill::write_chrome_trace(out, run);
  return out.str();
}

parmill::timeline read_back(const std::string& text) {
  std::istringstream in(text);
  return parmill::read_chrome_trace(in);
}

void expect_same(const parmill::timeline& a, const parmill::timeline& b) {
  EXPECT_EQ(a.title, b.title);
  EXPECT_EQ(a.lanes, b.lanes);
  EXPECT_EQ(a.wall, b.wall);
  EXPECT_EQ(a.summary, b.summary);
  ASSERT_EQ(a.spans.size(), b.spans.size());
  for (std::size_t i = 0; i < a.spans.size(); ++i) {
    SCOPED_TRACE("span " + std::to_string(i));
    const auto &x = a.spans[i], &y = b.spans[i];
    EXPECT_EQ(x.lane, y.lane);
    EXPECT_EQ(x.start, y.start);
    EXPECT_EQ(x.duration, y.duration);
    EXPECT_EQ(x.outcome, y.outcome);
    EXPECT_EQ(x.first_item, y.first_item);
    EXPECT_EQ(x.items, y.items);
    EXPECT_EQ(x.label, y.label);
    EXPECT_EQ(x.stage, y.stage);
    EXPECT_EQ(x.exit_status, y.exit_status);
    EXPECT_EQ(x.signal, y.signal);
  }
}

TEST(TimelineJson, RoundTripIsExactForEveryOutcomeAndExtremeNumbers) {
  parmill::timeline run = parmill_test::sample_timeline();
  run.spans.push_back({.lane = 1,
                       .start = std::chrono::nanoseconds{INT64_MAX - 5},
                       .duration = 5ns,
                       .first_item = UINT64_MAX,
                       .items = UINT64_MAX,
                       .exit_status = -2147483647 - 1,
                       .signal = 2147483647});
  run.spans.push_back({.lane = 0, .start = std::chrono::nanoseconds{INT64_MIN}, .duration = -1ns});
  expect_same(run, read_back(trace_text(run)));
}

TEST(TimelineJson, RoundTripIsExactForHostileBytes) {
  const std::string hostile = parmill_test::hostile_bytes();
  parmill::timeline run{.title = hostile,
                        .lanes = {hostile, "", "lane\"2"},
                        .wall = 10ms,
                        .summary = {hostile, "", "</script><script>alert(1)</script>"}};
  run.spans.push_back({.lane = 0, .label = hostile, .stage = hostile});
  run.spans.push_back(
      {.lane = 2, .label = std::string("\0\x01\x7f\xff", 4), .stage = "\xe2\x80\xa8\xe2\x80\xa9"});
  // Every single byte value, alone and after a lead byte that expects continuations.
  std::mt19937 random(18);
  for (int byte = 0; byte < 256; ++byte) {
    std::string label(1, static_cast<char>(byte));
    label += "\xf0\x9f";
    label += static_cast<char>(byte);
    label += static_cast<char>(random());
    run.spans.push_back({.lane = 1, .start = std::chrono::nanoseconds{byte}, .label = label});
  }
  const std::string text = trace_text(run);
  EXPECT_TRUE(parmill_test::is_valid_utf8(text)) << "the trace is not UTF-8";
  expect_same(run, read_back(text));
}

TEST(TimelineJson, InvalidUtf8IsWrittenAsLatin1EscapesAndValidUtf8AsItIs) {
  parmill::timeline run{.lanes = {"w"}};
  run.spans.push_back({.label = "caf\xc3\xa9 \xe9\xff \xed\xa0\x80"});
  const std::string text = trace_text(run);
  EXPECT_NE(text.find("\"label\":\"caf\xc3\xa9 \\u00e9\\u00ff \\u00ed\\u00a0\\u0080\""), std::string::npos)
      << text;
}

TEST(TimelineJson, EveryEventCarriesTheTraceFormatsRequiredFields) {
  const std::string text = trace_text(parmill_test::sample_timeline());
  const parmill_test::json_value root = parmill_test::parse_json(text); // a strict JSON parser
  ASSERT_TRUE(root.is_object());
  const auto& events = root.at("traceEvents");
  ASSERT_TRUE(events.is_array());
  std::size_t complete = 0, thread_names = 0;
  for (const auto& event : events.array) {
    ASSERT_TRUE(event.is_object());
    for (const char* field : {"ph", "pid", "tid", "name"})
      EXPECT_TRUE(event.has(field)) << "an event without " << field;
    EXPECT_TRUE(event.at("pid").is_number());
    EXPECT_TRUE(event.at("tid").is_number());
    EXPECT_TRUE(event.at("name").is_string());
    const std::string ph = event.at("ph").text;
    ASSERT_TRUE(ph == "X" || ph == "M") << ph;
    if (ph == "X") {
      ++complete;
      EXPECT_TRUE(event.at("ts").is_number());
      EXPECT_TRUE(event.at("dur").is_number());
      EXPECT_TRUE(event.at("cat").is_string());
      EXPECT_TRUE(event.at("args").is_object());
    } else {
      const auto& args = event.at("args");
      EXPECT_TRUE((args.has("name") && args.at("name").is_string()) || args.has("sort_index"));
      thread_names += event.at("name").text == "thread_name";
    }
  }
  EXPECT_EQ(complete, parmill_test::sample_timeline().spans.size());
  EXPECT_EQ(thread_names, parmill_test::sample_timeline().lanes.size());
  EXPECT_EQ(root.at("displayTimeUnit").text, "ms");
}

TEST(TimelineJson, TimesAreMicrosecondsWithNanosecondDecimals) {
  parmill::timeline run{.lanes = {"w"}};
  run.spans.push_back({.start = 1'234'567ns, .duration = 5ns});
  const std::string text = trace_text(run);
  EXPECT_NE(text.find("\"ts\":1234.567,\"dur\":0.005"), std::string::npos) << text;
}

TEST(TimelineJson, ASpanOnAMissingLaneIsRefusedByTheWriter) {
  parmill::timeline run{.lanes = {"w"}};
  run.spans.push_back({.lane = 1});
  std::ostringstream out;
  EXPECT_THROW(parmill::write_chrome_trace(out, run), std::invalid_argument);
}

void expect_refused_at(const std::string& text, std::size_t offset, const std::string& what) {
  try {
    (void)read_back(text);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("at byte " + std::to_string(offset) + ":"), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
}

TEST(TimelineJson, AnythingElseIsRefusedNamingTheByteOffset) {
  expect_refused_at("", 0, "unexpected end");
  expect_refused_at("[]", 0, "expected '{'");
  expect_refused_at("{\"traceEvents\":[]}", 0, "not a parmill trace");
  expect_refused_at("{\"parmill_trace\":2,\"traceEvents\":[]}", 1, "another version");
  expect_refused_at("{\"parmill_trace\":1,\"traceEvents\":[]} x", 37, "after the trace");
  expect_refused_at("{\"parmill_trace\":1,\"title\":\"a\xff\",\"traceEvents\":[]}", 29, "not UTF-8");
  expect_refused_at("{\"parmill_trace\":1,\"traceEvents\":[{\"ph\":\"B\"}]}", 34, "neither");
  expect_refused_at("{\"parmill_trace\":1,\"traceEvents\":[{\"ph\":\"X\",\"tid\":0}]}", 34, "without");
  expect_refused_at("{\"parmill_trace\":1,\"traceEvents\":[{\"ph\":\"X\",\"tid\":0,\"ts\":1.0001}]}", 57,
                    "three decimals");
  expect_refused_at("{\"parmill_trace\":1,\"traceEvents\":[{\"ph\":\"X\",\"tid\":-1}]}", 50,
                    "integer in range");
  expect_refused_at("{\"parmill_trace\":1,\"x\":\"\\ud800\",\"traceEvents\":[]}", 24, "lone high surrogate");
  expect_refused_at("{\"parmill_trace\":1,\"x\":" + std::string(100, '[') + std::string(100, ']') + "}", 88,
                    "nested too deep");
  // A span on a lane that has no name.
  parmill::timeline run{.lanes = {"w"}};
  run.spans.push_back({});
  std::string text = trace_text(run);
  const std::size_t span_at = text.find("{\"ph\":\"X\"");
  text.replace(text.find("\"tid\":0,\"ts\""), 7, "\"tid\":7");
  expect_refused_at(text, span_at, "no thread_name");
}

TEST(TimelineJson, TruncatedTracesAreRefusedAtEveryLength) {
  const std::string text = trace_text(parmill_test::sample_timeline());
  const std::size_t complete = text.find_last_of('}') + 1;
  for (std::size_t length = 0; length < complete; ++length) {
    std::istringstream in(text.substr(0, length));
    EXPECT_THROW((void)parmill::read_chrome_trace(in), std::runtime_error) << "length " << length;
  }
}

} // namespace
