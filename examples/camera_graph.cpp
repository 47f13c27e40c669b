// Scenario: the processing graph of one camera frame. A detector finds objects; a size estimator
// and a classifier then work on its output beside each other; an aggregator joins their results.
// Written with fan_out: no hand-made pipes or threads. The classifier keeps a model per worker.
#include <parmill/parmill.hpp>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

namespace {

struct frame {
  int number = 0;
  std::vector<int> pixels;
};

struct detections {
  int frame = 0;
  std::vector<int> boxes; // one number per object found
};

detections detect(frame& f) {
  detections d{f.number, {}};
  for (std::size_t i = 0; i < f.pixels.size(); i += 16)
    if (f.pixels[i] % 7 == 0) d.boxes.push_back(f.pixels[i]);
  return d;
}

/// The sizes of the objects found.
std::vector<int> estimate_sizes(detections& d) {
  std::vector<int> sizes;
  for (int box : d.boxes)
    sizes.push_back(box % 100);
  return sizes;
}

/// A classifier with a model loaded once per worker.
class classifier {
public:
  explicit classifier(const parmill::worker_context& context) : worker_(context.index) {}
  std::vector<std::string> operator()(detections& d) const {
    std::vector<std::string> labels;
    for (int box : d.boxes)
      labels.push_back(box % 2 ? "car" : "person");
    return labels;
  }

private:
  std::size_t worker_;
};

/// Joins the branches: one line per frame.
std::string aggregate(std::tuple<std::vector<int>, std::vector<std::string>>& joined) {
  auto& [sizes, labels] = joined;
  std::string line = std::to_string(sizes.size()) + " objects";
  if (!sizes.empty())
    line += ", largest " + std::to_string(*std::max_element(sizes.begin(), sizes.end())) + ", first a " +
            labels[0];
  return line;
}

} // namespace

int main() {
  std::vector<frame> frames;
  for (int n = 0; n < 300; ++n) {
    frame f{n, std::vector<int>(4096)};
    std::iota(f.pixels.begin(), f.pixels.end(), n);
    frames.push_back(std::move(f));
  }
  auto graph =
      parmill::pipeline_builder()
          .source(frames)
          .pipe(detect, {.concurrency = 2, .name = "detect"})
          .fan_out(parmill::branch(estimate_sizes, {.concurrency = 1, .name = "size"}),
                   parmill::branch(parmill::per_worker<classifier>(), {.concurrency = 2, .name = "classify"}))
          .pipe(aggregate, {.concurrency = 1, .name = "aggregate"})
          .build(parmill::threads(2));
  std::size_t shown = 0, frames_done = 0;
  for (auto& line : graph) {
    if (shown++ < 3) std::printf("frame %zu: %s\n", line.index(), line->c_str());
    ++frames_done;
  }
  std::fputs(graph.report().to_string().c_str(), stdout);
  return frames_done == frames.size() ? 0 : 1;
}
