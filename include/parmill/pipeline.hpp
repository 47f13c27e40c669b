// parmill/pipeline.hpp: stages with their own concurrency, ordering, batching, stats and a clean
// stop, joined by bounded queues.
//
//   auto p = parmill::pipeline_builder()
//                .source(urls)
//                .pipe(download, {.concurrency = 8, .name = "download"})
//                .pipe(decode, {.concurrency = 2, .order = parmill::order::input, .name = "decode"})
//                .batch(32)
//                .sink(3)
//                .build(parmill::threads(4));
//   for (auto& batch : p) use(*batch);
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "parmill/backend.hpp"
#include "parmill/detail/executors.hpp"
#include "parmill/detail/failures.hpp"
#include "parmill/detail/input_view.hpp"
#include "parmill/detail/pipeline_pullers.hpp"
#include "parmill/detail/process_support.hpp"
#include "parmill/detail/worker_slots.hpp"
#include "parmill/map.hpp"
#include "parmill/map_options.hpp"
#include "parmill/outcome.hpp"
#include "parmill/pipeline_report.hpp"
#include "parmill/workers.hpp"

namespace parmill {

/// How one stage runs. Name only what you change: `{.concurrency = 8, .name = "download"}`.
struct stage_options {
  /// At most this many calls of the stage at once (its workers). 0 (default): the worker count
  /// of the backend the pipeline is built with. Ignored on the inline backend (one at a time).
  std::size_t concurrency = 0;
  /// Results leave the stage in input order (default) or as they finish. Fan-out branches always
  /// keep input order, so that their results can be joined item by item.
  parmill::order order = parmill::order::input;
  /// The name used in errors, stats and the progress display; default "stage N" (counting from 1).
  std::string name{};
  /// Where this stage runs; default: the backend the pipeline is built with. A `thread_pool` is
  /// refused: stages wait on each other, so each needs threads of its own. On `processes`, items
  /// and results must be crossable (parmill/codec.hpp), checked when the pipeline starts.
  std::optional<parmill::backend> backend{};
  /// Most items inside the stage at once: waiting for a worker, running, or finished and waiting
  /// for the next stage (the queue between this stage and the previous one). 0 (default): four
  /// automatic chunks per worker, as `map_options::window`. Memory is bounded by the sum of the
  /// stages' queues.
  std::size_t queue = 0;
  /// Items handed to a worker at a time; 0 (default) is automatic, as in `map_options::chunk`.
  std::size_t chunk = 0;
  /// How many more times a failing item is tried in this stage before its failure counts.
  std::size_t retries = 0;
  /// On `processes`: an item running longer than this fails as `timed_out` (see `map_options`).
  std::chrono::nanoseconds timeout{0};
};

/// How a pipeline handles failures and reports progress.
struct pipeline_options {
  /// `raise` (default): the first failure stops every stage (no new item starts anywhere) and
  /// iteration throws it. `yield`: failures come out as outcomes and the run goes on, until
  /// `max_failures` is exceeded, which halts it as `raise` does.
  parmill::on_error on_error = parmill::on_error::raise;
  /// With `yield`: at most this many failures are yielded. Default: no limit.
  std::size_t max_failures = unlimited;
  /// Draw a line per stage on standard error while the pipeline runs: redrawn in place about ten
  /// times a second on a terminal, printed as a report every 5 s elsewhere.
  bool progress = false;
  /// Print `report()` on standard error this often (and once at the end). Zero (default): never.
  std::chrono::milliseconds report_every{0};
  /// A file to write the run's timeline to, as `map_options::trace` does: a lane per worker of
  /// every stage (named "<stage>: worker <i>"), each span naming its stage and counting items as
  /// the stage reads them (its own input order, which is the source's unless an earlier stage
  /// filters, batches or yields in completion order), and `report()`'s
  /// table as the page's extra summary lines. Written when the iteration ends (the pipeline then
  /// waits for the calls still running, as its destructor would, so that the trace is complete)
  /// or else when the pipeline is destroyed. Empty (default): nothing is recorded.
  std::filesystem::path trace{};
};

/// One branch of a fan-out: a stage function with its options (see `pipeline_builder_of::fan_out`).
template <class Fn>
struct branch_spec {
  Fn fn;                 ///< the branch's function, or `parmill::per_worker(...)`
  stage_options options; ///< its concurrency, name, backend, ...
};

/// A fan-out branch: `fn` runs on every item, beside the other branches.
template <class Fn>
[[nodiscard]] branch_spec<std::decay_t<Fn>> branch(Fn&& fn, stage_options options = {}) {
  return {std::forward<Fn>(fn), std::move(options)};
}

namespace detail {

/// What a stage passes on: its function's result; for a function returning `std::optional<X>`
/// (a filter), `X`.
template <class R>
struct stage_result {
  using type = stored_result_t<R>;
};
template <class X>
struct stage_result<std::optional<X>> {
  using type = X;
};

/// What a stage calls, per worker: the shared function, or the worker's own object.
template <class Fn, class In>
struct stage_traits {
  using callable = const Fn*;
  using raw = std::invoke_result_t<const Fn&, In&>;
  static constexpr bool accepts = std::is_invocable_v<const Fn&, In&>;
};
template <class F, class In>
struct stage_traits<per_worker_factory<F>, In> {
  using callable = std::invoke_result_t<F&, const worker_context&>;
  using raw = std::invoke_result_t<callable&, In&>;
  static constexpr bool accepts = std::is_invocable_v<callable&, In&>;
};

/// A stage's settings, shared by its workers.
struct stage_settings {
  std::string name;
  std::size_t retries = 0;
  std::shared_ptr<pipeline_control> control;
  stage_stats* stats = nullptr;
};

/// Calls this short or shorter are timed one in `sampled_stride` (two clock reads cost ~40 ns).
inline constexpr std::uint64_t sample_below_nanoseconds = 10'000;
inline constexpr std::uint32_t sampled_stride = 16;

/// Built from a factory and a worker's context (the stage's own per-worker object).
struct from_factory_t {};

/// One worker of a stage: runs the stage's function on an item's value, passes failures and drops
/// from upstream through, times each call and turns exceptions into failures naming the stage.
/// `Callable` is `const Fn*` (the stage's shared function) or the worker's own object.
template <class Callable, class In>
class stage_call {
  static constexpr bool shared = std::is_pointer_v<Callable>;
  using target_type = std::conditional_t<shared, std::remove_pointer_t<Callable>, Callable>;

public:
  using raw = std::invoke_result_t<target_type&, In&>;
  using out = typename stage_result<raw>::type;

