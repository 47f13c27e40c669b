// The parmill::mpi component: MPI as a parmill::detail::remote_transport, and the session.
#include "parmill/mpi.hpp"

#include "parmill/detail/remote_transport.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace parmill {
namespace {

using namespace std::chrono_literals;

/// The run's communicator: a duplicate of MPI_COMM_WORLD, freed at the end of the run.
///
/// Sends do not block: each message is copied and posted with MPI_Isend, and the channel keeps it
/// until MPI is done with it. A blocking MPI_Send of a large message waits until the other side
/// receives it, and Open MPI waits by spinning (on an oversubscribed node, in sched_yield): a worker
/// rank would stop working until rank 0 next polled, and rank 0's proxies would take CPU from the
/// workers. Posted sends progress whenever this process next calls into the channel.
class mpi_channel final : public detail::remote_channel {
public:
  explicit mpi_channel(const std::atomic<bool>& lost) : lost_(lost) { MPI_Comm_dup(MPI_COMM_WORLD, &comm_); }
  ~mpi_channel() override {
    // Every posted message must be delivered before the communicator goes, except to a lost rank
    // (the job then ends with MPI_Abort): those requests are abandoned with their buffers.
    for (auto wait = 20us;; wait = std::min<std::chrono::microseconds>(wait * 2, 1ms)) {
      if (reap() == 0) break;
      if (lost_.load()) {
        static std::mutex abandoned_mutex;
        static std::vector<std::vector<std::byte>> abandoned; // MPI may still read them
        std::scoped_lock lock(mutex_, abandoned_mutex);
        for (posted& p : posted_) {
          MPI_Request_free(&p.request);
          abandoned.push_back(std::move(p.bytes)); // a move keeps the bytes where they are
        }
        posted_.clear();
        break;
      }
      std::this_thread::sleep_for(wait);
    }
    MPI_Comm_free(&comm_);
  }
  mpi_channel(const mpi_channel&) = delete;
  mpi_channel& operator=(const mpi_channel&) = delete;

  void send(int rank, int tag, writer& message) override {
    if (message.size() > static_cast<std::size_t>(INT_MAX))
      throw std::length_error("parmill::mpi: a message of more than 2 GiB (a chunk of items or results)");
    std::vector<std::byte> bytes;
    bytes.reserve(message.size());
    for (const auto& p : message.pieces()) {
      const auto* data = static_cast<const std::byte*>(p.iov_base);
      bytes.insert(bytes.end(), data, data + p.iov_len);
    }
    reap();
    std::lock_guard lock(mutex_);
    posted_.push_back(posted{std::move(bytes), MPI_REQUEST_NULL});
    posted& p = posted_.back();
    MPI_Isend(p.bytes.data(), static_cast<int>(p.bytes.size()), MPI_BYTE, rank, tag, comm_, &p.request);
  }

  detail::receive_status receive(int rank, int first_tag, int tag_count, int& tag,
                                 std::vector<std::byte>& bytes, const std::atomic<bool>& stop,
                                 std::chrono::nanoseconds expected,
                                 std::optional<std::chrono::steady_clock::time_point> deadline) override {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      reap(); // posted sends progress while this thread waits
      for (int k = 1; k <= tag_count; ++k) {
        const int candidate = first_tag + (tag - first_tag + k + tag_count) % tag_count;
        int found = 0;
        MPI_Status status;
        MPI_Iprobe(rank, candidate, comm_, &found, &status);
        if (!found) continue;
        int count = 0;
        MPI_Get_count(&status, MPI_BYTE, &count);
        bytes.resize(static_cast<std::size_t>(count));
        MPI_Recv(bytes.data(), count, MPI_BYTE, rank, candidate, comm_, MPI_STATUS_IGNORE);
        tag = candidate;
        return detail::receive_status::ok;
      }
      if (stop.load(std::memory_order_relaxed)) return detail::receive_status::interrupted;
      const auto now = std::chrono::steady_clock::now();
      if (deadline && now >= *deadline) return detail::receive_status::timed_out;
      std::this_thread::sleep_for(nap(now - start, expected));
    }
  }

private:
  /// How long to sleep before the next poll. Waiting for an answer whose time is known (rank 0,
  /// which keeps two chunks queued at each slot, so a late look costs the slot nothing): most of
  /// the time left, then a growing share of the lateness, 50 us to 1 ms. Waiting for work (the
  /// other ranks): poll hot for 200 us (the next chunk usually comes then), then sleep a growing
  /// share of the wait, at most 1 ms. Either way an idle rank wakes about 1000 times a second,
  /// each for a few microseconds, instead of spinning a core.
  static std::chrono::nanoseconds nap(std::chrono::nanoseconds waited, std::chrono::nanoseconds expected) {
    if (expected > 0ns) {
      const auto soon = expected * 9 / 10;
      if (waited < soon) return std::min<std::chrono::nanoseconds>(soon - waited, 1ms);
      return std::clamp<std::chrono::nanoseconds>((waited - soon) / 4, 50us, 1ms);
    }
    if (waited < 200us) return 0ns;
    return std::clamp<std::chrono::nanoseconds>(waited / 8, 20us, 1ms);
  }

