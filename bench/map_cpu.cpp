// Where the time of the map benchmark (issue 3a) goes: 1,000,000 items of about 1 us through
// parmill::map on threads(2) and through oneTBB's parallel_for on a 2-thread arena, contenders
// interleaved repetition by repetition. For each: the median wall time, the CPU time of the whole
// process (all threads, user and system), and the idle time of the two cores (2 x wall - CPU: time
// when fewer than two threads ran). On 2 cores, wall = (CPU + idle) / 2, so this says whether a
// gap is extra work (CPU) or waiting (idle).
// Usage: map_cpu [REPETITIONS] (default 9).
#include <parmill/parmill.hpp>

#include "work.hpp"
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <ranges>
#include <string>
#include <vector>

namespace {

constexpr std::size_t items = 1'000'000;

double process_cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return 1e3 * static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-3 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct contender {
  std::string name;
  std::function<std::uint64_t()> run;
  std::vector<double> wall, cpu;
};

} // namespace

int main(int argc, char** argv) {
  const int repetitions = argc > 1 ? std::atoi(argv[1]) : 9;
  using parmill_bench::one_microsecond;
  const auto input = std::views::iota(std::uint64_t{0}, std::uint64_t{items});
  std::vector<std::uint64_t> out(items);
  tbb::task_arena arena(2);
  const auto tbb_sum = [&](std::size_t grain) {
    arena.execute([&] {
      const auto body = [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i != r.end(); ++i)
          out[i] = one_microsecond(i);
      };
      if (grain == 0) {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, items), body);
      } else {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, items, grain), body, tbb::simple_partitioner());
      }
    });
    std::uint64_t sum = 0;
    for (auto v : out)
      sum += v;
    return sum;
  };
  std::vector<contender> contenders;
  contenders.push_back({"parmill::map, threads(2), no options",
                        [&] {
                          std::uint64_t sum = 0;
                          for (auto& r : parmill::map(parmill::threads(2), input, one_microsecond))
                            sum += *r;
                          return sum;
                        },
                        {},
                        {}});
  contenders.push_back({"oneTBB parallel_for, auto partitioner", [&] { return tbb_sum(0); }, {}, {}});
  for (std::size_t grain : {100, 1000, 10000})
    contenders.push_back({"oneTBB parallel_for, grain " + std::to_string(grain),
                          [&tbb_sum, grain] { return tbb_sum(grain); },
                          {},
                          {}});
  std::uint64_t check = 0;
  for (int rep = 0; rep < repetitions; ++rep) {
    for (auto& c : contenders) {
      const auto started = std::chrono::steady_clock::now();
      const double cpu_before = process_cpu_ms();
      check ^= c.run();
      c.wall.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
      c.cpu.push_back(process_cpu_ms() - cpu_before);
    }
  }
  std::printf("%d repetitions, medians (checksum %llu)\n", repetitions,
              static_cast<unsigned long long>(check));
  std::printf("%-42s %9s %9s %9s\n", "contender", "wall ms", "CPU ms", "idle ms");
  for (auto& c : contenders) {
    std::vector<double> idle;
    for (std::size_t i = 0; i < c.wall.size(); ++i)
      idle.push_back(2 * c.wall[i] - c.cpu[i]);
    std::printf("%-42s %9.1f %9.1f %9.1f\n", c.name.c_str(), median(c.wall), median(c.cpu), median(idle));
  }
}
