// parmill/detail/remote_runner.hpp: the mpi backend of a map. On rank 0, each of the map's worker
// threads is the proxy of one worker slot on another rank: it sends the slot a chunk of encoded
// items and waits (without spinning) for the encoded results. On the other ranks, `serve` runs
// the slots: each receives chunks, runs them with the same worker code and sends the results back,
// until rank 0 says the run is over.
//
// Messages, on the run's own channel, tagged by slot: rank 0 sends [u8 1][u64 first][u64 count]
// [items...] or [u8 0] (the end); a slot answers [u8 last-of-chunk][u64 count][u64 nanoseconds the
// chunk took there, on its last answer][results...].
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/remote_results.hpp"
#include "parmill/detail/remote_transport.hpp"
#include "parmill/map_options.hpp"
#include "parmill/outcome.hpp"
#include "parmill/worker_context.hpp"

namespace parmill {

/// Thrown by a map on the mpi backend when a rank stops answering (an item ran past `.timeout`):
/// the job cannot go on, so the run ends with this error, which names the rank and the items it
/// held; outcomes already yielded are kept. MPI cannot recover a lost rank, so the `mpi_session`
/// then ends the whole job (MPI_Abort) instead of finalising.
class rank_lost : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// Chunks in flight to each worker slot at once: while a slot runs one, the next waits at its
/// rank, so the slot never idles for a round trip. Rank 0 has this many proxies per slot.
inline constexpr std::size_t remote_depth = 2;

template <class In, class Result, class Slots>
class remote_runner {
public:
  /// Opens the run's channel: every rank must construct its runner in the same order. `proxies` is
  /// the map's worker count: `remote_depth` per worker slot.
  remote_runner(Slots& slots, remote_transport& transport, std::size_t slots_per_rank, std::size_t proxies,
                const map_options& options)
      : slots_(slots), transport_(transport), channel_(transport.open()), per_rank_(slots_per_rank),
        slot_count_(proxies / remote_depth), options_(options), state_(proxies) {}

