// parmill/detail/remote_wire.hpp: the mpi backend's messages and addresses, in one place for both
// sides: rank 0's proxies (remote_proxies.hpp) and the worker slots on the other ranks
// (remote_server.hpp).
//
// Messages, on the run's own channel, tagged by proxy: a proxy sends its slot [u8 1][u64 first]
// [u64 count][items...] (a chunk) or [u8 0] (the run is over for this proxy); the slot answers
// [u8 last-of-chunk][u64 count][u64 nanoseconds the chunk took there, on its last answer]
// [results...], in one or more parts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "parmill/codec.hpp"

namespace parmill::detail {

/// Chunks in flight to each worker slot at once: while a slot runs one, the next waits at its
/// rank, so the slot never idles for a round trip. Rank 0 has this many proxies per slot.
inline constexpr std::size_t remote_depth = 2;

/// Where a proxy's slot is and which tags its messages carry. Proxy w serves worker slot
/// w / remote_depth, which is slot (slot % per_rank) of rank slot / per_rank + 1; each slot's
/// proxies have tags of their own, `remote_depth` in a row.
struct remote_layout {
  std::size_t per_rank = 1;   ///< worker slots on each rank but rank 0
  std::size_t slot_count = 0; ///< worker slots on all the other ranks

  [[nodiscard]] std::size_t slot_of(std::size_t w) const noexcept { return w / remote_depth; }
  [[nodiscard]] int rank_of(std::size_t w) const noexcept {
    return static_cast<int>(slot_of(w) / per_rank) + 1;
  }
  /// The first of slot `slot`'s tags.
  [[nodiscard]] int first_tag(std::size_t slot) const noexcept {
    return static_cast<int>((slot % per_rank) * remote_depth) + 1;
  }
  /// Proxy w's tag.
  [[nodiscard]] int tag_of(std::size_t w) const noexcept {
    return first_tag(slot_of(w)) + static_cast<int>(w % remote_depth);
  }
  /// The slot on `rank` numbered `local` there (0 .. per_rank - 1).
  [[nodiscard]] std::size_t slot_on(int rank, std::size_t local) const noexcept {
    return (static_cast<std::size_t>(rank) - 1) * per_rank + local;
  }
  /// True when `rank` has worker slots.
  [[nodiscard]] bool has_slots(int rank) const noexcept {
    return rank >= 1 && static_cast<std::size_t>(rank) * per_rank <= slot_count;
  }
};

/// The head of a proxy's message to its slot: a chunk (items `first` .. `first + count - 1`
/// follow), or the end of the run for that proxy.
struct chunk_head {
  bool end = false;
  std::uint64_t first = 0;
  std::uint64_t count = 0;
};

/// Writes a chunk: its head, then each item encoded.
template <class In>
void write_chunk(writer& message, std::size_t first, std::vector<In>& items) {
  message.raw(std::uint8_t{1});
  message.raw(static_cast<std::uint64_t>(first));
  message.raw(static_cast<std::uint64_t>(items.size()));
  for (In& item : items)
    parmill::encode(message, item);
}

/// Writes the message that ends the run for a proxy.
inline void write_end(writer& message) { message.raw(std::uint8_t{0}); }

/// Reads a proxy's message head; for a chunk, `r` is left at its first item.
inline chunk_head read_chunk_head(reader& r) {
  chunk_head head;
  head.end = r.raw<std::uint8_t>() == 0;
  if (head.end) return head;
  head.first = r.raw<std::uint64_t>();
  head.count = r.raw<std::uint64_t>();
  return head;
}

/// The head of a slot's answer: `count` results follow; `last` says the chunk is done, and then
/// `ran_for` is how long the slot took to run it.
struct answer_head {
  bool last = false;
  std::uint64_t count = 0;
  std::chrono::nanoseconds ran_for{0};
};

/// Writes an answer's head (the results are appended after it).
inline void write_answer_head(writer& message, const answer_head& head) {
  message.raw(static_cast<std::uint8_t>(head.last));
  message.raw(head.count);
  message.raw(static_cast<std::uint64_t>(head.ran_for.count()));
}

/// Reads an answer's head; `r` is left at its first result.
inline answer_head read_answer_head(reader& r) {
  answer_head head;
  head.last = r.raw<std::uint8_t>() == 1;
  head.count = r.raw<std::uint64_t>();
  head.ran_for = std::chrono::nanoseconds(static_cast<std::int64_t>(r.raw<std::uint64_t>()));
  return head;
}

/// True when the answer in `bytes` ends its chunk (never throws: for draining answers at the end).
[[nodiscard]] inline bool answer_is_last(const std::vector<std::byte>& bytes) noexcept {
  return !bytes.empty() && static_cast<std::uint8_t>(bytes[0]) == 1;
}

} // namespace parmill::detail
