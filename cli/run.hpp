// cli/run.hpp: runs the jobs an invocation describes and returns the exit status.
#pragma once

#include "options.hpp"

namespace parmill::cli {

/// Runs every job of `o` (or prints them, with --dry-run) and returns GNU parallel's exit status.
/// Throws `usage_error` for problems found before any job runs (an unreadable input file or log).
[[nodiscard]] int run(const options& o);

} // namespace parmill::cli
