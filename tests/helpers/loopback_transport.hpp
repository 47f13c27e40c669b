// tests/helpers/loopback_transport.hpp: the ranks of an MPI job as threads of this process, behind
// the same transport interface as MPI (parmill/detail/remote_transport.hpp), so that the mpi
// backend's logic (rank 0's proxies, the other ranks' slots) runs in the ordinary test suite.
// A rank can be made to hang (it neither receives nor sends any more), as a stopped machine does.
#pragma once

#include <parmill/backend.hpp>
#include <parmill/detail/remote_transport.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace parmill_test {

/// What the ranks of one loopback job share: one line per run (the n-th `open()` of every rank
/// meets on line n), each with a queue per (sender, receiver, tag).
class loopback_hub {
public:
  explicit loopback_hub(int ranks) : ranks_(ranks) {}

  /// Rank `rank` hangs from now on: what it sends is lost and it receives nothing.
  void hang(int rank) {
    std::lock_guard lock(mutex_);
    hung_.push_back(rank);
  }
  /// Ends every wait (a hung rank's threads, at the end of a test): receives return `interrupted`.
  void shut_down() {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    for (auto& line : lines_)
      line->wake.notify_all();
  }
  /// True once rank 0 has marked a rank lost.
  [[nodiscard]] bool lost() const noexcept { return lost_.load(); }
  [[nodiscard]] int ranks() const noexcept { return ranks_; }

private:
  friend class loopback_transport;
  friend class loopback_channel;
  struct line {
    std::condition_variable wake;
    std::map<std::tuple<int, int, int>, std::deque<std::vector<std::byte>>> queues; // (from, to, tag)
  };
  line& line_at(std::size_t n) {
    std::lock_guard lock(mutex_);
    while (lines_.size() <= n)
      lines_.push_back(std::make_unique<line>());
    return *lines_[n];
  }
  bool is_hung(int rank) const {
    for (int r : hung_)
      if (r == rank) return true;
    return false;
  }

  int ranks_;
  std::mutex mutex_; // guards everything but lost_
  std::vector<std::unique_ptr<line>> lines_;
  std::vector<int> hung_;
  bool shut_down_ = false;
  std::atomic<bool> lost_{false};
};

/// One rank's end of a line.
class loopback_channel final : public parmill::detail::remote_channel {
public:
  loopback_channel(loopback_hub& hub, loopback_hub::line& line, int rank)
      : hub_(hub), line_(line), rank_(rank) {}

  void send(int rank, int tag, parmill::writer& message) override {
    std::vector<std::byte> bytes;
    for (const auto& piece : message.pieces()) {
      const auto* p = static_cast<const std::byte*>(piece.iov_base);
      bytes.insert(bytes.end(), p, p + piece.iov_len);
    }
    std::lock_guard lock(hub_.mutex_);
    if (hub_.is_hung(rank_)) return;
    line_.queues[{rank_, rank, tag}].push_back(std::move(bytes));
    line_.wake.notify_all();
  }

  parmill::detail::receive_status
  receive(int rank, int first_tag, int tag_count, int& tag, std::vector<std::byte>& bytes,
          const std::atomic<bool>& stop, std::chrono::nanoseconds,
          std::optional<std::chrono::steady_clock::time_point> deadline) override {
    using parmill::detail::receive_status;
    std::unique_lock lock(hub_.mutex_);
    for (;;) {
      if (!hub_.is_hung(rank_)) {
        for (int i = 1; i <= tag_count; ++i) { // the tag served last is looked at last
          const int t = first_tag + (tag - first_tag + i) % tag_count;
          auto it = line_.queues.find({rank, rank_, t});
          if (it == line_.queues.end() || it->second.empty()) continue;
          bytes = std::move(it->second.front());
          it->second.pop_front();
          tag = t;
          return receive_status::ok;
        }
      }
      if (stop.load() || hub_.shut_down_) return receive_status::interrupted;
      // Woken by every send; a `stop` that is set cannot wake it, so look again now and then.
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
      if (deadline && *deadline <= std::chrono::steady_clock::now()) return receive_status::timed_out;
      line_.wake.wait_until(lock, deadline ? std::min(*deadline, until) : until);
    }
  }

private:
  loopback_hub& hub_;
  loopback_hub::line& line_;
  int rank_;
};

/// One rank of a loopback job.
class loopback_transport final : public parmill::detail::remote_transport {
public:
  loopback_transport(loopback_hub& hub, int rank) : hub_(hub), rank_(rank) {}
  [[nodiscard]] int rank() const override { return rank_; }
  [[nodiscard]] int size() const override { return hub_.ranks(); }
  [[nodiscard]] const std::string& host() const override { return host_; }
  [[nodiscard]] std::unique_ptr<parmill::detail::remote_channel> open() override {
    return std::make_unique<loopback_channel>(hub_, hub_.line_at(opened_++), rank_);
  }
  void note_held(std::size_t, int, std::size_t, std::size_t) noexcept override {}
  void mark_lost() noexcept override { hub_.lost_.store(true); }
  [[nodiscard]] std::vector<parmill::detail::remote_transport*> ranks_served_here() override {
    return served_;
  }

  /// Rank 0 of a job whose other ranks are `others`, served by rank 0's own runs.
  void serve_here(std::vector<parmill::detail::remote_transport*> others) { served_ = std::move(others); }

private:
  loopback_hub& hub_;
  int rank_;
  std::vector<parmill::detail::remote_transport*> served_;
  std::size_t opened_ = 0;
  std::string host_ = "loopback";
};

/// A loopback job of `ranks` ranks whose ranks but 0 live in rank 0's runs: `backend()` is an mpi
/// backend that code written for one process runs on unchanged, as a point of a conformance sweep.
class loopback_job {
public:
  loopback_job(int ranks, std::size_t slots_per_rank) : hub_(ranks), per_rank_(slots_per_rank) {
    std::vector<parmill::detail::remote_transport*> others;
    for (int r = 0; r < ranks; ++r) {
      transports_.push_back(std::make_unique<loopback_transport>(hub_, r));
      if (r > 0) others.push_back(transports_.back().get());
    }
    transports_.front()->serve_here(std::move(others));
  }
  /// The job's ranks but 0 as a backend, `slots_per_rank` worker slots on each.
  [[nodiscard]] parmill::backend backend() {
    return {*transports_.front(), per_rank_, static_cast<std::size_t>(hub_.ranks() - 1) * per_rank_};
  }

private:
  loopback_hub hub_;
  std::size_t per_rank_;
  std::vector<std::unique_ptr<loopback_transport>> transports_;
};

/// Runs `body(backend, rank)` on every rank of a loopback job of `ranks` ranks (rank 0 on this
/// thread, the others on threads of their own), each rank but 0 with `slots_per_rank` worker
/// slots, as every rank of an MPI job runs the same program. `hub` lets the body hang a rank.
template <class Body>
void on_loopback_ranks(int ranks, std::size_t slots_per_rank, Body body) {
  loopback_hub hub(ranks);
  const std::size_t slots = static_cast<std::size_t>(ranks - 1) * slots_per_rank;
  std::vector<std::thread> others;
  for (int r = 1; r < ranks; ++r)
    others.emplace_back([&hub, &body, r, slots_per_rank, slots] {
      loopback_transport transport(hub, r);
      body(parmill::backend(transport, slots_per_rank, slots), r, hub);
    });
  {
    loopback_transport transport(hub, 0);
    body(parmill::backend(transport, slots_per_rank, slots), 0, hub);
  }
  hub.shut_down(); // a hung rank's slots wait for ever otherwise
  for (auto& t : others)
    t.join();
}

} // namespace parmill_test
