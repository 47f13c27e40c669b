// parmill/detail/pipeline_pullers.hpp: the pieces a pipeline is chained from.
//
// A puller has `std::optional<carried<T>> next()` (empty at the end) and is pulled by one thread at
// a time. A stage is a parmill::map whose input is the previous puller (seen as a range through
// pull_view) and whose outcomes are turned back into a puller, so the queue between two stages is
// the downstream map's window, and stopping is a matter of every puller answering "the end" once
// the pipeline's stop is requested. Pullers are moved only before their first `next()`.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "parmill/detail/pipeline_item.hpp"
#include "parmill/detail/spin.hpp"

namespace parmill::detail {

/// A single-pass input range over a puller. `*it` moves the current item out, so a map reading
/// it moves rather than copies.
template <class Puller>
class pull_view : public std::ranges::view_interface<pull_view<Puller>> {
public:
  using item = typename Puller::item;

  explicit pull_view(Puller p) : puller_(std::move(p)) {}

  class iterator {
  public:
    using iterator_concept = std::input_iterator_tag;
    using difference_type = std::ptrdiff_t;
    using value_type = item;
    iterator() = default;
    item&& operator*() const { return std::move(*view_->current_); }
    iterator& operator++() {
      view_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.at_end(); }

  private:
    friend class pull_view;
    [[nodiscard]] bool at_end() const noexcept { return !view_->current_; }
    explicit iterator(pull_view* v) : view_(v) {}
    pull_view* view_ = nullptr;
  };

  /// Prepares the pullers before this one (see `map_engine::prepare`).
  void prepare() { puller_.prepare(); }
  /// Pulls the first item. Called once.
  iterator begin() {
    advance();
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

private:
  void advance() {
    current_.reset();
    current_ = puller_.next();
  }
  Puller puller_;
  std::optional<item> current_;
};

/// The pipeline's source: any input range, read lazily, each item numbered.
template <class View>
class source_puller {
public:
  using value = std::ranges::range_value_t<View>;
  using item = carried<value>;

  source_puller(View view, std::shared_ptr<pipeline_control> control)
      : view_(std::move(view)), control_(std::move(control)) {}

