// A 3-stage pipeline over 1,000,000 integers: a serial source, a parallel stage costing about 1 us
// per item, and a serial in-order sink that sums the results. parmill's pipeline (default options,
// 2 workers) against oneTBB's parallel_pipeline on a 2-thread arena at several token counts (the
// best is the peer), in the same process; run with --benchmark_enable_random_interleaving.
#include <parmill/parmill.hpp>

#include <benchmark/benchmark.h>

#include "work.hpp"
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <cstdint>
#include <ranges>

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
BENCHMARK(tbb_parallel_pipeline)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Arg(16)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
