// bench/work.hpp: the synthetic work items of the benchmarks, shared so that every benchmark
// measures the same thing.
#pragma once

#include <cstdint>

namespace parmill_bench {

/// About 1 us of dependent arithmetic that the compiler cannot remove or vectorise.
inline std::uint64_t one_microsecond(std::uint64_t x) {
  for (int i = 0; i < 570; ++i)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL, x ^= x >> 29;
  return x;
}

} // namespace parmill_bench
