// cli/options.cpp: parses GNU parallel's syntax with CLI11. Options come first; the first word that
// is not an option starts the command, which runs up to the first `:::`, `::::`, `:::+` or `::::+`.
#include "options.hpp"

#include "option_table.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <unistd.h>
#include <variant>

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

/// GNU parallel 20221122's options that parmill does not have, each group with the reason given.
/// A word the option parser left unknown is looked up here, so that options parmill gains later
/// are never rejected by it.
constexpr unsupported_option unsupported_options[] = {
    {"-S|--sshlogin|--slf|--sshloginfile|--ssh|--ssh-delay|--sshdelay|-M|--controlmaster|--transfer|"
     "--transferfile|--transfer-file|--transferfiles|--transfer-files|--tf|--return|--trc|--cleanup|"
     "--basefile|--bf|--rsync-opts|--rsyncopts|--onall|--nonall|--filter-hosts|--filterhosts|"
     "--filter-host|--hostgroups|--hostgroup|--hostgrp|--hgrp",
     "no remote execution over ssh; to run jobs on many machines, start parmill under mpirun"},
    {"--env|--record-env|--recordenv|--session",
     "jobs inherit parmill's environment; --env is for remote jobs"},
    {"--workdir|--work-dir|--wd", "jobs run in parmill's working directory; cd in the command"},
    {"--tmux|--tmuxpane|--tmux-pane", "no tmux windows; output is printed, or saved with --results"},
    {"--semaphore|--sem|--semaphorename|--semaphore-name|--id|--semaphoretimeout|--semaphore-timeout|--st|"
     "--fg|--bg|--wait",
     "parmill is not a counting semaphore (GNU parallel's sem)"},
    {"--sql|--sqlmaster|--sql-master|--sqlworker|--sql-worker|--sqlandworker|--sql-and-worker",
     "no SQL job queue; --joblog records every job"},
    {"--files|--output-as-files|--outputasfiles", "output is printed, or saved per job with --results DIR"},
    {"--compress|--compress-program|--compressprogram|--use-compress-program|--usecompressprogram|"
     "--decompress-program|--decompressprogram|--use-decompress-program|--usedecompressprogram|"
     "--tmpdir|--tempdir",
     "jobs' output is buffered in memory, not in temporary files"},
    {"--termseq|--term-seq", "a job being stopped gets TERM, then KILL 200 ms later"},
    {"--memfree|--memsuspend|--load|--noswap|--limit",
     "jobs start by -j alone, not by load, free memory or a limit command"},
    {"--tee|--shard|--bin|--group-by|--groupby|--cat|--fifo|--block-timeout|--blocktimeout|--bt",
     "--pipe gives each block to one job's standard input"},
    {"--shellquote|--shell-quote|--shell_quote|--shell",
     "parmill quotes inputs itself; to quote a string for the shell, use printf %q"},
    {"--shebang|--hashbang|--shebang-wrap", "parmill cannot be a script's #! interpreter"},
    {"--rpl|--parens", "parmill runs no Perl: the replacement strings are fixed"},
    {"--citation|--bibtex", "parmill has no citation notice; --will-cite is accepted and does nothing"},
    {"--csv", "--colsep splits at a regular expression; CSV quoting is not parsed"},
    {"--nice", "run 'nice parmill ...' instead"},
    {"--profile|-J", "parmill reads no profiles, $PARALLEL or ~/.parallel/config"},
    {"--interactive|-p|--open-tty|-o|--tty",
     "a job's standard input is /dev/null (or its --pipe block), never the terminal"},
    {"--color|--colour|--color-failed|--colour-failed|--colorfailed|--colourfailed|--color-fail|"
     "--colour-fail|--colorfail|--colourfail|--cf|--ctag|--ctagstring|--ctag-string",
     "output is not coloured; --tag and --tagstring mark its lines"},
    {"--latest-line|--latestline|--ll", "use --line-buffer"},
    {"--total-jobs|--totaljobs|--total", "the bar counts the inputs itself"},
    {"--eof|-e|-E", "no end-of-file string; cut the input short with head or sed"},
    {"--arg-sep|--argsep|--arg-file-sep|--argfilesep", "the input separators are ::: and :::: only"},
    {"--filter", "filter the inputs before they reach parmill"},
    {"--process-slot-var|--processslotvar", "jobs get their slot in $PARALLEL_JOBSLOT"},
    {"--retry-failed|--retryfailed", "use --resume-failed with the command line"},
    {"--skip-first-line|--skipfirstline", "use --header : or tail -n +2"},
    {"--template|--tmpl", "write the file in the command"},
    {"--trim", "--colsep always trims the whitespace around columns"},
    {"--xargs", "use -m or -X"},
    {"--no-keep-order|--nokeeporder|--nok|--no-k", "output is in completion order unless -k is given"},
    {"--linkinputsource|--xapplyinputsource", "link sources with :::+ or --link"},
    {"--min-version|--minversion|--show-limits|--showlimits|--max-line-length-allowed|"
     "--maxlinelengthallowed|--number-of-cpus|--numberofcpus|--number-of-cores|--numberofcores|"
     "--number-of-sockets|--numberofsockets|--number-of-threads|--numberofthreads",
     "use parmill --version, nproc or getconf ARG_MAX"},
    {"--use-sockets-instead-of-threads|--usesocketsinsteadofthreads|--use-cores-instead-of-threads|"
     "--usecoresinsteadofthreads|--use-cpus-instead-of-cores|--usecpusinsteadofcores",
     "-j N% counts the CPU threads the system reports"},
    {"--bug|--debug|-D|--embed|--shell-completion|--shellcompletion",
     "GNU parallel's own maintenance option"},
    {"-V", "use --version"},
    {"--tollef|--ctrl-c|--ctrlc|--no-ctrl-c|--no-ctrlc|--noctrlc|-g|-U|-B|-W|-T|-H|-Y",
     "retired in GNU parallel too"},
};

