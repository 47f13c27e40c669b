// Drawing of parmill::progress_bar: formatting, terminal detection and the drawing thread.
#include "parmill/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <string>

namespace parmill {
namespace detail {

std::size_t this_thread_stripe() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t stripe = next.fetch_add(1, std::memory_order_relaxed);
  return stripe;
}

} // namespace detail

namespace {

/// Joins strings with appends: GCC 12 warns falsely (-Wrestrict, bug 105329) on "literal" + string.
std::string concat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (std::string_view p : parts)
    size += p.size();
  std::string out;
  out.reserve(size);
  for (std::string_view p : parts)
    out.append(p);
  return out;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<unsigned long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02llu:%02llu", s / 60, s % 60);
  }
  return buf;
}

std::string format_rate(double rate) {
  char buf[32];
  if (rate >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM/s", rate / 1e6);
  } else if (rate >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk/s", rate / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f/s", rate);
  }
  return buf;
}

double eta_seconds(const progress_snapshot& s) {
  if (!s.total || s.rate <= 0) return -1;
  const double left = s.done >= *s.total ? 0.0 : static_cast<double>(*s.total - s.done);
  return left / s.rate;
}

std::size_t terminal_width(int fd) {
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

void write_all(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; // a closed or full descriptor must never stop the work being counted
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

} // namespace

std::string format_progress_bar(const progress_snapshot& s, std::size_t width) {
  std::string head = s.label.empty() ? "" : s.label + " ";
  std::string tail;
  const std::string failed = s.failed ? concat({" ", std::to_string(s.failed), " failed"}) : "";
  if (s.total && *s.total > 0) {
    const double fraction = std::min(1.0, static_cast<double>(s.done) / static_cast<double>(*s.total));
    char pct[8];
    std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(fraction * 100));
    head += pct;
    tail = concat({" ", std::to_string(s.done), "/", std::to_string(*s.total), " [",
                   format_duration(s.elapsed_seconds), "<", format_duration(eta_seconds(s)), ", ",
                   format_rate(s.rate), "]", failed});
    // The bar takes what the text leaves, and disappears on a very narrow terminal.
    const std::size_t used = head.size() + tail.size() + 3;
    if (width > used + 5) {
      const std::size_t cells = width - used;
      const auto full = static_cast<std::size_t>(fraction * static_cast<double>(cells));
      head += " |" + std::string(full, '#') + std::string(cells - full, '-') + "|";
    }
    std::string line = head + tail;
    if (line.size() > width) line.resize(width);
    return line;
  }
  std::string line = head + std::to_string(s.done) + " [" + format_duration(s.elapsed_seconds) + ", " +
                     format_rate(s.rate) + "]" + failed;
  if (line.size() > width) line.resize(width);
  return line;
}

std::string format_progress_line(const progress_snapshot& s) {
  const std::string label = s.label.empty() ? "progress" : s.label;
  char time[32];
  std::snprintf(time, sizeof time, "%.2f s", s.elapsed_seconds);
  if (s.finished) {
    std::string line =
        label + ": " + std::to_string(s.done - s.failed) + " done, " + std::to_string(s.failed) + " failed";
    if (s.total && s.done < *s.total) line += ", " + std::to_string(*s.total - s.done) + " not run";
    return line + " in " + time + " (" +
           format_rate(s.elapsed_seconds > 0 ? static_cast<double>(s.done) / s.elapsed_seconds : 0) + ")";
  }
  std::string line = label + ": " + std::to_string(s.done);
  if (s.total) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%d%%)",
                  *s.total
                      ? static_cast<int>(100.0 * static_cast<double>(s.done) / static_cast<double>(*s.total))
                      : 100);
    line += concat({"/", std::to_string(*s.total), pct});
  }
  line += concat({", ", std::to_string(s.failed), " failed, ", format_duration(s.elapsed_seconds),
                  " elapsed, ", format_rate(s.rate)});
  if (s.total) line += concat({", ETA ", format_duration(eta_seconds(s))});
  return line;
}

