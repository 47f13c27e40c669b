// A program that runs a map whose every item hangs, with the Ctrl-C pattern of parmill/map.hpp: a
// SIGINT handler that calls stop() on the map, installed while the loop runs. map_stop_test runs
// it in a pseudo-terminal and types ^C.
//
//   map_ctrl_c <inline|threads|processes> <workers>
//
// Each item prints "started <index> in <pid>" and then hangs: on processes for 20 s (stop() kills
// it first), on threads until its worker's stop token is requested, inline until a signal interrupts
// it. After the loop the program prints "ended quietly after <n> outcomes" and exits 0 when the
// map was stopped (1 when it was not, 2 for bad arguments).
#include <parmill/map.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <ranges>
#include <string_view>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

namespace {

void say_started(long item) {
  std::printf("started %ld in %ld\n", item, static_cast<long>(::getpid()));
  std::fflush(stdout);
}

/// Inline: waits until a SIGINT (at most 20 s). SIGINT is blocked from before "started" is printed
/// until ppoll unblocks it atomically, so a ^C typed just after the line is not missed.
void wait_for_sigint(long item) {
  sigset_t sigint, previous;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  ::sigprocmask(SIG_BLOCK, &sigint, &previous);
  say_started(item);
  const timespec limit{20, 0};
  ::ppoll(nullptr, 0, &limit, &previous); // EINTR once the handler has run
  ::sigprocmask(SIG_SETMASK, &previous, nullptr);
}

/// Hangs as described above; returns the item.
long hang(long item, const parmill::worker_context& context) {
  switch (context.backend) {
  case parmill::backend_kind::threads: {
    say_started(item);
    std::mutex mutex;
    std::condition_variable_any never;
    std::unique_lock lock(mutex);
    never.wait_for(lock, context.stop, std::chrono::seconds(20), [] { return false; });
    break;
  }
  case parmill::backend_kind::inline_: wait_for_sigint(item); break;
  default: // processes: a worker process is in a group of its own, so no ^C reaches it
    say_started(item);
    ::poll(nullptr, 0, 20000);
  }
  return item;
}

std::optional<parmill::backend> backend_of(std::string_view kind, int workers) {
  if (workers < 1) return std::nullopt;
  if (kind == "inline") return parmill::inline_backend();
  if (kind == "threads") return parmill::threads(static_cast<std::size_t>(workers));
  if (kind == "processes") return parmill::processes(static_cast<std::size_t>(workers));
  return std::nullopt;
}

} // namespace

int main(int argc, char** argv) {
  const auto where = argc == 3 ? backend_of(argv[1], std::atoi(argv[2])) : std::nullopt;
  if (!where) {
    std::fprintf(stderr, "usage: map_ctrl_c <inline|threads|processes> <workers>\n");
    return 2;
  }
  std::size_t outcomes = 0;
  bool stopped = false;
  {
    auto m = parmill::map(*where, std::views::iota(0L, 1000L),
                          parmill::per_worker([](const parmill::worker_context& context) {
                            return [context](long item) { return hang(item, context); };
                          }),
                          {.chunk = 1});
    // The Ctrl-C pattern: the handler reaches the map through a lock-free atomic pointer, set only
    // while the loop runs.
    static std::atomic<decltype(m)*> to_stop{nullptr};
    to_stop = &m;
    struct sigaction on_ctrl_c {};
    on_ctrl_c.sa_handler = [](int) {
      if (auto* running = to_stop.load()) running->stop();
    };
    sigemptyset(&on_ctrl_c.sa_mask);
    struct sigaction previous {};
    ::sigaction(SIGINT, &on_ctrl_c, &previous);
    for (auto& r : m) {
      (void)r;
      ++outcomes;
    }
    ::sigaction(SIGINT, &previous, nullptr); // restore first, then forget the map
    to_stop = nullptr;
    stopped = m.stop_requested();
  } // the map's destructor joins its threads and reaps its processes
  std::printf("ended quietly after %zu outcomes\n", outcomes);
  return stopped ? 0 : 1;
}
