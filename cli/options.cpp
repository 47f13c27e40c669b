// cli/options.cpp: parses GNU parallel's syntax with CLI11. Options come first; the first word that
// is not an option starts the command, which runs up to the first `:::`, `::::`, `:::+` or `::::+`.
#include "options.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace parmill::cli {
namespace {

bool is_separator(const std::string& word) {
  return word == ":::" || word == "::::" || word == ":::+" || word == "::::+";
}

/// A non-negative integer written in decimal digits that fits in 18 of them, or nothing.
std::optional<std::size_t> to_count(const std::string& text) {
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  return static_cast<std::size_t>(std::stoull(text));
}

/// A non-negative decimal number, digits with at most one point ("1", "0.5", ".5", "2."): no sign,
/// exponent, hexadecimal, infinity or NaN, and at most 18 digits before the point; or nothing.
std::optional<double> to_number(const std::string& text) {
  const auto point = text.find('.');
  const std::string whole = text.substr(0, point);
  const std::string fraction = point == std::string::npos ? "" : text.substr(point + 1);
  const auto digits = [](const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
  };
  if (whole.size() + fraction.size() == 0 || whole.size() > 18 || !digits(whole) || !digits(fraction))
    return std::nullopt;
  return std::strtod(text.c_str(), nullptr);
}

/// `text` as a whole number in [least, most], or a usage_error that names `option` and the value.
std::size_t parse_count(const std::string& option, const std::string& text, std::size_t least,
                        std::size_t most) {
  const auto n = to_count(text);
  if (!n || *n < least || *n > most)
    throw usage_error(option + ": '" + text + "' is not a whole number from " + std::to_string(least) +
                      " to " + std::to_string(most));
  return *n;
}

/// A duration in seconds with an optional s/m/h/d suffix, from 0 (when `zero_allowed`) up to
/// max_seconds; nothing when `text` is not one.
std::optional<double> to_seconds(const std::string& text, bool zero_allowed) {
  if (text.empty()) return std::nullopt;
  static const std::string suffixes = "smhd";
  static constexpr double units[] = {1, 60, 3600, 86400};
  const auto suffix = suffixes.find(text.back());
  const double unit = suffix == std::string::npos ? 1 : units[suffix];
  const std::string digits = suffix == std::string::npos ? text : text.substr(0, text.size() - 1);
  const auto n = to_number(digits);
  if (!n) return std::nullopt;
  const double seconds = *n * unit;
  if ((seconds <= 0 && !zero_allowed) || seconds > max_seconds) return std::nullopt;
  return seconds;
}

/// Splits the words after the options into the command and the input sources.
void split_command_and_sources(const std::vector<std::string>& words, options& o) {
  std::size_t i = 0;
  while (i < words.size() && !is_separator(words[i]))
    o.command.push_back(words[i++]);
  while (i < words.size()) {
    const std::string& separator = words[i++];
    input_source source;
    source.linked = separator.back() == '+';
    const bool files = separator.rfind("::::", 0) == 0;
    std::vector<std::string> values;
    while (i < words.size() && !is_separator(words[i]))
      values.push_back(words[i++]);
    if (o.sources.empty()) source.linked = false; // nothing to link to: a plain source, as in GNU parallel
    if (!files) {
      source.from = input_source::kind::values;
      source.values = std::move(values);
      o.sources.push_back(std::move(source));
      continue;
    }
    if (values.empty()) throw usage_error(separator + " needs at least one file name");
    for (std::size_t f = 0; f < values.size(); ++f) {
      input_source file = source;
      file.from = input_source::kind::file;
      file.path = values[f];
      if (f > 0) file.linked = false; // several files after one `::::` are several sources
      o.sources.push_back(std::move(file));
    }
  }
}

/// `--delay`'s value: seconds from 0 to max_seconds, with an optional s/m/h/d suffix.
double parse_delay(const std::string& value) {
  const auto seconds = to_seconds(value, true);
  if (!seconds)
    throw usage_error("--delay: '" + value +
                      "' is not a duration (seconds, from 0 to 1000000000, with s, m, h or d)");
  return *seconds;
}

/// `--block`'s value: a size from 1 byte to max_block_bytes.
std::size_t parse_block(const std::string& value) {
  const auto bad = [&] {
    return usage_error("--block: '" + value +
                       "' is not a block size from 1 byte to 2G-1 (a number with k, K, m, M, g or G)");
  };
  std::size_t bytes = 0;
  try {
    bytes = parse_size(value);
  } catch (const usage_error&) {
    throw bad();
  }
  if (bytes > max_block_bytes) throw bad();
  return bytes;
}

/// The longest `-d`: 4096 bytes.
constexpr std::size_t max_delimiter_bytes = 4096;

/// `-d`'s value as GNU parallel reads it: \t, \n, \r, \0 and \NNN (octal) are understood,
/// anything else is taken as it is; at least one byte and at most max_delimiter_bytes.
std::string parse_delimiter(const std::string& value) {
  const auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char next = i + 1 < value.size() ? value[i + 1] : '\0';
    if (value[i] != '\\' || i + 1 == value.size()) {
      out += value[i];
    } else if (next == 't' || next == 'n' || next == 'r') {
      out += next == 't' ? '\t' : next == 'n' ? '\n' : '\r';
      ++i;
    } else if (is_octal(next)) {
      const bool three = i + 3 < value.size() && is_octal(value[i + 2]) && is_octal(value[i + 3]);
      const std::string digits = value.substr(i + 1, three ? 3 : 1);
      out += static_cast<char>(std::stoi(digits, nullptr, 8) & 0xff); // Perl's "\NNN": octal
      i += digits.size();
    } else {
      out += value[i];
    }
  }
  if (out.empty() || out.size() > max_delimiter_bytes)
    throw usage_error("-d/--delimiter: '" + value + "' must be 1 to " + std::to_string(max_delimiter_bytes) +
                      " bytes (\\n, \\t, \\r, \\0 and \\NNN in octal are understood)");
  return out;
}

