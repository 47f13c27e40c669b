// parmill/detail/remote_transport.hpp: what a map needs from a transport between ranks (the mpi
// backend implements it in the parmill::mpi component), so that the core library and map do not
// depend on MPI.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parmill/codec.hpp"

namespace parmill::detail {

/// How waiting for a message ended.
enum class receive_status { ok, interrupted, timed_out };

/// One run's private line between rank 0 and the other ranks (a duplicated communicator, so that
/// messages of different runs never meet). Messages are addressed by rank and tag. Thread-safe:
/// several threads send and receive at once, each on its own (rank, tag).
class remote_channel {
public:
  virtual ~remote_channel() = default;
  /// Sends `message` to `rank` under `tag` without waiting for it to be received: the channel
  /// copies it, and `message` may be reused at once. Messages to one (rank, tag) arrive in the order
  /// they were sent. The channel delivers every message before it is destroyed.
  virtual void send(int rank, int tag, writer& message) = 0;
  /// Waits for the next message from `rank` under one of the tags `first_tag` ..
  /// `first_tag + tag_count - 1` into `bytes`, and sets `tag` to its tag (on entry, the tag served
  /// last: the others are looked at first, so that no tag starves). It does not spin the CPU for
  /// long: it polls, sleeping between polls longer and longer, and shortly before `expected` (how
  /// long the answer should take) polls often. Gives up when `stop` becomes true or at `deadline`.
  virtual receive_status receive(int rank, int first_tag, int tag_count, int& tag,
                                 std::vector<std::byte>& bytes, const std::atomic<bool>& stop,
                                 std::chrono::nanoseconds expected,
                                 std::optional<std::chrono::steady_clock::time_point> deadline) = 0;
};

/// The ranks of a job.
class remote_transport {
public:
  virtual ~remote_transport() = default;
  /// This process's rank, 0 .. size()-1.
  [[nodiscard]] virtual int rank() const = 0;
  /// How many ranks the job has.
  [[nodiscard]] virtual int size() const = 0;
  /// The name of the machine this rank runs on.
  [[nodiscard]] virtual const std::string& host() const = 0;
  /// A fresh channel for one run. Every rank calls it, in the same order (it is collective).
  [[nodiscard]] virtual std::unique_ptr<remote_channel> open() = 0;
  /// Notes that rank `rank` now holds the items `first` .. `first + count - 1` for the run's
  /// worker `worker` (count 0: none), so that a run stopped from outside can say what was lost.
  virtual void note_held(std::size_t worker, int rank, std::size_t first, std::size_t count) noexcept = 0;
  /// Notes that a rank is lost (it stopped answering): the job must then end with MPI_Abort, since
  /// finalising would wait for that rank forever.
  virtual void mark_lost() noexcept = 0;
  /// The other ranks of this job that live in this process as rank 0's own threads (a loopback
  /// job, in the tests): rank 0's executor serves their worker slots itself, on threads of its
  /// own, for each run, so that code written for one rank runs unchanged. Empty (the default) when
  /// every rank is a process of its own that runs the program, as under mpirun.
  [[nodiscard]] virtual std::vector<remote_transport*> ranks_served_here() { return {}; }
};

} // namespace parmill::detail
