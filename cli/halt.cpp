// cli/halt.cpp: --halt's counts and exit statuses, as GNU parallel 20221122 computes them.
#include "halt.hpp"

#include <algorithm>
#include <cmath>

namespace parmill::cli {

bool halt_tracker::count(const process_result& r) {
  ++done_;
  if (r.failed())
    ++failed_;
  else
    ++succeeded_;
  if (policy_.at == halt_policy::when::never || halted_ || !relevant(r)) return false;
  const std::size_t n = policy_.on == halt_policy::why::fail      ? failed_
                        : policy_.on == halt_policy::why::success ? succeeded_
                                                                  : done_;
  if (static_cast<double>(n) < needed()) return false;
  halted_ = true;
  halted_status_ = status_when_halted(r);
  return true;
}

bool halt_tracker::relevant(const process_result& r) const noexcept {
  return policy_.at != halt_policy::when::never &&
         (policy_.on == halt_policy::why::done || (policy_.on == halt_policy::why::fail) == r.failed());
}

int halt_tracker::exit_status() const {
  if (halted_) return halted_status_;
  if (policy_.at != halt_policy::when::never && policy_.percent) return failed_percent(done_);
  return capped_failures();
}

double halt_tracker::needed() const {
  return policy_.percent ? static_cast<double>(total_) * (policy_.threshold / 100.0) : policy_.threshold;
}

int halt_tracker::capped_failures() const { return static_cast<int>(std::min<std::size_t>(failed_, 101)); }

int halt_tracker::failed_percent(std::size_t of) const {
  return static_cast<int>(
      std::ceil(static_cast<double>(failed_) / static_cast<double>(std::max<std::size_t>(of, 1)) * 100.0));
}

int halt_tracker::status_when_halted(const process_result& r) const {
  if (policy_.on == halt_policy::why::success) return 0;
  if (needed() == 1) // fail=1, done=1: the job's own status (128 + its signal)
    return r.exit_value > 0 ? r.exit_value : r.signal != 0 ? 128 + r.signal : r.failed() ? 1 : 0;
  return policy_.percent ? failed_percent(total_) : capped_failures();
}

} // namespace parmill::cli
