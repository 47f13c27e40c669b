// parmill/pipeline_report.hpp's compiled part: snapshots, percentiles, text and the display thread.
#include "parmill/pipeline_report.hpp"

#include "parmill/detail/pipeline_stats.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <ostream>

namespace parmill {
namespace {

std::string seconds_text(double s) {
  char buf[32];
  if (s <= 0) return "-";
  if (s < 1e-6) {
    std::snprintf(buf, sizeof buf, "%.0fns", s * 1e9);
  } else if (s < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.1fus", s * 1e6);
  } else if (s < 1) {
    std::snprintf(buf, sizeof buf, "%.1fms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", s);
  }
  return buf;
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return; // a display is best effort: a closed or full descriptor loses a frame
    done += static_cast<std::size_t>(n);
  }
}

} // namespace

std::string format_stage_line(const stage_report& s, double elapsed_seconds) {
  const double rate = elapsed_seconds > 0 ? static_cast<double>(s.items_out) / elapsed_seconds : 0;
  const double busy = elapsed_seconds > 0 && s.concurrency > 0
                          ? 100.0 * s.busy_seconds / (elapsed_seconds * static_cast<double>(s.concurrency))
                          : 0;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%-12.12s %-9s x%-3zu in %-9llu out %-9llu fail %-6llu drop %-6llu queue %4llu/%-5llu "
                "busy %3.0f%% %9.1f/s p50 %-8s p99 %s",
                s.name.c_str(), std::string(to_string(s.backend)).c_str(), s.concurrency,
                static_cast<unsigned long long>(s.items_in), static_cast<unsigned long long>(s.items_out),
                static_cast<unsigned long long>(s.failures), static_cast<unsigned long long>(s.filtered),
                static_cast<unsigned long long>(s.in_flight), static_cast<unsigned long long>(s.capacity),
                std::min(busy, 999.0), rate, seconds_text(s.p50_seconds).c_str(),
                seconds_text(s.p99_seconds).c_str());
  return buf;
}

std::string pipeline_report::to_string() const {
  std::string out;
  char head[96];
  std::snprintf(head, sizeof head, "pipeline: %llu outputs in %.2fs\n",
                static_cast<unsigned long long>(outputs), elapsed_seconds);
  out += head;
  for (const auto& s : stages) {
    out += "  ";
    out += format_stage_line(s, elapsed_seconds);
    out += '\n';
  }
  return out;
}

std::ostream& operator<<(std::ostream& out, const pipeline_report& report) {
  return out << report.to_string();
}

namespace detail {

double stage_worker_stats::bucket_middle_seconds(std::size_t b) noexcept {
  if (b < sub_buckets) return static_cast<double>(b) * 1e-9;
  const std::size_t width = b / sub_buckets + 2;
  const std::size_t sub = b % sub_buckets;
  const double unit = static_cast<double>(std::uint64_t{1} << (width - 3));
  const double lower = static_cast<double>(sub_buckets + sub) * unit;
  return (lower + unit / 2) * 1e-9;
}

stage_stats::stage_stats(std::string name, backend_kind backend, std::size_t concurrency)
    : name_(std::move(name)), backend_(backend), concurrency_(std::max<std::size_t>(1, concurrency)) {
  // Shared, so that worker processes forked later write where this process reads.
  void* memory = ::mmap(nullptr, concurrency_ * sizeof(stage_worker_stats), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  workers_ = static_cast<stage_worker_stats*>(memory);
  for (std::size_t i = 0; i < concurrency_; ++i)
    new (&workers_[i]) stage_worker_stats();
}

stage_stats::~stage_stats() {
  for (std::size_t i = 0; i < concurrency_; ++i)
    workers_[i].~stage_worker_stats();
  ::munmap(workers_, concurrency_ * sizeof(stage_worker_stats));
}

stage_report stage_stats::snapshot() const {
  stage_report r;
  r.name = name_;
  r.backend = backend_;
  r.concurrency = concurrency_;
  // Outputs first, inputs last: an item is counted in before it is counted out, so reading in this
  // order never shows more out than in.
  r.items_out = out_.load(std::memory_order_relaxed);
  r.failures = lost_.load(std::memory_order_relaxed);
  std::array<std::uint64_t, stage_worker_stats::buckets> counts{};
  std::uint64_t timed = 0, busy = 0;
  for (std::size_t w = 0; w < concurrency_; ++w) {
    const stage_worker_stats& s = workers_[w];
    r.failures += s.failures.load(std::memory_order_relaxed);
    r.filtered += s.filtered.load(std::memory_order_relaxed);
    busy += s.busy_nanoseconds.load(std::memory_order_relaxed);
    timed += s.timed.load(std::memory_order_relaxed);
    for (std::size_t b = 0; b < counts.size(); ++b)
      counts[b] += s.histogram[b].load(std::memory_order_relaxed);
  }
  r.capacity = capacity_.load(std::memory_order_relaxed);
  r.items_in = in_.load(std::memory_order_relaxed);
  const std::uint64_t left = r.items_out + r.failures + r.filtered;
  r.in_flight = r.items_in > left ? r.items_in - left : 0;
  r.busy_seconds = static_cast<double>(busy) * 1e-9;
  std::uint64_t total = 0;
  for (std::uint64_t c : counts)
    total += c;
  if (total == 0) return r;
  r.mean_seconds = r.busy_seconds / static_cast<double>(timed);
  const auto percentile = [&](double p) {
    const auto rank = static_cast<std::uint64_t>(p * static_cast<double>(total - 1));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) {
      seen += counts[b];
      if (seen > rank) return stage_worker_stats::bucket_middle_seconds(b);
    }
    return 0.0;
  };
  r.p50_seconds = percentile(0.50);
  r.p99_seconds = percentile(0.99);
  return r;
}

pipeline_report pipeline_stats::report() const {
  pipeline_report r;
  r.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  r.outputs = outputs_.load(std::memory_order_relaxed);
  r.stages.reserve(stages_.size());
  for (const auto& s : stages_)
    r.stages.push_back(s->snapshot());
  return r;
}

void pipeline_stats::start_display(int fd, bool live, std::chrono::milliseconds every) {
  const bool terminal = live && ::isatty(fd) == 1;
  if (every.count() == 0) every = std::chrono::milliseconds(terminal ? 100 : 5000);
  display_ = std::thread([this, fd, terminal, every] { display_loop(fd, terminal, every); });
}

void pipeline_stats::stop_display() {
  {
    std::lock_guard lock(display_mutex_);
    display_stop_ = true;
  }
  display_wake_.notify_all();
  if (display_.joinable()) display_.join();
}

void pipeline_stats::display_loop(int fd, bool terminal, std::chrono::milliseconds every) {
  std::size_t drawn_lines = 0;
  const auto draw = [&] {
    const pipeline_report r = report();
    if (!terminal) {
      write_all(fd, r.to_string());
      return;
    }
    std::string frame;
    if (drawn_lines) frame += "\x1b[" + std::to_string(drawn_lines) + "A"; // back to the first line
    for (const auto& s : r.stages) {
      frame += "\r\x1b[2K"; // clear the line, then draw it
      frame += format_stage_line(s, r.elapsed_seconds);
      frame += '\n';
    }
    drawn_lines = r.stages.size();
    write_all(fd, frame);
  };
  std::unique_lock lock(display_mutex_);
  while (!display_wake_.wait_for(lock, every, [&] { return display_stop_; }))
    draw();
  draw();
}

} // namespace detail
} // namespace parmill
