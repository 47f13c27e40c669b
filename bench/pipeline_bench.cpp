// A 3-stage pipeline over 1,000,000 integers: a serial source, a parallel stage costing about 1 us
// per item, and a serial in-order sink that sums the results. parmill's pipeline (default options,
// 2 workers) against oneTBB's parallel_pipeline on a 2-thread arena at several token counts (the
// best is the peer), in the same process; run with --benchmark_enable_random_interleaving.
//
// The README's shapes too: the stage with explicit options ({.concurrency = 2, .order = input,
// .name = "work"}), with and without `.sink(64)`; and the README's two-stage shape (two parallel
// stages of 0.5 us each, input order, `.batch(32)`, `.sink(3)`) against oneTBB with two parallel
// filters and a serial in-order consumer that batches; and `serial_work`, the same work on one
// thread, half of which is the ideal on two cores (each contender's share of it is what to compare
// from run to run: oneTBB's best token count varies more than parmill does).
#include <parmill/parmill.hpp>

#include <benchmark/benchmark.h>

#include "work.hpp"
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <cstdint>
#include <ranges>
#include <vector>

namespace {

constexpr std::uint64_t items = 1'000'000;

using parmill_bench::one_microsecond;

void parmill_pipeline_threads2(benchmark::State& state) {
  for (auto _ : state) {
    auto p = parmill::pipeline_builder()
                 .source(std::views::iota(std::uint64_t{0}, items))
                 .pipe([](std::uint64_t& x) { return one_microsecond(x); }, {.name = "work"})
                 .build(parmill::threads(2));
    std::uint64_t sum = 0;
    for (auto& r : p)
      sum += *r;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

/// The README's shape: explicit stage options, optionally a `.sink(64)` (range(0) = 1).
void parmill_readme_shape(benchmark::State& state) {
  const bool sink = state.range(0) != 0;
  for (auto _ : state) {
    auto builder = parmill::pipeline_builder()
                       .source(std::views::iota(std::uint64_t{0}, items))
                       .pipe([](std::uint64_t& x) { return one_microsecond(x); },
                             {.concurrency = 2, .order = parmill::order::input, .name = "work"});
    std::uint64_t sum = 0;
    if (sink) {
      auto p = std::move(builder).sink(64).build(parmill::threads(2));
      for (auto& r : p)
        sum += *r;
    } else {
      auto p = std::move(builder).build(parmill::threads(2));
      for (auto& r : p)
        sum += *r;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

/// Half of `one_microsecond`: each of two stages costs about 0.5 us.
std::uint64_t half_microsecond(std::uint64_t x) {
  for (int i = 0; i < 285; ++i)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL, x ^= x >> 29;
  return x;
}

/// The work alone, on one thread with no pipeline: half of its time is what a perfect pipeline on
/// two cores would take, so each contender's share of that ideal can be read beside it.
/// range(0) = 1: the two-stage work (`half_microsecond` twice); 0: `one_microsecond`.
void serial_work(benchmark::State& state) {
  const bool two_stages = state.range(0) != 0;
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::uint64_t x = 0; x < items; ++x)
      sum += two_stages ? half_microsecond(half_microsecond(x)) : one_microsecond(x);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

/// The README's two-stage shape: two parallel stages, input order, batches of 32, `.sink(3)`.
void parmill_readme_two_stages_batch_sink(benchmark::State& state) {
  for (auto _ : state) {
    auto p = parmill::pipeline_builder()
                 .source(std::views::iota(std::uint64_t{0}, items))
                 .pipe([](std::uint64_t& x) { return half_microsecond(x); },
                       {.concurrency = 2, .name = "download"})
                 .pipe([](std::uint64_t& x) { return half_microsecond(x); },
                       {.concurrency = 2, .order = parmill::order::input, .name = "decode"})
                 .batch(32)
                 .sink(3)
                 .build(parmill::threads(2));
    std::uint64_t sum = 0;
    for (auto& batch : p)
      for (std::uint64_t x : *batch)
        sum += x;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

/// oneTBB's peer of the two-stage shape: two parallel filters, a serial in-order consumer that
/// groups results into batches of 32.
void tbb_two_stages_batch(benchmark::State& state) {
  const auto tokens = static_cast<std::size_t>(state.range(0));
  tbb::task_arena arena(2);
  for (auto _ : state) {
    std::uint64_t next = 0, sum = 0;
    std::vector<std::uint64_t> batch;
    batch.reserve(32);
    arena.execute([&] {
      tbb::parallel_pipeline(
          tokens,
          tbb::make_filter<void, std::uint64_t>(tbb::filter_mode::serial_in_order,
                                                [&](tbb::flow_control& fc) -> std::uint64_t {
                                                  if (next == items) {
                                                    fc.stop();
                                                    return 0;
                                                  }
                                                  return next++;
                                                }) &
              tbb::make_filter<std::uint64_t, std::uint64_t>(
                  tbb::filter_mode::parallel, [](std::uint64_t x) { return half_microsecond(x); }) &
              tbb::make_filter<std::uint64_t, std::uint64_t>(
                  tbb::filter_mode::parallel, [](std::uint64_t x) { return half_microsecond(x); }) &
              tbb::make_filter<std::uint64_t, void>(tbb::filter_mode::serial_in_order, [&](std::uint64_t x) {
                batch.push_back(x);
                if (batch.size() == 32) {
                  for (std::uint64_t v : batch)
                    sum += v;
                  batch.clear();
                }
              }));
    });
    for (std::uint64_t v : batch)
      sum += v;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

void tbb_parallel_pipeline(benchmark::State& state) {
  const auto tokens = static_cast<std::size_t>(state.range(0));
  tbb::task_arena arena(2);
  for (auto _ : state) {
    std::uint64_t next = 0, sum = 0;
    arena.execute([&] {
      tbb::parallel_pipeline(
          tokens, tbb::make_filter<void, std::uint64_t>(tbb::filter_mode::serial_in_order,
                                                        [&](tbb::flow_control& fc) -> std::uint64_t {
                                                          if (next == items) {
                                                            fc.stop();
                                                            return 0;
                                                          }
                                                          return next++;
                                                        }) &
                      tbb::make_filter<std::uint64_t, std::uint64_t>(
                          tbb::filter_mode::parallel, [](std::uint64_t x) { return one_microsecond(x); }) &
                      tbb::make_filter<std::uint64_t, void>(tbb::filter_mode::serial_in_order,
                                                            [&](std::uint64_t x) { sum += x; }));
    });
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

} // namespace

BENCHMARK(parmill_pipeline_threads2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(parmill_readme_shape)
    ->ArgName("sink64")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(serial_work)->ArgName("two_stages")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(parmill_readme_two_stages_batch_sink)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tbb_two_stages_batch)
    ->Arg(2)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(tbb_parallel_pipeline)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Arg(16)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
