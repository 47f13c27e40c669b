// tests/helpers/timeline_samples.hpp: what the timeline tests share: a sample run with every
// outcome, hostile bytes, and an independent strict JSON parser (RFC 8259, UTF-8 checked) to
// validate what the writers produce without trusting parmill's own reader.
#pragma once

#include <gtest/gtest.h>

#include <parmill/timeline.hpp>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace parmill_test {

/// Three lanes, a span of every outcome, a merged chunk, a stage, a job with a signal.
inline parmill::timeline sample_timeline() {
  using namespace std::chrono_literals;
  parmill::timeline run{.title = "sample run",
                        .lanes = {"worker 0", "worker 1", "worker 2"},
                        .wall = 100ms,
                        .summary = {"stage parse: 10 items", "stage load: 9 items, 1 failed"}};
  run.spans = {
      {.lane = 0, .start = 0ns, .duration = 10ms, .first_item = 0, .items = 100},
      {.lane = 1,
       .start = 1ms,
       .duration = 20ms,
       .outcome = parmill::span_outcome::failed,
       .first_item = 100,
       .stage = "load"},
      {.lane = 2,
       .start = 2ms,
       .duration = 3ms,
       .outcome = parmill::span_outcome::retried,
       .first_item = 101},
      {.lane = 2,
       .start = 6ms,
       .duration = 30ms,
       .outcome = parmill::span_outcome::timed_out,
       .first_item = 101},
      {.lane = 0,
       .start = 11ms,
       .duration = 40ms,
       .outcome = parmill::span_outcome::crashed,
       .first_item = 102,
       .label = "sleep 1 && kill -9 $$",
       .exit_status = 0,
       .signal = 9},
      {.lane = 1,
       .start = 50ms,
       .duration = 1us,
       .outcome = parmill::span_outcome::cancelled,
       .first_item = 103},
      {.lane = 1, .start = 60ms, .duration = 39ms, .first_item = 104, .label = "echo 104", .exit_status = 0},
  };
  return run;
}

/// Bytes a label may hold: controls, quotes, markup, invalid and valid UTF-8, separators.
inline std::string hostile_bytes() {
  static constexpr char controls[] = "nul\0 tab\t nl\n cr\r quote\" backslash\\ slash/ ";
  std::string bytes(controls, sizeof controls - 1); // the NUL inside included
  bytes += "</script><!-- <script> & &amp; ]]> \x7f";
  bytes += " caf\xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \xf0\x9f\x98\x80";             // valid UTF-8
  bytes += " \xc3 \xa9 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xff\xfe \xe2\x80"; // invalid
  return bytes;
}