progress_bar::progress_bar(progress_options options)
    : options_(std::move(options)), start_(std::chrono::steady_clock::now()) {
  if (!options_.terminal) options_.terminal = ::isatty(options_.fd) == 1;
  if (options_.interval.count() <= 0)
    options_.interval = *options_.terminal ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  drawer_ = std::thread([this] { draw_loop(); });
}

progress_bar::progress_bar(std::string label, std::optional<std::uint64_t> total)
    : progress_bar(progress_options{
          .label = std::move(label), .total = total, .fd = 2, .terminal = std::nullopt, .interval = {}}) {}

progress_bar::~progress_bar() { finish(); }

void progress_bar::set_total(std::uint64_t total) {
  std::lock_guard guard(mutex_);
  options_.total = total;
}

void progress_bar::finish() {
  {
    std::lock_guard guard(mutex_);
    if (finished_) return;
    finished_ = true;
  }
  wake_.notify_all();
  if (drawer_.joinable()) drawer_.join();
  draw(draw_kind::final);
}

progress_snapshot progress_bar::snapshot() const {
  progress_snapshot s;
  s.failed = failed_.sum(); // read failures first: done counts them too, so done >= failed
  s.done = done_.sum();
  s.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::lock_guard guard(mutex_);
  s.label = options_.label;
  s.total = options_.total;
  s.rate = smoothed_rate_ > 0 ? smoothed_rate_
                              : (s.elapsed_seconds > 0 ? static_cast<double>(s.done) / s.elapsed_seconds : 0);
  s.finished = finished_;
  return s;
}

void progress_bar::draw_loop() {
  std::unique_lock lock(mutex_);
  while (!finished_) {
    wake_.wait_for(lock, options_.interval);
    if (finished_) break;
    lock.unlock();
    draw(draw_kind::tick);
    lock.lock();
  }
}

void progress_bar::write_above(const std::function<written()>& write) {
  if (!*options_.terminal) {
    (void)write();
    return;
  }
  std::lock_guard guard(draw_mutex_);
  if (final_drawn_) {
    (void)write();
    return;
  }
  const bool shown = last_width_ > 0;
  if (shown) write_all(options_.fd, concat({"\r", std::string(last_width_, ' '), "\r"}));
  last_width_ = 0;
  const written what = write();
  if (what != written::nothing) mid_line_ = what == written::part_of_a_line;
  if (shown) draw_on_terminal(snapshot(), false);
}

void progress_bar::draw(draw_kind kind) {
  const bool final = kind == draw_kind::final;
  progress_snapshot s = snapshot();
  if (kind == draw_kind::tick) {
    // Smooth the rate so that an ETA stays steady when results arrive in bursts.
    std::lock_guard guard(mutex_);
    const double dt = s.elapsed_seconds - last_seconds_;
    if (dt > 0) {
      const double instant = static_cast<double>(s.done - last_done_) / dt;
      smoothed_rate_ = smoothed_rate_ == 0 ? instant : 0.3 * instant + 0.7 * smoothed_rate_;
      last_done_ = s.done;
      last_seconds_ = s.elapsed_seconds;
      s.rate = smoothed_rate_;
    }
  }
  if (final) s.rate = s.elapsed_seconds > 0 ? static_cast<double>(s.done) / s.elapsed_seconds : 0;
  s.finished = final;
  std::lock_guard guard(draw_mutex_);
  if (final_drawn_) return;
  final_drawn_ = final;
  if (*options_.terminal)
    draw_on_terminal(s, final);
  else
    write_all(options_.fd, format_progress_line(s) + "\n");
}

void progress_bar::draw_on_terminal(const progress_snapshot& s, bool final) {
  const std::size_t width = terminal_width(options_.fd) - 1;
  std::string line = format_progress_bar(s, width);
  // Over the bar's own line, or on the next one when text above it ended mid-line.
  std::string text = concat({mid_line_ ? "\n" : "\r", line});
  if (line.size() < last_width_) text += std::string(last_width_ - line.size(), ' ');
  last_width_ = line.size();
  mid_line_ = false;
  if (final) text += concat({"\n", format_progress_line(s), "\n"});
  write_all(options_.fd, text);
}

} // namespace parmill
