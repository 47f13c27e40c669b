// parmill/detail/remote_results.hpp: how a worker in another process or rank runs an item and
// encodes its result, and how the map's side decodes it: one byte (0: a value, 1: an exception),
// then the value, or the exception's type name and message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/process_support.hpp"
#include "parmill/outcome.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

/// Runs `item` on worker `w` (with `retries` more tries when it throws) and appends its encoded
/// result to `out`. A value stays in `keep` until `out` is sent, since `out` may refer to it.
template <class Result, class Slots, class In>
void run_and_encode(Slots& slots, std::size_t w, const worker_context& context, In& item, std::size_t retries,
                    writer& out, std::vector<Result>& keep) {
  for (std::size_t attempt = 0;; ++attempt) {
    try {
      keep.push_back(slots.call(w, context, item));
      out.raw(std::uint8_t{0});
      parmill::encode(out, keep.back());
      return;
    } catch (...) {
      if (attempt < retries) continue;
      out.raw(std::uint8_t{1});
      parmill::encode(out, current_exception_type());
      std::string message;
      try {
        throw;
      } catch (const std::exception& e) {
        message = e.what();
      } catch (...) {
        message = "an exception not derived from std::exception";
      }
      parmill::encode(out, message);
      return;
    }
  }
}

/// Decodes one result written by `run_and_encode`, as the outcome of item `index` on worker `w`.
template <class Result>
outcome<Result> decode_result(reader& r, std::size_t index, std::size_t w) {
  if (r.raw<std::uint8_t>() == 0) return outcome<Result>(index, parmill::decode<Result>(r));
  std::string type = parmill::decode<std::string>(r);
  std::string message = parmill::decode<std::string>(r);
  auto exception = std::make_exception_ptr(remote_error(type, message));
  return outcome<Result>(item_error{.index = index,
                                    .worker = w,
                                    .kind = failure_kind::exception,
                                    .message = std::move(message),
                                    .exception = std::move(exception)});
}

/// One outcome per item from `pos` to `n` (the first item has index `first`): not finished, the
/// run stopped.
template <class Result>
void cancel_rest(std::size_t w, std::size_t first, std::size_t pos, std::size_t n,
                 std::vector<outcome<Result>>& out) {
  for (; pos < n; ++pos)
    out.emplace_back(item_error{.index = first + pos,
                                .worker = w,
                                .kind = failure_kind::cancelled,
                                .message = "not finished: the run stopped",
                                .exception = nullptr});
}

} // namespace parmill::detail
