// cli/output.cpp
#include "output.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace parmill::cli {

std::string tag_lines(std::string_view text, const std::string& tag) {
  std::string out;
  out.reserve(text.size() + tag.size() + 1);
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    end = end == std::string_view::npos ? text.size() : end + 1;
    out.append(tag).push_back('\t');
    out.append(text.substr(start, end - start));
    start = end;
  }
  return out;
}

void output_writer::write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (fd == 1) broken_ = true;
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void output_writer::write_job(const process_result& r, const std::string* tag) {
  std::lock_guard lock(mutex_);
  if (tag != nullptr) {
    write_all(1, tag_lines(r.out, *tag));
    write_all(2, tag_lines(r.err, *tag));
  } else {
    write_all(1, r.out);
    write_all(2, r.err);
  }
}

void output_writer::write_line(std::string_view line, bool is_error, const std::string* tag) {
  std::lock_guard lock(mutex_);
  write_all(is_error ? 2 : 1, tag != nullptr ? std::string_view(tag_lines(line, *tag)) : line);
}

void output_writer::message(std::string_view text) {
  std::lock_guard lock(mutex_);
  write_all(2, text);
}

void save_results(const std::string& dir, const job_values& job, const process_result& r) {
  std::filesystem::path path = dir;
  std::size_t column = 0;
  for (const record& rec : job.records)
    for (const std::string& value : rec) {
      std::string escaped;
      for (char c : value) {
        if (c == '\\')
          escaped += "\\\\";
        else if (c == '/')
          escaped += "\\_";
        else
          escaped += c;
      }
      if (escaped.empty() || escaped == "." || escaped == "..") escaped = "\\" + escaped;
      path /= std::to_string(++column);
      path /= escaped;
    }
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) throw std::runtime_error("--results: cannot create '" + path.string() + "': " + error.message());
  const auto save = [&](const char* name, const std::string& text) {
    std::ofstream file(path / name, std::ios::binary | std::ios::trunc);
    file << text;
    if (!file) throw std::runtime_error("--results: cannot write '" + (path / name).string() + "'");
  };
  save("stdout", r.out);
  save("stderr", r.err);
  save("seq", std::to_string(job.seq) + "\n");
}

} // namespace parmill::cli
