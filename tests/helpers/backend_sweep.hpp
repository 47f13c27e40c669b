// tests/helpers/backend_sweep.hpp: a backend and worker count as a test parameter, so that
// conformance tests are swept over inline, threads(1, 2, 8), processes and mpi (on a loopback job).
#pragma once

#include "helpers/loopback_transport.hpp"

#include <parmill/backend.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>

namespace parmill_test {

/// The mpi backend with `slots` worker slots, one per rank, over a loopback job whose ranks are
/// threads of this process (tests/helpers/loopback_transport.hpp): the mpi backend's logic swept
/// like every other backend, on every build, without MPI. One job per slot count, for the whole
/// test program (each run opens a line of its own).
inline parmill::backend loopback_mpi(std::size_t slots) {
  static std::mutex mutex;
  static std::map<std::size_t, std::unique_ptr<loopback_job>> jobs;
  std::lock_guard lock(mutex);
  auto& job = jobs[slots];
  if (!job) job = std::make_unique<loopback_job>(static_cast<int>(slots) + 1, 1);
  return job->backend();
}

/// One point of a sweep: where the work runs, and on how many workers.
struct where {
  parmill::backend_kind kind;
  std::size_t workers;
  /// True when items and results cross a process boundary (processes, mpi).
  [[nodiscard]] bool crosses_processes() const {
    return kind == parmill::backend_kind::processes || kind == parmill::backend_kind::mpi;
  }
  [[nodiscard]] parmill::backend make() const {
    if (kind == parmill::backend_kind::processes) return parmill::processes(workers);
    if (kind == parmill::backend_kind::mpi) return loopback_mpi(workers);
    return kind == parmill::backend_kind::inline_ ? parmill::inline_backend() : parmill::threads(workers);
  }
};

/// How GoogleTest prints a sweep point: "threads(2)".
inline void PrintTo(const where& w, std::ostream* os) { *os << to_string(w.kind) << "(" << w.workers << ")"; }

/// A test name suffix: "threads_2".
inline std::string sweep_name(const ::testing::TestParamInfo<where>& info) {
  return std::string(to_string(info.param.kind)) + "_" + std::to_string(info.param.workers);
}

} // namespace parmill_test
