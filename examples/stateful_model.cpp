// Scenario: a worker that loads an expensive model once per worker (one per GPU, say) and then
// serves every item that worker gets. The factory runs inside each worker, with its index.
#include <parmill/parmill.hpp>

#include <atomic>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

namespace {

std::atomic<int> models_loaded{0};

/// Stands in for a model that is expensive to load: built once per worker, never shared.
class classifier {
public:
  classifier(const parmill::worker_context& context, std::string weights)
      : device_("gpu" + std::to_string(context.index)), weights_(std::move(weights)) {
    models_loaded.fetch_add(1);
    table_.resize(1 << 16);
    std::iota(table_.begin(), table_.end(), 0U); // the "expensive" load
  }
  /// Classifies one sample; uses only this worker's own state, so it needs no lock.
  std::string operator()(unsigned sample) const {
    return device_ + ":" + (table_[sample % table_.size()] % 2 ? "odd" : "even");
  }

private:
  std::string device_;
  std::string weights_;
  std::vector<unsigned> table_;
};

} // namespace

int main() {
  std::vector<unsigned> samples(10000);
  std::iota(samples.begin(), samples.end(), 0U);
  const std::size_t workers = 4;
  std::size_t odd = 0;
  for (auto& r : parmill::map(parmill::threads(workers), samples,
                              parmill::per_worker<classifier>(std::string("weights.bin"))))
    odd += r->ends_with("odd");
  std::printf("classified %zu samples, %zu odd, with %d models loaded for %zu workers\n", samples.size(), odd,
              models_loaded.load(), workers);
  return odd == samples.size() / 2 && models_loaded.load() <= static_cast<int>(workers) ? 0 : 1;
}
