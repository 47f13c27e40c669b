// cli/job_log.hpp: GNU parallel's --joblog format, and what --resume reads back from it.
//
// One line per job: `Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`, separated
// by tabs, after a header line of those names. Command is the last column, so it may hold tabs; a
// newline in it is written as a NUL byte, as GNU parallel 20221122 writes it (a command line can
// never hold a NUL, so the mapping is exact and reversible, and logs stay interchangeable with
// GNU parallel's). Carriage returns are written as they are.
#pragma once

#include <cstddef>
#include <istream>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "job_runner.hpp"

namespace parmill::cli {

/// The job log's first line, without its newline.
inline constexpr std::string_view job_log_header =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// What a job log says.
struct job_log_reading {
  /// The sequence numbers of the jobs counted as done.
  std::set<std::size_t> done;
  /// One message per malformed line, "NAME line N: what is wrong; ...", then one that counts the
  /// malformed lines beyond the first `max_warnings`. Without the "parmill: Warning: " prefix.
  std::vector<std::string> warnings;
  /// At most this many lines are described one by one.
  static constexpr std::size_t max_warnings = 10;
};

/// Reads a job log from `in`; `name` names it in messages. A line counts as done when every column
/// parses strictly (Seq a positive integer, Host not empty, Starttime and JobRuntime decimal numbers
/// (JobRuntime may be padded with spaces on its left, as written), Send and Receive non-negative
/// integers, Exitval and Signal integers, each with nothing around it, and a Command column) and,
/// unless `failed_too`, its Exitval and Signal are 0. Any other line is malformed: it is described
/// in `warnings` and its job is not counted as done (a last line without a newline is one: the run
/// was killed while writing it). Copies of the header are skipped. Reads each line in constant
/// memory, whatever its length.
///
/// Throws `usage_error` naming `name` when the input is not a job log: its first line is complete
/// and is not `job_log_header`, or, incomplete (no newline), is neither a start of the header nor
/// only NUL bytes. An empty input, or one that is only an incomplete header or NUL bytes (the run
/// was killed, or the machine lost power, before the header was on disk), holds no jobs.
[[nodiscard]] job_log_reading read_job_log(std::istream& in, const std::string& name, bool failed_too);

/// The sequence numbers the job log at `path` records as done (see `read_job_log`), with
/// `failed_too` false (--resume-failed) only those that succeeded. Prints each warning on standard
/// error as "parmill: Warning: ...". A missing file holds no jobs. Throws `usage_error` if the file
/// exists but cannot be read, or is not a job log.
[[nodiscard]] std::set<std::size_t> jobs_done(const std::string& path, bool failed_too);

/// The Command column for `command`: the command with each newline written as a NUL byte.
[[nodiscard]] std::string job_log_command(std::string_view command);

/// Appends one line per job, written through to the file (one write(2), no buffering) as soon as
/// `record` is called, so that nothing done is lost if parmill is killed. Thread-safe: lines from
/// several threads are never interleaved. Not synced to the disk: after a power cut the last lines
/// may be missing (their jobs run again) or replaced by NUL bytes (reported, and run again).
class job_log {
public:
  /// Opens `path` ("-": standard output, header first). Without `append` it starts anew with the header. With
  /// `append` (--resume) it keeps what is there: the header is written if the file is empty (or holds only an
  /// incomplete header, or only NUL bytes, in which case it is started anew), and a newline if the file does
  /// not end in one, so that the first line appended is a line of its own. Throws `usage_error` naming a file
  /// that cannot be written or, with `append`, is not a job log (it is then left untouched).
  job_log(const std::string& path, bool append);
  ~job_log();
  job_log(const job_log&) = delete;
  job_log& operator=(const job_log&) = delete;

  /// Records one finished job: `Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`,
  /// with `job_log_command(command)` as Command (tabs and newlines in `host` become spaces).
  /// Throws `std::runtime_error` if the line cannot be written (a full disk).
  void record(std::size_t seq, const std::string& host, const process_result& r, const std::string& command);

private:
  std::string path_;
  std::mutex mutex_; // one line at a time, should write(2) write only part of one
  int fd_ = -1;
};

} // namespace parmill::cli
