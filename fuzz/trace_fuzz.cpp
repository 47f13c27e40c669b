// Fuzzes read_chrome_trace (parmill/timeline.hpp) with any bytes: it must either refuse them with
// std::runtime_error or return a timeline that writes back to a trace that reads back the same,
// and that the page writer accepts. Crashes, UB, leaks, hangs and unbounded memory are findings.
#include <parmill/timeline.hpp>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

bool same(const parmill::timeline& a, const parmill::timeline& b) {
  if (a.title != b.title || a.lanes != b.lanes || a.wall != b.wall || a.summary != b.summary ||
      a.spans.size() != b.spans.size())
    return false;
  for (std::size_t i = 0; i < a.spans.size(); ++i) {
    const auto &x = a.spans[i], &y = b.spans[i];
    if (x.lane != y.lane || x.start != y.start || x.duration != y.duration || x.outcome != y.outcome ||
        x.first_item != y.first_item || x.items != y.items || x.label != y.label || x.stage != y.stage ||
        x.exit_status != y.exit_status || x.signal != y.signal)
      return false;
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  parmill::timeline run;
  try {
    run = parmill::read_chrome_trace(in);
  } catch (const std::runtime_error&) {
    return 0; // refused, as documented
  }
  std::ostringstream trace;
  parmill::write_chrome_trace(trace, run);
  std::istringstream again(trace.str());
  if (!same(run, parmill::read_chrome_trace(again)))
    std::abort(); // what was read does not survive a round trip
  std::ostringstream page;
  parmill::write_timeline_html(page, run);
  return 0;
}
