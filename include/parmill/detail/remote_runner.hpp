// parmill/detail/remote_runner.hpp: the mpi backend of a map. On rank 0, each of the map's worker
// threads is the proxy of one worker slot on another rank: it sends the slot a chunk of encoded
// items and waits (without spinning) for the encoded results. On the other ranks, `serve` runs
// the slots: each receives chunks, runs them with the same worker code and sends the results back,
// until rank 0 says the run is over.
//
// Messages, on the run's own channel, tagged by slot: rank 0 sends [u8 1][u64 first][u64 count]
// [items...] or [u8 0] (the end); a slot answers [u8 last-of-chunk][u64 count][results...].
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

template <class In, class Result, class Slots>
class remote_runner {
public:
  /// Opens the run's channel: every rank must construct its runner in the same order.
  remote_runner(Slots& slots, remote_transport& transport, std::size_t slots_per_rank, std::size_t workers,
                const map_options& options)
      : slots_(slots), transport_(transport), channel_(transport.open()), per_rank_(slots_per_rank),
        workers_(workers), options_(options), state_(workers) {}

  /// Waits for the answers still on their way (so that nothing is left unreceived when the channel
  /// closes), except from a rank that is lost.
  ~remote_runner() {
    std::vector<std::byte> bytes;
    const std::atomic<bool> never{false};
    for (std::size_t w = 0; w < state_.size(); ++w) {
      while (state_[w].outstanding && !lost_) {
        if (channel_->receive(rank_of(w), tag_of(w), bytes, never, {}, std::nullopt) != receive_status::ok) break;
        if (!bytes.empty() && static_cast<std::uint8_t>(bytes[0]) == 1) state_[w].outstanding = false;
      }
    }
  }

  remote_runner(const remote_runner&) = delete;
  remote_runner& operator=(const remote_runner&) = delete;

  /// Makes every proxy waiting for an answer give up at once (the run is stopping).
  void interrupt() noexcept { interrupted_ = true; }

  /// Rank 0: runs `items` (the first has index `first`) on worker slot `w`, appending one outcome
  /// per item to `out`, in order. Called only from worker w's proxy thread. Throws `rank_lost`
  /// when the slot's rank does not answer within the time limit.
  void run(std::size_t w, std::size_t first, std::vector<In>& items, std::vector<outcome<Result>>& out) {
    slot_state& s = state_[w];
    const std::size_t n = items.size();
    if (interrupted_ || n == 0) {
      cancel_rest(w, first, 0, n, out);
      return;
    }
    writer message;
    message.raw(std::uint8_t{1});
    message.raw(static_cast<std::uint64_t>(first));
    message.raw(static_cast<std::uint64_t>(n));
    for (In& item : items)
      parmill::encode(message, item);
    transport_.note_held(w, rank_of(w), first, n);
    const auto sent = std::chrono::steady_clock::now();
    channel_->send(rank_of(w), tag_of(w), message);
    s.outstanding = true;

    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (options_.timeout.count() > 0) deadline = sent + options_.timeout;
    const auto expected = std::chrono::nanoseconds(s.per_item_nanoseconds * static_cast<std::int64_t>(n));
    std::size_t pos = 0;
    while (pos < n) {
      const receive_status status = channel_->receive(rank_of(w), tag_of(w), s.buffer, interrupted_, expected, deadline);
      if (status == receive_status::interrupted) {
        cancel_rest(w, first, pos, n, out); // its answer is received (and dropped) at the end
        return;
      }
      if (status == receive_status::timed_out) {
        lost_ = true;
        transport_.mark_lost();
        throw rank_lost("parmill: rank " + std::to_string(rank_of(w)) + " (worker " + std::to_string(w) +
                        ") did not finish item " + std::to_string(first + pos) + " within the time limit of " +
                        std::to_string(std::chrono::duration<double>(options_.timeout).count()) +
                        " s; it held items " + std::to_string(first + pos) + " to " + std::to_string(first + n - 1) +
                        ". The MPI job cannot go on without it. The outcomes yielded before are in the "
                        "map's journal, if it has one: rerun with .resume = true to run only the rest.");
      }
      reader r(s.buffer.data(), s.buffer.size());
      const bool last = r.raw<std::uint8_t>() == 1;
      const auto count = r.raw<std::uint64_t>();
      for (std::uint64_t i = 0; i < count && pos < n; ++i, ++pos)
        out.push_back(decode_result<Result>(r, first + pos, w));
      if (deadline) deadline = std::chrono::steady_clock::now() + options_.timeout;
      if (last) s.outstanding = false;
    }
    transport_.note_held(w, rank_of(w), 0, 0);
    const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - sent);
    s.per_item_nanoseconds = took.count() / static_cast<std::int64_t>(n);
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
    if (rank < 1 || static_cast<std::size_t>(rank) * per_rank_ > workers_) return; // no slot here
    std::vector<std::thread> threads;
    for (std::size_t slot = 0; slot < per_rank_; ++slot)
      threads.emplace_back([this, rank, slot] { serve_slot((static_cast<std::size_t>(rank) - 1) * per_rank_ + slot); });
    for (auto& t : threads)
      t.join();
  }

private:
  struct slot_state {
    bool outstanding = false;             // an answer is on its way
    std::int64_t per_item_nanoseconds = 0; // from the last chunk, to know when to look for answers
    std::vector<std::byte> buffer;
  };

  [[nodiscard]] int rank_of(std::size_t w) const noexcept { return static_cast<int>(w / per_rank_) + 1; }
  [[nodiscard]] int tag_of(std::size_t w) const noexcept { return static_cast<int>(w % per_rank_) + 1; }

  /// One slot's life on its rank. Results go back per item under a time limit (so that rank 0
  /// sees progress item by item), otherwise in batches of at most 64 KiB or 2 ms.
  void serve_slot(std::size_t w) {
    const worker_context context{.index = w,
                                 .count = workers_,
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
    const auto flush = [&](bool last) {
      writer head;
      head.raw(static_cast<std::uint8_t>(last));
      head.raw(batched);
      // One message: the head, then the batch (copied together; results are usually small).
      for (const auto& piece : out.pieces())
        head.bytes(piece.iov_base, piece.iov_len);
      channel_->send(0, tag_of(w), head);
      out.clear();
      keep.clear();
      batched = 0;
      last_flush = std::chrono::steady_clock::now();
    };
    for (;;) {
      if (channel_->receive(0, tag_of(w), in, never, {}, std::nullopt) != receive_status::ok) break;
      reader r(in.data(), in.size());
      if (r.raw<std::uint8_t>() == 0) break; // the run is over
      r.raw<std::uint64_t>();                 // the first item's index (not needed here)
      const auto count = r.raw<std::uint64_t>();
      for (std::uint64_t i = 0; i < count; ++i) {
        In item = parmill::decode<In>(r);
        run_and_encode(slots_, w, context, item, options_.retries, out, keep);
        ++batched;
        if (i + 1 < count &&
            (per_item || out.size() >= 64 * 1024 ||
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
  std::size_t workers_;
  map_options options_;
  std::vector<slot_state> state_; // worker w's, touched only by proxy w (and the destructor)
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> lost_{false};
};

} // namespace detail
} // namespace parmill
