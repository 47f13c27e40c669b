// tests/helpers/backend_sweep.hpp: a backend and worker count as a test parameter, so that
// conformance tests are swept over inline, threads(1, 2, 8) and processes.
#pragma once

#include <parmill/backend.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <ostream>
#include <string>

namespace parmill_test {

/// One point of a sweep: where the work runs, and on how many workers.
struct where {
  parmill::backend_kind kind;
  std::size_t workers;
  [[nodiscard]] parmill::backend make() const {
    if (kind == parmill::backend_kind::processes) return parmill::processes(workers);
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
