// parmill/detail/process_runner.hpp: the processes backend of a map. Each of the map's worker
// threads is the proxy of one worker process: it sends the process a chunk of encoded items and
// reads the encoded results back, and when the process crashes, hangs past the time limit or has
// done its quota of items, it has the spawner fork a replacement.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/detail/process_support.hpp"
#include "parmill/detail/remote_results.hpp"
#include "parmill/map_options.hpp"
#include "parmill/outcome.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

template <class In, class Result, class Slots>
class process_runner {
public:
  /// Forks the spawner now, so call this before the run starts any thread.
  process_runner(Slots& slots, std::size_t workers, const map_options& options)
      : slots_(slots), workers_(workers), options_(options), progress_(workers), procs_(workers),
        buffers_(workers), spawner_([this](std::size_t w, int fd) { serve(w, fd); }) {
    if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  }

  ~process_runner() {
    for (std::size_t w = 0; w < workers_; ++w)
      retire(w, true);
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
  /// item to `out`, in order. Called only from worker w's proxy thread.
  void run(std::size_t w, std::size_t first, std::vector<In>& items, std::vector<outcome<Result>>& out) {
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
        return;
      }
      if (blamed && blamed_at == pos) {
        out.emplace_back(std::move(*blamed));
        blamed.reset();
        ++pos;
        continue;
      }
      if (p.pid < 0) {
        const auto started = spawner_.spawn(w);
        p = proc{started.pid, started.fd, 0};
      }
      std::size_t end = blamed ? blamed_at : n;
      if (options_.max_items_per_worker != 0)
        end = std::min(end, pos + (options_.max_items_per_worker - p.items_done));

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
        if (options_.timeout.count() > 0) deadline = std::chrono::steady_clock::now() + options_.timeout;
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
          return;
        }
        // The worker died, or ran past the time limit: kill it, learn how it ended and which item
        // it was running, and go on with a replacement.
        const bool timed_out = status == frame_status::timed_out && alive;
        const std::uint64_t running = progress_[w].exchange(0);
        const int wait_status = retire(w, true); // the next batch spawns its replacement
        const std::size_t at = running > first + pos && running <= first + end ? running - 1 - first : n;
        if (at == n) {
          // No item was running (it died between items, or while sending results): the items not
          // reported run again; twice in a row, the next item is blamed so that nothing loops.
          if (++blameless < 2) break;
        }
        const std::size_t culprit = at == n ? pos : at;
        if (attempts.empty()) attempts.assign(n, 0);
        if (++attempts[culprit] <= options_.retries) break; // run it again on the replacement
        item_error e;
        e.index = first + culprit;
        e.worker = w;
        e.kind = timed_out ? failure_kind::timed_out : failure_kind::crashed;
        e.message = timed_out ? "still running after the time limit of " + seconds(options_.timeout) +
                                    "; its worker process was killed and replaced"
                              : "its worker process " + describe_wait_status(wait_status) + "; replaced";
        blamed = std::move(e);
        blamed_at = culprit;
        blameless = 0;
        break;
      }
      if (p.pid >= 0 && options_.max_items_per_worker != 0 && p.items_done >= options_.max_items_per_worker)
        retire(w, false);
    }
  }

  /// Ends worker process `w` (at the end of the run, or when it has done its quota) and returns
  /// its wait status (0 when there is none). With `kill`, it is killed even in the middle of an
  /// item; without, it ends by itself when its socket closes, and is killed if it stops or, with a
  /// `.timeout`, if it has not ended within that time. Either way, what it started in its process
  /// group is killed with it.
  int retire(std::size_t w, bool kill) {
    proc& p = procs_[w];
    if (p.pid < 0) return 0;
    close_owned(p.fd);                              // a worker ends when its socket closes
    std::optional<std::chrono::milliseconds> grace; // no limit, unless it stops
    if (kill)
      grace = std::chrono::milliseconds(0);
    else if (options_.timeout.count() > 0)
      grace = std::chrono::ceil<std::chrono::milliseconds>(options_.timeout);
    const int status = spawner_.reap(p.pid, grace);
    p = proc{};
    return status;
  }

private:
  struct proc {
    pid_t pid = -1;
    int fd = -1;
    std::size_t items_done = 0;
  };

  static std::string seconds(std::chrono::nanoseconds d) {
    return std::to_string(std::chrono::duration<double>(d).count()) + " s";
  }

  void cancel(std::size_t w, std::size_t first, std::size_t pos, std::size_t n,
              std::vector<outcome<Result>>& out) {
    retire(w, true); // it may be in the middle of an item: stop it now
    cancel_rest(w, first, pos, n, out);
  }

  /// The worker process's life (in the child): read a chunk, run it, send the results; until the
  /// socket closes. Results are sent per item when there is a time limit (so a timeout is pinned
  /// on the right item), otherwise in batches of at most 64 KiB or 2 ms.
  void serve(std::size_t w, int fd) {
    const worker_context context{
        .index = w, .count = workers_, .backend = backend_kind::processes, .stop = {}};
    const bool per_item = options_.timeout.count() > 0;
    std::vector<std::byte> in;
    writer out;
    std::vector<Result> keep; // values referred to by `out` until it is sent
    auto last_flush = std::chrono::steady_clock::now();
    const auto flush = [&] {
      if (out.size() != 0) write_frame(fd, out);
      out.clear();
      keep.clear();
      last_flush = std::chrono::steady_clock::now();
    };
    try {
      while (read_frame(fd, in) == frame_status::ok) {
        reader r(in.data(), in.size());
        const auto first = r.raw<std::uint64_t>();
        const auto count = r.raw<std::uint64_t>();
        for (std::uint64_t i = 0; i < count; ++i) {
          In item = parmill::decode<In>(r);
          progress_[w].store(first + i + 1, std::memory_order_relaxed);
          run_and_encode(slots_, w, context, item, options_.retries, out, keep);
          progress_[w].store(0, std::memory_order_release);
          if (per_item || out.size() >= 64 * 1024 ||
              std::chrono::steady_clock::now() - last_flush > std::chrono::milliseconds(2))
            flush();
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
  map_options options_;
  shared_progress progress_;
  std::vector<proc> procs_;                     // worker w's process, touched only by proxy w
  std::vector<std::vector<std::byte>> buffers_; // worker w's receive buffer
  spawner spawner_;                             // last: forked once everything it copies is ready
  int wake_[2] = {-1, -1};
  std::atomic<bool> interrupted_{false};
};

} // namespace parmill::detail
