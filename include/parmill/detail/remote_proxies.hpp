// parmill/detail/remote_proxies.hpp: rank 0's side of the mpi backend. Each of the map's worker
// threads is the proxy of one worker slot on another rank: it sends the slot a chunk of encoded
// items and waits (without spinning) for the encoded results, and it notices a rank that stops
// answering. The messages are in remote_wire.hpp; the slots' side is remote_server.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/chunk_results.hpp"
#include "parmill/detail/executor.hpp"
#include "parmill/detail/remote_transport.hpp"
#include "parmill/detail/remote_wire.hpp"
#include "parmill/mpi.hpp"
#include "parmill/outcome.hpp"

namespace parmill::detail {

/// Items `first` to `first + count - 1`, held by one proxy of a rank.
struct held_range {
  std::size_t first;
  std::size_t count;
};

/// "items 2 and 5 to 7": the ranges in ascending order, whichever proxy held which (for the
/// message of a lost rank, which must not depend on which proxy sent first).
inline std::string held_items_text(std::vector<held_range> held) {
  std::sort(held.begin(), held.end(),
            [](const held_range& a, const held_range& b) { return a.first < b.first; });
  std::string text;
  for (const auto& range : held) {
    text += (text.empty() ? "" : " and ") + std::to_string(range.first);
    if (range.count > 1) text += " to " + std::to_string(range.first + range.count - 1);
  }
  return "items " + text;
}

/// Rank 0's proxies of one run: proxy w drives worker slot `layout.slot_of(w)`. Each proxy's
/// calls come from its own thread; `interrupt` from any thread.
template <class In, class Result>
class remote_proxies {
public:
  /// Proxies over `channel` (the run's, opened on every rank) for the slots of `layout`.
  remote_proxies(std::unique_ptr<remote_channel> channel, remote_transport& transport,
                 const remote_layout& layout, const item_limits& limits)
      : channel_(std::move(channel)), transport_(transport), layout_(layout), limits_(limits),
        state_(layout.slot_count * remote_depth), heard_(layout.slot_count) {}

  /// Waits for the answers still on their way (so that nothing is left unreceived when the channel
  /// closes), except from a rank that is lost. All proxies' answers are taken as they come: a slot
  /// answers its chunks oldest first, and a large answer is not sent until it is received.
  ~remote_proxies() {
    std::vector<std::byte> bytes;
    const std::atomic<bool> never{false};
    for (bool waiting = true; waiting && !lost_;) {
      waiting = false;
      bool received = false;
      for (std::size_t w = 0; w < state_.size(); ++w) {
        if (!state_[w].outstanding) continue;
        waiting = true;
        int tag = layout_.tag_of(w);
        if (channel_->receive(layout_.rank_of(w), tag, 1, tag, bytes, never, {},
                              std::chrono::steady_clock::now()) != receive_status::ok)
          continue;
        received = true;
        if (answer_is_last(bytes)) state_[w].outstanding = false;
      }
      if (waiting && !received) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  remote_proxies(const remote_proxies&) = delete;
  remote_proxies& operator=(const remote_proxies&) = delete;

  /// The run is stopping: no proxy sends another chunk (those in flight are finished by their
  /// slots and their answers received, which `.timeout` bounds).
  void interrupt() noexcept { interrupted_ = true; }

  /// Runs `items` (the first has index `first`) through proxy `w` on its worker slot, appending
  /// one outcome per item to `out`, in order, and returns how long the slot took to run them (its
  /// time, not the round trip, for sizing chunks; zero when it did not run them). Called only from
  /// proxy w's thread. Throws `rank_lost` when the slot's rank does not answer within the time
  /// limit.
  std::chrono::nanoseconds run(std::size_t w, std::size_t first, std::vector<In>& items,
                               std::vector<outcome<Result>>& out) {
    slot_state& s = state_[w];
    const std::size_t n = items.size();
    std::chrono::nanoseconds ran_for{0};
    if (interrupted_ || n == 0) {
      cancel_rest(layout_.slot_of(w), first, 0, n, out);
      return ran_for;
    }
    writer message;
    write_chunk(message, first, items);
    transport_.note_held(w, layout_.rank_of(w), first, n);
    s.held_first.store(first);
    s.held_count.store(n);
    const auto sent = std::chrono::steady_clock::now();
    channel_->send(layout_.rank_of(w), layout_.tag_of(w), message);
    s.outstanding = true;

    // With a time limit, the slot's rank answers for a late call itself, soon after the limit; a
    // slot that says nothing (on either of its proxies' tags) for longer than `lost_after()` is lost.
    auto& heard = heard_[layout_.slot_of(w)];
    heard.store(std::max(heard.load(), sent.time_since_epoch().count()));
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
      int tag = layout_.tag_of(w);
      const std::atomic<bool> never{false};
      std::optional<std::chrono::steady_clock::time_point> deadline;
      if (limits_.timeout.count() > 0) deadline = last_heard(w) + lost_after();
      const receive_status status =
          channel_->receive(layout_.rank_of(w), tag, 1, tag, s.buffer, never, expected, deadline);
      if (status == receive_status::timed_out &&
          std::chrono::steady_clock::now() < last_heard(w) + lost_after())
        continue; // the slot answered the other proxy meanwhile
      if (status == receive_status::timed_out) throw_lost(w);
      reader r(s.buffer.data(), s.buffer.size());
      const answer_head head = read_answer_head(r);
      ran_for = head.ran_for;
      for (std::uint64_t i = 0; i < head.count && pos < n; ++i, ++pos)
        out.push_back(decode_result<Result>(r, first + pos, layout_.slot_of(w)));
      heard.store(std::chrono::steady_clock::now().time_since_epoch().count());
      if (head.last) s.outstanding = false;
    }
    transport_.note_held(w, layout_.rank_of(w), 0, 0);
    s.held_count.store(0);
    const auto took =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - sent);
    s.per_item_nanoseconds = took.count() / static_cast<std::int64_t>(n);
    return ran_for;
  }

