// parmill/detail/remote_results.hpp: how a worker in another process or rank runs an item and
// encodes its result, and how the map's side decodes it: one byte (0: a value, 1: an exception),
// then the value, or the exception's type name and message (2: it ran past its time limit, then
// a message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/process_support.hpp"
#include "parmill/outcome.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

/// What running an item came to in another process or rank, before it is encoded: a value, or
/// the type name and message of the exception it threw.
template <class Result>
struct ran_item {
  std::optional<Result> value;
  std::string type;
  std::string message;
};

/// Runs `item` through `call()` (with `retries` more tries when it throws).
template <class Result, class Call>
ran_item<Result> run_item(Call&& call, std::size_t retries) {
  for (std::size_t attempt = 0;; ++attempt) {
    try {
      return ran_item<Result>{.value = call(), .type = {}, .message = {}};
    } catch (...) {
      if (attempt < retries) continue;
      ran_item<Result> failed{.value = std::nullopt, .type = current_exception_type(), .message = {}};
      try {
        throw;
      } catch (const std::exception& e) {
        failed.message = e.what();
      } catch (...) {
        failed.message = "an exception not derived from std::exception";
      }
      return failed;
    }
  }
}

/// Appends the encoded `ran` to `out`. A value stays in `keep` until `out` is sent, since `out`
/// may refer to it.
template <class Result>
void encode_ran(ran_item<Result>&& ran, writer& out, std::vector<Result>& keep) {
  if (ran.value) {
    keep.push_back(std::move(*ran.value));
    out.raw(std::uint8_t{0});
    parmill::encode(out, keep.back());
    return;
  }
  out.raw(std::uint8_t{1});
  parmill::encode(out, ran.type);
  parmill::encode(out, ran.message);
}

/// Appends the encoding of an item that ran past its time limit, with `message` saying so.
inline void encode_timed_out(const std::string& message, writer& out) {
  out.raw(std::uint8_t{2});
  parmill::encode(out, message);
}

/// Runs `item` on worker `w` (with `retries` more tries when it throws) and appends its encoded
/// result to `out`. A value stays in `keep` until `out` is sent, since `out` may refer to it.
template <class Result, class Slots, class In>
void run_and_encode(Slots& slots, std::size_t w, const worker_context& context, In& item, std::size_t retries,
                    writer& out, std::vector<Result>& keep) {
  encode_ran(run_item<Result>([&] { return slots.call(w, context, item); }, retries), out, keep);
}

/// Decodes one result written by `run_and_encode`, as the outcome of item `index` on worker `w`.
template <class Result>
outcome<Result> decode_result(reader& r, std::size_t index, std::size_t w) {
  const auto kind = r.raw<std::uint8_t>();
  if (kind == 0) return outcome<Result>(index, parmill::decode<Result>(r));
  if (kind == 2)
    return outcome<Result>(item_error{.index = index,
                                      .worker = w,
                                      .kind = failure_kind::timed_out,
                                      .message = parmill::decode<std::string>(r),
                                      .exception = nullptr});
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