/// The text of a small file named by -j, or nothing when `value` names no regular file.
std::optional<std::string> jobs_file_text(const std::string& value) {
  std::ifstream in(value, std::ios::binary);
  if (!in || !std::filesystem::is_regular_file(value)) return std::nullopt;
  std::string text(64, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0)
    text.pop_back();
  return text;
}

} // namespace

std::size_t parse_jobs(const std::string& value, std::size_t cores, std::size_t max_jobs) {
  if (!value.empty() && value.find_first_not_of("0123456789+-.%") != std::string::npos)
    if (const auto text = jobs_file_text(value)) { // -j FILE, as GNU parallel reads it
      if (text->find_first_not_of("0123456789+-.%") != std::string::npos || text->empty())
        throw usage_error("-j/--jobs: the file '" + value + "' does not hold a number of jobs");
      return parse_jobs(*text, cores, max_jobs);
    }
  const auto bad = [&] {
    return usage_error("-j/--jobs: '" + value +
                       "' is not a number of jobs (N, N%, +N, -N, or 0 for as many as possible)");
  };
  if (value.empty()) throw bad();
  if (value.back() == '%') {
    const auto percent = to_number(value.substr(0, value.size() - 1));
    if (!percent) throw bad();
    const double jobs = std::floor(static_cast<double>(cores) * *percent / 100.0);
    return std::clamp<std::size_t>(static_cast<std::size_t>(std::min(jobs, static_cast<double>(max_jobs))), 1,
                                   max_jobs);
  }
  if (value[0] == '+' || value[0] == '-') {
    const auto n = to_count(value.substr(1));
    if (!n) throw bad();
    if (value[0] == '+') return std::clamp<std::size_t>(cores + *n, 1, max_jobs);
    return std::clamp<std::size_t>(*n < cores ? cores - *n : 1, 1, max_jobs);
  }
  const auto n = to_count(value);
  if (!n) throw bad();
  if (*n == 0) return max_jobs;
  return std::min(*n, max_jobs);
}

std::size_t parse_size(const std::string& value) {
  const auto bad = [&] {
    return usage_error("'" + value + "' is not a size (a number with k, K, m, M, g, G, t, T, p or P)");
  };
  if (value.empty()) throw bad();
  std::string digits = value;
  double multiplier = 1;
  const char suffix = value.back();
  const std::string lower = "kmgtp", upper = "KMGTP";
  if (const auto at = lower.find(suffix); at != std::string::npos) {
    multiplier = std::pow(1000.0, static_cast<double>(at + 1));
    digits.pop_back();
  } else if (const auto at_upper = upper.find(suffix); at_upper != std::string::npos) {
    multiplier = std::pow(1024.0, static_cast<double>(at_upper + 1));
    digits.pop_back();
  }
  const auto n = to_number(digits);
  if (!n || *n * multiplier < 1 || *n * multiplier >= 18446744073709549568.0) throw bad();
  return static_cast<std::size_t>(*n * multiplier);
}