/// The option `word` names: "--name" (without "=value"), or "-x" for a short option and its value.
std::string_view option_name(std::string_view word) {
  if (word.rfind("--", 0) == 0) return word.substr(0, word.find('='));
  return word.substr(0, 2);
}

/// Throws the usage_error for `word`, an option the parser does not know: "not supported by
/// parmill" with the reason for one of GNU parallel's, "unknown option" otherwise.
[[noreturn]] void reject_option(const std::string& word) {
  const std::string_view name = option_name(word);
  for (const unsupported_option& option : unsupported_options) {
    for (std::string_view names = option.names; !names.empty();) {
      const auto bar = names.find('|');
      if (names.substr(0, bar) == name)
        throw usage_error(std::string(name) + " is not supported by parmill (" + std::string(option.reason) +
                          ")");
      names = bar == std::string_view::npos ? std::string_view() : names.substr(bar + 1);
    }
  }
  throw usage_error("unknown option: " + word);
}

/// Rejects a command with GNU parallel's Perl replacement strings (`{= perl =}`, `{=n perl =}`),
/// which it would evaluate: a `{=` followed, anywhere later in the command, by `=}`.
void reject_perl_replacement_strings(const std::vector<std::string>& command) {
  std::string text;
  for (const std::string& word : command)
    text += word + ' ';
  const auto open = text.find("{=");
  if (open != std::string::npos && text.find("=}", open + 2) != std::string::npos)
    throw usage_error("{= perl =} replacement strings are not supported by parmill (parmill runs no "
                      "Perl; compute the value in the shell, as in $(echo {} | sed s/a/b/))");
}

/// --recstart/--recend without --regexp: GNU parallel's printf escapes \0 \r \n \t \' \" \\.
std::string unescape_separator(const std::string& value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char next = i + 1 < value.size() ? value[i + 1] : '\0';
    const std::string escapes = "0rnt'\"\\";
    if (value[i] != '\\' || escapes.find(next) == std::string::npos || i + 1 == value.size()) {
      out.push_back(value[i]);
      continue;
    }
    out.push_back(next == '0' ? '\0' : next == 'r' ? '\r' : next == 'n' ? '\n' : next == 't' ? '\t' : next);
    ++i;
  }
  return out;
}

