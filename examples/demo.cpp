// The main job for now: checksums of many generated blocks on the thread backend, with a summary.
#include <parmill/parmill.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

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
  constexpr std::size_t blocks = 20000, block_size = 4096;
  parmill::thread_pool pool; // one thread per core
  std::vector<std::uint64_t> sums(blocks);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < blocks; ++i) pool.post([&sums, i] { sums[i] = checksum_block(i, block_size); });
  pool.wait();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t combined = 0;
  for (auto s : sums) combined ^= s;
  std::printf("demo: %zu blocks of %zu bytes on %zu threads in %.3f s (%.0f blocks/s), combined checksum %016llx\n",
              blocks, block_size, pool.size(), seconds, blocks / seconds, static_cast<unsigned long long>(combined));
  return 0;
}
