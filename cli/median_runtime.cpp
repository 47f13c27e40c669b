// cli/median_runtime.cpp: two heaps, the lower half never smaller than the upper half by more than one.
#include "median_runtime.hpp"

namespace parmill::cli {

void median_runtime::add(double seconds) {
  std::lock_guard lock(mutex_);
  if (low_.empty() || seconds <= low_.top())
    low_.push(seconds);
  else
    high_.push(seconds);
  if (low_.size() > high_.size() + 1) {
    high_.push(low_.top());
    low_.pop();
  } else if (high_.size() > low_.size()) {
    low_.push(high_.top());
    high_.pop();
  }
}

std::optional<double> median_runtime::get() {
  std::lock_guard lock(mutex_);
  if (low_.size() + high_.size() < 3) return std::nullopt;
  return low_.size() > high_.size() ? low_.top() : (low_.top() + high_.top()) / 2;
}

} // namespace parmill::cli