  /// A worker calling the stage's shared function.
  stage_call(Callable c, std::size_t worker, std::shared_ptr<const stage_settings> s)
      : callable_(c), worker_(worker), stats_(&s->stats->worker(worker)), settings_(std::move(s)) {}
  /// A worker calling its own object, built here (inside the worker) by `factory(context)`.
  template <class Factory>
  stage_call(from_factory_t, Factory& factory, const worker_context& context,
             std::shared_ptr<const stage_settings> s)
      : callable_(factory(context)), worker_(context.index), stats_(&s->stats->worker(context.index)),
        settings_(std::move(s)) {}

  carried<out> operator()(carried<In>& item) {
    if (!item.ok()) return std::move(item).template without_value<out>();
    // Not started once the pipeline stops, nor after a halting failure (in source order).
    if (settings_->control->stopping() || settings_->control->past_cutoff(item.index))
      return {item.index,
              stage_failure::of(cancelled_error(item.index, worker_, "not started: the pipeline stopped"),
                                settings_->name)};
    const bool timed = skip_ == 0;
    std::chrono::steady_clock::time_point started{};
    if (timed) started = std::chrono::steady_clock::now();
    for (std::size_t attempt = 0;; ++attempt) {
      try {
        if constexpr (std::is_same_v<out, raw> || std::is_void_v<raw>) {
          carried<out> r{item.index, call_storing(target(), item.value())};
          measure(timed, started);
          return r;
        } else {
          std::optional<out> kept = target()(item.value());
          measure(timed, started);
          if (!kept) {
            stage_worker_stats::add(stats_->filtered, 1);
            return {item.index, dropped_item{}};
          }
          return {item.index, std::move(*kept)};
        }
      } catch (...) {
        if (attempt < settings_->retries && !settings_->control->stopping()) continue;
        measure(timed, started);
        return fail(item.index);
      }
    }
  }

private:
  target_type& target() noexcept {
    if constexpr (shared) {
      return *callable_;
    } else {
      return callable_;
    }
  }
  /// Times one call in `stride_`: every call when they are slow, one in 16 when they are fast.
  void measure(bool timed, std::chrono::steady_clock::time_point started) noexcept {
    if (!timed) {
      --skip_;
      return;
    }
    const auto ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started)
            .count());
    stats_->record(ns, stride_);
    stride_ = ns < sample_below_nanoseconds ? sampled_stride : 1;
    skip_ = stride_ - 1;
  }
  carried<out> fail(std::size_t index) {
    stage_worker_stats::add(stats_->failures, 1);
    stage_failure f =
        stage_failure::of(current_exception_error(index, worker_), settings_->name, current_exception_type());
    // Items after a halting failure start nowhere from now on, while the items before it go on to
    // the consumer (the cutoff is in shared memory, so this holds in a worker process too).
    if (settings_->control->halts()) settings_->control->record_failure(f.to_error(index));
    return {index, std::move(f)};
  }

