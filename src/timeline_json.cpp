// The Chrome Trace Event JSON form of a timeline: writing it, and reading back what was written.
//
// The file is one JSON object:
//   {"parmill_trace":1,"title":"...","wall_ns":N,"summary":["..."],
//    "traceEvents":[ metadata events, then one complete event per span ],
//    "displayTimeUnit":"ms"}
// - {"ph":"M","name":"process_name","pid":1,"tid":0,"args":{"name":title}}
// - {"ph":"M","name":"thread_name","pid":1,"tid":L,"args":{"name":lane name}}, one per lane
// - {"ph":"M","name":"thread_sort_index","pid":1,"tid":L,"args":{"sort_index":L}}, one per lane
// - {"ph":"X","name":"...","cat":outcome,"pid":1,"tid":lane,"ts":µs,"dur":µs,
//    "args":{"first_item":N,"items":N,"label":"...","stage":"...","exit_status":N,"signal":N}}
// ts and dur are microseconds written with exactly three decimals, so nanoseconds survive.
#include <charconv>
#include <cstdint>
#include <istream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "parmill/timeline.hpp"
#include "timeline_text.hpp"

namespace parmill {
namespace {

using timeline_text::write_json_string;

constexpr int trace_version = 1;

/// Writes nanoseconds as microseconds with three decimals ("-12.345").
void write_microseconds(std::ostream& out, std::chrono::nanoseconds time) {
  const std::int64_t ns = time.count();
  // The magnitude as unsigned, so that the most negative value has one too.
  const std::uint64_t magnitude =
      ns < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(ns) : static_cast<std::uint64_t>(ns);
  if (ns < 0) out.put('-');
  const std::uint64_t fraction = magnitude % 1000;
  out << magnitude / 1000 << '.' << static_cast<char>('0' + fraction / 100)
      << static_cast<char>('0' + fraction / 10 % 10) << static_cast<char>('0' + fraction % 10);
}

/// What a trace viewer shows on a bar: the label, or the stage and the item(s).
std::string display_name(const timeline_span& span) {
  if (!span.label.empty()) return span.label;
  std::string name = span.stage.empty() ? std::string{} : span.stage + ": ";
  if (span.items == 1) return name + "item " + std::to_string(span.first_item);
  return name + "items " + std::to_string(span.first_item) + ".." +
         std::to_string(span.first_item + span.items - 1);
}

void write_metadata(std::ostream& out, std::string_view kind, std::size_t tid, std::string_view arg_name,
                    const auto& write_arg) {
  out << "{\"ph\":\"M\",\"name\":\"" << kind << "\",\"pid\":1,\"tid\":" << tid << ",\"args\":{\"" << arg_name
      << "\":";
  write_arg();
  out << "}}";
}

void write_span(std::ostream& out, const timeline_span& span) {
  out << "{\"ph\":\"X\",\"name\":";
  write_json_string(out, display_name(span));
  out << ",\"cat\":\"" << to_string(span.outcome) << "\",\"pid\":1,\"tid\":" << span.lane << ",\"ts\":";
  write_microseconds(out, span.start);
  out << ",\"dur\":";
  write_microseconds(out, span.duration);
  out << ",\"args\":{\"first_item\":" << span.first_item << ",\"items\":" << span.items << ",\"label\":";
  write_json_string(out, span.label);
  out << ",\"stage\":";
  write_json_string(out, span.stage);
  out << ",\"exit_status\":" << span.exit_status << ",\"signal\":" << span.signal << "}}";
}

// ---- reading ----------------------------------------------------------------------------------

/// A cursor over the bytes of a trace that reads JSON values and throws, naming the byte offset,
/// at the first thing it does not expect.
class json_reader {
public:
  explicit json_reader(std::string_view text) noexcept : text_(text) {}

  [[noreturn]] void fail(std::size_t at, std::string_view what) const {
    throw std::runtime_error("parmill trace: at byte " + std::to_string(at) + ": " + std::string(what));
  }
  [[nodiscard]] std::size_t offset() const noexcept { return at_; }

  void skip_space() noexcept {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t'))
      ++at_;
  }
  [[nodiscard]] char peek() {
    skip_space();
    return at_ < text_.size() ? text_[at_] : '\0';
  }
  void expect(char wanted) {
    if (peek() != wanted || at_ >= text_.size())
      fail(at_, at_ >= text_.size() ? std::string("unexpected end, expected '") + wanted + "'"
                                    : std::string("expected '") + wanted + "'");
    ++at_;
  }
  void expect_end() {
    skip_space();
    if (at_ != text_.size()) fail(at_, "unexpected bytes after the trace");
  }

