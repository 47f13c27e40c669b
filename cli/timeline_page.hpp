// cli/timeline_page.hpp: writing a timeline's page (parmill::write_timeline_html) so that a reader
// never sees half of one, once (parmill-timeline) or again and again while a run goes on
// (--timeline).
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "parmill/timeline.hpp"
#include "timeline_jobs.hpp"

namespace parmill::cli {

/// Writes `run`'s page to `page`, atomically: into a new file in the same directory, then renamed
/// over `page`, so that a reader sees the old page or the new one, never a part. The page gets
/// mode 0644. Throws `std::runtime_error` "cannot write 'PAGE': why" (nothing is left behind).
void write_page_atomically(const std::filesystem::path& page, const timeline& run);

/// The page of a running command: written when this is made (an empty run), rewritten from
/// `recorder` by a thread of its own while jobs end (at most every `interval`, and never taking
/// more than about a tenth of the time: the pause after a write is at least ten times as long as
/// the write took), and a last time by `finish`. Until then, the page's summary ends with
/// `still_running_line`.
/// The summary line of a page written while its run goes on.
inline constexpr std::string_view still_running_line =
    "the run is still going on: this page is rewritten every few seconds (reload it to see more)";

class live_timeline_page {
public:
  /// Writes the first page. Throws `std::runtime_error` (see `write_page_atomically`) if it
  /// cannot be written; no thread is started then.
  live_timeline_page(std::filesystem::path page, const timeline_recorder& recorder,
                     std::chrono::milliseconds interval = std::chrono::seconds(2));
  /// Stops the thread (without writing the last page: `finish` does).
  ~live_timeline_page();
  live_timeline_page(const live_timeline_page&) = delete;
  live_timeline_page& operator=(const live_timeline_page&) = delete;

  /// Stops the thread and writes the page of the whole run. Throws `std::runtime_error` if it
  /// cannot be written.
  void finish();

  /// The first error of a rewrite during the run ("cannot write ..."), or empty: a failed
  /// rewrite is tried again at the next interval.
  [[nodiscard]] std::string first_error() const;

private:
  void rewrite_while_running(std::stop_token stop);
  /// The run so far, saying that it is still going on.
  [[nodiscard]] timeline running_snapshot() const;

  const std::filesystem::path page_;
  const timeline_recorder& recorder_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::string first_error_;
  std::jthread thread_; // last: started once everything else is made
};

} // namespace parmill::cli