  /// Frees the posted messages MPI is done with; returns how many are still in flight.
  std::size_t reap() {
    std::lock_guard lock(mutex_);
    std::erase_if(posted_, [](posted& p) {
      int done = 0;
      MPI_Test(&p.request, &done, MPI_STATUS_IGNORE);
      return done != 0;
    });
    return posted_.size();
  }

  struct posted {
    std::vector<std::byte> bytes;
    MPI_Request request;
  };
  MPI_Comm comm_ = MPI_COMM_NULL;
  const std::atomic<bool>& lost_; // the transport's: a rank stopped answering
  std::mutex mutex_;              // guards posted_
  std::list<posted> posted_;      // sent, not yet delivered (a list: MPI holds their addresses)
};

constexpr std::size_t max_held = 4096; // workers whose held items are tracked

class mpi_transport final : public detail::remote_transport {
public:
  mpi_transport() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int length = 0;
    MPI_Get_processor_name(name, &length);
    host_.assign(name, static_cast<std::size_t>(std::max(0, length)));
  }
  [[nodiscard]] int rank() const override { return rank_; }
  [[nodiscard]] int size() const override { return size_; }
  [[nodiscard]] const std::string& host() const override { return host_; }
  [[nodiscard]] std::unique_ptr<detail::remote_channel> open() override {
    return std::make_unique<mpi_channel>(lost_);
  }
  void note_held(std::size_t worker, int rank, std::size_t first, std::size_t count) noexcept override {
    if (worker >= max_held) return;
    held_[worker].rank.store(rank, std::memory_order_relaxed);
    held_[worker].first.store(first, std::memory_order_relaxed);
    held_[worker].count.store(count, std::memory_order_release);
  }
  void mark_lost() noexcept override { lost_.store(true); }
  [[nodiscard]] bool lost() const noexcept { return lost_.load(); }

  [[nodiscard]] std::string held_items() const {
    std::string text;
    for (const held& h : held_) {
      const std::size_t count = h.count.load(std::memory_order_acquire);
      if (count == 0) continue;
      const std::size_t first = h.first.load(std::memory_order_relaxed);
      text += "rank " + std::to_string(h.rank.load(std::memory_order_relaxed)) +
              (count == 1
                   ? " holds item " + std::to_string(first)
                   : " holds items " + std::to_string(first) + " to " + std::to_string(first + count - 1)) +
              "\n";
    }
    return text;
  }

private:
  struct held {
    std::atomic<int> rank{0};
    std::atomic<std::size_t> first{0};
    std::atomic<std::size_t> count{0};
  };
  int rank_ = 0;
  int size_ = 1;
  std::string host_;
  std::atomic<bool> lost_{false};
  std::array<held, max_held> held_{};
};

mpi_transport* current = nullptr; // the live session's transport

} // namespace

struct mpi_session::state {
  bool initialised_here = false;
  std::unique_ptr<mpi_transport> transport;
};

mpi_session::mpi_session(int& argc, char**& argv) : state_(std::make_unique<state>()) {
  int already = 0;
  MPI_Initialized(&already);
  int provided = MPI_THREAD_SINGLE;
  if (already) {
    MPI_Query_thread(&provided);
  } else {
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    state_->initialised_here = true;
  }
  if (provided < MPI_THREAD_MULTIPLE)
    throw std::runtime_error("parmill::mpi_session: the MPI library does not provide MPI_THREAD_MULTIPLE, "
                             "which parmill needs (rank 0 talks to every rank from a thread of its own)");
  state_->transport = std::make_unique<mpi_transport>();
  current = state_->transport.get();
}

mpi_session::~mpi_session() {
  current = nullptr;
  if (state_->transport->lost()) MPI_Abort(MPI_COMM_WORLD, 1); // finalising would wait for the lost rank
  if (state_->initialised_here) MPI_Finalize();
}

int mpi_session::rank() const noexcept { return state_->transport->rank(); }
int mpi_session::size() const noexcept { return state_->transport->size(); }
const std::string& mpi_session::host() const noexcept { return state_->transport->host(); }
std::string mpi_session::held_items() const { return state_->transport->held_items(); }

backend mpi(std::size_t slots_per_rank) {
  if (current == nullptr)
    throw std::logic_error(
        "parmill::mpi(): no MPI session; make a parmill::mpi_session (on every rank) first");
  slots_per_rank = std::max<std::size_t>(1, slots_per_rank);
  if (current->size() < 2) return threads(slots_per_rank);
  return backend(*current, slots_per_rank, static_cast<std::size_t>(current->size() - 1) * slots_per_rank);
}

} // namespace parmill