  /// Calls `member(key, key_offset)` for each member of the object that starts here; `member`
  /// must read the member's value.
  template <class Member>
  void read_object(Member&& member) {
    expect('{');
    if (peek() == '}') {
      ++at_;
      return;
    }
    for (;;) {
      const std::size_t key_at = (skip_space(), at_);
      const std::string key = read_string();
      expect(':');
      member(key, key_at);
      if (peek() == ',') {
        ++at_;
        continue;
      }
      expect('}');
      return;
    }
  }
  /// Calls `element()` for each element of the array that starts here.
  template <class Element>
  void read_array(Element&& element) {
    expect('[');
    if (peek() == ']') {
      ++at_;
      return;
    }
    for (;;) {
      element();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      expect(']');
      return;
    }
  }

  /// A JSON string, unescaped; `\u0080`..`\u00ff` become the byte of that value (the writer's
  /// escape of bytes that are not UTF-8), other escapes their UTF-8 encoding.
  std::string read_string() {
    expect('"');
    std::string value;
    for (;;) {
      if (at_ >= text_.size()) fail(at_, "unterminated string");
      const auto byte = static_cast<unsigned char>(text_[at_]);
      if (byte == '"') {
        ++at_;
        return value;
      }
      if (byte < 0x20) fail(at_, "control character in a string");
      if (byte >= 0x80) {
        const std::size_t length = timeline_text::utf8_sequence_length(text_.substr(at_));
        if (length == 0) fail(at_, "bytes that are not UTF-8 in a string");
        value.append(text_.substr(at_, length));
        at_ += length;
        continue;
      }
      if (byte != '\\') {
        value.push_back(static_cast<char>(byte));
        ++at_;
        continue;
      }
      read_escape(value);
    }
  }

  /// The text of the number that starts here (JSON's grammar), and where it starts.
  std::pair<std::string_view, std::size_t> read_number_text() {
    skip_space();
    const std::size_t start = at_;
    const auto digits = [&] {
      const std::size_t from = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9')
        ++at_;
      return at_ - from;
    };
    if (at_ < text_.size() && text_[at_] == '-') ++at_;
    if (digits() == 0) fail(start, "expected a number");
    if (at_ < text_.size() && text_[at_] == '.') {
      ++at_;
      if (digits() == 0) fail(at_, "expected digits after '.'");
    }
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E'))
      fail(at_, "exponents are not used in parmill traces");
    return {text_.substr(start, at_ - start), start};
  }

  /// An integer of type `Int`, in range.
  template <class Int>
  Int read_integer() {
    const auto [number, at] = read_number_text();
    Int value{};
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (error != std::errc{} || end != number.data() + number.size())
      fail(at, "expected an integer in range");
    return value;
  }

  /// A time in microseconds with at most three decimals, as nanoseconds.
  std::chrono::nanoseconds read_microseconds() {
    const auto [number, at] = read_number_text();
    const std::size_t dot = number.find('.');
    const std::string_view whole = number.substr(0, dot);
    std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
    if (fraction.size() > 3) fail(at, "a time with more than three decimals (finer than nanoseconds)");
    std::string digits(whole);
    digits.append(fraction);
    digits.append(3 - fraction.size(), '0');
    std::int64_t ns = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), ns);
    if (error != std::errc{} || end != digits.data() + digits.size()) fail(at, "a time out of range");
    return std::chrono::nanoseconds{ns};
  }