halt_policy parse_halt(const std::string& value) {
  const auto bad = [&] {
    return usage_error("--halt: '" + value +
                       "' is not a halt condition (never, or now|soon,fail|success|done=N with N a whole "
                       "number from 1, or N% with 0 < N <= 100)");
  };
  halt_policy h;
  if (value == "never" || value == "0") return h;
  if (value == "1" || value == "2" || value == "-1" || value == "-2") {
    h.at = (value == "2" || value == "-2") ? halt_policy::when::now : halt_policy::when::soon;
    h.on = value[0] == '-' ? halt_policy::why::success : halt_policy::why::fail;
    h.threshold = 1;
    return h;
  }
  std::string rest = value;
  if (const auto comma = value.find(','); comma != std::string::npos) {
    const std::string when = value.substr(0, comma);
    if (when == "now")
      h.at = halt_policy::when::now;
    else if (when == "soon")
      h.at = halt_policy::when::soon;
    else
      throw bad();
    rest = value.substr(comma + 1);
  } else {
    h.at = halt_policy::when::soon; // "1-99%" is the old form of soon,fail=N%
    if (rest.empty() || rest.back() != '%') throw bad();
    rest = "fail=" + rest;
  }
  const auto equals = rest.find('=');
  if (equals == std::string::npos) throw bad();
  const std::string why = rest.substr(0, equals);
  std::string amount = rest.substr(equals + 1);
  if (why == "fail")
    h.on = halt_policy::why::fail;
  else if (why == "success")
    h.on = halt_policy::why::success;
  else if (why == "done")
    h.on = halt_policy::why::done;
  else
    throw bad();
  if (!amount.empty() && amount.back() == '%') {
    h.percent = true;
    amount.pop_back();
    const auto n = to_number(amount);
    if (!n || *n <= 0 || *n > 100) throw bad();
    h.threshold = *n;
    return h;
  }
  const auto n = to_count(amount);
  if (!n || *n == 0) throw bad();
  h.threshold = static_cast<double>(*n);
  return h;
}

timeout_policy parse_timeout(const std::string& value) {
  const auto bad = [&] {
    return usage_error("--timeout: '" + value +
                       "' is not a duration (seconds, more than 0 and at most 1000000000, with s, m, h or "
                       "d; or N% of the median runtime, 0 < N <= 10000)");
  };
  timeout_policy t;
  if (value.empty()) throw bad();
  if (value.back() == '%') {
    const auto n = to_number(value.substr(0, value.size() - 1));
    if (!n || *n <= 0 || *n > max_timeout_percent) throw bad();
    t.percent_of_median = *n;
    return t;
  }
  const auto seconds = to_seconds(value, false);
  if (!seconds) throw bad();
  t.fixed = std::chrono::duration<double>(*seconds);
  return t;
}

