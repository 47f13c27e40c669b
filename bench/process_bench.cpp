// The processes backend against its peers (issue 5):
// (a) 1,000,000 trivial items through processes(2) with default options (the Python peers,
//     multiprocessing.Pool.imap with chunksize 100 and 1, run in bench/process_bench.sh);
// (b) the round trip of one small item (chunk 1, window 1) against a raw pipe round trip between
//     two processes.
#include <parmill/map.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <ranges>
#include <sys/wait.h>
#include <unistd.h>

namespace {

void parmill_processes2_trivial(benchmark::State& state) {
  const auto items = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (auto& r : parmill::map(parmill::processes(2), std::views::iota(std::uint64_t{0}, items),
                                [](std::uint64_t x) { return x + 1; }))
      sum += *r;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

void parmill_processes_round_trip(benchmark::State& state) {
  // One worker, one item per message; Arg(1): one item in flight, so each item is a full round
  // trip; Arg(0): the default window, so messages overlap as they do in a real run with chunk 1.
  constexpr std::uint64_t items = 20000;
  const auto window = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (auto& r : parmill::map(parmill::processes(1), std::views::iota(std::uint64_t{0}, items),
                                [](std::uint64_t x) { return x + 1; }, {.window = window, .chunk = 1}))
      sum += *r;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

void raw_pipe_round_trip(benchmark::State& state) {
  // A child echoes 8-byte values back through a second pipe: the floor for a round trip.
  constexpr std::uint64_t items = 20000;
  for (auto _ : state) {
    int to_child[2], to_parent[2];
    if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) state.SkipWithError("pipe");
    const pid_t child = ::fork();
    if (child == 0) {
      ::close(to_child[1]);
      ::close(to_parent[0]);
      std::uint64_t x;
      while (::read(to_child[0], &x, sizeof x) == sizeof x) {
        ++x;
        if (::write(to_parent[1], &x, sizeof x) != sizeof x) break;
      }
      ::_exit(0);
    }
    ::close(to_child[0]);
    ::close(to_parent[1]);
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < items; ++i) {
      std::uint64_t x = i;
      if (::write(to_child[1], &x, sizeof x) != sizeof x || ::read(to_parent[0], &x, sizeof x) != sizeof x)
        break;
      sum += x;
    }
    ::close(to_child[1]);
    ::close(to_parent[0]);
    ::waitpid(child, nullptr, 0);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

} // namespace

BENCHMARK(parmill_processes2_trivial)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(parmill_processes_round_trip)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(raw_pipe_round_trip)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