  /// Skips any JSON value (nested at most `max_depth` deep).
  void skip_value(int depth = 0) {
    constexpr int max_depth = 64;
    if (depth > max_depth) fail(at_, "values nested too deep");
    switch (peek()) {
    case '{': read_object([&](const std::string&, std::size_t) { skip_value(depth + 1); }); return;
    case '[': read_array([&] { skip_value(depth + 1); }); return;
    case '"': (void)read_string(); return;
    case 't': expect_word("true"); return;
    case 'f': expect_word("false"); return;
    case 'n': expect_word("null"); return;
    default: (void)read_number_text(); return;
    }
  }

private:
  void expect_word(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) fail(at_, "expected a JSON value");
    at_ += word.size();
  }

  unsigned read_hex4() {
    if (text_.size() - at_ < 4) fail(at_, "truncated \\u escape");
    unsigned value = 0;
    const auto [end, error] = std::from_chars(text_.data() + at_, text_.data() + at_ + 4, value, 16);
    if (error != std::errc{} || end != text_.data() + at_ + 4)
      fail(at_, "expected four hex digits after \\u");
    at_ += 4;
    return value;
  }

  void read_escape(std::string& value) {
    const std::size_t escape_at = at_++;
    if (at_ >= text_.size()) fail(escape_at, "unterminated escape");
    const char kind = text_[at_++];
    switch (kind) {
    case '"': value.push_back('"'); return;
    case '\\': value.push_back('\\'); return;
    case '/': value.push_back('/'); return;
    case 'b': value.push_back('\b'); return;
    case 'f': value.push_back('\f'); return;
    case 'n': value.push_back('\n'); return;
    case 'r': value.push_back('\r'); return;
    case 't': value.push_back('\t'); return;
    case 'u': break;
    default: fail(escape_at, "unknown escape");
    }
    unsigned code = read_hex4();
    if (code <= 0xFF) { // a byte: ASCII, or one the writer found outside well-formed UTF-8
      value.push_back(static_cast<char>(code));
      return;
    }
    if (code >= 0xDC00 && code <= 0xDFFF) fail(escape_at, "a lone low surrogate");
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (text_.substr(at_, 2) != "\\u") fail(escape_at, "a lone high surrogate");
      at_ += 2;
      const unsigned low = read_hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail(escape_at, "a high surrogate without its low surrogate");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(value, code);
  }

  static void append_utf8(std::string& value, unsigned code) {
    const auto put = [&](unsigned bits) { value.push_back(static_cast<char>(bits)); };
    if (code < 0x800) {
      put(0xC0 | (code >> 6));
    } else if (code < 0x10000) {
      put(0xE0 | (code >> 12));
      put(0x80 | ((code >> 6) & 0x3F));
    } else {
      put(0xF0 | (code >> 18));
      put(0x80 | ((code >> 12) & 0x3F));
      put(0x80 | ((code >> 6) & 0x3F));
    }
    put(0x80 | (code & 0x3F));
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

/// The fields of one trace event that parmill writes; the rest are skipped.
struct trace_event {
  std::size_t at = 0; ///< where the event starts
  std::string ph, name, cat;
  std::optional<std::uint64_t> tid;
  std::optional<std::chrono::nanoseconds> ts, dur;
  std::optional<std::string> arg_name;
  timeline_span span{};
  bool has_first_item = false, has_items = false;
};

std::optional<span_outcome> outcome_named(std::string_view name) noexcept {
  for (auto outcome : {span_outcome::ok, span_outcome::failed, span_outcome::retried, span_outcome::timed_out,
                       span_outcome::crashed, span_outcome::cancelled})
    if (to_string(outcome) == name) return outcome;
  return std::nullopt;
}

void read_args(json_reader& json, trace_event& event) {
  json.read_object([&](const std::string& key, std::size_t) {
    if (key == "name")
      event.arg_name = json.read_string();
    else if (key == "first_item")
      event.span.first_item = json.read_integer<std::uint64_t>(), event.has_first_item = true;
    else if (key == "items")
      event.span.items = json.read_integer<std::uint64_t>(), event.has_items = true;
    else if (key == "label")
      event.span.label = json.read_string();
    else if (key == "stage")
      event.span.stage = json.read_string();
    else if (key == "exit_status")
      event.span.exit_status = json.read_integer<int>();
    else if (key == "signal")
      event.span.signal = json.read_integer<int>();
    else
      json.skip_value();
  });
}

trace_event read_event(json_reader& json) {
  trace_event event;
  event.at = (json.skip_space(), json.offset());
  json.read_object([&](const std::string& key, std::size_t) {
    if (key == "ph")
      event.ph = json.read_string();
    else if (key == "name")
      event.name = json.read_string();
    else if (key == "cat")
      event.cat = json.read_string();
    else if (key == "tid")
      event.tid = json.read_integer<std::uint64_t>();
    else if (key == "ts")
      event.ts = json.read_microseconds();
    else if (key == "dur")
      event.dur = json.read_microseconds();
    else if (key == "args")
      read_args(json, event);
    else
      json.skip_value();
  });
  return event;
}

/// Turns the events into lanes and spans, checking that they are what the writer writes.
class trace_assembler {
public:
  explicit trace_assembler(const json_reader& json) noexcept : json_(json) {}

  void add(trace_event&& event) {
    if (event.ph == "X")
      add_span(std::move(event));
    else if (event.ph == "M")
      add_metadata(std::move(event));
    else
      json_.fail(event.at, "an event whose \"ph\" is neither \"X\" nor \"M\"");
  }

  void finish(timeline& run) {
    run.lanes.reserve(lane_names_.size());
    for (auto& [tid, name] : lane_names_) {
      if (tid != run.lanes.size())
        json_.fail(name.second, "lane " + std::to_string(run.lanes.size()) +
                                    " has no thread_name event (lanes are numbered from 0)");
      run.lanes.push_back(std::move(name.first));
    }
    for (std::size_t i = 0; i < spans_.size(); ++i)
      if (spans_[i].lane >= run.lanes.size())
        json_.fail(span_offsets_[i], "a span on a lane with no thread_name event");
    run.spans = std::move(spans_);
  }

private:
  void add_span(trace_event&& event) {
    if (!event.tid || !event.ts || !event.dur || !event.has_first_item || !event.has_items)
      json_.fail(event.at, "a complete event without tid, ts, dur, args.first_item or args.items");
    const auto outcome = outcome_named(event.cat);
    if (!outcome) json_.fail(event.at, "a complete event whose \"cat\" is not an outcome");
    event.span.lane = static_cast<std::size_t>(*event.tid);
    event.span.start = *event.ts;
    event.span.duration = *event.dur;
    event.span.outcome = *outcome;
    spans_.push_back(std::move(event.span));
    span_offsets_.push_back(event.at);
  }

  void add_metadata(trace_event&& event) {
    if (event.name != "thread_name") return; // process_name, thread_sort_index: derived from the rest
    if (!event.tid || !event.arg_name) json_.fail(event.at, "a thread_name event without tid or args.name");
    if (!lane_names_.try_emplace(*event.tid, std::move(*event.arg_name), event.at).second)
      json_.fail(event.at, "a second thread_name event for the same tid");
  }

  const json_reader& json_;
  std::map<std::uint64_t, std::pair<std::string, std::size_t>> lane_names_;
  std::vector<timeline_span> spans_;
  std::vector<std::size_t> span_offsets_;
};

} // namespace

