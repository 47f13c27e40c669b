// (a) 1,000,000 items of about 1 us each, input order, 2 threads, default options: parmill::map
// against the plain sequential loop and oneTBB's parallel_for at several grain sizes (the best is
// the peer). (b) An endless input through the map, stopped after 1,000,000 and 10,000,000 items:
// the process's peak memory (VmHWM) before and after; run each alone in a fresh process
// (--benchmark_filter='endless/1000000$', then 'endless/10000000$') so that the peaks compare.
// (c) The cost of one progress_bar update from one and from two threads.
#include <parmill/parmill.hpp>

#include <benchmark/benchmark.h>

#include "work.hpp"
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace {

constexpr std::size_t items = 1'000'000;

using parmill_bench::one_microsecond;

void sequential_loop(benchmark::State& state) {
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < items; ++i)
      sum += one_microsecond(i);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

void parmill_map_threads2(benchmark::State& state) {
  auto input = std::views::iota(std::uint64_t{0}, std::uint64_t{items});
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (auto& r : parmill::map(parmill::threads(2), input, one_microsecond))
      sum += *r;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

void tbb_parallel_for(benchmark::State& state) {
  const auto grain = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint64_t> out(items);
  tbb::task_arena arena(2);
  for (auto _ : state) {
    arena.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, items, grain),
          [&](const auto& r) {
            for (std::size_t i = r.begin(); i != r.end(); ++i)
              out[i] = one_microsecond(i);
          },
          tbb::simple_partitioner());
    });
    std::uint64_t sum = 0;
    for (auto v : out)
      sum += v; // the same consumption as the map's loop
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

void tbb_parallel_for_auto(benchmark::State& state) {
  std::vector<std::uint64_t> out(items);
  tbb::task_arena arena(2);
  for (auto _ : state) {
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, items), [&](const auto& r) {
        for (std::size_t i = r.begin(); i != r.end(); ++i)
          out[i] = one_microsecond(i);
      });
    });
    std::uint64_t sum = 0;
    for (auto v : out)
      sum += v;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

std::int64_t peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

void parmill_map_endless(benchmark::State& state) {
  const auto stop_after = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    const auto before = peak_rss_kib();
    std::uint64_t sum = 0;
    // An endless generator; the loop, not the input, decides when to stop.
    for (auto& r : parmill::map(parmill::threads(2), std::views::iota(std::uint64_t{0}), [](std::uint64_t x) {
           return std::string(64, static_cast<char>('a' + x % 26));
         })) {
      sum += r->size();
      if (r.index() + 1 == stop_after) break;
    }
    benchmark::DoNotOptimize(sum);
    state.counters["peak_rss_before_kib"] = static_cast<double>(before);
    state.counters["peak_rss_after_kib"] = static_cast<double>(peak_rss_kib());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * stop_after));
}

void progress_bar_advance(benchmark::State& state) {
  static parmill::progress_bar* bar = nullptr;
  if (state.thread_index() == 0)
    bar = new parmill::progress_bar(parmill::progress_options{.label = "bench",
                                                              .total = std::nullopt,
                                                              .fd = -1,
                                                              .terminal = false,
                                                              .interval = std::chrono::hours(1)});
  for (auto _ : state)
    bar->advance();
  if (state.thread_index() == 0) {
    delete bar;
    bar = nullptr;
  }
}

} // namespace

BENCHMARK(sequential_loop)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(parmill_map_threads2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tbb_parallel_for)
    ->RangeMultiplier(10)
    ->Range(1, 100000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(tbb_parallel_for_auto)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(parmill_map_endless)
    ->Arg(1'000'000)
    ->Arg(10'000'000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK(progress_bar_advance)->Threads(1)->Threads(2);
BENCHMARK_MAIN();
