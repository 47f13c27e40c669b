// cli/timeline_page.cpp
#include "timeline_page.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace parmill::cli {
namespace {

/// A file being written in place of `page`, removed unless `commit` renamed it over `page`.
class temporary_file {
public:
  explicit temporary_file(const std::filesystem::path& page) : page_(page) {
    const std::filesystem::path directory = page.has_parent_path() ? page.parent_path() : ".";
    std::string hidden(1, '.'); // "." + name: GCC 12 warns wrongly (-Wrestrict) about that spelling
    hidden.append(page.filename().string()).append(".XXXXXX");
    std::string name = (directory / hidden).string();
    fd_ = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd_ < 0) fail(errno);
    path_ = name;
  }
  ~temporary_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  temporary_file(const temporary_file&) = delete;
  temporary_file& operator=(const temporary_file&) = delete;

  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail(n < 0 ? errno : ENOSPC);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Closes the file and renames it over the page.
  void commit() {
    if (::fchmod(fd_, 0644) != 0) fail(errno);
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) fail(errno);
    if (::rename(path_.c_str(), page_.c_str()) != 0) fail(errno);
    path_.clear();
  }

private:
  [[noreturn]] void fail(int error) const {
    throw std::runtime_error("cannot write '" + page_.string() + "': " + std::strerror(error));
  }

  std::filesystem::path page_;
  std::string path_;
  int fd_ = -1;
};

} // namespace

void write_page_atomically(const std::filesystem::path& page, const timeline& run) {
  std::error_code error;
  if (std::filesystem::is_directory(page, error))
    throw std::runtime_error("cannot write '" + page.string() + "': it is a directory");
  temporary_file file(page);
  std::ostringstream html;
  write_timeline_html(html, run);
  file.write(html.view());
  file.commit();
}

live_timeline_page::live_timeline_page(std::filesystem::path page, const timeline_recorder& recorder,
                                       std::chrono::milliseconds interval)
    : page_(std::move(page)), recorder_(recorder), interval_(interval) {
  write_page_atomically(page_, running_snapshot());
  thread_ = std::jthread([this](std::stop_token stop) { rewrite_while_running(stop); });
}

live_timeline_page::~live_timeline_page() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void live_timeline_page::finish() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  write_page_atomically(page_, recorder_.snapshot());
}

std::string live_timeline_page::first_error() const {
  std::lock_guard lock(mutex_);
  return first_error_;
}

timeline live_timeline_page::running_snapshot() const {
  timeline run = recorder_.snapshot();
  run.summary.emplace_back(still_running_line);
  return run;
}

void live_timeline_page::rewrite_while_running(std::stop_token stop) {
  using clock = std::chrono::steady_clock;
  std::uint64_t written = recorder_.recorded();
  clock::duration pause = interval_;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      // Nothing wakes it but a stop request: the wait is the pause between two rewrites.
      (void)wake_.wait_for(lock, stop, pause, [] { return false; });
      if (stop.stop_requested()) return;
    }
    const std::uint64_t recorded = recorder_.recorded();
    if (recorded == written) continue;
    const auto began = clock::now();
    try {
      write_page_atomically(page_, running_snapshot());
      written = recorded;
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      if (first_error_.empty()) first_error_ = e.what();
    }
    pause = std::max<clock::duration>(interval_, 10 * (clock::now() - began));
  }
}

} // namespace parmill::cli