  /// Waits for the answers still on their way (so that nothing is left unreceived when the channel
  /// closes), except from a rank that is lost. All proxies' answers are taken as they come: a slot
  /// answers its chunks oldest first, and a large answer is not sent until it is received.
  ~remote_runner() {
    std::vector<std::byte> bytes;
    const std::atomic<bool> never{false};
    for (bool waiting = true; waiting && !lost_;) {
      waiting = false;
      bool received = false;
      for (std::size_t w = 0; w < state_.size(); ++w) {
        if (!state_[w].outstanding) continue;
        waiting = true;
        int tag = tag_of(w);
        if (channel_->receive(rank_of(w), tag, 1, tag, bytes, never, {}, std::chrono::steady_clock::now()) !=
            receive_status::ok)
          continue;
        received = true;
        if (!bytes.empty() && static_cast<std::uint8_t>(bytes[0]) == 1) state_[w].outstanding = false;
      }
      if (waiting && !received) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  remote_runner(const remote_runner&) = delete;
  remote_runner& operator=(const remote_runner&) = delete;

  /// The run is stopping: no proxy sends another chunk (those in flight are finished by their
  /// slots and their answers received, which `.timeout` bounds).
  void interrupt() noexcept { interrupted_ = true; }

  /// Rank 0: runs `items` (the first has index `first`) through proxy `w` on its worker slot,
  /// appending one outcome per item to `out`, in order, and returns how long the slot took to run
  /// them (its time, not the round trip, for sizing chunks; zero when it did not run them). Called
  /// only from proxy w's thread. Throws `rank_lost` when the slot's rank does not answer within the
  /// time limit.
  std::chrono::nanoseconds run(std::size_t w, std::size_t first, std::vector<In>& items,
                               std::vector<outcome<Result>>& out) {
    slot_state& s = state_[w];
    const std::size_t n = items.size();
    std::chrono::nanoseconds ran_for{0};
    if (interrupted_ || n == 0) {
      cancel_rest(slot_of(w), first, 0, n, out);
      return ran_for;
    }
    writer message;
    message.raw(std::uint8_t{1});
    message.raw(static_cast<std::uint64_t>(first));
    message.raw(static_cast<std::uint64_t>(n));
    for (In& item : items)
      parmill::encode(message, item);
    transport_.note_held(w, rank_of(w), first, n);
    s.held_first.store(first);
    s.held_count.store(n);
    const auto sent = std::chrono::steady_clock::now();
    channel_->send(rank_of(w), tag_of(w), message);
    s.outstanding = true;

    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (options_.timeout.count() > 0) deadline = sent + options_.timeout;
    // When the whole chunk should be done, judging by the last one; each wait looks for the answer
    // shortly before then (answers may come in several parts).
    const auto done_by =
        sent + std::chrono::nanoseconds(s.per_item_nanoseconds * static_cast<std::int64_t>(n));
    std::size_t pos = 0;
    while (pos < n) {
      const auto expected = std::max<std::chrono::nanoseconds>(
          std::chrono::nanoseconds(0),
          std::chrono::duration_cast<std::chrono::nanoseconds>(done_by - std::chrono::steady_clock::now()));
      // The answer is awaited even when the run is stopping: a slot sends the answers of its
      // chunks in turn, and a large one is not sent until it is received, so a proxy that stopped
      // listening would hold up its slot and, through it, the other proxies' chunks.
      int tag = tag_of(w);
      const std::atomic<bool> never{false};
      const receive_status status =
          channel_->receive(rank_of(w), tag, 1, tag, s.buffer, never, expected, deadline);
      if (status == receive_status::timed_out) {
        lost_ = true;
        transport_.mark_lost();
        throw rank_lost("parmill: rank " + std::to_string(rank_of(w)) +
                        " stopped answering: no result within the " + "time limit of " +
                        std::to_string(std::chrono::duration<double>(options_.timeout).count()) +
                        " s; it held " + held_by(rank_of(w)) +
                        ". The MPI job cannot go on without it. The outcomes yielded before are in the map's "
                        "journal, if it has one: rerun with .resume = true to run only the rest.");
      }
      reader r(s.buffer.data(), s.buffer.size());
      const bool last = r.raw<std::uint8_t>() == 1;
      const auto count = r.raw<std::uint64_t>();
      ran_for = std::chrono::nanoseconds(static_cast<std::int64_t>(r.raw<std::uint64_t>()));
      for (std::uint64_t i = 0; i < count && pos < n; ++i, ++pos)
        out.push_back(decode_result<Result>(r, first + pos, slot_of(w)));
      if (deadline) deadline = std::chrono::steady_clock::now() + options_.timeout;
      if (last) s.outstanding = false;
    }
    transport_.note_held(w, rank_of(w), 0, 0);
    s.held_count.store(0);
    const auto took =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - sent);
    s.per_item_nanoseconds = took.count() / static_cast<std::int64_t>(n);
    return ran_for;
  }

  /// Rank 0: tells worker slot `w` that the run is over (when its proxy ends).
  void retire(std::size_t w) {
    if (lost_) return;
    writer end;
    end.raw(std::uint8_t{0});
    channel_->send(rank_of(w), tag_of(w), end);
  }

  /// Any other rank: runs this rank's slots until rank 0 ends the run; returns when every slot has
  /// ended and destroyed its per-worker object.
  void serve() {
    const int rank = transport_.rank();
    if (rank < 1 || static_cast<std::size_t>(rank) * per_rank_ > slot_count_) return; // no slot here
    std::vector<std::thread> threads;
    for (std::size_t slot = 0; slot < per_rank_; ++slot)
      threads.emplace_back(
          [this, rank, slot] { serve_slot((static_cast<std::size_t>(rank) - 1) * per_rank_ + slot); });
    for (auto& t : threads)
      t.join();
  }

private:
  struct slot_state {
    std::atomic<std::size_t> held_first{0}; // the chunk in flight, for the message when a rank is lost
    std::atomic<std::size_t> held_count{0};
    bool outstanding = false;              // an answer is on its way
    std::int64_t per_item_nanoseconds = 0; // from the last chunk, to know when to look for answers
    std::vector<std::byte> buffer;
  };

  /// "items 5 to 8 and 9": what the proxies of `rank` have in flight.
  std::string held_by(int rank) const {
    std::string text;
    for (std::size_t w = 0; w < state_.size(); ++w) {
      const std::size_t count = state_[w].held_count.load();
      if (rank_of(w) != rank || count == 0) continue;
      const std::size_t first = state_[w].held_first.load();
      text += (text.empty() ? "" : " and ") + std::to_string(first);
      if (count > 1) text += " to " + std::to_string(first + count - 1);
    }
    return "items " + text;
  }

  // Proxy w serves worker slot w / remote_depth, which is slot (slot % per_rank) of rank
  // slot / per_rank + 1; each slot's proxies have tags of their own, `remote_depth` in a row.
  [[nodiscard]] std::size_t slot_of(std::size_t w) const noexcept { return w / remote_depth; }
  [[nodiscard]] int rank_of(std::size_t w) const noexcept {
    return static_cast<int>(slot_of(w) / per_rank_) + 1;
  }
  [[nodiscard]] int first_tag(std::size_t slot) const noexcept {
    return static_cast<int>((slot % per_rank_) * remote_depth) + 1;
  }
  [[nodiscard]] int tag_of(std::size_t w) const noexcept {
    return first_tag(slot_of(w)) + static_cast<int>(w % remote_depth);
  }

  /// One slot's life on its rank. Results go back per item under a time limit (so that rank 0
  /// sees progress item by item), otherwise in batches of at most 64 KiB or 2 ms.
  void serve_slot(std::size_t w) {
    const worker_context context{.index = w,
                                 .count = slot_count_,
                                 .backend = backend_kind::mpi,
                                 .stop = {},
                                 .rank = transport_.rank(),
                                 .host = transport_.host()};
    const bool per_item = options_.timeout.count() > 0;
    const std::atomic<bool> never{false};
    std::vector<std::byte> in;
    writer out;
    std::vector<Result> keep;
    std::uint64_t batched = 0;
    auto last_flush = std::chrono::steady_clock::now();
    int tag = first_tag(w); // the tag of the chunk being served (its proxy's); of the last received
    std::size_t ended = 0;  // proxies that have said the run is over
    auto chunk_started = std::chrono::steady_clock::now();
    const auto flush = [&](bool last) {
      writer head;
      head.raw(static_cast<std::uint8_t>(last));
      head.raw(batched);
      head.raw(static_cast<std::uint64_t>(last ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                     std::chrono::steady_clock::now() - chunk_started)
                                                     .count()
                                               : 0));
      // One message: the head, then the batch (copied together; results are usually small).
      for (const auto& piece : out.pieces())
        head.bytes(piece.iov_base, piece.iov_len);
      channel_->send(0, tag, head);
      out.clear();
      keep.clear();
      batched = 0;
      last_flush = std::chrono::steady_clock::now();
    };
    // Chunks waiting here, taken oldest first (by their first item), so that a slot runs its items
    // in the order the map handed them out.
    struct waiting {
      int tag;
      std::uint64_t first;
      std::vector<std::byte> bytes;
    };
    std::vector<waiting> queue;
    const auto take = [&](bool wait) {
      const auto now = std::chrono::steady_clock::now();
      if (channel_->receive(0, first_tag(w), static_cast<int>(remote_depth), tag, in, never, {},
                            wait ? std::nullopt : std::optional(now)) != receive_status::ok)
        return false;
      reader r(in.data(), in.size());
      if (r.raw<std::uint8_t>() == 0) { // this proxy is done; the run is over when all are
        ++ended;
        return true;
      }
      queue.push_back(waiting{tag, r.raw<std::uint64_t>(), std::move(in)});
      in = {};
      return true;
    };
    while (ended < remote_depth || !queue.empty()) {
      if (queue.empty() && !take(true)) break;
      while (take(false)) {
      }
      if (queue.empty()) continue;
      const auto oldest = std::min_element(
          queue.begin(), queue.end(), [](const waiting& a, const waiting& b) { return a.first < b.first; });
      waiting chunk = std::move(*oldest);
      queue.erase(oldest);
      tag = chunk.tag;
      reader r(chunk.bytes.data(), chunk.bytes.size());
      r.raw<std::uint8_t>();
      r.raw<std::uint64_t>(); // the first item's index
      const auto count = r.raw<std::uint64_t>();
      chunk_started = std::chrono::steady_clock::now();
      for (std::uint64_t i = 0; i < count; ++i) {
        In item = parmill::decode<In>(r);
        run_and_encode(slots_, w, context, item, options_.retries, out, keep);
        ++batched;
        if (i + 1 < count && (per_item || out.size() >= 64 * 1024 ||
                              std::chrono::steady_clock::now() - last_flush > std::chrono::milliseconds(2)))
          flush(false);
      }
      flush(true);
    }
    slots_.release(w);
  }

  Slots& slots_;
  remote_transport& transport_;
  std::unique_ptr<remote_channel> channel_;
  std::size_t per_rank_;
  std::size_t slot_count_; // worker slots on all the other ranks
  map_options options_;
  std::vector<slot_state> state_; // worker w's, touched only by proxy w (and the destructor)
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> lost_{false};
};

} // namespace detail
} // namespace parmill
