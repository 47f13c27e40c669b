// cli/options.hpp: the parmill command's options, parsed from GNU parallel's syntax.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace parmill::cli {

/// A malformed invocation: the message names the problem; the command exits 255 and runs no job.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Where one input source's values come from.
struct input_source {
  enum class kind { values, file };
  kind from = kind::values;
  std::vector<std::string> values; ///< for `:::`
  std::string path;                ///< for `::::` and `-a`; "-" is standard input
  bool linked = false;             ///< `:::+` / `::::+`: advances with the previous source
};

/// When `--halt` stops the run, and what counts toward it.
struct halt_policy {
  enum class when { never, soon, now };
  enum class why { fail, success, done };
  when at = when::never;
  why on = why::fail;
  double threshold = 0; ///< a count, or a percentage when `percent`
  bool percent = false;
};

/// A per-job time limit: fixed, or a percentage of the median runtime of successful jobs.
struct timeout_policy {
  std::chrono::duration<double> fixed{0};
  double percent_of_median = 0;
  [[nodiscard]] bool enabled() const noexcept { return fixed.count() > 0 || percent_of_median > 0; }
};

/// The text of each replacement string, as -I, --er, --bnr, --dnr, --bner, --seqreplace and
/// --slotreplace rename them (GNU parallel's defaults otherwise). A renamed string is found anywhere
/// in the command's text, as GNU parallel finds it; the default it replaces is then plain text.
struct replacement_names {
  std::string input = "{}";                   ///< `-I`, `-i`, `--replace`
  std::string no_extension = "{.}";           ///< `--er`, `--extensionreplace`
  std::string basename = "{/}";               ///< `--bnr`, `--basenamereplace`
  std::string dirname = "{//}";               ///< `--dnr`, `--dirnamereplace`
  std::string basename_no_extension = "{/.}"; ///< `--bner`, `--basenameextensionreplace`
  std::string seq = "{#}";                    ///< `--seqreplace`
  std::string slot = "{%}";                   ///< `--slotreplace`
  /// True when every name is GNU parallel's default.
  [[nodiscard]] bool defaults() const { return *this == replacement_names{}; }
  bool operator==(const replacement_names&) const = default;
};

/// How --pipe and --pipepart find where records end: GNU parallel's --recstart, --recend, --regexp
/// and --remove-rec-sep. A record ends where `end` is followed by `start`; with neither given, a
/// record is a line (`end` is -d's delimiter).
struct record_separators {
  std::optional<std::string> start, end; ///< as given, after \n \t \r \0 escapes (without --regexp)
  bool regexp = false;                   ///< `start` and `end` are Perl regular expressions
  bool remove = false;                   ///< `--rrs`: the separators are taken out of each block
};

/// Where the inputs come from, how they are split into values and columns, and how many go in
/// one job (or, with --pipe, how standard input is cut into blocks). Defaults are GNU parallel's.
struct input_options {
  std::vector<input_source> sources; ///< empty: standard input
  char delimiter = '\n';             ///< `-d` / `-0`
  /// `-d` of several bytes (`\r\n`, `\n\n`); empty: `delimiter` alone ends inputs. With --pipe,
  /// records end at its last byte.
  std::string delimiter_text;
  std::optional<std::string> colsep;
  bool header = false;                   ///< `--header :`
  bool no_run_if_empty = false;          ///< `-r`
  bool link = false;                     ///< `--link`
  bool shuffle = false;                  ///< `--shuf`
  std::size_t max_args = 0;              ///< `-n`: at most this many inputs per job (0: one)
  std::optional<std::size_t> exact_args; ///< `-N`
  std::optional<std::size_t> max_lines; ///< `-L`/`-l`/`--max-lines`: lines per job, or per record with --pipe
  std::optional<std::size_t> max_chars; ///< `-s`/`--max-chars`: a command is shorter than this
  bool pipe = false;                    ///< `--pipe` (and `--pipepart`)
  std::size_t block_bytes = 1024 * 1024; ///< `--block`
  std::size_t blocks_per_slot = 0;       ///< `--pipepart --block -N`: N blocks per job slot (0: a size)
  bool pipe_part = false;                ///< `--pipepart`: the -a file is cut by seeking
  bool round_robin = false;              ///< `--round-robin`: -j jobs share every block
  record_separators records;             ///< `--recstart`, `--recend`, `--regexp`, `--rrs`
};

/// How a job's command is made from the command's words and its inputs.
struct template_options {
  std::vector<std::string> command; ///< the command's words; empty: each input is a command
  bool quote = false;               ///< `-q`
  bool context_replace = false;     ///< `-X`
  bool multiple_args = false;       ///< `-m`
  bool plus = false;                ///< `--plus`: GNU parallel's extra replacement strings
  replacement_names names;          ///< `-I` and the other renamings
};

