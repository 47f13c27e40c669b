// cli/options.cpp: parses GNU parallel's syntax with CLI11. Options come first; the first word that
// is not an option starts the command, which runs up to the first `:::`, `::::`, `:::+` or `::::+`.
#include "options.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string_view>
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

/// GNU parallel 20221122's options that parmill does not have, each group with the reason given.
/// Names are as written on the command line ("|"-separated). A word the option parser left
/// unknown is looked up here, so that options parmill gains later are never rejected by it.
struct unsupported_option {
  std::string_view names;
  std::string_view reason;
};
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

options parse_options(const std::vector<std::string>& args, action& what, std::size_t cores,
                      std::size_t max_jobs) {
  CLI::App app{"parmill"};
  app.set_help_flag();
  app.prefix_command();
  app.allow_windows_style_options(false);
  app.add_flag("--will-cite,--willcite,--nn,--nonotice,--no-notice"); // GNU's citation notice: none here
  options o;
  bool help = false, version = false, null = false;
  std::string jobs = "100%", header, halt, timeout, block, delay;
  std::optional<std::string> delimiter, max_args, exact_args, retries;
  std::optional<std::string> replace_input, replace_extension, replace_basename, replace_dirname,
      replace_basename_extension, replace_seq, replace_slot, max_lines, max_lines_lower, max_chars, recstart,
      recend;
  std::vector<std::string> arg_files;
  app.add_flag("-h,--help", help);
  app.add_flag("--version", version);
  app.add_option("-j,-P,--jobs,--max-procs,--maxprocs", jobs);
  app.add_option("-a,--arg-file,--argfile", arg_files)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("-0,--null", null);
  app.add_option("-d,--delimiter", delimiter);
  app.add_option("-C,--colsep,--col-sep", o.colsep);
  app.add_option("--header", header);
  app.add_flag("-r,--no-run-if-empty,--norunifempty", o.no_run_if_empty);
  app.add_flag("--link,--xapply", o.link);
  app.add_flag("-q,--quote", o.quote);
  app.add_flag("-X", o.context_replace);
  app.add_flag("-m", o.multiple_args);
  app.add_option("-n,--max-args,--maxargs", max_args);
  app.add_option("-N,--max-replace-args,--maxreplaceargs", exact_args);
  app.add_option("--delay", delay);
  app.add_flag("--shuf", o.shuffle);
  app.add_flag("--pipe,--spreadstdin", o.pipe);
  app.add_option("--block,--block-size,--blocksize", block);
  app.add_flag("--group"); // the default; accepted as GNU parallel does
  // What parmill always does: GNU's defaults (--gnu, --silent), no profiles to ignore (--plain), and
  // -x, exit when -s is exceeded. Accepted so that GNU parallel's command lines run unchanged.
  app.add_flag("--gnu,--silent,--plain,-x,--exit");
  app.add_flag("--line-buffer,--line-buffered,--linebuffer,--linebuffered,--lb", o.line_buffer);
  app.add_flag("-u,--ungroup", o.ungroup);
  app.add_flag("-k,--keep-order,--keeporder", o.keep_order);
  app.add_flag("--tag", o.tag);
  app.add_option("--tagstring,--tag-string", o.tagstring);
  app.add_option("--results,--res,--result", o.results_dir);
  app.add_flag("--dry-run,--dryrun,--dr", o.dry_run);
  app.add_flag("-t,--verbose", o.verbose);
  app.add_flag("-v", o.print_command);
  app.add_option("--halt,--halt-on-error", halt);
  app.add_option("--retries", retries);
  app.add_option("--timeout", timeout);
  app.add_option("--joblog,--jl", o.joblog);
  app.add_flag("--resume", o.resume);
  app.add_flag("--resume-failed,--resumefailed", o.resume_failed);
  app.add_flag("--bar", o.bar);
  app.add_flag("--eta", o.eta);
  app.add_flag("--progress", o.progress);
  app.add_option("-I", replace_input);
  CLI::Option* replace = app.add_option("-i,--replace", replace_input)->expected(0, 1);
  app.add_option("--er,--extensionreplace", replace_extension);
  app.add_option("--bnr,--basenamereplace", replace_basename);
  app.add_option("--dnr,--dirnamereplace", replace_dirname);
  app.add_option("--bner,--basenameextensionreplace", replace_basename_extension);
  app.add_option("--seqreplace", replace_seq);
  app.add_option("--slotreplace", replace_slot);
  app.add_option("-L", max_lines);
  CLI::Option* lines = app.add_option("-l,--max-lines,--maxlines", max_lines_lower)->expected(0, 1);
  app.add_option("-s,--max-chars,--maxchars", max_chars);
  app.add_flag("--plus", o.plus);
  app.add_flag("--pipepart,--pipe-part", o.pipe_part);
  app.add_flag("--round-robin,--roundrobin,--round", o.round_robin);
  app.add_option("--recstart", recstart);
  app.add_option("--recend", recend);
  app.add_flag("--regexp,--regex", o.records.regexp);
  app.add_flag("--remove-rec-sep,--removerecsep,--rrs", o.records.remove);

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
  if (!block.empty() && block[0] == '-' && o.pipe_part)
    o.blocks_per_slot = parse_count("--block", block.substr(1), 1, max_count);
  else if (!block.empty() && o.pipe_part) // a part is never held whole: no 2 GiB limit (as GNU)
    o.block_bytes = parse_size(block);
  else if (!block.empty())
    o.block_bytes = parse_block(block);
  else if (o.pipe_part)
    o.blocks_per_slot = 10; // GNU parallel: ten blocks per job slot
  if (o.pipe_part && o.round_robin) o.blocks_per_slot = 1;
  rename(o.names.input, replace_input, "-I");
  rename(o.names.no_extension, replace_extension, "--extensionreplace");
  rename(o.names.basename, replace_basename, "--basenamereplace");
  rename(o.names.dirname, replace_dirname, "--dirnamereplace");
  rename(o.names.basename_no_extension, replace_basename_extension, "--basenameextensionreplace");
  rename(o.names.seq, replace_seq, "--seqreplace");
  rename(o.names.slot, replace_slot, "--slotreplace");
  if (replace->count() > 0 && !replace_input) replace_input = "{}";
  std::optional<std::string> first_word; // `-l echo`: the value is optional and numeric, as in GNU parallel
  const auto separate = [&](const std::string& value) { // `-l VALUE`, not `-lVALUE` or `--max-lines=VALUE`
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
      if ((args[i] == "-l" || args[i] == "--max-lines") && args[i + 1] == value) return true;
    return false;
  };
  if (max_lines_lower && !to_count(*max_lines_lower) && separate(*max_lines_lower)) {
    first_word = std::move(*max_lines_lower);
    max_lines_lower.reset();
  }
  if (lines->count() > 0) { // -l: 1 when alone, and -l 0 is -l 1
    max_lines = max_lines_lower.value_or("1");
    if (max_lines->empty() || *max_lines == "0") max_lines = "1";
  }
  if (max_lines) {
    o.max_lines = parse_max_lines(*max_lines);
    if (!o.pipe && !o.pipe_part && !o.exact_args) o.exact_args = *o.max_lines; // -L N is -N N, lines joined
    if (*o.max_lines == 0) o.max_lines = 1;
  }
  if (max_chars) o.max_chars = parse_max_chars(*max_chars);
  if (recstart) o.records.start = o.records.regexp ? *recstart : unescape_separator(*recstart);
  if (recend) o.records.end = o.records.regexp ? *recend : unescape_separator(*recend);
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
  std::vector<std::string> rest = app.remaining();
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
  -I STR              use STR instead of {} (found anywhere in the text; {} is then plain
                      text, and so are {1} {2} ...); -i STR / --replace=STR say the same
  --er, --bnr, --dnr, --bner, --seqreplace, --slotreplace STR
                      use STR instead of {.}, {/}, {//}, {/.}, {#}, {%}
  --plus              also {+/} {+.} {+..} {+...} {..} {...} {/..} {/...} (path parts), {##}
                      (the number of jobs: reads every input first), {0#} {0%} (zero-padded),
                      {slot}, and {:-s} {:n} {:n:m} {#re} {##re} {%re} {%%re} {/re/s}
                      {//re/s} {/#re/s} {/%re/s} {^re} {^^re} {,re} {,,re} as in bash
  -q, --quote         the command is not shell code: quote its words too
  -n, --max-args N    at most N inputs per job
  -N N                exactly N inputs per job ({1}..{N}; the last job may have fewer)
  -X                  as many inputs per job as fit, each with the word around {} repeated
  -m                  as many inputs per job as fit, joined by spaces where {} is
                      (-X, -m and -n keep each command near 63 KB, as GNU parallel does)
  -s, --max-chars N   every command shorter than N bytes: -X, -m and -n pack less; a command
                      that cannot be that short stops the run (exit 255)
  -L N, --max-lines N N input lines per job, as -N N; a line that ends in a space or tab goes
                      on in the next one; -l alone is -L 1

Jobs:
  -j, --jobs N        run N jobs at once; N% of the cores; +N or -N cores; 0 for as many as
                      possible (default: 100%, one per core)
  --delay SECS        wait at least SECS between job starts
  --pipe              cut standard input into blocks and give each to a job's standard input
  --block SIZE        block size for --pipe (default 1M; k=1000, K=1024, m, M, g, G, t, T)
  -N N                with --pipe: N records per job instead of --block bytes
  -L N                with --pipe: a record is N lines
  --recend STR, --recstart STR  records end with STR / start with STR (default: --recend '\n');
                      \n \t \r \0 are understood; both: split where the end meets the start
  --regexp            --recend and --recstart are Perl regular expressions
  --rrs, --remove-rec-sep  take the separators out of each block
  --round-robin       with --pipe: start only -j jobs and give each block to whichever needs
                      input (for commands slow to start); the output is not in block order
  --pipepart -a FILE  like --pipe, on a regular file cut at record ends after every --block
                      bytes by seeking; --block -N: N blocks per job slot (default -10;
                      with --round-robin, -1)
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