  void prepare() noexcept {}
  std::optional<item> next() {
    // Every item still to be read comes after a halting failure, if there is one.
    if (control_->stopping() || control_->past_cutoff(index_)) return std::nullopt;
    if (!it_) {
      it_.emplace(std::ranges::begin(view_));
    } else {
      ++*it_;
    }
    if (*it_ == std::ranges::end(view_)) return std::nullopt;
    if constexpr (std::is_copy_constructible_v<value>) {
      return item{index_++, value(**it_)};
    } else {
      return item{index_++, value(std::ranges::iter_move(*it_))};
    }
  }

private:
  View view_;
  std::shared_ptr<pipeline_control> control_;
  std::optional<std::ranges::iterator_t<View>> it_; // engaged by the first next(): it may have no default
  std::size_t index_ = 0;
};

/// Where each item a stage reads came from, by the stage's own count, for the rare outcome that
/// comes back without its item (a crashed or timed-out process): a ring larger than any window.
class index_ring {
public:
  explicit index_ring(std::size_t window) {
    std::size_t size = 1;
    while (size < 2 * window)
      size *= 2;
    slots_ = std::vector<std::atomic<std::size_t>>(size);
    mask_ = size - 1;
  }
  void put(std::size_t local, std::size_t source) noexcept {
    slots_[local & mask_].store(source, std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t get(std::size_t local) const noexcept {
    return slots_[local & mask_].load(std::memory_order_relaxed);
  }

private:
  std::vector<std::atomic<std::size_t>> slots_;
  std::size_t mask_ = 0;
};

/// A stage's input: the previous puller, counted on the stage's stats, ending when the pipeline
/// stops.
template <class Up>
class counting_puller {
public:
  using item = typename Up::item;

  counting_puller(Up up, stage_stats* stats, std::shared_ptr<pipeline_control> control,
                  std::shared_ptr<index_ring> ring)
      : up_(std::move(up)), stats_(stats), control_(std::move(control)), ring_(std::move(ring)) {}

  void prepare() { up_.prepare(); }
  std::optional<item> next() {
    if (control_->stopping()) return std::nullopt;
    std::optional<item> v = up_.next();
    if (v) {
      stats_->count_in();
      if (ring_) ring_->put(read_++, v->index);
    }
    return v;
  }

private:
  Up up_;
  stage_stats* stats_;
  std::shared_ptr<pipeline_control> control_;
  std::shared_ptr<index_ring> ring_;
  std::size_t read_ = 0;
};

/// A stage's output: the outcomes of its map, counted, with failures recorded and drops skipped
/// (kept, for a fan-out branch, so that branches stay aligned).
template <class MapRange, class T>
class stage_output_puller {
public:
  using item = carried<T>;

  stage_output_puller(MapRange range, stage_stats* stats, std::shared_ptr<pipeline_control> control,
                      std::string name, std::shared_ptr<index_ring> ring, bool keep_dropped)
      : range_(std::move(range)), stats_(stats), control_(std::move(control)), name_(std::move(name)),
        ring_(std::move(ring)), keep_dropped_(keep_dropped) {}
  stage_output_puller(stage_output_puller&&) noexcept = default;
  stage_output_puller& operator=(stage_output_puller&&) noexcept = default; // views are movable; never used
  /// Unless the pipeline ran to its end, the stage's map is stopped before it is destroyed, so
  /// that its workers still ending are killed (on processes), not waited for: a stop, a loop left
  /// early or a halting failure ends every stage at once, even one whose own input had ended.
  ~stage_output_puller() {
    if (control_ && !control_->ran_to_end()) range_.stop();
  }

  void prepare() { range_.prepare(); }
  std::optional<item> next() {
    for (;;) {
      if (control_->stopping()) return std::nullopt;
      if (!started_) {
        it_ = range_.begin();
        started_ = true;
      } else {
        ++it_;
      }
      if (it_ == std::default_sentinel) return std::nullopt;
      auto& o = *it_;
      if ((++seen_ & 1023) == 1) stats_->set_capacity(range_.window());
      if (!o.has_value()) { // the item never came back (a crash, a timeout) or never started
        const item_error& e = o.error();
        if (e.kind == failure_kind::cancelled) continue;
        stats_->count_lost();
        stage_failure f{.stage = name_,
                        .worker = e.worker,
                        .kind = e.kind,
                        .message = e.message,
                        .type = {},
                        .exception = nullptr};
        const std::size_t index = ring_ ? ring_->get(o.index()) : o.index();
        control_->record_failure(f.to_error(index));
        if (control_->past_cutoff(index)) continue;
        return item{index, std::move(f)};
      }
      item& c = o.value();
      if (c.ok()) {
        stats_->count_out();
        if (control_->past_cutoff(c.index)) continue; // after a halting failure: not passed on
        return std::move(c);
      }
      if (c.dropped()) { // counted by the worker that dropped it
        if (keep_dropped_) return std::move(c);
        continue;
      }
      const stage_failure& f = c.failure();
      if (f.kind == failure_kind::cancelled) continue; // not started: the pipeline is stopping
      // Failed here (counted by the worker) or upstream (passed on). A worker process records its
      // failures in its own memory, so a failure of this stage is recorded here too (once per index).
      if (f.stage == name_ && control_->halts()) control_->record_failure(f.to_error(c.index));
      if (control_->past_cutoff(c.index)) continue;
      return std::move(c);
    }
  }

private:
  MapRange range_;
  stage_stats* stats_;
  std::shared_ptr<pipeline_control> control_;
  std::string name_;
  std::shared_ptr<index_ring> ring_;
  bool keep_dropped_;
  std::ranges::iterator_t<MapRange> it_{};
  bool started_ = false;
  std::size_t seen_ = 0;
};

/// Groups values into vectors of `size` (the last may be short). A failure passes on by itself,
/// after the items before it: it cuts the batch being filled short.
template <class Up, class T>
class batch_puller {
public:
  using item = carried<std::vector<T>>;

  batch_puller(Up up, std::size_t size) : up_(std::move(up)), size_(size) {}
  void prepare() { up_.prepare(); }

  std::optional<item> next() {
    if (pending_failure_) return std::exchange(pending_failure_, std::nullopt);
    while (!ended_) {
      std::optional<carried<T>> v = up_.next();
      if (!v) {
        ended_ = true;
        break;
      }
      if (!v->ok()) {
        item failure = std::move(*v).template without_value<std::vector<T>>();
        if (batch_.empty()) return failure;
        // The items before the failure come out first (outcomes stay in source order, and under
        // `raise` the consumer gets them before the failure halts the run).
        pending_failure_.emplace(std::move(failure));
        return take();
      }
      if (batch_.empty()) first_ = v->index;
      batch_.push_back(std::move(v->value()));
      if (batch_.size() == size_) return take();
    }
    if (batch_.empty()) return std::nullopt;
    return take();
  }

private:
  item take() {
    item out{first_, std::move(batch_)};
    batch_ = {};
    batch_.reserve(size_);
    return out;
  }
  Up up_;
  std::size_t size_;
  std::vector<T> batch_;
  std::size_t first_ = 0;
  std::optional<item> pending_failure_; // met while a batch was being filled: passed on after it
  bool ended_ = false;
};

/// Passes each element of each (range) value on by itself; failures pass as they are.
template <class Up, class Range>
class unbatch_puller {
public:
  using value = std::ranges::range_value_t<Range>;
  using item = carried<value>;

  explicit unbatch_puller(Up up) : up_(std::move(up)) {}
  void prepare() { up_.prepare(); }

  std::optional<item> next() {
    for (;;) {
      if (current_ && it_ != std::ranges::end(*current_)) {
        item out{index_, value(std::ranges::iter_move(it_))};
        ++it_;
        return out;
      }
      current_.reset();
      std::optional<carried<Range>> v = up_.next();
      if (!v) return std::nullopt;
      if (!v->ok()) return std::move(*v).template without_value<value>();
      index_ = v->index;
      current_.emplace(std::move(v->value()));
      it_ = std::ranges::begin(*current_);
    }
  }

private:
  Up up_;
  std::optional<Range> current_;
  std::ranges::iterator_t<Range> it_{};
  std::size_t index_ = 0;
};

/// One upstream read by several fan-out branches, each of which sees every item. Items are kept
/// until every branch has read them; branches run in input order and are zipped in lockstep, so
/// one can run ahead of another by at most its own window: the buffer is bounded by the windows.
template <class Up>
class tee_state {
public:
  using item = typename Up::item;

  tee_state(Up up, std::size_t readers) : up_(std::move(up)), positions_(readers, 0) {}
  void prepare() { // by every branch, before any thread runs
    if (!prepared_) up_.prepare();
    prepared_ = true;
  }

  std::optional<item> next(std::size_t reader) {
    std::unique_lock lock(mutex_);
    for (;;) {
      const std::size_t p = positions_[reader];
      if (p < base_ + buffer_.size()) {
        item copy = buffer_[p - base_];
        ++positions_[reader];
        const std::size_t lowest = *std::min_element(positions_.begin(), positions_.end());
        while (base_ < lowest) {
          buffer_.pop_front();
          ++base_;
        }
        return copy;
      }
      if (ended_) {
        if (error_) std::rethrow_exception(error_);
        return std::nullopt;
      }
      if (pulling_) {
        pulled_.wait(lock);
        continue;
      }
      pulling_ = true; // one branch pulls for all, without the lock, so the others can read
      lock.unlock();
      std::optional<item> v;
      std::exception_ptr error;
      try {
        v = up_.next();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      pulling_ = false;
      if (v) {
        buffer_.push_back(std::move(*v));
      } else {
        ended_ = true;
        error_ = error;
      }
      pulled_.notify_all();
    }
  }

private:
  Up up_;
  std::mutex mutex_;
  std::condition_variable pulled_;
  std::deque<item> buffer_;
  std::size_t base_ = 0; // the position of buffer_.front()
  std::vector<std::size_t> positions_;
  bool pulling_ = false;
  bool ended_ = false;
  bool prepared_ = false;
  std::exception_ptr error_;
};

/// A fan-out branch's input.
template <class Up>
class tee_reader {
public:
  using item = typename Up::item;
  tee_reader(std::shared_ptr<tee_state<Up>> tee, std::size_t reader)
      : tee_(std::move(tee)), reader_(reader) {}
  void prepare() { tee_->prepare(); }
  std::optional<item> next() { return tee_->next(reader_); }

private:
  std::shared_ptr<tee_state<Up>> tee_;
  std::size_t reader_;
};

/// Joins the branches of a fan-out, item by item, into a tuple of their results. A failure in any
/// branch fails the item (the first branch's failure wins); a drop in any drops it.
template <class... Branches>
class zip_puller {
public:
  using item = carried<std::tuple<typename Branches::item::value_type...>>;

  explicit zip_puller(Branches... branches) : branches_(std::move(branches)...) {}
  void prepare() {
    std::apply([](auto&... b) { (b.prepare(), ...); }, branches_);
  }

  std::optional<item> next() {
    for (;;) {
      // Braces: the branches are pulled in order.
      auto pulled = std::apply(
          [](auto&... b) { return std::tuple<std::optional<typename Branches::item>...>{b.next()...}; },
          branches_);
      const bool all = std::apply([](const auto&... p) { return (p.has_value() && ...); }, pulled);
      if (!all) return std::nullopt;
      const std::size_t index = std::get<0>(pulled)->index;
      std::optional<item> failed;
      bool dropped = false;
      std::apply(
          [&](auto&... p) {
            ((!failed && !p->ok() && !p->dropped()
                  ? (void)(failed = std::move(*p).template without_value<typename item::value_type>())
                  : (void)(dropped = dropped || p->dropped())),
             ...);
          },
          pulled);
      if (failed) return failed;
      if (dropped) continue;
      return item{
          index,
          std::apply([](auto&... p) { return typename item::value_type{std::move(p->value())...}; }, pulled)};
    }
  }

private:
  std::tuple<Branches...> branches_;
};

} // namespace parmill::detail

namespace parmill::detail {

/// Buffers up to `capacity` items ahead of the consumer, pulled by a thread of their own (the
/// filler), so the consumer's work overlaps the pipeline's last steps.
///
/// A ring of `capacity` slots with one writer and one reader: an item crosses with two atomic
/// stores and no lock; either side sleeps only at an edge (the reader on an empty ring, the writer
/// on a full one, woken when half of it is free) and is woken once per sleep.
///
/// Handing items from one thread to another pays only when the consumer's own work per item (the
/// loop body) is longer than the hand-over costs per item: a wake-up (about 30 us) per half ring.
/// The consumer times its loop body on one item in 32; while the body is shorter, the consumer pulls
/// the upstream itself, with no hand-over, as if there were no sink (the filler sleeps, or is not
/// even started). (A mutex, a wait and a notification per item cost a third of a pipeline's
/// throughput on two cores.) Who pulls changes only under the mutex and between two pulls, so the
/// upstream is pulled by one thread at a time.
template <class Up>
class sink_puller {
public:
  using item = typename Up::item;

  sink_puller(Up up, std::size_t capacity) : state_(std::make_unique<state>(std::move(up), capacity)) {}
  sink_puller(sink_puller&&) noexcept = default;
  sink_puller& operator=(sink_puller&&) noexcept = default; // only before the first next()
  ~sink_puller() {
    if (!state_) return;
    state_->close();
    if (state_->filler.joinable()) state_->filler.join();
  }

  void prepare() { state_->up.prepare(); }
  std::optional<item> next() { return state_->next(); }

private:
  /// How often the reader looks at an empty ring before it sleeps (a few microseconds).
  static constexpr int reader_spins = 256;
  /// What waking a sleeping thread costs (25-30 us measured on two cores), paid per half ring.
  static constexpr std::int64_t wake_nanoseconds = 30'000;
  /// The consumer's loop body is timed on one item in this many.
  static constexpr std::size_t body_sample_stride = 32;

  struct state {
    state(Up u, std::size_t c) : up(std::move(u)), slots(std::max<std::size_t>(1, c)) {}

    std::size_t capacity() const noexcept { return slots.size(); }

    /// The filler's loop: while it is the puller, pull and put into the ring (sleeping while the
    /// ring is full); otherwise sleep until it is given the pulling back, or closed.
    void fill() {
      try {
        for (;;) {
          if (!wait_to_pull()) break;
          std::optional<item> v = up.next();
          if (!v) break;
          const std::size_t t = tail.load(std::memory_order_relaxed);
          if (t - head.load(std::memory_order_acquire) == capacity() && !wait_for_room(t)) break;
          slots[t % capacity()].emplace(std::move(*v));
          tail.store(t + 1, std::memory_order_seq_cst);
          wake(reader_sleeps);
        }
      } catch (...) {
        error = std::current_exception(); // published by the store to `ended`
      }
      ended.store(true, std::memory_order_seq_cst);
      reader_sleeps.store(false, std::memory_order_relaxed);
      { std::lock_guard lock(mutex); }
      changed.notify_all(); // a reader asleep, or asking for the pulling
    }

    /// The consumer's side: the next item, or the end (rethrowing the upstream's error). Decides,
    /// from the time its loop body takes, whether the filler or the consumer itself pulls.
    std::optional<item> next() {
      const bool timed = body_timed;
      if (timed) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now() - body_started)
                            .count();
        body_nanoseconds += (ns - body_nanoseconds) / 4; // a moving average
        body_timed = false;
        choose_puller();
      }
      std::optional<item> out = take();
      if (++taken % body_sample_stride == 0) {
        body_timed = true;
        body_started = std::chrono::steady_clock::now();
      }
      return out;
    }

    /// The filler pulls when the loop body is long enough for the overlap to pay for the
    /// hand-overs (and the consumer again when it is under half of that).
    void choose_puller() {
      const std::int64_t worth =
          wake_nanoseconds / static_cast<std::int64_t>(std::max<std::size_t>(1, capacity() / 2));
      const bool consumer = consumer_pulls.load(std::memory_order_relaxed);
      if (consumer && body_nanoseconds >= worth) {
        give_pulling_back();
      } else if (!consumer && body_nanoseconds < worth / 2) {
        take_pulling_over();
      }
    }

    /// From the ring, which the filler fills, or from the upstream when the consumer pulls.
    std::optional<item> take() {
      for (;;) {
        if (consumer_pulls.load(std::memory_order_acquire)) return take_directly();
        const std::size_t h = head.load(std::memory_order_relaxed);
        if (tail.load(std::memory_order_acquire) != h) return pop(h);
        switch (wait_for_item(h)) {
        case ring_event::item: return pop(h);
        case ring_event::end: return end_of_ring();
        case ring_event::handed_over: break;
        }
      }
    }

    /// The consumer pulls by itself: first what the ring still holds, then the upstream (after the
    /// filler's end: what it left, then its error or the end).
    std::optional<item> take_directly() {
      const std::size_t h = head.load(std::memory_order_relaxed);
      if (tail.load(std::memory_order_acquire) != h) return pop(h);
      if (ended.load(std::memory_order_acquire)) return end_of_ring();
      return up.next();
    }

    std::optional<item> pop(std::size_t h) {
      std::optional<item>& slot = slots[h % capacity()];
      std::optional<item> out(std::move(slot));
      slot.reset();
      head.store(h + 1, std::memory_order_seq_cst);
      // The writer sleeps on a full ring; it is woken once half of it is free again.
      if (tail.load(std::memory_order_relaxed) - (h + 1) <= capacity() / 2) wake(writer_sleeps);
      return out;
    }

    std::optional<item> end_of_ring() {
      if (error) std::rethrow_exception(std::exchange(error, nullptr));
      return std::nullopt;
    }

    /// Asks the filler for the pulling: it hands it over after its current pull (whose item goes
    /// to the ring first); meanwhile the consumer goes on taking from the ring.
    void take_pulling_over() { consumer_wants_to_pull.store(true, std::memory_order_release); }

    /// Lets the filler pull (starting it the first time).
    void give_pulling_back() {
      {
        std::lock_guard lock(mutex);
        consumer_wants_to_pull.store(false, std::memory_order_relaxed);
        consumer_pulls.store(false, std::memory_order_relaxed);
      }
      changed.notify_all();
      if (!filler.joinable()) filler = std::thread([this] { fill(); });
    }

    /// The filler, between two pulls: true when it is (again) the one to pull; false when closed.
    /// It hands the pulling over when the consumer asks, and waits until it is given it back.
    bool wait_to_pull() {
      if (closed.load(std::memory_order_relaxed)) return false;
      if (!consumer_wants_to_pull.load(std::memory_order_acquire)) return true;
      std::unique_lock lock(mutex);
      if (!consumer_wants_to_pull.exchange(false, std::memory_order_relaxed)) return true; // withdrawn
      consumer_pulls.store(true, std::memory_order_release);
      changed.notify_all(); // a reader asleep at the empty ring
      changed.wait(lock, [&] { return !consumer_pulls.load() || closed.load(); });
      return !closed.load();
    }

    enum class ring_event { item, end, handed_over };

    /// The reader at an empty ring: until item `h` is there, the filler has ended, or it has handed
    /// the pulling over.
    ring_event wait_for_item(std::size_t h) {
      for (int i = 0; i < reader_spins; ++i) {
        if (tail.load(std::memory_order_acquire) != h) return ring_event::item;
        if (ended.load(std::memory_order_acquire)) break;
        cpu_relax();
      }
      std::unique_lock lock(mutex);
      ring_event event = ring_event::item;
      for (;;) {
        reader_sleeps.store(true, std::memory_order_seq_cst);
        if (tail.load(std::memory_order_seq_cst) != h) break;
        if (ended.load(std::memory_order_seq_cst)) {
          // Items put before the end come first.
          event = tail.load(std::memory_order_acquire) != h ? ring_event::item : ring_event::end;
          break;
        }
        if (consumer_pulls.load(std::memory_order_relaxed)) {
          event = ring_event::handed_over;
          break;
        }
        changed.wait(lock);
      }
      reader_sleeps.store(false, std::memory_order_relaxed);
      return event;
    }

    /// The writer at a full ring: true once there is room for item `t`, false when closed.
    bool wait_for_room(std::size_t t) {
      std::unique_lock lock(mutex);
      for (;;) {
        writer_sleeps.store(true, std::memory_order_seq_cst);
        if (closed.load(std::memory_order_seq_cst)) return false;
        if (t - head.load(std::memory_order_seq_cst) < capacity()) break;
        changed.wait(lock);
      }
      writer_sleeps.store(false, std::memory_order_relaxed);
      return true;
    }

    /// Wakes the side that sleeps on `flag`, if it does (once per sleep).
    void wake(std::atomic<bool>& flag) {
      if (!flag.load(std::memory_order_seq_cst) || !flag.exchange(false, std::memory_order_seq_cst)) return;
      { std::lock_guard lock(mutex); }
      changed.notify_all();
    }

    void close() {
      closed.store(true, std::memory_order_seq_cst);
      { std::lock_guard lock(mutex); }
      changed.notify_all();
    }

    Up up;
    std::vector<std::optional<item>> slots;
    alignas(64) std::atomic<std::size_t> head{0}; // the next slot the reader takes (its count)
    alignas(64) std::atomic<std::size_t> tail{0}; // the next slot the writer fills (its count)
    alignas(64) std::atomic<bool> reader_sleeps{false};
    std::atomic<bool> writer_sleeps{false};
    std::atomic<bool> ended{false};  // the filler put its last item (or failed: `error`)
    std::atomic<bool> closed{false}; // the consumer is gone: the filler stops
    std::exception_ptr error;
    std::mutex mutex; // to sleep and wake, and to hand the pulling over
    std::condition_variable changed;
    // Who pulls the upstream: changed under the mutex, only between two pulls. The consumer does
    // until its loop body is found to be slow.
    std::atomic<bool> consumer_pulls{true};
    std::atomic<bool> consumer_wants_to_pull{false};
    // The consumer's own: the timing of its loop body.
    std::size_t taken = 0;
    bool body_timed = false;
    std::chrono::steady_clock::time_point body_started{};
    std::int64_t body_nanoseconds = 0;
    std::thread filler;
  };
  std::unique_ptr<state> state_;
};

} // namespace parmill::detail
