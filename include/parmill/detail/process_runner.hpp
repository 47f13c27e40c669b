// parmill/detail/process_runner.hpp: the processes backend of a map. Each of the map's worker
// threads is the proxy of one worker process: it sends the process a chunk of encoded items and
// reads the encoded results back, and when the process crashes, hangs past the time limit or has
// done its quota of items, it has the spawner fork a replacement.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/chunk_results.hpp"
#include "parmill/detail/executor.hpp"
#include "parmill/detail/process_support.hpp"
#include "parmill/detail/run_gate.hpp"
#include "parmill/detail/runner_executor.hpp"
#include "parmill/outcome.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

template <class In, class Result, class Slots>
class process_runner {
public:
  /// Forks the spawner now, so call this before the run starts any thread.
  process_runner(Slots& slots, std::size_t workers, const item_limits& limits)
      : slots_(slots), workers_(workers), limits_(limits), progress_(workers), procs_(workers),
        retried_(workers, 0), buffers_(workers), spawner_([this](std::size_t w, int fd) { serve(w, fd); }) {
    if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  }

  ~process_runner() {
    for (std::size_t w = 0; w < workers_; ++w)
      end_process(w, true);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  process_runner(const process_runner&) = delete;
  process_runner& operator=(const process_runner&) = delete;

  /// Makes every proxy waiting for a worker give up at once (the run is stopping).
  void interrupt() noexcept {
    if (!interrupted_.exchange(true)) {
      const char byte = 1;
      [[maybe_unused]] const auto ignored = ::write(wake_[1], &byte, 1);
    }
  }

  /// Runs `items` (the first has index `first`) on worker process `w`, appending one outcome per
  /// item to `out`, in order, and returns zero (how long the process took is not known apart from
  /// the round trip, which the caller times). Called only from worker w's proxy thread.
  std::chrono::nanoseconds run(std::size_t w, std::size_t first, std::vector<In>& items,
                               std::vector<outcome<Result>>& out) {
    constexpr std::chrono::nanoseconds round_trip_only{0};
    proc& p = procs_[w];
    const std::size_t n = items.size();
    std::size_t pos = 0;
    std::vector<std::size_t> attempts; // crashes and timeouts per item, for retries
    std::optional<item_error> blamed;  // the failure of item `first + blamed_at`, once known
    std::size_t blamed_at = 0;
    unsigned blameless = 0; // deaths in a row that no item could be blamed for
    while (pos < n) {
      if (interrupted_) {
        cancel(w, first, pos, n, out);
        return round_trip_only;
      }
      if (blamed && blamed_at == pos) {
        out.emplace_back(std::move(*blamed));
        blamed.reset();
        ++pos;
        continue;
      }
      if (p.pid < 0) {
        const auto started = spawner_.spawn(w);
        p = proc{started.pid, started.fd, started.pidfd, 0};
      }
      std::size_t end = blamed ? blamed_at : n;
      if (limits_.max_items_per_worker != 0)
        end = std::min(end, pos + (limits_.max_items_per_worker - p.items_done));

      writer message;
      message.raw(static_cast<std::uint64_t>(first + pos));
      message.raw(static_cast<std::uint64_t>(end - pos));
      for (std::size_t i = pos; i < end; ++i)
        parmill::encode(message, items[i]);
      bool alive = true;
      try {
        write_frame(p.fd, message);
      } catch (const std::system_error&) {
        alive = false; // it died; the read below finds out how
      }

      std::optional<std::chrono::steady_clock::time_point> deadline;
      const auto renew = [&] {
        if (limits_.timeout.count() > 0) deadline = std::chrono::steady_clock::now() + limits_.timeout;
      };
      renew();
      while (pos < end) {
        // The results' bytes are read as they are decoded, so a large value goes straight from
        // the socket into its own storage.
        std::uint64_t frame_size = 0;
        frame_status status = read_frame_size(p.fd, frame_size, deadline, wake_[0]);
        if (status == frame_status::ok) {
          try {
            reader r(static_cast<std::size_t>(frame_size), &read_frame_body, &p.fd, buffers_[w]);
            while (r.remaining() > 0 && pos < end) {
              out.push_back(decode_result<Result>(r, first + pos, w));
              ++pos;
              ++p.items_done;
            }
            blameless = 0;
            renew();
            continue;
          } catch (const codec_error&) {
            status = frame_status::closed; // it died while sending: the items not received run again
          }
        }
        if (status == frame_status::interrupted) {
          cancel(w, first, pos, n, out);
          return round_trip_only;
        }
        // The worker died, or ran past the time limit: kill it, learn how it ended and which item
        // it was running, and go on with a replacement.
        const bool timed_out = status == frame_status::timed_out && alive;
        const std::uint64_t running = progress_[w].exchange(0);
        const int wait_status = end_process(w, true); // the next batch spawns its replacement
        const std::size_t at = running > first + pos && running <= first + end ? running - 1 - first : n;
        if (at == n) {
          // No item was running (it died between items, or while sending results): the items not
          // reported run again; twice in a row, the next item is blamed so that nothing loops.
          if (++blameless < 2) break;
        }
        const std::size_t culprit = at == n ? pos : at;
        if (attempts.empty()) attempts.assign(n, 0);
        if (++attempts[culprit] <= limits_.retries) { // run it again on the replacement
          ++retried_[w];
          break;
        }
        item_error e;
        e.index = first + culprit;
        e.worker = w;
        e.kind = timed_out ? failure_kind::timed_out : failure_kind::crashed;
        e.message = timed_out ? "still running after the time limit of " + seconds(limits_.timeout) +
                                    "; its worker process was killed and replaced"
                              : "its worker process " + describe_wait_status(wait_status) + "; replaced";
        blamed = std::move(e);
        blamed_at = culprit;
        blameless = 0;
        break;
      }
      if (p.pid >= 0 && limits_.max_items_per_worker != 0 && p.items_done >= limits_.max_items_per_worker)
        end_process(w, false);
    }
    return round_trip_only;
  }

  /// Worker `w`'s attempts that crashed or timed out and were tried again since the last call.
  /// Called only from worker w's proxy thread.
  std::size_t take_retried(std::size_t w) noexcept { return std::exchange(retried_[w], 0); }

  /// Worker `w`'s proxy has no more chunks: its process ends, killed at once when the run is
  /// `stopping` (see `end_process`).
  void retire(std::size_t w, bool stopping) { end_process(w, stopping); }

  /// Ends worker process `w` (at the end of the run, or when it has done its quota) and returns
  /// its wait status (0 when there is none). With `kill`, it is killed even in the middle of an
  /// item. Without, it ends by itself when its socket closes (its per-worker object is destroyed
  /// first), and this proxy waits for that, without holding the spawner (other workers start
  /// meanwhile); it is killed if it stops, if the run is interrupted (`interrupt()`: a stop, or a
  /// loop left early) or, with a `.timeout`, if it has not ended within that time. Either way, what
  /// it started in its process group is killed with it.
  int end_process(std::size_t w, bool kill) {
    proc& p = procs_[w];
    if (p.pid < 0) return 0;
    close_owned(p.fd); // a worker ends when its socket closes
    if (!kill) {
      std::optional<std::chrono::steady_clock::time_point> deadline;
      if (limits_.timeout.count() > 0) deadline = std::chrono::steady_clock::now() + limits_.timeout;
      // However the wait ends, `reap` kills what has not ended.
      [[maybe_unused]] const auto ending = spawner::await_end({p.pid, -1, p.pidfd}, deadline, wake_[0]);
    }
    const int status = spawner_.reap(p.pid);
    close_owned(p.pidfd);
    p = proc{};
    return status;
  }

private:
  struct proc {
    pid_t pid = -1;
    int fd = -1;    // its socket
    int pidfd = -1; // a pidfd of it (-1 before Linux 5.3)
    std::size_t items_done = 0;
  };

  static std::string seconds(std::chrono::nanoseconds d) {
    return std::to_string(std::chrono::duration<double>(d).count()) + " s";
  }

  void cancel(std::size_t w, std::size_t first, std::size_t pos, std::size_t n,
              std::vector<outcome<Result>>& out) {
    end_process(w, true); // it may be in the middle of an item: stop it now
    cancel_rest(w, first, pos, n, out);
  }

  /// The worker process's life (in the child): read a chunk, run it, send the results; until the
  /// socket closes. Results are sent as `result_batch` says.
  void serve(std::size_t w, int fd) {
    const worker_context context{
        .index = w, .count = workers_, .backend = backend_kind::processes, .stop = {}};
    std::vector<std::byte> in;
    result_batch<Result> out(limits_.timeout.count() > 0);
    const auto flush = [&] {
      if (out.bytes().size() != 0) write_frame(fd, out.bytes());
      out.sent();
    };
    try {
      while (read_frame(fd, in) == frame_status::ok) {
        reader r(in.data(), in.size());
        const auto first = r.raw<std::uint64_t>();
        const auto count = r.raw<std::uint64_t>();
        for (std::uint64_t i = 0; i < count; ++i) {
          In item = parmill::decode<In>(r);
          progress_[w].store(first + i + 1, std::memory_order_relaxed);
          out.add(run_item<Result>([&] { return slots_.call(w, context, item); }, limits_.retries));
          progress_[w].store(0, std::memory_order_release);
          if (out.due()) flush();
        }
        flush();
      }
    } catch (const std::exception&) {
      // The parent is gone, or sent what cannot be decoded: nothing more to do.
    }
    slots_.release(w);
  }

  Slots& slots_;
  std::size_t workers_;
  item_limits limits_;
  shared_progress progress_;
  std::vector<proc> procs_;                     // worker w's process, touched only by proxy w
  std::vector<std::size_t> retried_;            // worker w's retried attempts since `take_retried(w)`
  std::vector<std::vector<std::byte>> buffers_; // worker w's receive buffer
  spawner spawner_;                             // last: forked once everything it copies is ready
  int wake_[2] = {-1, -1};
  std::atomic<bool> interrupted_{false};
};

/// The processes backend as an executor: a proxy thread per worker process, each driving its
/// process through the runner, which `prepare` makes (forking its spawner).
template <class In, class Result, class Slots>
class process_executor final : public runner_executor<In, Result, process_runner<In, Result, Slots>> {
public:
  process_executor(Slots& slots, run_gate& gate, const item_limits& limits, std::size_t workers)
      : runner_executor<In, Result, process_runner<In, Result, Slots>>(gate.failures), slots_(slots),
        limits_(limits), workers_(std::max<std::size_t>(1, workers)) {}

  [[nodiscard]] std::size_t size() const noexcept override { return workers_; }
  [[nodiscard]] std::size_t busy() const noexcept override { return workers_; }
  [[nodiscard]] backend_kind kind() const noexcept override { return backend_kind::processes; }

  run_role open(bool stopped) override { return stopped ? run_role::skip : run_role::drive; }
  void prepare() override {
    this->make_runner(slots_, workers_, limits_);
    this->publish();
  }
  void retire(std::size_t w, bool stopping) override { this->runner().retire(w, stopping); }

private:
  Slots& slots_;
  item_limits limits_;
  std::size_t workers_;
};

} // namespace parmill::detail