void write_chrome_trace(std::ostream& out, const timeline& run) {
  timeline_text::check_lanes(run, "write_chrome_trace");
  out << "{\"parmill_trace\":" << trace_version << ",\"title\":";
  write_json_string(out, run.title);
  out << ",\"wall_ns\":" << run.wall.count() << ",\"summary\":[";
  for (std::size_t i = 0; i < run.summary.size(); ++i) {
    out << (i == 0 ? "" : ",");
    write_json_string(out, run.summary[i]);
  }
  out << "],\n\"traceEvents\":[\n";
  write_metadata(out, "process_name", 0, "name", [&] { write_json_string(out, run.title); });
  for (std::size_t lane = 0; lane < run.lanes.size(); ++lane) {
    out << ",\n";
    write_metadata(out, "thread_name", lane, "name", [&] { write_json_string(out, run.lanes[lane]); });
    out << ",\n";
    write_metadata(out, "thread_sort_index", lane, "sort_index", [&] { out << lane; });
  }
  for (const timeline_span& span : run.spans) {
    out << ",\n";
    write_span(out, span);
  }
  out << "\n],\"displayTimeUnit\":\"ms\"}\n";
  if (!out) throw std::runtime_error("write_chrome_trace: the stream failed");
}

timeline read_chrome_trace(std::istream& in) {
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw std::runtime_error("parmill trace: reading failed");
  json_reader json(text);
  timeline run;
  trace_assembler assembler(json);
  bool is_parmill_trace = false, has_events = false;
  json.read_object([&](const std::string& key, std::size_t key_at) {
    if (key == "parmill_trace") {
      if (json.read_integer<int>() != trace_version) json.fail(key_at, "a parmill trace of another version");
      is_parmill_trace = true;
    } else if (key == "title") {
      run.title = json.read_string();
    } else if (key == "wall_ns") {
      run.wall = std::chrono::nanoseconds{json.read_integer<std::int64_t>()};
    } else if (key == "summary") {
      json.read_array([&] { run.summary.push_back(json.read_string()); });
    } else if (key == "traceEvents") {
      has_events = true;
      json.read_array([&] { assembler.add(read_event(json)); });
    } else {
      json.skip_value();
    }
  });
  json.expect_end();
  if (!is_parmill_trace || !has_events)
    json.fail(0, "not a parmill trace (no \"parmill_trace\" or no \"traceEvents\")");
  assembler.finish(run);
  return run;
}

} // namespace parmill
