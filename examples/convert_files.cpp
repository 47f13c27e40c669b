// Scenario: convert many files in parallel, with a result per file and a progress bar. Each
// file is "converted" by run-length encoding it into OUT_DIR; an unreadable file becomes a failed
// outcome naming the file, and the run goes on.
#include <parmill/parmill.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct converted {
  std::uintmax_t bytes_in = 0;
  std::uintmax_t bytes_out = 0;
};

/// Run-length encodes `in` into `out_dir`; throws with the file's name when it cannot.
converted convert(const fs::path& in, const fs::path& out_dir) {
  std::ifstream src(in, std::ios::binary);
  if (!src) throw std::runtime_error("cannot read " + in.string());
  const std::string data((std::istreambuf_iterator<char>(src)), std::istreambuf_iterator<char>());
  std::string encoded;
  for (std::size_t i = 0; i < data.size();) {
    std::size_t run = 1;
    while (i + run < data.size() && data[i + run] == data[i] && run < 255)
      ++run;
    encoded.push_back(static_cast<char>(run));
    encoded.push_back(data[i]);
    i += run;
  }
  std::ofstream(out_dir / (in.filename().string() + ".rle"), std::ios::binary) << encoded;
  return {data.size(), encoded.size()};
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t count = argc > 1 ? std::stoul(argv[1]) : 2000;
  const fs::path root = fs::temp_directory_path() / ("parmill_convert_" + std::to_string(::getpid()));
  const fs::path in_dir = root / "in", out_dir = root / "out";
  fs::create_directories(in_dir);
  fs::create_directories(out_dir);
  std::vector<fs::path> files;
  for (std::size_t i = 0; i < count; ++i) {
    files.push_back(in_dir / ("sample " + std::to_string(i) + ".txt")); // names with spaces are fine
    std::ofstream(files.back()) << std::string(1000 + i % 500, static_cast<char>('a' + i % 3));
  }
  files.push_back(in_dir / "missing.txt"); // one bad input: reported, not fatal

  converted total;
  std::size_t failed = 0;
  for (auto& r :
       parmill::map(parmill::threads(), files, [&](const fs::path& f) { return convert(f, out_dir); },
                    {.on_error = parmill::on_error::yield, .progress = "converting"})) {
    if (!r) {
      ++failed;
      std::fprintf(stderr, "failed: %s\n", r.error().describe().c_str());
      continue;
    }
    total.bytes_in += r->bytes_in;
    total.bytes_out += r->bytes_out;
  }
  std::printf("converted %zu files: %ju bytes in, %ju bytes out, %zu failed\n", files.size() - failed,
              total.bytes_in, total.bytes_out, failed);
  fs::remove_all(root);
  return failed == 1 ? 0 : 1; // exactly the one missing file must fail
}