  /// Tells the worker slot of proxy `w` that the run is over for this proxy (when it ends;
  /// `stopping` makes no difference: the slot finishes what it was sent). Throws when the
  /// transport fails.
  void retire(std::size_t w, bool /*stopping*/) {
    if (lost_) return;
    writer end;
    write_end(end);
    channel_->send(layout_.rank_of(w), layout_.tag_of(w), end);
  }

private:
  struct slot_state {
    std::atomic<std::size_t> held_first{0}; // the chunk in flight, for the message when a rank is lost
    std::atomic<std::size_t> held_count{0};
    bool outstanding = false;              // an answer is on its way
    std::int64_t per_item_nanoseconds = 0; // from the last chunk, to know when to look for answers
    std::vector<std::byte> buffer;
  };

  /// When proxy w's slot last got a chunk or sent an answer.
  [[nodiscard]] std::chrono::steady_clock::time_point last_heard(std::size_t w) const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(heard_[layout_.slot_of(w)].load()));
  }
  /// How long a slot with work may say nothing before its rank counts as lost: the time limit, then
  /// a grace period for its rank to notice a late call and answer for it.
  [[nodiscard]] std::chrono::nanoseconds lost_after() const noexcept {
    return limits_.timeout + std::max<std::chrono::nanoseconds>(limits_.timeout / 2, std::chrono::seconds(1));
  }

  /// Proxy w's rank has said nothing for too long: marks the job's transport lost and throws.
  [[noreturn]] void throw_lost(std::size_t w) {
    lost_ = true;
    transport_.mark_lost();
    const int rank = layout_.rank_of(w);
    throw rank_lost("parmill: rank " + std::to_string(rank) + " stopped answering: nothing from it for " +
                    std::to_string(std::chrono::duration<double>(lost_after()).count()) +
                    " s (the time limit of " +
                    std::to_string(std::chrono::duration<double>(limits_.timeout).count()) +
                    " s, then a grace period); it held " + held_by(rank) +
                    ". The MPI job cannot go on without it. The outcomes yielded before are in the map's "
                    "journal, if it has one: rerun with .resume = true to run only the rest.");
  }

  /// "items 5 to 8 and 9": what the proxies of `rank` have in flight.
  std::string held_by(int rank) const {
    std::vector<held_range> held;
    for (std::size_t w = 0; w < state_.size(); ++w) {
      const std::size_t count = state_[w].held_count.load();
      if (layout_.rank_of(w) == rank && count != 0) held.push_back({state_[w].held_first.load(), count});
    }
    return held_items_text(std::move(held));
  }

  std::unique_ptr<remote_channel> channel_;
  remote_transport& transport_;
  remote_layout layout_;
  item_limits limits_;
  std::vector<slot_state> state_; // proxy w's, touched only by proxy w (and the destructor)
  // Per worker slot: when rank 0 last sent it a chunk or heard from it (steady clock ticks).
  std::vector<std::atomic<std::chrono::steady_clock::rep>> heard_;
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> lost_{false};
};

} // namespace parmill::detail