  Callable callable_;
  std::size_t worker_;
  stage_worker_stats* stats_;
  std::shared_ptr<const stage_settings> settings_;
  std::uint32_t skip_ = 0;   // calls to leave untimed before the next timed one
  std::uint32_t stride_ = 1; // calls the next timed one stands for
};

/// What `build` hands every stage: the run's shared state and the default backend.
struct build_context {
  std::shared_ptr<pipeline_control> control;
  backend where;
};

/// The backend a stage runs on, with its concurrency applied.
inline backend stage_backend(const stage_options& options, const backend& default_backend) {
  const backend chosen = options.backend.value_or(default_backend);
  if (chosen.pool() != nullptr)
    throw std::invalid_argument("parmill::pipeline: stage '" + options.name +
                                "' cannot run on a thread_pool: stages wait on each other, so each needs "
                                "threads of its own (use parmill::threads(n))");
  return with_workers(chosen, options.concurrency ? options.concurrency : chosen.workers());
}

/// Builds stage `options.name` over `up`: a map on the stage's backend whose items are `up`'s.
template <class In, class Fn, class Up>
auto make_stage(Up up, std::shared_ptr<Fn> fn, stage_options options, build_context& ctx, bool branch) {
  using traits = stage_traits<Fn, In>;
  using out = typename stage_result<typename traits::raw>::type;
  const backend where = stage_backend(options, ctx.where);
  const std::size_t workers = worker_count(where);
  stage_stats& stats = ctx.control->stats.add(options.name, where.kind(), workers);
  auto settings = std::make_shared<const stage_settings>(stage_settings{
      .name = options.name, .retries = options.retries, .control = ctx.control, .stats = &stats});

  map_options mo{.order = branch ? order::input : options.order,
                 .window = options.queue,
                 .chunk = options.chunk,
                 .on_error = on_error::yield,
                 .retries = options.retries,
                 .timeout = options.timeout};
  // Only a worker process can lose an item's outcome (a crash, a timeout); to name the item then,
  // the stage remembers where its recent items came from, which needs a bounded window.
  std::shared_ptr<index_ring> ring;
  if (loses_outcomes_with_workers(where)) {
    if (mo.window == 0) mo.window = 4 * workers * 1024;
    ring = std::make_shared<index_ring>(mo.window);
  }
  pull_view<counting_puller<Up>> input(counting_puller<Up>(std::move(up), &stats, ctx.control, ring));

  auto worker = per_worker([fn, settings](const worker_context& context) {
    if constexpr (is_per_worker_v<Fn>) {
      return stage_call<typename traits::callable, In>(from_factory_t{}, fn->factory, context, settings);
    } else {
      return stage_call<const Fn*, In>(fn.get(), context.index, settings);
    }
  });
  auto range = parmill::map(where, std::move(input), std::move(worker), std::move(mo));
  if (ctx.control->trace)
    range.attach_trace(ctx.control->trace,
                       ctx.control->trace->add_lanes(range.workers(), options.name, options.name + ": "));
  return stage_output_puller<decltype(range), out>(std::move(range), &stats, ctx.control, options.name,
                                                   std::move(ring), branch);
}

} // namespace detail

