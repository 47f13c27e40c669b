// Scenario: Ctrl-C in a program that uses the library. While the loop runs, a SIGINT handler calls
// stop() on the map: the loop ends quietly (no exception), frames being rendered in worker
// processes are killed, the others never start, and the program says what it did and exits as the
// shell expects of a program interrupted by Ctrl-C (status 130).
//
//   example_stop_on_ctrl_c           raises SIGINT itself after 20 frames (so CTest can run it)
//   example_stop_on_ctrl_c --wait    renders until you press Ctrl-C
#include <parmill/parmill.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

/// Stands in for slow work: 40 ms per frame.
std::string render(int frame) {
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  return "frame" + std::to_string(frame) + ".png";
}

} // namespace

int main(int argc, char** argv) {
  const bool wait_for_ctrl_c = argc > 1 && std::strcmp(argv[1], "--wait") == 0;
  std::vector<int> frames(wait_for_ctrl_c ? 100000 : 400);
  for (std::size_t i = 0; i < frames.size(); ++i)
    frames[i] = static_cast<int>(i);

  std::size_t rendered = 0;
  bool interrupted = false;
  {
    auto m = parmill::map(parmill::processes(4), frames, render);

    // The handler reaches the map through a lock-free atomic pointer, set only while the loop runs.
    // stop() is async-signal-safe; the handler does nothing else.
    static std::atomic<decltype(m)*> to_stop{nullptr};
    to_stop = &m;
    struct sigaction on_ctrl_c {};
    on_ctrl_c.sa_handler = [](int) {
      if (auto* running = to_stop.load()) running->stop();
    };
    sigemptyset(&on_ctrl_c.sa_mask);
    struct sigaction previous {};
    sigaction(SIGINT, &on_ctrl_c, &previous);

    for (auto& r : m) {
      if (!r) continue; // a failed frame: r.error().describe() says why
      ++rendered;
      if (!wait_for_ctrl_c && rendered == 20) raise(SIGINT); // what a Ctrl-C does
    }

    interrupted = m.stop_requested(); // (a Ctrl-C after the last frame is not an interruption)
    m.close(); // every worker ended and reaped, while Ctrl-C can still cut that wait short
    sigaction(SIGINT, &previous, nullptr); // restore the previous handler first,
    to_stop = nullptr;                     // then forget the map
  }

  if (!interrupted) {
    std::printf("rendered all %zu frames\n", rendered);
    return 0;
  }
  std::printf("stopped by Ctrl-C after %zu of %zu frames; the other %zu were not rendered\n", rendered,
              frames.size(), frames.size() - rendered);
  return 128 + SIGINT; // the shell's convention for a program ended by Ctrl-C
}
