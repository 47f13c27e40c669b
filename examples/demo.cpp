// The main job for now: checksums of many generated blocks through parmill::map on the thread
// backend, with a progress bar and a summary. (The parmill command replaces it when it lands.)
#include <parmill/parmill.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ranges>

namespace {

/// FNV-1a over a pseudo-random block of `size` bytes seeded by `seed`: a stand-in for real work.
std::uint64_t checksum_block(std::uint64_t seed, std::size_t size) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1, hash = 1469598103934665603ULL;
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    hash = (hash ^ (x & 0xFF)) * 1099511628211ULL;
  }
  return hash;
}

} // namespace

int main() {
  constexpr std::uint64_t blocks = 200000;
  constexpr std::size_t block_size = 4096;
  const auto backend = parmill::threads(); // one worker per core
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t combined = 0;
  for (auto& r :
       parmill::map(backend, std::views::iota(std::uint64_t{0}, blocks),
                    [](std::uint64_t i) { return checksum_block(i, block_size); }, {.progress = "blocks"}))
    combined ^= *r;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "demo: %llu blocks of %zu bytes on %zu threads in %.2f s (%.0f blocks/s), combined checksum %016llx\n",
      static_cast<unsigned long long>(blocks), block_size, backend.workers(), seconds,
      static_cast<double>(blocks) / seconds, static_cast<unsigned long long>(combined));
  return 0;
}