template <class T, class Puller>
class pipeline;

/// A pipeline under construction whose last step yields `T`. Each step returns a new builder (use
/// it as a temporary, chained); `build` makes the runnable `pipeline`.
template <class T, class Make>
class pipeline_builder_of {
public:
  using value_type = T; ///< what the pipeline built so far yields

  /// Internal: made by `pipeline_builder().source(...)` and the steps after it.
  pipeline_builder_of(Make make, std::size_t stages) : make_(std::move(make)), stages_(stages) {}

  /// Adds a stage: `fn(T&)` (or `parmill::per_worker(...)`, whose object is called so) on every item,
  /// at most `options.concurrency` calls at once. A function returning `std::optional<X>` is a
  /// filter: the stage yields `X` and drops the items it returns empty for. A `void` function yields
  /// `std::monostate`.
  template <class Fn>
  [[nodiscard]] auto pipe(Fn fn, stage_options options = {}) && {
    using traits = detail::stage_traits<Fn, T>;
    static_assert(traits::accepts, "parmill::pipeline: a stage's function must be callable with an lvalue of "
                                   "the previous step's output type (pipeline_builder_of::value_type)");
    using out = typename detail::stage_result<typename traits::raw>::type;
    if (options.name.empty()) options.name = "stage " + std::to_string(stages_ + 1);
    auto make = [prev = std::move(make_), fn = std::make_shared<Fn>(std::move(fn)),
                 options = std::move(options)](detail::build_context& ctx) mutable {
      return detail::make_stage<T>(prev(ctx), fn, options, ctx, false);
    };
    return pipeline_builder_of<out, decltype(make)>(std::move(make), stages_ + 1);
  }

  /// Groups items into `std::vector<T>`s of `size` (the last may be shorter). Failures are not
  /// grouped: they pass on by themselves.
  [[nodiscard]] auto batch(std::size_t size) && {
    if (size == 0)
      throw std::invalid_argument("parmill::pipeline: batch(0): a batch needs at least one item");
    auto make = [prev = std::move(make_), size](detail::build_context& ctx) mutable {
      return detail::batch_puller<decltype(prev(ctx)), T>(prev(ctx), size);
    };
    return pipeline_builder_of<std::vector<T>, decltype(make)>(std::move(make), stages_);
  }

  /// Passes each element of each item (a range, such as a batch) on by itself.
  [[nodiscard]] auto unbatch() && {
    static_assert(std::ranges::input_range<T>, "parmill::pipeline: unbatch() needs items that are ranges");
    using element = std::ranges::range_value_t<T>;
    auto make = [prev = std::move(make_)](detail::build_context& ctx) mutable {
      return detail::unbatch_puller<decltype(prev(ctx)), T>(prev(ctx));
    };
    return pipeline_builder_of<element, decltype(make)>(std::move(make), stages_);
  }