options parse_options(const std::vector<std::string>& args, action& what, std::size_t cores,
                      std::size_t max_jobs) {
  CLI::App app{"parmill"};
  app.set_help_flag();
  app.prefix_command();
  app.allow_windows_style_options(false);
  options o;
  bool help = false, version = false, null = false;
  std::string jobs = "100%", header, halt, timeout, block, delay;
  std::optional<std::string> delimiter, max_args, exact_args, retries;
  std::vector<std::string> arg_files;
  app.add_flag("-h,--help", help);
  app.add_flag("--version", version);
  app.add_option("-j,-P,--jobs,--max-procs", jobs);
  app.add_option("-a,--arg-file", arg_files)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("-0,--null", null);
  app.add_option("-d,--delimiter", delimiter);
  app.add_option("-C,--colsep", o.colsep);
  app.add_option("--header", header);
  app.add_flag("-r,--no-run-if-empty", o.no_run_if_empty);
  app.add_flag("--link,--xapply", o.link);
  app.add_flag("-q,--quote", o.quote);
  app.add_flag("-X", o.context_replace);
  app.add_flag("-m", o.multiple_args);
  app.add_option("-n,--max-args", max_args);
  app.add_option("-N,--max-replace-args", exact_args);
  app.add_option("--delay", delay);
  app.add_flag("--shuf", o.shuffle);
  app.add_flag("--pipe,--spreadstdin", o.pipe);
  app.add_option("--block,--block-size", block);
  app.add_flag("--group"); // the default; accepted as GNU parallel does
  app.add_flag("--line-buffer,--lb", o.line_buffer);
  app.add_flag("-u,--ungroup", o.ungroup);
  app.add_flag("-k,--keep-order", o.keep_order);
  app.add_flag("--tag", o.tag);
  app.add_option("--tagstring,--tag-string", o.tagstring);
  app.add_option("--results,--res,--result", o.results_dir);
  app.add_flag("--dry-run,--dryrun", o.dry_run);
  app.add_flag("-t,--verbose", o.verbose);
  app.add_flag("-v", o.print_command);
  app.add_option("--halt,--halt-on-error", halt);
  app.add_option("--retries", retries);
  app.add_option("--timeout", timeout);
  app.add_option("--joblog,--jl", o.joblog);
  app.add_flag("--resume", o.resume);
  app.add_flag("--resume-failed", o.resume_failed);
  app.add_flag("--bar", o.bar);
  app.add_flag("--eta", o.eta);
  app.add_flag("--progress", o.progress);

  std::vector<std::string> reversed(args.rbegin(), args.rend()); // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    throw usage_error(message);
  }
  what = help ? action::help : version ? action::version : action::run;
  if (what != action::run) return o;

  o.jobs = parse_jobs(jobs, cores, max_jobs);
  if (null) o.delimiter = '\0';
  if (delimiter) {
    const std::string text = parse_delimiter(*delimiter);
    o.delimiter = text.back();
    if (text.size() > 1) o.delimiter_text = text;
  }
  if (!header.empty()) {
    if (header != ":" && header != ".*\\n")
      throw usage_error("--header: only ':' (the first line) is supported");
    o.header = true;
  }
  if (max_args) o.max_args = parse_count("-n/--max-args", *max_args, 0, max_count);
  if (max_args && o.max_args == 0) o.exact_args = 0; // -n0 is -N0, as in GNU parallel
  if (exact_args) o.exact_args = parse_count("-N/--max-replace-args", *exact_args, 0, max_count);
  if (retries) o.retries = parse_count("--retries", *retries, 0, max_count);
  if (!delay.empty()) o.delay_seconds = parse_delay(delay);
  if (!block.empty()) o.block_bytes = parse_block(block);
  if (!halt.empty()) o.halt = parse_halt(halt);
  if (!timeout.empty()) o.timeout = parse_timeout(timeout);
  if (o.joblog && o.joblog->size() > 1 && o.joblog->front() == '+') { // --joblog +FILE: append
    o.joblog->erase(0, 1);
    o.joblog_append = true;
  }
  if ((o.resume || o.resume_failed) && !o.joblog)
    throw usage_error("--resume and --resume-failed need --joblog");
  if (o.ungroup && o.line_buffer) throw usage_error("-u and --line-buffer cannot be used together");
  o.group = !o.ungroup && !o.line_buffer;

  for (const std::string& file : arg_files) {
    input_source source;
    source.from = input_source::kind::file;
    source.path = file;
    o.sources.push_back(std::move(source));
  }
  const std::vector<std::string> rest = app.remaining();
  if (!rest.empty() && rest[0].size() > 1 && rest[0][0] == '-')
    throw usage_error("unknown option: " + rest[0]);
  split_command_and_sources(rest, o);
  if (o.pipe && o.sources.size() > 1)
    throw usage_error("--pipe reads one input: standard input or one -a file");
  if (const char* shell = std::getenv("PARALLEL_SHELL"); shell != nullptr && *shell != '\0')
    o.shell = shell;
  else
    o.shell = access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
  return o;
}

