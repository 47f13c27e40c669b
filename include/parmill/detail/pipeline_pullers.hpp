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
#include <condition_variable>
#include <cstddef>
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
    if (!started_) {
      it_ = std::ranges::begin(view_);
      started_ = true;
    } else {
      ++it_;
    }
    if (it_ == std::ranges::end(view_)) return std::nullopt;
    if constexpr (std::is_copy_constructible_v<value>) {
      return item{index_++, value(*it_)};
    } else {
      return item{index_++, value(std::ranges::iter_move(it_))};
    }
  }

private:
  View view_;
  std::shared_ptr<pipeline_control> control_;
  std::ranges::iterator_t<View> it_{};
  bool started_ = false;
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

/// Buffers up to `capacity` items ahead of the consumer, pulled by a thread of its own, so the
/// consumer's work overlaps the pipeline's last steps.
template <class Up>
class sink_puller {
public:
  using item = typename Up::item;

  sink_puller(Up up, std::size_t capacity) : state_(std::make_unique<state>(std::move(up), capacity)) {}
  sink_puller(sink_puller&&) noexcept = default;
  sink_puller& operator=(sink_puller&&) noexcept = default; // only before the first next()
  ~sink_puller() {
    if (!state_) return;
    {
      std::lock_guard lock(state_->mutex);
      state_->closed = true;
    }
    state_->changed.notify_all();
    if (state_->filler.joinable()) state_->filler.join();
  }

  void prepare() { state_->up.prepare(); }
  std::optional<item> next() {
    state& s = *state_;
    std::unique_lock lock(s.mutex);
    if (!s.filler.joinable()) s.filler = std::thread([&s] { s.fill(); });
    s.changed.wait(lock, [&] { return !s.buffer.empty() || s.ended; });
    if (s.buffer.empty()) {
      if (s.error) std::rethrow_exception(std::exchange(s.error, nullptr));
      return std::nullopt;
    }
    std::optional<item> out(std::move(s.buffer.front()));
    s.buffer.pop_front();
    s.changed.notify_all();
    return out;
  }

private:
  struct state {
    state(Up u, std::size_t c) : up(std::move(u)), capacity(std::max<std::size_t>(1, c)) {}
    void fill() {
      try {
        for (;;) {
          {
            std::unique_lock lock(mutex);
            changed.wait(lock, [&] { return closed || buffer.size() < capacity; });
            if (closed) break;
          }
          std::optional<item> v = up.next(); // without the lock: the consumer takes meanwhile
          std::lock_guard lock(mutex);
          if (!v) break;
          buffer.push_back(std::move(*v));
          changed.notify_all();
        }
      } catch (...) {
        std::lock_guard lock(mutex);
        error = std::current_exception();
      }
      std::lock_guard lock(mutex);
      ended = true;
      changed.notify_all();
    }
    Up up;
    std::size_t capacity;
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<item> buffer;
    bool closed = false;
    bool ended = false;
    std::exception_ptr error;
    std::thread filler;
  };
  std::unique_ptr<state> state_;
};

} // namespace parmill::detail
