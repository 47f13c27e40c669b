// parmill/detail/failures.hpp: the one place where an item's failure is built from an exception
// or from a stop, for every backend and for the pipeline.
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <utility>

#include "parmill/outcome.hpp"

namespace parmill::detail {

/// The message of the exception being handled: its what(), or a fixed text for an exception not
/// derived from std::exception. Call only inside a catch block.
inline std::string current_exception_message() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

/// The failure of item `index` on worker `worker`: the exception being handled, kept with its
/// message. Call only inside a catch block.
inline item_error current_exception_error(std::size_t index, std::size_t worker) {
  return item_error{.index = index,
                    .worker = worker,
                    .kind = failure_kind::exception,
                    .message = current_exception_message(),
                    .exception = std::current_exception()};
}

/// The failure of item `index` on worker `worker` that did not run to its end because the run
/// stopped; `message` says how far it got ("not started: the run stopped").
inline item_error cancelled_error(std::size_t index, std::size_t worker, std::string message) {
  return item_error{.index = index,
                    .worker = worker,
                    .kind = failure_kind::cancelled,
                    .message = std::move(message),
                    .exception = nullptr};
}

} // namespace parmill::detail
