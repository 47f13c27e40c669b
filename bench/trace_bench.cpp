// The cost of `.trace` (issue 18) on the map benchmark of map_bench.cpp: 1,000,000 items of about
// 1 us each, input order, 2 threads, default options; the same run with no option given, with
// `.trace` empty (off), and with `.trace` set (on: recorded and written to a file in /tmp at the
// end of each run). Run by bench/run.sh: repetitions interleaved at random, medians compared.
// The inline backend (one chunk per item, so one record per item) is the worst case, measured too.
#include <parmill/parmill.hpp>

#include <benchmark/benchmark.h>

#include "work.hpp"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace {

constexpr std::size_t items = 1'000'000;
constexpr std::size_t inline_items = 200'000;

using parmill_bench::one_microsecond;

enum class tracing { no_option, off, on };

std::filesystem::path trace_path() {
  return std::filesystem::temp_directory_path() /
         ("parmill-trace-bench-" + std::to_string(::getpid()) + ".json");
}

template <tracing mode>
void map_1us(benchmark::State& state, const parmill::backend& where, std::size_t n) {
  auto input = std::views::iota(std::uint64_t{0}, std::uint64_t{n});
  const std::filesystem::path file = trace_path();
  for (auto _ : state) {
    std::uint64_t sum = 0;
    if constexpr (mode == tracing::no_option) {
      for (auto& r : parmill::map(where, input, one_microsecond))
        sum += *r;
    } else {
      for (auto& r : parmill::map(where, input, one_microsecond,
                                  {.trace = mode == tracing::on ? file : std::filesystem::path{}}))
        sum += *r;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  std::filesystem::remove(file);
}

void map_threads2_no_option(benchmark::State& s) {
  map_1us<tracing::no_option>(s, parmill::threads(2), items);
}
void map_threads2_trace_off(benchmark::State& s) { map_1us<tracing::off>(s, parmill::threads(2), items); }
void map_threads2_trace_on(benchmark::State& s) { map_1us<tracing::on>(s, parmill::threads(2), items); }
void map_inline_no_option(benchmark::State& s) {
  map_1us<tracing::no_option>(s, parmill::inline_backend(), inline_items);
}
void map_inline_trace_off(benchmark::State& s) {
  map_1us<tracing::off>(s, parmill::inline_backend(), inline_items);
}
void map_inline_trace_on(benchmark::State& s) {
  map_1us<tracing::on>(s, parmill::inline_backend(), inline_items);
}

} // namespace

BENCHMARK(map_threads2_no_option)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(map_threads2_trace_off)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(map_threads2_trace_on)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(map_inline_no_option)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(map_inline_trace_off)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(map_inline_trace_on)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
