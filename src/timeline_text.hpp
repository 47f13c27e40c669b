// src/timeline_text.hpp (private to libparmill): how the timeline writers put any bytes into
// JSON strings, shared by the Chrome trace (timeline_json.cpp) and the page (timeline_html.cpp),
// and what both check of a timeline before writing it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "parmill/timeline.hpp"

namespace parmill::timeline_text {

/// Throws `std::invalid_argument`, naming `writer`, when a span of `run` is on a lane it does not
/// have.
inline void check_lanes(const timeline& run, std::string_view writer) {
  for (const timeline_span& span : run.spans)
    if (span.lane >= run.lanes.size())
      throw std::invalid_argument(std::string(writer) + ": a span's lane " + std::to_string(span.lane) +
                                  " is not one of the timeline's " + std::to_string(run.lanes.size()) +
                                  " lanes");
}

/// The length of the well-formed UTF-8 sequence at the start of `text` (1 to 4), or 0 when its
/// first byte does not start one: a stray continuation byte, a truncated sequence, an overlong
/// form, a UTF-16 surrogate, or a code point past U+10FFFF.
[[nodiscard]] inline std::size_t utf8_sequence_length(std::string_view text) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF; // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;  // overlong
    if (lead == 0xED) high = 0x9F; // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;  // overlong
    if (lead == 0xF4) high = 0x8F; // past U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  return length;
}

/// Where a JSON string goes: a file of its own, or inside an HTML <script> element, where `<`,
/// `>` and `&` are escaped too, so that the data can never close the element or start a comment.
enum class json_context { file, html_script };

/// Writes `\u00XX` for the byte or code point `value` (at most 0xFFFF).
inline void write_unicode_escape(std::ostream& out, unsigned value) {
  static constexpr char hex[] = "0123456789abcdef";
  const std::array<char, 6> escape{'\\',
                                   'u',
                                   hex[(value >> 12) & 0xF],
                                   hex[(value >> 8) & 0xF],
                                   hex[(value >> 4) & 0xF],
                                   hex[value & 0xF]};
  out.write(escape.data(), escape.size());
}

/// Writes `text` as a JSON string, quotes included, for any bytes. Well-formed UTF-8 is written
/// as it is (U+2028 and U+2029 escaped, for JavaScript); every byte that is not part of a
/// well-formed UTF-8 sequence is written as the escape `\u0080`..`\u00ff` of its value (so the
/// output is always valid UTF-8 JSON; a reader sees that byte as the Latin-1 character of the same
/// value, and `read_chrome_trace` turns it back into the byte). Control characters are escaped.
inline void write_json_string(std::ostream& out, std::string_view text,
                              json_context context = json_context::file) {
  out.put('"');
  std::size_t plain_from = 0; // bytes [plain_from, i) are written as they are
  const auto flush = [&](std::size_t end) {
    out.write(text.data() + plain_from, static_cast<std::streamsize>(end - plain_from));
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x80) {
      const std::size_t length = utf8_sequence_length(text.substr(i));
      const bool line_separator = length == 3 && byte == 0xE2 &&
                                  static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                                  (static_cast<unsigned char>(text[i + 2]) & 0xFE) == 0xA8; // U+2028, U+2029
      if (length != 0 && !line_separator) {
        i += length;
        continue;
      }
      flush(i);
      write_unicode_escape(out, line_separator ? 0x2000u + (static_cast<unsigned char>(text[i + 2]) & 0x3Fu)
                                               : byte);
      i += line_separator ? 3 : 1;
      plain_from = i;
      continue;
    }
    const bool html_special =
        context == json_context::html_script && (byte == '<' || byte == '>' || byte == '&');
    if (byte >= 0x20 && byte != '"' && byte != '\\' && byte != 0x7F && !html_special) {
      ++i;
      continue;
    }
    flush(i);
    switch (byte) {
    case '"': out.write("\\\"", 2); break;
    case '\\': out.write("\\\\", 2); break;
    case '\n': out.write("\\n", 2); break;
    case '\t': out.write("\\t", 2); break;
    case '\r': out.write("\\r", 2); break;
    default: write_unicode_escape(out, byte); break;
    }
    plain_from = ++i;
  }
  flush(text.size());
  out.put('"');
}

/// Writes `text` as HTML text or attribute content: `& < > " '` become character references and
/// bytes that are not well-formed UTF-8 become U+FFFD (the page is UTF-8; HTML has no escape for
/// a byte). Control characters other than tab and newline become U+FFFD too.
inline void write_html_text(std::ostream& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x80) {
      const std::size_t length = utf8_sequence_length(text.substr(i));
      if (length == 0) {
        out << "\xEF\xBF\xBD";
        ++i;
      } else {
        out.write(text.data() + i, static_cast<std::streamsize>(length));
        i += length;
      }
      continue;
    }
    switch (byte) {
    case '&': out << "&amp;"; break;
    case '<': out << "&lt;"; break;
    case '>': out << "&gt;"; break;
    case '"': out << "&quot;"; break;
    case '\'': out << "&#39;"; break;
    case '\t':
    case '\n': out.put(static_cast<char>(byte)); break;
    default:
      if (byte < 0x20 || byte == 0x7F)
        out << "\xEF\xBF\xBD";
      else
        out.put(static_cast<char>(byte));
    }
    ++i;
  }
}

} // namespace parmill::timeline_text