/// A replacement string's new name (-I and the like): not empty.
void rename(std::string& name, const std::optional<std::string>& value, const std::string& option) {
  if (!value) return;
  if (value->empty()) throw usage_error(option + ": the replacement string cannot be empty");
  name = *value;
}

/// `-L`/`-l`/`--max-lines`'s value: a whole number (GNU's unit suffixes too); `-l` alone is 1.
std::size_t parse_max_lines(const std::string& value) {
  if (value.empty()) return 1;
  const auto n = to_count(value);
  if (n) return *n;
  try {
    const std::size_t size = parse_size(value);
    if (size <= max_count && (value.back() < '0' || value.back() > '9')) return size;
  } catch (const usage_error&) {
  }
  throw usage_error("-L/--max-lines: '" + value + "' is not a whole number of lines from 0 to " +
                    std::to_string(max_count));
}

/// `-s`/`--max-chars`'s value: a size (GNU's unit suffixes too), at least 1.
std::size_t parse_max_chars(const std::string& value) {
  try {
    return parse_size(value);
  } catch (const usage_error&) {
    throw usage_error("-s/--max-chars: '" + value +
                      "' is not a number of characters (a whole number, with k, K, m, M, g or G)");
  }
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

namespace {

/// One visitor made of several lambdas, for std::visit.
template <class... Visitors>
struct overloaded : Visitors... {
  using Visitors::operator()...;
};
template <class... Visitors>
overloaded(Visitors...) -> overloaded<Visitors...>; // clang before 17 deduces no aggregate's arguments

/// Registers `entry` with CLI11, bound to the field it sets in `o` or `raw`.
void register_option(CLI::App& app, const option_entry& entry, options& o, raw_option_values& raw) {
  const std::string names(entry.names);
  CLI::Option* added = std::visit(
      overloaded{[&](std::monostate) { return app.add_flag(names); },
                 [&](bool options::*field) { return app.add_flag(names, o.*field); },
                 [&](std::optional<std::string> options::*field) { return app.add_option(names, o.*field); },
                 [&](bool raw_option_values::*field) { return app.add_flag(names, raw.*field); },
                 [&](std::string raw_option_values::*field) { return app.add_option(names, raw.*field); },
                 [&](std::optional<std::string> raw_option_values::*field) {
                   return app.add_option(names, raw.*field);
                 },
                 [&](std::vector<std::string> raw_option_values::*field) {
                   return app.add_option(names, raw.*field)
                       ->allow_extra_args(false)
                       ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
                 }},
      entry.field);
  if (entry.takes == value_kind::optional) added->expected(0, 1);
}

/// What CLI11 read from the command line: the options it sets as they are, the values still to be
/// interpreted, and the words after the options (the command and its input sources).
struct command_line_reading {
  options o;
  raw_option_values raw;
  std::vector<std::string> rest;
  bool replace_given = false; ///< -i/--replace, with or without a value
  bool lines_given = false;   ///< -l/--max-lines, with or without a value
};

/// Reads `args` with CLI11, every option of `option_table()` registered. Throws `usage_error`.
command_line_reading read_command_line(const std::vector<std::string>& args) {
  command_line_reading read;
  CLI::App app{"parmill"};
  app.set_help_flag();
  app.prefix_command();
  app.allow_windows_style_options(false);
  for (const option_entry& entry : option_table())
    if (entry.kind == entry_kind::option) register_option(app, entry, read.o, read.raw);
  std::vector<std::string> reversed(args.rbegin(), args.rend()); // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    throw usage_error(message);
  }
  read.rest = app.remaining();
  read.replace_given = app.count("-i") > 0;
  read.lines_given = app.count("-l") > 0;
  return read;
}

/// -0 and -d: what ends an input.
void set_delimiter(const raw_option_values& raw, input_options& o) {
  if (raw.null) o.delimiter = '\0';
  if (raw.delimiter) {
    const std::string text = parse_delimiter(*raw.delimiter);
    o.delimiter = text.back();
    if (text.size() > 1) o.delimiter_text = text;
  }
}

/// --header: only `:` (the first line names the columns).
void set_header(const raw_option_values& raw, input_options& o) {
  if (raw.header.empty()) return;
  if (raw.header != ":" && raw.header != ".*\\n")
    throw usage_error("--header: only ':' (the first line) is supported");
  o.header = true;
}

/// -n and -N: how many inputs each job takes.
void set_inputs_per_job(const raw_option_values& raw, input_options& o) {
  if (raw.max_args) o.max_args = parse_count("-n/--max-args", *raw.max_args, 0, max_count);
  if (raw.max_args && o.max_args == 0) o.exact_args = 0; // -n0 is -N0, as in GNU parallel
  if (raw.exact_args) o.exact_args = parse_count("-N/--max-replace-args", *raw.exact_args, 0, max_count);
}

/// --block: bytes per block, or with --pipepart blocks per job slot.
void set_block(const raw_option_values& raw, input_options& o) {
  const std::string& block = raw.block;
  if (!block.empty() && block[0] == '-' && o.pipe_part)
    o.blocks_per_slot = parse_count("--block", block.substr(1), 1, max_count);
  else if (!block.empty() && o.pipe_part) // a part is never held whole: no 2 GiB limit (as GNU)
    o.block_bytes = parse_size(block);
  else if (!block.empty())
    o.block_bytes = parse_block(block);
  else if (o.pipe_part)
    o.blocks_per_slot = 10; // GNU parallel: ten blocks per job slot
  if (o.pipe_part && o.round_robin) o.blocks_per_slot = 1;
}

/// -I, -i and the other renamings of replacement strings.
void set_replacement_names(raw_option_values& raw, bool replace_given, template_options& o) {
  rename(o.names.input, raw.replace_input, "-I");
  rename(o.names.no_extension, raw.replace_extension, "--extensionreplace");
  rename(o.names.basename, raw.replace_basename, "--basenamereplace");
  rename(o.names.dirname, raw.replace_dirname, "--dirnamereplace");
  rename(o.names.basename_no_extension, raw.replace_basename_extension, "--basenameextensionreplace");
  rename(o.names.seq, raw.replace_seq, "--seqreplace");
  rename(o.names.slot, raw.replace_slot, "--slotreplace");
  if (replace_given && !raw.replace_input) raw.replace_input = "{}";
}

/// -L, -l and --max-lines. `-l`'s value is optional and numeric, as in GNU parallel: in `-l echo`,
/// `echo` is the command's first word, which is returned.
std::optional<std::string> set_max_lines(raw_option_values& raw, bool lines_given,
                                         const std::vector<std::string>& args, input_options& o) {
  std::optional<std::string> first_word;
  const auto separate = [&](const std::string& value) { // `-l VALUE`, not `-lVALUE` or `--max-lines=VALUE`
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
      if ((args[i] == "-l" || args[i] == "--max-lines") && args[i + 1] == value) return true;
    return false;
  };
  if (raw.max_lines_lower && !to_count(*raw.max_lines_lower) && separate(*raw.max_lines_lower)) {
    first_word = std::move(*raw.max_lines_lower);
    raw.max_lines_lower.reset();
  }
  if (lines_given) { // -l: 1 when alone, and -l 0 is -l 1
    raw.max_lines = raw.max_lines_lower.value_or("1");
    if (raw.max_lines->empty() || *raw.max_lines == "0") raw.max_lines = "1";
  }
  if (raw.max_lines) {
    o.max_lines = parse_max_lines(*raw.max_lines);
    if (!o.pipe && !o.pipe_part && !o.exact_args) o.exact_args = *o.max_lines; // -L N is -N N, lines joined
    if (*o.max_lines == 0) o.max_lines = 1;
  }
  return first_word;
}

/// --recstart, --recend, --regexp and --rrs.
void set_record_separators(const raw_option_values& raw, input_options& o) {
  o.records.regexp = raw.regexp;
  o.records.remove = raw.remove_separators;
  if (raw.recstart) o.records.start = o.records.regexp ? *raw.recstart : unescape_separator(*raw.recstart);
  if (raw.recend) o.records.end = o.records.regexp ? *raw.recend : unescape_separator(*raw.recend);
}

/// --halt, --timeout, --joblog (+FILE appends), and --resume's need of a job log.
void set_failure_handling(const raw_option_values& raw, failure_options& o) {
  if (!raw.halt.empty()) o.halt = parse_halt(raw.halt);
  if (!raw.timeout.empty()) o.timeout = parse_timeout(raw.timeout);
  if (o.joblog && o.joblog->size() > 1 && o.joblog->front() == '+') { // --joblog +FILE: append
    o.joblog->erase(0, 1);
    o.joblog_append = true;
  }
  if ((o.resume || o.resume_failed) && !o.joblog)
    throw usage_error("--resume and --resume-failed need --joblog");
}

/// -u, --line-buffer, or the default: each job's output whole.
void set_output_mode(output_options& o) {
  if (o.ungroup && o.line_buffer) throw usage_error("-u and --line-buffer cannot be used together");
  o.group = !o.ungroup && !o.line_buffer;
}

/// The command and the input sources: the -a files, then what follows the command.
void set_command_and_sources(const std::vector<std::string>& arg_files, std::vector<std::string> rest,
                             std::optional<std::string> first_word, options& o) {
  for (const std::string& file : arg_files) {
    input_source source;
    source.from = input_source::kind::file;
    source.path = file;
    o.sources.push_back(std::move(source));
  }
  if (first_word) rest.insert(rest.begin(), std::move(*first_word));
  if (!rest.empty() && rest[0].size() > 1 && rest[0][0] == '-') reject_option(rest[0]);
  split_command_and_sources(rest, o);
  reject_perl_replacement_strings(o.command);
  if (o.pipe && o.sources.size() > 1)
    throw usage_error("--pipe reads one input: standard input or one -a file");
  if (o.pipe_part) {
    if (o.sources.size() != 1 || o.sources[0].from != input_source::kind::file || o.sources[0].path == "-")
      throw usage_error("--pipepart needs one seekable file, given with -a or ::::");
    o.pipe = true; // every --pipe rule holds; only where the blocks come from differs
  }
}

/// The shell that runs commands that need one: $PARALLEL_SHELL, or /bin/bash, or /bin/sh.
std::string job_shell() {
  if (const char* shell = std::getenv("PARALLEL_SHELL"); shell != nullptr && *shell != '\0') return shell;
  return access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
}

} // namespace

