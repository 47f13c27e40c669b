// parmill/detail/remote_server.hpp: the side of the mpi backend on every rank but rank 0. The
// rank's worker slots each receive chunks from their proxies on rank 0 (remote_proxies.hpp), run
// them with the same worker code as every backend and send the results back (remote_wire.hpp),
// until rank 0 says the run is over. Under a time limit, a watchdog answers for a call that runs
// too long and lets its slot go on in a new thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/chunk_results.hpp"
#include "parmill/detail/executor.hpp"
#include "parmill/detail/remote_transport.hpp"
#include "parmill/detail/remote_wire.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

/// The worker slots of one run on this rank: `serve` runs them until rank 0 ends the run.
template <class In, class Result, class Slots>
class remote_server {
public:
  /// The slots of this rank in `layout`, calling `slots`, over `channel` (the run's, opened on
  /// every rank).
  remote_server(std::shared_ptr<Slots> slots, std::unique_ptr<remote_channel> channel,
                remote_transport& transport, const remote_layout& layout, const item_limits& limits)
      : slots_(std::move(slots)), channel_(std::move(channel)), transport_(transport), layout_(layout),
        limits_(limits) {}

  remote_server(const remote_server&) = delete;
  remote_server& operator=(const remote_server&) = delete;

  /// Runs this rank's slots until rank 0 ends the run; returns when every slot has ended and
  /// destroyed its per-worker object. With a `.timeout`, this thread also watches the slots: a
  /// call still running after the limit is answered `timed_out` (or tried again, within
  /// `.retries`), and its slot goes on in a new thread with a new per-worker object; the thread of
  /// the call is abandoned (a thread cannot be stopped), and what it returns, if it ever does, is
  /// dropped.
  void serve() {
    const int rank = transport_.rank();
    if (!layout_.has_slots(rank)) return;
    std::vector<std::shared_ptr<slot_loop>> loops;
    for (std::size_t local = 0; local < layout_.per_rank; ++local) {
      auto loop = std::make_shared<slot_loop>(slots_, limits_.timeout.count() > 0);
      loop->w = layout_.slot_on(rank, local);
      loop->tag = layout_.first_tag(loop->w);
      loops.push_back(loop);
    }
    for (auto& loop : loops)
      loop->thread = std::thread([this, loop] { drive(loop); });
    if (limits_.timeout.count() > 0) watch(loops);
    for (auto& loop : loops)
      if (loop->thread.joinable()) loop->thread.join();
  }

private:
  /// One worker slot's loop on its rank, kept apart from the thread that runs it, so that a new
  /// thread can take it over when a call runs past the time limit.
  struct slot_loop {
    /// `per_item`: results go back one by one (under a time limit).
    slot_loop(std::shared_ptr<Slots> shared_slots, bool per_item)
        : slots(std::move(shared_slots)), out(per_item) {}
    // The workers' function, kept alive by each loop: a thread whose call was taken over goes on
    // with it after the server (and the run) have ended.
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
                                 .count = layout_.slot_count,
                                 .backend = backend_kind::mpi,
                                 .stop = {},
                                 .rank = transport_.rank(),
                                 .host = transport_.host()};
    const bool per_item = limits_.timeout.count() > 0;
    const std::size_t retries = limits_.retries;
    // Once a call has started, this thread touches only what `shared` owns and its own locals: the
    // watchdog may take the call over, and the server may be gone by the time it returns.
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
      const chunk_head head = read_chunk_head(r);
      s.items.clear();
      s.items.reserve(head.count);
      for (std::uint64_t i = 0; i < head.count; ++i)
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
    if (channel_->receive(0, layout_.first_tag(s.w), static_cast<int>(remote_depth), s.tag, in, never, {},
                          wait ? std::nullopt : std::optional(now)) != receive_status::ok)
      return false;
    reader r(in.data(), in.size());
    const chunk_head head = read_chunk_head(r);
    if (head.end) { // this proxy is done; the run is over when all are
      ++s.ended;
      return true;
    }
    s.queue.push_back(typename slot_loop::waiting{s.tag, head.first, std::move(in)});
    return true;
  }

  /// Sends the results of `s` not sent yet to the chunk's proxy; `last`: the chunk is done.
  void flush(slot_loop& s, bool last) {
    writer message;
    write_answer_head(message, {.last = last,
                                .count = s.out.count(),
                                .ran_for = last ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                      std::chrono::steady_clock::now() - s.chunk_started)
                                                : std::chrono::nanoseconds(0)});
    // One message: the head, then the batch (copied together; results are usually small).
    for (const auto& piece : s.out.bytes().pieces())
      message.bytes(piece.iov_base, piece.iov_len);
    channel_->send(0, s.tag, message);
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
  std::unique_ptr<remote_channel> channel_;
  remote_transport& transport_;
  remote_layout layout_;
  item_limits limits_;
  std::mutex watch_mutex_; // guards slot_loop::done
  std::condition_variable watch_cv_;
};

} // namespace parmill::detail