/// True when `text` is well-formed UTF-8.
inline bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    std::size_t n = b < 0x80                 ? 1
                    : b >= 0xC2 && b <= 0xDF ? 2
                    : b >= 0xE0 && b <= 0xEF ? 3
                    : b >= 0xF0 && b <= 0xF4 ? 4
                                             : 0;
    if (n == 0 || i + n > text.size()) return false;
    std::uint32_t code = n == 1 ? b : b & (0xFF >> (n + 1));
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      code = code << 6 | (c & 0x3F);
    }
    if ((n == 2 && code < 0x80) || (n == 3 && code < 0x800) || (n == 4 && code < 0x10000) ||
        code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

/// A parsed JSON value; strings decoded to UTF-8, numbers kept as their text.
struct json_value {
  enum kind_t { null, boolean, number, string, array_kind, object_kind } kind = null;
  std::string text;
  std::vector<json_value> array;
  std::map<std::string, json_value> object;
  [[nodiscard]] bool is_object() const { return kind == object_kind; }
  [[nodiscard]] bool is_array() const { return kind == array_kind; }
  [[nodiscard]] bool is_string() const { return kind == string; }
  [[nodiscard]] bool is_number() const { return kind == number; }
  [[nodiscard]] bool has(const std::string& key) const { return object.count(key) != 0; }
  [[nodiscard]] const json_value& at(const std::string& key) const {
    const auto found = object.find(key);
    if (found == object.end()) throw std::runtime_error("no member " + key);
    return found->second;
  }
};

/// A strict RFC 8259 parser (no lone surrogates either); throws std::runtime_error.
class strict_json_parser {
public:
  explicit strict_json_parser(std::string_view text) : text_(text) {
    if (!is_valid_utf8(text)) fail("not UTF-8");
  }
  json_value parse_document() {
    json_value v = value();
    space();
    if (at_ != text_.size()) fail("trailing bytes");
    return v;
  }

private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("invalid JSON at " + std::to_string(at_) + ": " + what);
  }
  void space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r'))
      ++at_;
  }
  char next() {
    space();
    if (at_ >= text_.size()) fail("end");
    return text_[at_];
  }
  void literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) fail("bad literal");
    at_ += word.size();
  }
  json_value value() {
    json_value v;
    const char c = next();
    if (c == '{') {
      v.kind = json_value::object_kind;
      ++at_;
      if (next() == '}') {
        ++at_;
        return v;
      }
      for (;;) {
        if (next() != '"') fail("key");
        std::string key = string_text();
        if (next() != ':') fail("colon");
        ++at_;
        v.object[key] = value();
        const char d = next();
        ++at_;
        if (d == '}') return v;
        if (d != ',') fail("object separator");
      }
    }
    if (c == '[') {
      v.kind = json_value::array_kind;
      ++at_;
      if (next() == ']') {
        ++at_;
        return v;
      }
      for (;;) {
        v.array.push_back(value());
        const char d = next();
        ++at_;
        if (d == ']') return v;
        if (d != ',') fail("array separator");
      }
    }
    if (c == '"') {
      v.kind = json_value::string;
      v.text = string_text();
      return v;
    }
    if (c == 't' || c == 'f') {
      v.kind = json_value::boolean;
      literal(c == 't' ? "true" : "false");
      return v;
    }
    if (c == 'n') {
      literal("null");
      return v;
    }
    v.kind = json_value::number;
    const std::size_t start = at_;
    if (text_[at_] == '-') ++at_;
    const auto digits = [&] {
      const std::size_t from = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9')
        ++at_;
      if (at_ == from) fail("digits");
    };
    if (at_ < text_.size() && text_[at_] == '0')
      ++at_;
    else
      digits();
    if (at_ < text_.size() && text_[at_] == '.') ++at_, digits();
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
      ++at_;
      if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
      digits();
    }
    v.text = std::string(text_.substr(start, at_ - start));
    return v;
  }
  unsigned hex4() {
    if (at_ + 4 > text_.size()) fail("short \\u");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[at_++];
      v = v * 16 + (h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : (fail("hex"), 0));
    }
    return v;
  }
  std::string string_text() {
    ++at_;
    std::string out;
    for (;;) {
      if (at_ >= text_.size()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(text_[at_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("raw control character");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      const char e = text_[at_++];
      switch (e) {
      case '"':
      case '\\':
      case '/': out.push_back(e); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        unsigned code = hex4();
        if (code >= 0xDC00 && code <= 0xDFFF) fail("lone low surrogate");
        if (code >= 0xD800 && code <= 0xDBFF) {
          if (text_.substr(at_, 2) != "\\u") fail("lone high surrogate");
          at_ += 2;
          const unsigned low = hex4();
          if (low < 0xDC00 || low > 0xDFFF) fail("bad low surrogate");
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, code);
        break;
      }
      default: fail("bad escape");
      }
    }
  }
  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | code >> 6));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | code >> 12));
      out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | code >> 18));
      out.push_back(static_cast<char>(0x80 | (code >> 12 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }
  std::string_view text_;
  std::size_t at_ = 0;
};

/// Parses `text` strictly; throws std::runtime_error on anything that is not RFC 8259 JSON.
inline json_value parse_json(std::string_view text) { return strict_json_parser(text).parse_document(); }

} // namespace parmill_test