/// How jobs are run: how many at once, how far apart they start, and in which shell.
struct execution_options {
  std::size_t jobs = 1;     ///< resolved `-j`
  double delay_seconds = 0; ///< `--delay`
  std::string shell;        ///< the shell that runs commands that need one
};

/// What is printed, in which order and form, and the progress display.
struct output_options {
  bool group = true;        ///< default: each job's output in one piece
  bool line_buffer = false; ///< `--line-buffer`
  bool ungroup = false;     ///< `-u`
  bool keep_order = false;  ///< `-k`
  bool tag = false;         ///< `--tag`
  std::optional<std::string> tagstring;
  std::optional<std::string> results_dir;
  bool dry_run = false;
  bool verbose = false;       ///< `-t`/`--verbose`: print each command on standard error as it starts
  bool print_command = false; ///< `-v`: print each command on standard output, with its job's output
  bool bar = false, eta = false, progress = false;
  std::optional<std::string> timeline; ///< `--timeline FILE.html`: the run's page, rewritten as it goes
};

/// What happens when jobs fail or hang, and the job log that --resume reads back.
struct failure_options {
  halt_policy halt;
  std::size_t retries = 0; ///< `--retries`: attempts in all (0 and 1: one)
  timeout_policy timeout;
  std::optional<std::string> joblog;
  bool joblog_append = false; ///< `--joblog +FILE`: append to FILE instead of starting it anew
  bool resume = false;
  bool resume_failed = false;
};

/// Everything the command line says, by concern; each part is passed alone where only it is used.
/// Defaults are GNU parallel's.
struct options : input_options, template_options, execution_options, output_options, failure_options {};

/// The longest `--timeout` or `--delay`: 10^9 s (about 31 years), so that no deadline overflows.
inline constexpr double max_seconds = 1e9;
/// The largest `--timeout N%`: 10000% (a hundred times the median runtime).
inline constexpr double max_timeout_percent = 10000;
/// The largest `--block`: 2 GiB - 1 bytes, as in GNU parallel (which warns and uses it instead).
inline constexpr std::size_t max_block_bytes = 2147483647;
/// The largest count an option takes (`-n`, `-N`, `--retries`, `--halt ...=N`, `-j +N`): 18 digits.
inline constexpr std::size_t max_count = 999'999'999'999'999'999;

/// One or several spellings of an option of GNU parallel 20221122 that parmill does not have,
/// and why: the parser refuses them with this reason (exit 255).
struct unsupported_option {
  std::string_view names;  ///< as written on the command line, "|"-separated ("--tmux|--tmuxpane")
  std::string_view reason; ///< what parmill does instead, in a few words
};

/// Every option of GNU parallel that parmill refuses, in groups, each with its reason.
[[nodiscard]] std::span<const unsupported_option> unsupported_gnu_options();

/// What the command line asks for beyond running jobs.
enum class action { run, help, version };

/// What a command line asks for: an action, and for `action::run` the options of the run.
struct invocation {
  action what = action::run;
  options run_options; ///< defaults unless `what` is `action::run`
};

/// Parses `args` (the words after the program name) with the options of `option_table()`
/// (option_table.hpp). Throws `usage_error` for a malformed invocation, including any numeric
/// value out of its range; the message starts with the option's name. `cores` resolves `-j N%` and
/// `+N`; `max_jobs` is what `-j 0` means.
[[nodiscard]] invocation parse_invocation(const std::vector<std::string>& args, std::size_t cores,
                                          std::size_t max_jobs);

/// Parses `-j`'s value: N, N%, +N, -N or 0, or the name of a file that holds one of these (read
/// once, at the start); the result is from 1 to `max_jobs` (larger values are clamped to it, as
/// `-j 0` is). Throws `usage_error`.
[[nodiscard]] std::size_t parse_jobs(const std::string& value, std::size_t cores, std::size_t max_jobs);

/// Parses a size with GNU parallel's suffixes (k = 1000, K = 1024, m, M, g, G, t, T, p, P): at
/// least 1 byte and less than 2^64. Throws `usage_error`.
[[nodiscard]] std::size_t parse_size(const std::string& value);

/// Parses `--halt`'s value (`never`, `now|soon,fail|success|done=N[%]`, or the old numbers): N a
/// whole number from 1 to max_count, or a percentage more than 0 and at most 100. Throws `usage_error`.
[[nodiscard]] halt_policy parse_halt(const std::string& value);

/// Parses `--timeout`'s value: seconds with an optional s/m/h/d suffix (more than 0, at most
/// max_seconds), or N% (more than 0, at most max_timeout_percent). Throws `usage_error`.
[[nodiscard]] timeout_policy parse_timeout(const std::string& value);

} // namespace parmill::cli