invocation parse_invocation(const std::vector<std::string>& args, std::size_t cores, std::size_t max_jobs) {
  command_line_reading read = read_command_line(args);
  raw_option_values& raw = read.raw;
  options& o = read.o;
  if (raw.help || raw.version) return {.what = raw.help ? action::help : action::version, .run_options = {}};
  // In the order they have always been checked, so that the first mistake is the one reported.
  o.jobs = parse_jobs(raw.jobs, cores, max_jobs);
  set_delimiter(raw, o);
  set_header(raw, o);
  set_inputs_per_job(raw, o);
  if (raw.retries) o.retries = parse_count("--retries", *raw.retries, 0, max_count);
  if (!raw.delay.empty()) o.delay_seconds = parse_delay(raw.delay);
  set_block(raw, o);
  set_replacement_names(raw, read.replace_given, o);
  std::optional<std::string> first_word = set_max_lines(raw, read.lines_given, args, o);
  if (raw.max_chars) o.max_chars = parse_max_chars(*raw.max_chars);
  set_record_separators(raw, o);
  set_failure_handling(raw, o);
  set_output_mode(o);
  set_command_and_sources(raw.arg_files, std::move(read.rest), std::move(first_word), o);
  o.shell = job_shell();
  return {.what = action::run, .run_options = std::move(o)};
}

std::span<const unsupported_option> unsupported_gnu_options() { return unsupported_options; }

} // namespace parmill::cli
