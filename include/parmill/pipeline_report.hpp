// parmill/pipeline_report.hpp: what each stage of a pipeline has done, as numbers and as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "parmill/export.hpp"
#include "parmill/worker_context.hpp"

namespace parmill {

/// One stage's counters at a point in time. Counts are of items as they leave the stage, so
/// `items_in - items_out - failures - filtered` items are inside it (queued, running, or finished
/// and waiting for the next stage): `in_flight`.
struct stage_report {
  std::string name;                             ///< the stage's name ("stage 2" when not named)
  backend_kind backend = backend_kind::inline_; ///< where its workers run
  std::size_t concurrency = 1;                  ///< its workers
  std::uint64_t items_in = 0;                   ///< items read by the stage
  std::uint64_t items_out = 0;                  ///< results passed on
  std::uint64_t failures = 0;                   ///< items that failed in this stage
  std::uint64_t filtered = 0;                   ///< items the stage dropped (returned an empty optional)
  std::uint64_t in_flight = 0;                  ///< items inside the stage now
  std::uint64_t capacity = 0;                   ///< most items the stage may hold (its window) now
  /// Time spent in the stage's function, all workers. Calls under 10 us are timed one in 16 (the
  /// clock would cost more than they do), so for those this and the times below are estimates.
  double busy_seconds = 0;
  double mean_seconds = 0; ///< mean time per item
  double p50_seconds = 0;  ///< median time per item (within 13%)
  double p99_seconds = 0;  ///< 99th percentile time per item (within 13%)
};

/// Every stage's counters, in pipeline order (the branches of a fan-out in the order given).
struct PARMILL_API pipeline_report {
  std::vector<stage_report> stages; ///< one per stage
  double elapsed_seconds = 0;       ///< since the pipeline started
  std::uint64_t outputs = 0;        ///< outcomes the consumer has received

  /// A table for people, one line per stage.
  [[nodiscard]] std::string to_string() const;
};

/// Prints `report.to_string()`: `std::cout << p.report()`. (No `std::format` support: GCC 12's
/// standard library has no `<format>`.)
PARMILL_API std::ostream& operator<<(std::ostream& out, const pipeline_report& report);

/// One line per stage for a live display: name, counts, rate, queue fill and time per item.
[[nodiscard]] PARMILL_API std::string format_stage_line(const stage_report& s, double elapsed_seconds);

} // namespace parmill
