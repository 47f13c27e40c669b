// cli/job_log_lines.cpp
#include "job_log_lines.hpp"

#include <cstdio>

#include "job_log.hpp"

namespace parmill::cli {

std::optional<job_log_line> read_job_log_line(std::streambuf& in, std::size_t command_bytes) {
  using traits = std::char_traits<char>;
  job_log_line line;
  for (int c = in.sbumpc(); !traits::eq_int_type(c, traits::eof()); c = in.sbumpc()) {
    const char byte = traits::to_char_type(c);
    if (byte == '\n') {
      line.complete = true;
      return line;
    }
    ++line.length;
    line.all_nul = line.all_nul && byte == '\0';
    if (line.tabs == job_log_columns_before_command) {
      if (line.command.size() < command_bytes) line.command.push_back(byte);
    } else if (line.head.size() < job_log_max_columns_bytes) {
      line.head.push_back(byte);
      if (byte == '\t') ++line.tabs;
    } else {
      line.too_long = true;
    }
  }
  if (line.length == 0) return std::nullopt;
  return line;
}

bool is_job_log_header(const job_log_line& line) {
  return line.length == job_log_header.size() && line.tabs == job_log_columns_before_command &&
         line.head + line.command == job_log_header;
}

std::string shown(std::string_view value) {
  std::string text = "'";
  for (const char c : value.substr(0, 40)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\' && c != '\'') {
      text.push_back(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(byte));
      text += escaped;
    }
  }
  if (value.size() > 40) text += "...";
  return text + "'";
}

std::variant<job_log_columns, std::string> split_job_log_columns(const job_log_line& line) {
  if (line.too_long) return "its first eight columns are longer than 4096 bytes";
  if (line.tabs < job_log_columns_before_command)
    return "it has " + std::to_string(line.tabs + 1) + (line.tabs == 0 ? " column" : " columns") +
           ", not 9 or more";
  job_log_columns columns;
  std::string_view rest = line.head;
  for (auto& column : columns) {
    const auto tab = rest.find('\t');
    column = rest.substr(0, tab);
    rest.remove_prefix(tab + 1);
  }
  return columns;
}

std::string column_problem(const job_log_columns& columns, std::size_t i, const char* name,
                           const char* what) {
  return std::string(name) + " " + shown(columns[i]) + " is not " + what;
}

} // namespace parmill::cli
