// Scenario: a data-loading pipeline. Downloading is I/O bound and wants many at once; decoding is
// CPU bound and wants a few; the consumer wants batches. A local HTTP stand-in "downloads" files
// written to a temporary directory, so the example runs anywhere.
//
// Usage: example_load_pipeline [ITEMS]
#include <parmill/parmill.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

/// What a download returns: the bytes of one file.
struct blob {
  std::string url;
  std::string bytes;
};

/// Stands in for an HTTP GET: reads the file a `file://` URL names.
blob download(std::string& url) {
  std::ifstream in(url.substr(7), std::ios::binary);
  if (!in) throw std::runtime_error("cannot download " + url);
  return {url, std::string(std::istreambuf_iterator<char>(in), {})};
}

/// A decoded sample: the numbers in the file. Files that hold none are dropped (a filter).
std::optional<std::vector<int>> decode(blob& b) {
  std::vector<int> values;
  std::size_t at = 0;
  while (at < b.bytes.size()) {
    std::size_t used = 0;
    values.push_back(std::stoi(b.bytes.substr(at), &used));
    at += used;
    while (at < b.bytes.size() && b.bytes[at] == ' ')
      ++at;
  }
  if (values.empty()) return std::nullopt;
  return values;
}

} // namespace

int main(int argc, char** argv) {
  const int items = argc > 1 ? std::atoi(argv[1]) : 2000;
  const fs::path dir = fs::temp_directory_path() / ("parmill_load_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::string> urls;
  for (int i = 0; i < items; ++i) {
    const fs::path file = dir / ("sample " + std::to_string(i) + ".txt");
    std::ofstream(file) << (i % 10 == 0 ? std::string() : std::to_string(i) + " " + std::to_string(2 * i));
    urls.push_back("file://" + file.string());
  }

  auto pipeline = parmill::pipeline_builder()
                      .source(urls)
                      .pipe(download, {.concurrency = 8, .name = "download"})
                      .pipe(decode, {.concurrency = 2, .order = parmill::order::input, .name = "decode"})
                      .batch(32)
                      .sink(3)
                      .build(parmill::threads(4));
  std::size_t batches = 0, samples = 0;
  long checksum = 0;
  for (auto& batch : pipeline) {
    ++batches;
    for (const std::vector<int>& sample : *batch) {
      ++samples;
      checksum += std::accumulate(sample.begin(), sample.end(), 0L);
    }
  }
  std::fputs(pipeline.report().to_string().c_str(), stdout);
  fs::remove_all(dir);

  // Every file but the empty ones (one in ten), each holding i and 2i.
  long expected = 0;
  std::size_t expected_samples = 0;
  for (int i = 0; i < items; ++i)
    if (i % 10 != 0) {
      expected += 3L * i;
      ++expected_samples;
    }
  std::printf("%zu samples in %zu batches, checksum %ld\n", samples, batches, checksum);
  return samples == expected_samples && checksum == expected ? 0 : 1;
}