  /// Fan-out and fan-in: every item goes to every branch (each a stage with its own concurrency and
  /// backend, running beside the others), and the branches' results for one item are joined into
  /// one `std::tuple` in branch order. An item fails if any branch fails on it (the first branch's
  /// failure is reported) and is dropped if any branch drops it. Items are copied into each branch.
  template <class... Fns>
  [[nodiscard]] auto fan_out(branch_spec<Fns>... branches) && {
    static_assert(sizeof...(Fns) >= 1, "parmill::pipeline: fan_out needs at least one branch");
    static_assert(std::is_copy_constructible_v<T>,
                  "parmill::pipeline: fan_out copies each item into every branch, so items must be copyable");
    static_assert((detail::stage_traits<Fns, T>::accepts && ...),
                  "parmill::pipeline: every fan_out branch must accept the previous step's output");
    using out =
        std::tuple<typename detail::stage_result<typename detail::stage_traits<Fns, T>::raw>::type...>;
    std::size_t n = stages_;
    const auto default_name = [&n](stage_options& o) {
      ++n;
      if (o.name.empty()) o.name = "stage " + std::to_string(n);
    };
    (default_name(branches.options), ...);
    auto make = [prev = std::move(make_), ... fns = std::make_shared<Fns>(std::move(branches.fn)),
                 ... options = std::move(branches.options)](detail::build_context& ctx) mutable {
      using up = decltype(prev(ctx));
      auto tee = std::make_shared<detail::tee_state<up>>(prev(ctx), sizeof...(Fns));
      // Braces: the branches are built (and their stats listed) in order.
      return [&]<std::size_t... reader>(std::index_sequence<reader...>) {
        return detail::zip_puller{
            detail::make_stage<T>(detail::tee_reader<up>(tee, reader), fns, options, ctx, true)...};
      }
      (std::index_sequence_for<Fns...>{});
    };
    return pipeline_builder_of<out, decltype(make)>(std::move(make), stages_ + sizeof...(Fns));
  }

  /// Lets up to `buffer` results wait for the consumer, pulled by a thread of their own, so the
  /// consumer's work overlaps the pipeline's last steps. Optional; the last step before `build`.
  [[nodiscard]] auto sink(std::size_t buffer) && {
    auto make = [prev = std::move(make_), buffer](detail::build_context& ctx) mutable {
      return detail::sink_puller<decltype(prev(ctx))>(prev(ctx), buffer);
    };
    return pipeline_builder_of<T, decltype(make)>(std::move(make), stages_);
  }

  /// Makes the pipeline. Stages without a backend of their own run on `where` (threads and
  /// processes are made per stage, `concurrency` each, and exist only while the pipeline runs).
  /// Nothing runs until iteration begins. Throws `std::invalid_argument` for a stage that cannot
  /// run where it is asked to.
  [[nodiscard]] auto build(const backend& where = inline_backend(), pipeline_options options = {}) && {
    auto control = std::make_shared<detail::pipeline_control>(
        options.on_error == on_error::raise ? std::size_t{0} : options.max_failures);
    if (!options.trace.empty()) control->trace = std::make_shared<detail::trace_recorder>(options.trace);
    detail::build_context ctx{.control = control, .where = where};
    auto puller = make_(ctx);
    return pipeline<T, decltype(puller)>(std::move(control), std::move(puller), std::move(options));
  }

private:
  Make make_;
  std::size_t stages_;
};

/// Starts a pipeline description; `.source(inputs)` comes first.
class pipeline_builder {
public:
  /// The items the pipeline runs on: any input range, read lazily (endless ones too), as
  /// `parmill::map` reads its inputs (istream views, move-only generators, sentinel-terminated
  /// ranges). An lvalue is referred to (it must outlive the pipeline); an rvalue is owned.
  template <class Inputs>
  requires detail::readable_input<Inputs>
  [[nodiscard]] auto source(Inputs&& inputs) && {
    using view = detail::input_view_t<Inputs>;
    using value = std::ranges::range_value_t<view>;
    auto make =
        [v = detail::as_input_view(std::forward<Inputs>(inputs))](detail::build_context& ctx) mutable {
          return detail::source_puller<view>(std::move(v), ctx.control);
        };
    return pipeline_builder_of<value, decltype(make)>(std::move(make), 0);
  }
};

