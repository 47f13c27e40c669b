// parmill/detail/completed_chunks.hpp: the chunks workers have completed and the consumer has not
// taken yet, handed out in input order (a reorder buffer keyed by chunk number) or in the order
// they completed.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <utility>

#include "parmill/map_options.hpp"

namespace parmill::detail {

/// Completed chunks waiting for the consumer. Chunks are numbered 0, 1, 2, ... as they are issued;
/// in input order chunk n is taken only after chunks 0 .. n-1, in completion order as they come.
/// Not thread-safe: the map guards it with its lock. Holds at most the chunks in flight (the map's
/// window bounds them).
template <class Chunk>
class completed_chunks {
public:
  /// Chunks are taken in `o`.
  explicit completed_chunks(order o) noexcept : order_(o) {}

  /// Adds chunk number `seq`. True when it is the one the consumer takes next (a consumer waiting
  /// for it should be woken).
  bool add(std::size_t seq, Chunk&& chunk) {
    if (order_ == order::input) {
      by_seq_.emplace(seq, std::move(chunk));
      return seq == taken_;
    }
    fifo_.push_back(std::move(chunk));
    return true;
  }

  /// Moves the next chunk into `into` when it is here; false when it is not (yet).
  bool take(Chunk& into) {
    if (order_ == order::input) {
      auto it = by_seq_.find(taken_);
      if (it == by_seq_.end()) return false;
      into = std::move(it->second);
      by_seq_.erase(it);
    } else {
      if (fifo_.empty()) return false;
      into = std::move(fifo_.front());
      fifo_.pop_front();
    }
    ++taken_;
    return true;
  }

  /// How many chunks have been taken.
  [[nodiscard]] std::size_t taken() const noexcept { return taken_; }

private:
  order order_;
  std::map<std::size_t, Chunk> by_seq_; // input order
  std::deque<Chunk> fifo_;              // completion order
  std::size_t taken_ = 0;
};

} // namespace parmill::detail
