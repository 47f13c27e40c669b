// cli/median_runtime.hpp: the running median of successful jobs' runtimes, for --timeout N%.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <vector>

namespace parmill::cli {

/// The running median of the runtimes added so far, kept in two heaps: O(log n) per `add`, O(1)
/// per `get`; memory grows with the number of runtimes added (one double each). Thread-safe.
class median_runtime {
public:
  /// Adds one successful job's runtime, in seconds.
  void add(double seconds);
  /// The median of the runtimes added, once there are at least three (GNU parallel waits for three
  /// jobs before --timeout N% applies); nothing before. With an even count, the mean of the two
  /// middle ones.
  [[nodiscard]] std::optional<double> get();

private:
  std::mutex mutex_;
  std::priority_queue<double> low_;                                       // the lower half, largest on top
  std::priority_queue<double, std::vector<double>, std::greater<>> high_; // the upper half, smallest on top
};

} // namespace parmill::cli