/// A runnable pipeline: a single-pass input range of `outcome<T>`, one per item that reaches the
/// end (filtered items do not). Each outcome's `index()` is the position in the source of the item
/// it came from (for a batch, of its first item). Nothing runs until `begin()`.
///
/// It is a range, not a view (it owns the run, and cannot be copied), so it composes with
/// `std::views` both ways: `p | std::views::transform(f)` refers to a pipeline `p` held in a
/// variable (`p` must outlive the result), and `std::move(p) | ...` or `builder.build() | ...`
/// owns it. A view over it yields the outcomes: `f` takes an `outcome<T>&`.
///
/// Stopping: leaving the loop and destroying the pipeline, an exception anywhere, or `stop()` from
/// any thread stop every stage promptly: items not yet started do not start, running calls finish
/// (a thread cannot be interrupted; a stage on processes is stopped), and every thread and process
/// is joined before the destructor returns. Items that were inside a stage when it stopped are
/// not yielded; `report()` counts them (`in_flight`). A source blocked inside its own iterator (a
/// read from a pipe, say) is waited for.
template <class T, class Puller>
class pipeline {
public:
  /// An input iterator over the outcomes, valid until incremented. Move-only: when the iterator
  /// of a run is destroyed (the loop is left), the pipeline stops. Incrementing is lazy: the wait
  /// for the next outcome (and `item_failed`) comes when the iterator is next compared with the
  /// end or dereferenced, so `std::views::take(n)` ends after the n-th outcome without waiting for
  /// another.
  class iterator {
  public:
    /// A single-pass input iterator.
    using iterator_concept = std::input_iterator_tag;
    /// Required of an iterator; positions are never subtracted.
    using difference_type = std::ptrdiff_t;
    /// What `*it` refers to: the outcome of one item that reached the end of the pipeline.
    using value_type = outcome<T>;
    /// An iterator of no run.
    iterator() = default;
    /// Takes the run over from `other`, which then belongs to no run.
    iterator(iterator&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), current_(std::exchange(other.current_, nullptr)),
          steps_(std::exchange(other.steps_, 0)), run_(std::move(other.run_)) {}
    /// Leaves this iterator's run (stopping it), then takes `other`'s over.
    iterator& operator=(iterator&& other) noexcept {
      if (this != &other) {
        leave();
        owner_ = std::exchange(other.owner_, nullptr);
        current_ = std::exchange(other.current_, nullptr);
        steps_ = std::exchange(other.steps_, 0);
        run_ = std::move(other.run_);
      }
      return *this;
    }
    /// Leaving the loop: the pipeline stops (no call starts in any stage), as when it is destroyed.
    ~iterator() { leave(); }
    /// The current outcome; may block until it is ready (see `operator==`).
    value_type& operator*() const { return *settle(); }
    /// Member access to the current outcome; may block as `operator*` does.
    value_type* operator->() const { return settle(); }
    /// Moves to the next outcome (lazily: nothing waits here).
    iterator& operator++() noexcept {
      ++steps_;
      return *this;
    }
    /// Moves to the next outcome, as `++it` does (returns nothing: the iterator is single-pass).
    void operator++(int) noexcept { ++*this; }
    /// True at the end. After an increment, waits for the next outcome; throws `item_failed` at a
    /// halting failure.
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.settle() == nullptr; }

