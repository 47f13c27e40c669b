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
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/chunk_results.hpp"
#include "parmill/detail/executor.hpp"
#include "parmill/detail/remote_transport.hpp"
#include "parmill/detail/run_gate.hpp"
#include "parmill/detail/runner_executor.hpp"
#include "parmill/mpi.hpp"
#include "parmill/outcome.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

/// Chunks in flight to each worker slot at once: while a slot runs one, the next waits at its
/// rank, so the slot never idles for a round trip. Rank 0 has this many proxies per slot.
inline constexpr std::size_t remote_depth = 2;

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

template <class In, class Result, class Slots>
class remote_runner {
public:
  /// Opens the run's channel: every rank must construct its runner in the same order. `proxies` is
  /// the map's worker count: `remote_depth` per worker slot.
  remote_runner(std::shared_ptr<Slots> slots, remote_transport& transport, std::size_t slots_per_rank,
                std::size_t proxies, const item_limits& limits)
      : slots_(std::move(slots)), transport_(transport), channel_(transport.open()),
        per_rank_(slots_per_rank), slot_count_(proxies / remote_depth), limits_(limits), state_(proxies),
        heard_(slot_count_) {}

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

    // With a time limit, the slot's rank answers for a late call itself, soon after the limit; a
    // slot that says nothing (on either of its proxies' tags) for longer than `lost_after()` is lost.
    heard_[slot_of(w)].store(std::max(heard_[slot_of(w)].load(), sent.time_since_epoch().count()));
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
      std::optional<std::chrono::steady_clock::time_point> deadline;
      if (limits_.timeout.count() > 0) deadline = last_heard(w) + lost_after();
      const receive_status status =
          channel_->receive(rank_of(w), tag, 1, tag, s.buffer, never, expected, deadline);
      if (status == receive_status::timed_out &&
          std::chrono::steady_clock::now() < last_heard(w) + lost_after())
        continue; // the slot answered the other proxy meanwhile
      if (status == receive_status::timed_out) {
        lost_ = true;
        transport_.mark_lost();
        throw rank_lost(
            "parmill: rank " + std::to_string(rank_of(w)) + " stopped answering: nothing from it for " +
            std::to_string(std::chrono::duration<double>(lost_after()).count()) + " s (the time limit of " +
            std::to_string(std::chrono::duration<double>(limits_.timeout).count()) +
            " s, then a grace period); it held " + held_by(rank_of(w)) +
            ". The MPI job cannot go on without it. The outcomes yielded before are in the map's "
            "journal, if it has one: rerun with .resume = true to run only the rest.");
      }
      reader r(s.buffer.data(), s.buffer.size());
      const bool last = r.raw<std::uint8_t>() == 1;
      const auto count = r.raw<std::uint64_t>();
      ran_for = std::chrono::nanoseconds(static_cast<std::int64_t>(r.raw<std::uint64_t>()));
      for (std::uint64_t i = 0; i < count && pos < n; ++i, ++pos)
        out.push_back(decode_result<Result>(r, first + pos, slot_of(w)));
      heard_[slot_of(w)].store(std::chrono::steady_clock::now().time_since_epoch().count());
      if (last) s.outstanding = false;
    }
    transport_.note_held(w, rank_of(w), 0, 0);
    s.held_count.store(0);
    const auto took =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - sent);
    s.per_item_nanoseconds = took.count() / static_cast<std::int64_t>(n);
    return ran_for;
  }

  /// Rank 0: tells the worker slot of proxy `w` that the run is over for this proxy (when it ends;
  /// `stopping` makes no difference: the slot finishes what it was sent). Throws when the
  /// transport fails.
  void retire(std::size_t w, bool /*stopping*/) {
    if (lost_) return;
    writer end;
    end.raw(std::uint8_t{0});
    channel_->send(rank_of(w), tag_of(w), end);
  }

  /// Any other rank: runs this rank's slots until rank 0 ends the run; returns when every slot has
  /// ended and destroyed its per-worker object. With a `.timeout`, this thread also watches the
  /// slots: a call still running after the limit is answered `timed_out` (or tried again, within
  /// `.retries`), and its slot goes on in a new thread with a new per-worker object; the thread of
  /// the call is abandoned (a thread cannot be stopped), and what it returns, if it ever does, is
  /// dropped.
  void serve() {
    const int rank = transport_.rank();
    if (rank < 1 || static_cast<std::size_t>(rank) * per_rank_ > slot_count_) return; // no slot here
    std::vector<std::shared_ptr<slot_loop>> loops;
    for (std::size_t slot = 0; slot < per_rank_; ++slot) {
      const std::size_t w = (static_cast<std::size_t>(rank) - 1) * per_rank_ + slot;
      auto loop = std::make_shared<slot_loop>(slots_, limits_.timeout.count() > 0);
      loop->w = w;
      loop->tag = first_tag(w);
      loops.push_back(loop);
    }
    for (auto& loop : loops)
      loop->thread = std::thread([this, loop] { drive(loop); });
    if (limits_.timeout.count() > 0) watch(loops);
    for (auto& loop : loops)
      if (loop->thread.joinable()) loop->thread.join();
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
        std::chrono::steady_clock::duration(heard_[slot_of(w)].load()));
  }
  /// How long a slot with work may say nothing before its rank counts as lost: the time limit, then
  /// a grace period for its rank to notice a late call and answer for it.
  [[nodiscard]] std::chrono::nanoseconds lost_after() const noexcept {
    return limits_.timeout + std::max<std::chrono::nanoseconds>(limits_.timeout / 2, std::chrono::seconds(1));
  }

  /// "items 5 to 8 and 9": what the proxies of `rank` have in flight.
  std::string held_by(int rank) const {
    std::vector<held_range> held;
    for (std::size_t w = 0; w < state_.size(); ++w) {
      const std::size_t count = state_[w].held_count.load();
      if (rank_of(w) == rank && count != 0) held.push_back({state_[w].held_first.load(), count});
    }
    return held_items_text(std::move(held));
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

  /// One worker slot's loop on its rank, kept apart from the thread that runs it, so that a new
  /// thread can take it over when a call runs past the time limit.
  struct slot_loop {
    /// `per_item`: results go back one by one (under a time limit).
    slot_loop(std::shared_ptr<Slots> shared_slots, bool per_item)
        : slots(std::move(shared_slots)), out(per_item) {}
    // The workers' function, kept alive by each loop: a thread whose call was taken over goes on
    // with it after the runner (and the run) have ended.
    std::shared_ptr<Slots> slots;
    struct waiting { // a chunk received and not started yet
      int tag;
      std::uint64_t first;
      std::vector<std::byte> bytes;
    };
    std::size_t w = 0;     // the worker slot
    int tag = 0;           // the tag of the chunk being run (its proxy's); of the last received
    std::size_t ended = 0; // proxies that have said the run is over
    std::vector<waiting> queue;
    std::vector<In> items; // the chunk being run
    std::size_t next = 0;  // its next item
    bool in_chunk = false;
    std::size_t timeouts = 0; // of the item at `next`, for `.retries`
    result_batch<Result> out; // results not sent yet
    std::chrono::steady_clock::time_point chunk_started = std::chrono::steady_clock::now();
    std::thread thread;
    bool done = false; // the loop has ended (guarded by watch_mutex_)
    // generation * 4 + call state: which thread owns the loop, and whether it is in a call (since
    // `call_started`). The watchdog takes a call over by moving it from `in_call` to `abandoned`;
    // a thread whose call returns finds it so and leaves without touching anything else.
    std::atomic<std::uint64_t> state{0};
    std::atomic<std::int64_t> call_started{0}; // steady clock, nanoseconds
  };
  static constexpr std::uint64_t idle = 0, in_call = 1, abandoned = 2;

  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  /// Runs slot loop `shared` until rank 0 ends the run, or until the watchdog takes over a call of
  /// this thread's (then it returns, touching nothing, when the call does). Results go back one by
  /// one under a time limit (so that rank 0 sees every item end), otherwise in batches of at most
  /// 64 KiB or 2 ms.
  void drive(std::shared_ptr<slot_loop> shared) {
    slot_loop& s = *shared;
    const std::uint64_t generation = s.state.load(std::memory_order_acquire) / 4;
    const worker_context context{.index = s.w,
                                 .count = slot_count_,
                                 .backend = backend_kind::mpi,
                                 .stop = {},
                                 .rank = transport_.rank(),
                                 .host = transport_.host()};
    const bool per_item = limits_.timeout.count() > 0;
    const std::size_t retries = limits_.retries;
    // Once a call has started, this thread touches only what `shared` owns and its own locals: the
    // watchdog may take the call over, and the runner may be gone by the time it returns.
    Slots& slots = *s.slots;
    // This thread's per-worker object (a thread that takes the loop over builds its own): it is
    // destroyed here, on this thread, when the loop ends or when a call taken over returns.
    auto holder = std::make_unique<typename Slots::holder>();
    for (;;) {
      if (!s.in_chunk && !start_chunk(s)) break;
      while (s.next < s.items.size()) {
        // Under a time limit the call gets an item of its own: one that is taken over goes on using
        // it while the loop moves on (and, for a retry, keeps the original).
        std::optional<In> own;
        if (per_item) {
          if constexpr (std::is_copy_constructible_v<In>) {
            own.emplace(s.items[s.next]);
          } else {
            own.emplace(std::move(s.items[s.next]));
          }
        }
        In& item = own ? *own : s.items[s.next];
        if (per_item) { // only then is there a watchdog to hand the call over to
          s.call_started.store(now_ns(), std::memory_order_relaxed);
          s.state.store(generation * 4 + in_call, std::memory_order_release);
        }
        auto ran = run_item<Result>([&] { return slots.call_with(*holder, context, item); }, retries);
        std::uint64_t expected = generation * 4 + in_call;
        if (per_item &&
            !s.state.compare_exchange_strong(expected, generation * 4 + idle, std::memory_order_acq_rel))
          return; // the watchdog answered for this call and gave the loop to another thread
        s.out.add(std::move(ran));
        ++s.next;
        s.timeouts = 0;
        if (s.next < s.items.size() && s.out.due()) flush(s, false);
      }
      flush(s, true);
      s.in_chunk = false;
    }
    holder.reset(); // before the loop is done: the per-worker object dies with its thread's work
    std::lock_guard lock(watch_mutex_);
    s.done = true;
    watch_cv_.notify_all();
  }

  /// Takes the oldest chunk waiting (by its first item, so that a slot runs its items in the
  /// order the map handed them out), receiving first; false when rank 0 has ended the run.
  bool start_chunk(slot_loop& s) {
    while (s.ended < remote_depth || !s.queue.empty()) {
      if (s.queue.empty() && !take(s, true)) return false;
      while (take(s, false)) {
      }
      if (s.queue.empty()) continue;
      const auto oldest = std::min_element(s.queue.begin(), s.queue.end(),
                                           [](const auto& a, const auto& b) { return a.first < b.first; });
      auto chunk = std::move(*oldest);
      s.queue.erase(oldest);
      s.tag = chunk.tag;
      reader r(chunk.bytes.data(), chunk.bytes.size());
      r.raw<std::uint8_t>();
      r.raw<std::uint64_t>(); // the first item's index
      const auto count = r.raw<std::uint64_t>();
      s.items.clear();
      s.items.reserve(count);
      for (std::uint64_t i = 0; i < count; ++i)
        s.items.push_back(parmill::decode<In>(r));
      s.next = 0;
      s.in_chunk = true;
      s.chunk_started = std::chrono::steady_clock::now();
      return true;
    }
    return false;
  }

  /// Receives the next message for slot loop `s` (waiting for it, or only looking); false when
  /// there was none.
  bool take(slot_loop& s, bool wait) {
    static const std::atomic<bool> never{false};
    std::vector<std::byte> in;
    const auto now = std::chrono::steady_clock::now();
    if (channel_->receive(0, first_tag(s.w), static_cast<int>(remote_depth), s.tag, in, never, {},
                          wait ? std::nullopt : std::optional(now)) != receive_status::ok)
      return false;
    reader r(in.data(), in.size());
    if (r.raw<std::uint8_t>() == 0) { // this proxy is done; the run is over when all are
      ++s.ended;
      return true;
    }
    const auto first = r.raw<std::uint64_t>();
    s.queue.push_back(typename slot_loop::waiting{s.tag, first, std::move(in)});
    return true;
  }

  /// Sends the results of `s` not sent yet to the chunk's proxy; `last`: the chunk is done.
  void flush(slot_loop& s, bool last) {
    writer head;
    head.raw(static_cast<std::uint8_t>(last));
    head.raw(s.out.count());
    head.raw(static_cast<std::uint64_t>(last ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   std::chrono::steady_clock::now() - s.chunk_started)
                                                   .count()
                                             : 0));
    // One message: the head, then the batch (copied together; results are usually small).
    for (const auto& piece : s.out.bytes().pieces())
      head.bytes(piece.iov_base, piece.iov_len);
    channel_->send(0, s.tag, head);
    s.out.sent();
  }

  /// With a `.timeout`: until every slot loop has ended, looks at their calls a few times per
  /// time limit and takes over each that has run past it.
  void watch(const std::vector<std::shared_ptr<slot_loop>>& loops) {
    const auto poll = std::clamp<std::chrono::nanoseconds>(limits_.timeout / 10, std::chrono::milliseconds(1),
                                                           std::chrono::milliseconds(50));
    std::unique_lock lock(watch_mutex_);
    for (;;) {
      if (std::all_of(loops.begin(), loops.end(), [](const auto& loop) { return loop->done; })) return;
      watch_cv_.wait_for(lock, poll);
      for (const auto& loop : loops)
        if (!loop->done) take_over_if_late(loop);
    }
  }

  /// Answers for the call of `shared` if it has run past the time limit, and gives the loop to a
  /// new thread.
  void take_over_if_late(const std::shared_ptr<slot_loop>& shared) {
    slot_loop& s = *shared;
    std::uint64_t state = s.state.load(std::memory_order_acquire);
    if (state % 4 != in_call) return;
    const auto ran_for = std::chrono::nanoseconds(now_ns() - s.call_started.load(std::memory_order_relaxed));
    if (ran_for <= limits_.timeout) return;
    if (!s.state.compare_exchange_strong(state, state + (abandoned - in_call), std::memory_order_acq_rel))
      return; // the call has just returned
    // The call's thread still runs it, with its per-worker object: both are left to it (the thread
    // destroys the object if the call ever returns).
    s.thread.detach();
    if (s.timeouts < limits_.retries && std::is_copy_constructible_v<In>) {
      ++s.timeouts; // the new thread tries the item again (a move-only item went to the late call)
    } else {
      s.out.add_timed_out("still running after the time limit of " +
                          std::to_string(std::chrono::duration<double>(limits_.timeout).count()) +
                          " s on rank " + std::to_string(transport_.rank()) +
                          "; its thread was abandoned and the slot goes on in a new thread");
      ++s.next;
      s.timeouts = 0;
      const bool last = s.next == s.items.size();
      flush(s, last);
      if (last) s.in_chunk = false;
    }
    s.state.store((state / 4 + 1) * 4 + idle, std::memory_order_release);
    s.thread = std::thread([this, shared] { drive(shared); });
  }

  std::shared_ptr<Slots> slots_;
  remote_transport& transport_;
  std::unique_ptr<remote_channel> channel_;
  std::size_t per_rank_;
  std::size_t slot_count_; // worker slots on all the other ranks
  item_limits limits_;
  std::vector<slot_state> state_; // worker w's, touched only by proxy w (and the destructor)
  // Per worker slot: when rank 0 last sent it a chunk or heard from it (steady clock ticks).
  std::vector<std::atomic<std::chrono::steady_clock::rep>> heard_;
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> lost_{false};
  std::mutex watch_mutex_; // guards slot_loop::done
  std::condition_variable watch_cv_;
};

