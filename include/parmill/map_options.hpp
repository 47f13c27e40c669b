// parmill/map_options.hpp: how a map orders, bounds, chunks, retries and reports its work.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <string>

namespace parmill {

/// The order in which a map yields outcomes.
enum class order {
  input,      ///< the order of the input, whatever order items finish in (the default)
  completion, ///< as soon as they finish; items handed to a worker together stay together
};

/// What a map does when an item fails (after its retries).
enum class on_error {
  /// No item after the failed one (in input order) starts; iteration yields every outcome
  /// before it and then throws `item_failed` for it. The default.
  raise,
  /// Failures come out as outcomes and the run goes on, until `max_failures` is exceeded.
  yield,
};

/// No limit, for `map_options::max_failures`.
inline constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

/// Options of `parmill::map`; every field has a sensible default, so name only what you change:
/// `{.order = parmill::order::completion, .progress = "files"}`.
struct map_options {
  /// Input order (default) or completion order.
  parmill::order order = parmill::order::input;
  /// Most items in flight at once: read from the input but not yet yielded. 0 (default) means
  /// four chunks per worker, so it grows with the worker count and the chunk size; never
  /// unbounded. Memory is proportional to this, never to the input's length.
  std::size_t window = 0;
  /// Items handed to a worker at a time. 0 (default) means automatic: the first chunk is one item,
  /// and chunks grow until one takes about 16 ms for a sized input (shrinking again near its end)
  /// or 4 ms for an unsized one, at most 16384 items; so slow items go one by one and tiny items
  /// run fast with no tuning.
  std::size_t chunk = 0;
  /// `raise` (default) or `yield`.
  parmill::on_error on_error = parmill::on_error::raise;
  /// With `yield`: at most this many failures are yielded; the next one, counted in the order
  /// outcomes are yielded (so deterministically in input order), halts the run as `raise` does.
  /// Default: no limit.
  std::size_t max_failures = unlimited;
  /// How many more times a failed item is tried before its failure counts: an exception is
  /// retried on the same worker; on processes, a crash or a timeout on a replacement worker.
  std::size_t retries = 0;
  /// A label turns on a progress bar on standard error (see parmill/progress.hpp); empty: none.
  std::string progress{};
  /// Processes backend: an item still running after this long has its worker killed and replaced
  /// and fails as `timed_out` (the first item of a worker's life includes its per-worker factory).
  /// Mpi backend: the item fails as `timed_out` and its slot goes on in a new thread with a new
  /// per-worker object, the late call's thread being abandoned (a rank that stops answering ends
  /// the run with `rank_lost`). `.retries` covers timeouts too. Zero (default): no limit. Threads
  /// and inline reject a limit: a thread of the caller's process cannot be stopped safely.
  std::chrono::nanoseconds timeout{0};
  /// Processes backend: a worker process is replaced after this many items (its memory is
  /// returned to the system). Zero (default): never.
  std::size_t max_items_per_worker = 0;
  /// A file every outcome is appended to as it is yielded, written through, so that a crash of the
  /// program (or of an MPI rank, which ends an MPI job) loses no outcome already yielded. Results
  /// must cross through the codec (parmill/codec.hpp). Read it with `parmill::read_journal<R>`.
  /// Empty (default): none.
  std::string journal{};
  /// With a journal: items the journal records as succeeded are neither run nor yielded again
  /// (failed ones run again); new outcomes are appended. The rerun that finishes an interrupted run.
  bool resume = false;
  /// A file to write the run's timeline to, in the Chrome Trace Event format (open it in Perfetto
  /// or chrome://tracing, or turn it into a page with `parmill::write_timeline_html`; see
  /// parmill/timeline.hpp): one lane per worker, one span per chunk of items with its item count
  /// and outcome (ok, failed, retried, timed_out, crashed, cancelled). Short successful spans of a
  /// worker are merged, and at most 100,000 spans are kept (merging harder when a run has more),
  /// so memory and the file stay bounded. Written when the iteration ends, else when the map is
  /// destroyed (an exception, leaving the loop early); a file that cannot be written is reported
  /// on standard error and does not change the run. Empty (default): nothing is recorded, at the
  /// cost of one test per chunk.
  std::filesystem::path trace{};
};

} // namespace parmill