  private:
    friend class pipeline;
    iterator(pipeline* owner, std::shared_ptr<detail::pipeline_control> run)
        : owner_(owner), run_(std::move(run)) {}
    // Through the run's shared state, which the iterator keeps alive: safe even when the iterator
    // outlives its pipeline.
    void leave() noexcept {
      if (run_) run_->request_stop();
    }
    /// Takes the increments not yet taken; the current outcome, or null at the end.
    value_type* settle() const {
      for (; steps_ > 0 && current_ != nullptr; --steps_) {
        current_ = nullptr;
        current_ = owner_->next();
      }
      steps_ = 0;
      return current_;
    }
    pipeline* owner_ = nullptr;
    // Settled lazily, by const members (a comparison with the end reads the next outcome).
    mutable value_type* current_ = nullptr;
    mutable std::size_t steps_ = 0;                 // increments not yet taken
    std::shared_ptr<detail::pipeline_control> run_; // stopped when the iterator is destroyed
  };

  /// Internal: made by `pipeline_builder_of::build`.
  pipeline(std::shared_ptr<detail::pipeline_control> control, Puller puller, pipeline_options options)
      : control_(std::move(control)), puller_(std::in_place, std::move(puller)),
        options_(std::move(options)) {}
  pipeline(pipeline&&) noexcept = default; ///< only before `begin()`
  /// Only before `begin()` of either: stops and joins this pipeline's run, then takes `other`'s.
  pipeline& operator=(pipeline&& other) {
    if (this == &other) return *this;
    end_run();
    control_ = std::move(other.control_);
    if (other.puller_) puller_.emplace(std::move(*other.puller_)); // pullers are move-constructed only
    options_ = std::move(other.options_);
    current_.reset();
    started_ = other.started_;
    finished_ = other.finished_;
    failures_yielded_ = other.failures_yielded_;
    return *this;
  }
  /// Stops the pipeline and joins every thread and process.
  ~pipeline() { end_run(); }

  /// Starts the run and returns the first outcome's position. May be called once.
  iterator begin() {
    if (started_)
      throw std::logic_error(
          "parmill::pipeline: a pipeline is a single-pass range; begin() was already called");
    started_ = true;
    // Every stage on processes forks its spawner now, before any of the pipeline's threads exists.
    puller_->prepare();
    control_->stats.start_clock();
    if (control_->trace) control_->trace->start_clock();
    if (options_.progress || options_.report_every.count() > 0)
      control_->stats.start_display(2, options_.progress, options_.report_every);
    iterator first(this, control_);
    first.current_ = next();
    return first;
  }
  /// The end.
  std::default_sentinel_t end() const noexcept { return {}; }

  /// Stops the run from any thread: no call starts in any stage any more, and iteration ends
  /// (without an error) after at most the outcome being waited for. Leaving the loop does this.
  void stop() noexcept { control_->request_stop(); }

  /// Every stage's counters now; callable from any thread, during and after the run.
  [[nodiscard]] pipeline_report report() const { return control_->stats.report(); }