std::string help_text() {
  return R"(Usage:
  parmill [options] [command [arguments]] < inputs
  parmill [options] [command [arguments]] (::: values | :::: files)...
  cat data | parmill --pipe [options] [command [arguments]]

Runs the command once per input, in parallel. The command is shell code; every input value is
quoted, so any file name reaches the job as one argument. A command that needs no shell is run
without one. With no command, each input is a command.

Inputs:
  ::: values          the values that follow; several ::: give every combination, first slowest
  :::: files          lines of the files ("-" is standard input)
  :::+ / ::::+        link to the previous source: advance together, stop at the shortest
  -a, --arg-file F    like :::: F
  --link              link all sources; shorter ones wrap around
  -0, --null          inputs end with a NUL byte instead of a newline
  -d, --delimiter D   inputs end with D, one or more bytes (\n, \t, \r, \0, \NNN octal are
                      understood); ::: values are split at it too
  -C, --colsep RE     split each input into columns {1} {2} ... at the Perl regular expression
                      RE (\t, \s+, \d ...; matched on bytes); whitespace around each column
                      is trimmed
  --header :          the first line names the columns: {name}
  -r, --no-run-if-empty  skip empty inputs
  --shuf              run the jobs in random order (reads all inputs first)

Replacement strings:
  {}  the input         {.}  without extension     {/}  basename        {//}  dirname
  {/.} basename without extension   {#}  the job's number   {%}  the job slot (1..jobs)
  {n} {n.} {n/} {n//} {n/.}  the n-th column or source; negative n counts from the end
  {} is appended when the command has no replacement string.
  Jobs see $PARALLEL_SEQ ({#}) and $PARALLEL_JOBSLOT ({%}) in their environment.
  -q, --quote         the command is not shell code: quote its words too
  -n, --max-args N    at most N inputs per job
  -N N                exactly N inputs per job ({1}..{N}; the last job may have fewer)
  -X                  as many inputs per job as fit, each with the word around {} repeated
  -m                  as many inputs per job as fit, joined by spaces where {} is
                      (-X, -m and -n keep each command near 63 KB, as GNU parallel does)

Jobs:
  -j, --jobs N        run N jobs at once; N% of the cores; +N or -N cores; 0 for as many as
                      possible (default: 100%, one per core)
  --delay SECS        wait at least SECS between job starts
  --pipe              cut standard input into blocks and give each to a job's standard input
  --block SIZE        block size for --pipe (default 1M; k=1000, K=1024, m, M, g, G, t, T)
  -N N                with --pipe: N records per job instead of --block bytes
  A job's standard input is empty (/dev/null) unless --pipe is given.

Output:
  (default)           each job's standard output and error, whole, as the job finishes
  -k, --keep-order    print outputs in input order
  --line-buffer, --lb print whole lines as they come, jobs mixed line by line
  -u, --ungroup       jobs write straight to the terminal (fastest; may mix within lines)
  --tag               prefix each output line with the job's inputs and a tab
  --tagstring STR     prefix each output line with STR (replacement strings work) and a tab
  --results DIR       save each job's output in DIR/1/<value>/.../{stdout,stderr,seq}
                      (also --result)
  --dry-run           print the commands instead of running them
  -v                  print each command on standard output, before its job's output
  -t, --verbose       print each command on standard error as it starts

Failures:
  --halt WHEN,WHY=N   stop when N (or N%) jobs fail|success|done: 'now' kills the running jobs,
                      'soon' lets them finish; 'never' (default)
  --retries N         run a failing job up to N times in all
  --timeout T         kill a job that runs longer than T seconds (suffix s, m, h, d), or T% of
                      the median runtime of the successful jobs so far
  --joblog FILE       record every job in FILE, in GNU parallel's format (--jl; +FILE appends)
  --resume            with --joblog: skip the jobs the log records
  --resume-failed     with --joblog: also run again the jobs the log records as failed

Progress:
  --bar, --eta, --progress  a progress bar with the count, rate and ETA on standard error

Other:
  -h, --help          this text
  --version           the version

Exit status: 0 if every job succeeded; 1-100 the number of failed jobs; 101 more than 100;
with --halt, as GNU parallel does; 255 for a bad invocation or when interrupted (SIGINT/SIGTERM).
SIGINT and SIGTERM kill the running jobs (TERM, then KILL); SIGHUP starts no new jobs and waits.
Commands that need a shell run in $PARALLEL_SHELL, or /bin/bash, or /bin/sh.
)";
}

} // namespace parmill::cli
