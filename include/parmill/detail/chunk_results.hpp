// parmill/detail/chunk_results.hpp: how a worker in another process or rank runs an item and
// encodes its result, and how the map's side decodes it: one byte (0: a value, 1: an exception),
// then the value, or the exception's type name and message (2: it ran past its time limit, then
// a message). Used by the processes and mpi backends alike.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/executor.hpp"
#include "parmill/detail/failures.hpp"
#include "parmill/detail/process_support.hpp"
#include "parmill/detail/run_gate.hpp"
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
      return ran_item<Result>{
          .value = std::nullopt, .type = current_exception_type(), .message = current_exception_message()};
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

/// Results encoded by a worker and not sent yet, and the rule for when they go: each at once under
/// a time limit (so that the map sees every item end, and a timeout is pinned on the right item),
/// otherwise in batches of at most 64 KiB or 2 ms.
template <class Result>
class result_batch {
public:
  static constexpr std::size_t max_bytes = 64 * 1024;
  static constexpr std::chrono::milliseconds max_delay{2};

  /// `per_item`: every result is due at once (a run with a time limit).
  explicit result_batch(bool per_item) noexcept : per_item_(per_item) {}

  /// Appends the encoded `ran`.
  void add(ran_item<Result>&& ran) {
    encode_ran(std::move(ran), bytes_, keep_);
    ++count_;
  }
  /// Appends an item that ran past its time limit, with `message` saying so.
  void add_timed_out(const std::string& message) {
    encode_timed_out(message, bytes_);
    ++count_;
  }
  /// True when what is here should be sent now.
  [[nodiscard]] bool due() const {
    return per_item_ || bytes_.size() >= max_bytes ||
           std::chrono::steady_clock::now() - last_sent_ > max_delay;
  }
  /// The encoded results (they may refer to values kept here until `sent()`).
  [[nodiscard]] writer& bytes() noexcept { return bytes_; }
  /// True when every result is due at once.
  [[nodiscard]] bool per_item() const noexcept { return per_item_; }
  /// How many results are here.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  /// What was here has been sent: starts the next batch.
  void sent() {
    bytes_.clear();
    keep_.clear();
    count_ = 0;
    last_sent_ = std::chrono::steady_clock::now();
  }

private:
  bool per_item_;
  writer bytes_;
  std::vector<Result> keep_; // the values `bytes_` refers to
  std::uint64_t count_ = 0;
  std::chrono::steady_clock::time_point last_sent_ = std::chrono::steady_clock::now();
};

/// Decodes one result encoded by `encode_ran` or `encode_timed_out`, as the outcome of item
/// `index` on worker `w`.
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
    out.emplace_back(cancelled_error(first + pos, w, "not finished: the run stopped"));
}

/// Counts the failures among `out[from..]` (outcomes a chunk ran elsewhere brought back) and
/// records those that are not cancellations in the run's failure budget.
template <class Result>
chunk_report tally(const std::vector<outcome<Result>>& out, std::size_t from, failure_budget& failures) {
  chunk_report report;
  for (std::size_t i = from; i < out.size(); ++i) {
    const outcome<Result>& o = out[i];
    if (o.has_value()) continue;
    if (o.error().kind == failure_kind::cancelled) {
      ++report.cancelled;
    } else {
      ++report.failed;
      failures.record(o.index());
    }
  }
  return report;
}

} // namespace parmill::detail