private:
  outcome<T>* next() {
    current_.reset();
    while (!finished_) {
      std::optional<detail::carried<T>> c;
      const bool stopped = control_->stopping();
      try {
        if (!stopped) c = puller_->next();
      } catch (...) {
        finish();
        throw; // the source's own exception, or the engine's
      }
      if (!c) {
        // A halting failure is met before the end; should it not be (a stage lost it), it is
        // thrown here, unless the run was stopped from outside.
        std::optional<item_error> halted;
        if (!stopped) halted = control_->halted();
        if (!halted && !control_->stopping()) control_->mark_ran_to_end(); // before the stages end
        finish();
        if (halted) throw_item_failed(*halted);
        return nullptr;
      }
      if (control_->past_cutoff(c->index)) continue; // after a halting failure (completion order)
      if (c->ok()) {
        control_->stats.count_output();
        return &current_.emplace(c->index, std::move(c->value()));
      }
      const detail::stage_failure& f = c->failure();
      if (f.kind == failure_kind::cancelled) continue;
      item_error error = f.to_error(c->index);
      // In the order outcomes are yielded, the failure beyond the budget halts the run.
      if (failures_yielded_ == control_->max_failures()) {
        control_->record_failure(error);
        finish();
        throw_item_failed(error);
      }
      ++failures_yielded_;
      control_->stats.count_output();
      return &current_.emplace(std::move(error));
    }
    return nullptr;
  }

  /// Stops the run and joins every thread and process (nothing to do once moved from).
  void end_run() noexcept {
    if (!control_) return;
    control_->request_stop();
    puller_.reset();
    control_->stats.stop_display();
    write_trace();
  }

  /// `.trace`: once every stage is joined (the pullers gone), writes the trace with `report()`'s
  /// table as its summary. Never throws (a failure is reported on standard error).
  void write_trace() noexcept {
    if (!control_->trace || puller_ || !started_) return;
    try {
      const pipeline_report report = control_->stats.report();
      std::string title = "parmill::pipeline:";
      for (std::size_t i = 0; i < report.stages.size(); ++i)
        title += (i == 0 ? " " : " -> ") + report.stages[i].name;
      control_->trace->set_title(std::move(title));
      std::vector<std::string> lines;
      const std::string table = report.to_string();
      for (std::size_t from = 0; from < table.size();) {
        const std::size_t end = std::min(table.find('\n', from), table.size());
        lines.push_back(table.substr(from, end - from));
        from = end + 1;
      }
      control_->trace->set_summary(std::move(lines));
    } catch (...) {
      // the trace goes without its summary
    }
    control_->trace->write_once();
  }

  /// The run is over for the consumer: every stage stops.
  void finish() {
    finished_ = true;
    control_->request_stop();
    control_->stats.stop_display();
    if (control_->trace) { // join every stage now, so that the trace is complete when the loop ends
      puller_.reset();
      write_trace();
    }
  }

  std::shared_ptr<detail::pipeline_control> control_;
  std::optional<Puller> puller_;
  pipeline_options options_;
  std::optional<outcome<T>> current_;
  bool started_ = false;
  bool finished_ = false;
  std::size_t failures_yielded_ = 0;
};

/// A pipeline running on a thread of its own, its outcomes handed to a consumer there.
template <class Pipeline>
class background_run {
public:
  /// Starts consuming `p` on a new thread, calling `consumer(outcome&)` for each outcome.
  template <class Consumer>
  background_run(Pipeline p, Consumer consumer) : pipeline_(std::make_unique<Pipeline>(std::move(p))) {
    thread_ = std::thread([this, consumer = std::move(consumer)]() mutable {
      try {
        for (auto& o : *pipeline_)
          consumer(o);
      } catch (...) {
        error_ = std::current_exception();
      }
    });
  }
  background_run(const background_run&) = delete;
  background_run& operator=(const background_run&) = delete;
  /// Stops the pipeline and joins (an error not collected by `wait()` is dropped).
  ~background_run() {
    stop();
    if (thread_.joinable()) thread_.join();
  }

  /// Waits for the run to end and rethrows its failure (a halting `item_failed`, or what the
  /// consumer threw). Call once.
  void wait() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }
  /// Stops the run from any thread; `wait()` then returns promptly.
  void stop() noexcept { pipeline_->stop(); }
  /// Every stage's counters now.
  [[nodiscard]] pipeline_report report() const { return pipeline_->report(); }

private:
  std::unique_ptr<Pipeline> pipeline_;
  std::exception_ptr error_;
  std::thread thread_;
};

/// Runs `p` in the background, handing each outcome to `consumer` on the run's own thread.
template <class T, class Puller, class Consumer>
[[nodiscard]] auto run_in_background(pipeline<T, Puller>&& p, Consumer consumer) {
  return background_run<pipeline<T, Puller>>(std::move(p), std::move(consumer));
}

} // namespace parmill