/// The mpi backend as an executor: on rank 0, `remote_depth` proxy threads per worker slot on the
/// other ranks, each driving its slot through the runner; on the other ranks, `open` serves the
/// slots until rank 0 ends the run.
template <class In, class Result, class Slots>
class remote_executor final : public runner_executor<In, Result, remote_runner<In, Result, Slots>> {
public:
  /// The worker slots of `transport`'s ranks but rank 0, `slots_per_rank` on each, `slot_count` in all.
  remote_executor(std::shared_ptr<Slots> slots, run_gate& gate, const item_limits& limits,
                  remote_transport& transport, std::size_t slots_per_rank, std::size_t slot_count)
      : runner_executor<In, Result, remote_runner<In, Result, Slots>>(gate.failures),
        slots_(std::move(slots)), limits_(limits), transport_(transport), per_rank_(slots_per_rank),
        slot_count_(slot_count) {}

  [[nodiscard]] std::size_t size() const noexcept override { return slot_count_ * remote_depth; }
  [[nodiscard]] std::size_t busy() const noexcept override { return slot_count_; }
  [[nodiscard]] backend_kind kind() const noexcept override { return backend_kind::mpi; }

  /// Opens the run's channel on every rank (collective), even when the run was stopped before it
  /// began: rank 0's proxies are what tell the other ranks that the run is over.
  run_role open(bool) override {
    this->make_runner(slots_, transport_, per_rank_, size(), limits_);
    if (transport_.rank() == 0) {
      this->publish();
      return run_role::drive;
    }
    this->runner().serve();
    this->drop_runner();
    return run_role::served;
  }
  void prepare() override {}
  void retire(std::size_t w, bool stopping) override {
    try {
      this->runner().retire(w, stopping);
    } catch (...) {
      // The transport failed: the run is over anyway; the consumer hears of the first error.
    }
  }

private:
  std::shared_ptr<Slots> slots_;
  item_limits limits_;
  remote_transport& transport_;
  std::size_t per_rank_;
  std::size_t slot_count_;
};

} // namespace parmill::detail
