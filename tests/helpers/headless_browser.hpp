// tests/helpers/headless_browser.hpp: opening a page in headless Chromium from a test, to check
// what a person would see: the DOM after the page's scripts ran (--dump-dom), or a screenshot.
// Chromium (Debian's `chromium`) is a test dependency: nothing here skips when it is missing; the
// run then fails with a message that says so.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace parmill_test {

/// How a run of headless Chromium went.
struct browser_run {
  std::string dom;                     ///< its standard output: the serialised DOM with --dump-dom
  std::string log;                     ///< its standard error (Chromium is chatty there)
  int status = -1;                     ///< its exit status, or 128 + the signal that ended it
  bool timed_out = false;              ///< it was killed at the deadline
  std::chrono::milliseconds elapsed{}; ///< from start to exit
  /// True when Chromium exited 0 before the deadline.
  [[nodiscard]] bool ok() const noexcept { return !timed_out && status == 0; }
};

/// What to ask of Chromium besides opening the page.
struct browser_options {
  std::chrono::seconds deadline{90}; ///< the whole run, after which its process group is killed
  int width = 1280, height = 900;    ///< the window
};

namespace detail {

/// Reads `fd` until end of file or `deadline`; false at the deadline.
inline bool read_until_eof(int fd, std::string& into, std::chrono::steady_clock::time_point deadline) {
  char buffer[65536];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    into.append(buffer, static_cast<std::size_t>(n));
  }
}

/// Waits for `pid` to exit until `deadline` (through a pidfd); its status, or nullopt.
inline std::optional<int> wait_exit(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
    ::close(pidfd);
    if (ready <= 0) return std::nullopt;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/// Runs Chromium headless with `extra` arguments on `page`, its profile in `scratch_dir`.
inline browser_run run_chromium(const std::filesystem::path& page, const std::filesystem::path& scratch_dir,
                                const std::vector<std::string>& extra, const browser_options& options) {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + options.deadline;
  std::filesystem::create_directories(scratch_dir);
  const std::filesystem::path profile = scratch_dir / "chromium-profile";
  const std::filesystem::path log_file = scratch_dir / "chromium-stderr.log";
  std::vector<std::string> argv{"chromium",
                                "--headless",
                                "--no-sandbox",
                                "--disable-gpu",
                                "--no-first-run",
                                "--disable-extensions",
                                "--disable-background-networking",
                                "--user-data-dir=" + profile.string(),
                                "--window-size=" + std::to_string(options.width) + "," +
                                    std::to_string(options.height)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("file://" + std::filesystem::absolute(page).string());
  std::vector<char*> args;
  for (std::string& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP); // its own group, killed as one
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, "chromium", &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(out[1]);
  browser_run run;
  if (spawned != 0) {
    ::close(out[0]);
    run.log = std::string("cannot start chromium (install Debian's chromium): ") + std::strerror(spawned);
    return run;
  }
  const bool finished = read_until_eof(out[0], run.dom, deadline);
  ::close(out[0]);
  std::optional<int> status = finished ? wait_exit(pid, deadline) : std::nullopt;
  ::kill(-pid, SIGKILL); // whatever of its group is left (helpers it started)
  if (!status) {
    run.timed_out = true;
    status = wait_exit(pid, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  }
  run.status = status.value_or(-1);
  run.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  std::ifstream log(log_file, std::ios::binary);
  std::ostringstream text;
  text << log.rdbuf();
  run.log += text.str();
  return run;
}

} // namespace detail

/// Opens `page` in headless Chromium and returns the DOM once the page has loaded (its inline
/// scripts have run). `scratch_dir` holds Chromium's throwaway profile and its log.
inline browser_run dump_dom(const std::filesystem::path& page, const std::filesystem::path& scratch_dir,
                            const browser_options& options = {}) {
  return detail::run_chromium(page, scratch_dir, {"--dump-dom"}, options);
}

/// Opens `page` in headless Chromium and saves a PNG screenshot of the window as `png`.
inline browser_run screenshot(const std::filesystem::path& page, const std::filesystem::path& png,
                              const std::filesystem::path& scratch_dir, const browser_options& options = {}) {
  return detail::run_chromium(
      page, scratch_dir, {"--hide-scrollbars", "--screenshot=" + std::filesystem::absolute(png).string()},
      options);
}

/// The value of attribute `name` on the element whose id is `id` in `dom`, as serialised
/// (character references left as they are), or nullopt.
inline std::optional<std::string> element_attribute(std::string_view dom, std::string_view id,
                                                    std::string_view name) {
  const std::string id_attribute = "id=\"" + std::string(id) + "\"";
  const std::size_t at = dom.find(id_attribute);
  if (at == std::string_view::npos) return std::nullopt;
  const std::size_t open = dom.rfind('<', at), close = dom.find('>', at);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::nullopt;
  const std::string_view tag = dom.substr(open, close - open);
  const std::string wanted = " " + std::string(name) + "=\"";
  const std::size_t value = tag.find(wanted);
  if (value == std::string_view::npos) return std::nullopt;
  const std::size_t from = value + wanted.size(), to = tag.find('"', from);
  return std::string(tag.substr(from, to - from));
}

/// How many times `needle` occurs in `text` (not overlapping).
inline std::size_t count_of(std::string_view text, std::string_view needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size()))
    ++count;
  return count;
}

} // namespace parmill_test
