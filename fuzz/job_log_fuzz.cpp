// fuzz/job_log_fuzz.cpp: the job-log reader that --resume runs on a file anyone may have written.
// It must never crash, hang or grow without bound; it either throws usage_error (not a job log) or
// says which jobs are done. Checked on every input: what --resume-failed counts as done is a subset
// of what --resume counts, no job 0 is ever done, and the warnings stay capped.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include "job_log.hpp"
#include "options.hpp"

namespace {

/// The jobs `bytes` records as done, or nothing when it is not a job log.
std::optional<parmill::cli::job_log_reading> read(const std::string& bytes, bool failed_too) {
  std::istringstream in(bytes);
  try {
    return parmill::cli::read_job_log(in, "fuzz.log", failed_too);
  } catch (const parmill::cli::usage_error&) {
    return std::nullopt; // what the command reports as "not a job log", exit 255
  }
}

void check(bool holds) {
  if (!holds) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const auto succeeded = read(bytes, false);
  const auto any = read(bytes, true);
  check(succeeded.has_value() == any.has_value());
  if (!any) return 0;
  for (const auto* reading : {&*succeeded, &*any}) {
    check(!reading->done.contains(0));
    check(reading->warnings.size() <= parmill::cli::job_log_reading::max_warnings + 1);
  }
  for (const std::size_t seq : succeeded->done)
    check(any->done.contains(seq));
  check(parmill::cli::job_log_command(bytes).find('\n') == std::string::npos);
  return 0;
}
