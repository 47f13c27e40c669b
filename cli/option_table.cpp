// cli/option_table.cpp: the table of the command's options, and --help rendered from it.
#include "option_table.hpp"

#include <array>

namespace parmill::cli {
namespace {

using raw = raw_option_values;
using enum value_kind;
using enum help_section;

/// A row of the table, every field given.
constexpr option_entry row(entry_kind kind, std::string_view names, value_kind takes, help_section section,
                           std::string_view usage, std::string_view help, option_field field) {
  return {.kind = kind,
          .names = names,
          .takes = takes,
          .section = section,
          .usage = usage,
          .help = help,
          .field = field};
}

/// An option that sets `field` when given.
constexpr option_entry option(std::string_view names, value_kind takes, help_section section,
                              std::string_view usage, std::string_view help, option_field field) {
  return row(entry_kind::option, names, takes, section, usage, help, field);
}

/// An option listed in the --help row of the option before it.
constexpr option_entry alias_of_previous_row(std::string_view names, value_kind takes, help_section section,
                                             option_field field) {
  return option(names, takes, section, "", "", field);
}

/// A word of the command's syntax (`:::`), split from the command by the parser.
constexpr option_entry syntax_word(std::string_view names, help_section section, std::string_view usage,
                                   std::string_view help) {
  return row(entry_kind::syntax, names, none, section, usage, help, std::monostate{});
}

/// A row of --help that is not an option of its own.
constexpr option_entry help_note(help_section section, std::string_view usage, std::string_view help) {
  return row(entry_kind::note, "", none, section, usage, help, std::monostate{});
}

// clang-format off
constexpr std::array table{
    // --- Inputs ---------------------------------------------------------------------------------
    syntax_word(":::", inputs, "::: values",
                "the values that follow; several ::: give every combination, first slowest"),
    syntax_word("::::", inputs, ":::: files", R"(lines of the files ("-" is standard input))"),
    syntax_word(":::+,::::+", inputs, ":::+ / ::::+",
                "link to the previous source: advance together, stop at the shortest"),
    option("-a,--arg-file,--argfile", repeated, inputs, "-a, --arg-file F", "like :::: F", &raw::arg_files),
    option("--link,--xapply", none, inputs, "--link", "link all sources; shorter ones wrap around",
           &options::link),
    option("-0,--null", none, inputs, "-0, --null", "inputs end with a NUL byte instead of a newline", &raw::null),
    option("-d,--delimiter", required, inputs, "-d, --delimiter D",
           R"(inputs end with D, one or more bytes (\n, \t, \r, \0, \NNN octal are
understood); ::: values are split at it too)",
           &raw::delimiter),
    option("-C,--colsep,--col-sep", required, inputs, "-C, --colsep RE",
           R"(split each input into columns {1} {2} ... at the Perl regular expression
RE (\t, \s+, \d ...; matched on bytes); whitespace around each column
is trimmed)",
           &options::colsep),
    option("--header", required, inputs, "--header :", "the first line names the columns: {name}", &raw::header),
    option("-r,--no-run-if-empty,--norunifempty", none, inputs, "-r, --no-run-if-empty", "skip empty inputs",
           &options::no_run_if_empty),
    option("--shuf", none, inputs, "--shuf", "run the jobs in random order (reads all inputs first)",
           &options::shuffle),

    // --- Replacement strings --------------------------------------------------------------------
    help_note(replacement_strings, "",
              R"({}  the input         {.}  without extension     {/}  basename        {//}  dirname
{/.} basename without extension   {#}  the job's number   {%}  the job slot (1..jobs)
{n} {n.} {n/} {n//} {n/.}  the n-th column or source; negative n counts from the end
{} is appended when the command has no replacement string.
Jobs see $PARALLEL_SEQ ({#}) and $PARALLEL_JOBSLOT ({%}) in their environment.)"),
    option("-I", required, replacement_strings, "-I STR",
           R"(use STR instead of {} (found anywhere in the text; {} is then plain
text, and so are {1} {2} ...); -i STR / --replace=STR say the same)",
           &raw::replace_input),
    alias_of_previous_row("-i,--replace", optional, replacement_strings, &raw::replace_input),
    option("--er,--extensionreplace", required, replacement_strings,
           "--er, --bnr, --dnr, --bner, --seqreplace, --slotreplace STR",
           "\nuse STR instead of {.}, {/}, {//}, {/.}, {#}, {%}", &raw::replace_extension),
    alias_of_previous_row("--bnr,--basenamereplace", required, replacement_strings, &raw::replace_basename),
    alias_of_previous_row("--dnr,--dirnamereplace", required, replacement_strings, &raw::replace_dirname),
    alias_of_previous_row("--bner,--basenameextensionreplace", required, replacement_strings,
                          &raw::replace_basename_extension),
    alias_of_previous_row("--seqreplace", required, replacement_strings, &raw::replace_seq),
    alias_of_previous_row("--slotreplace", required, replacement_strings, &raw::replace_slot),
    option("--plus", none, replacement_strings, "--plus",
           R"(also {+/} {+.} {+..} {+...} {..} {...} {/..} {/...} (path parts), {##}
(the number of jobs: reads every input first), {0#} {0%} (zero-padded),
{slot}, and {:-s} {:n} {:n:m} {#re} {##re} {%re} {%%re} {/re/s}
{//re/s} {/#re/s} {/%re/s} {^re} {^^re} {,re} {,,re} as in bash)",
           &options::plus),
    option("-q,--quote", none, replacement_strings, "-q, --quote", "the command is not shell code: quote its words too",
           &options::quote),
    option("-n,--max-args,--maxargs", required, replacement_strings, "-n, --max-args N", "at most N inputs per job",
           &raw::max_args),
    option("-N,--max-replace-args,--maxreplaceargs", required, replacement_strings, "-N N",
           "exactly N inputs per job ({1}..{N}; the last job may have fewer)", &raw::exact_args),
    option("-X", none, replacement_strings, "-X",
           "as many inputs per job as fit, each with the word around {} repeated", &options::context_replace),
    option("-m", none, replacement_strings, "-m",
           R"(as many inputs per job as fit, joined by spaces where {} is
(-X, -m and -n keep each command near 63 KB, as GNU parallel does))",
           &options::multiple_args),
    option("-s,--max-chars,--maxchars", required, replacement_strings, "-s, --max-chars N",
           R"(every command shorter than N bytes: -X, -m and -n pack less; a command
that cannot be that short stops the run (exit 255))",
           &raw::max_chars),
    option("-L", required, replacement_strings, "-L N, --max-lines N",
           R"(N input lines per job, as -N N; a line that ends in a space or tab goes
on in the next one; -l alone is -L 1)",
           &raw::max_lines),
    alias_of_previous_row("-l,--max-lines,--maxlines", optional, replacement_strings, &raw::max_lines_lower),

    // --- Jobs -----------------------------------------------------------------------------------
    option("-j,-P,--jobs,--max-procs,--maxprocs", required, jobs, "-j, --jobs N",
           R"(run N jobs at once; N% of the cores; +N or -N cores; 0 for as many as
possible (default: 100%, one per core))",
           &raw::jobs),
    option("--delay", required, jobs, "--delay SECS", "wait at least SECS between job starts", &raw::delay),
    option("--pipe,--spreadstdin", none, jobs, "--pipe",
           "cut standard input into blocks and give each to a job's standard input", &options::pipe),
    option("--block,--block-size,--blocksize", required, jobs, "--block SIZE",
           "block size for --pipe (default 1M; k=1000, K=1024, m, M, g, G, t, T)", &raw::block),
    help_note(jobs, "-N N", "with --pipe: N records per job instead of --block bytes"),
    help_note(jobs, "-L N", "with --pipe: a record is N lines"),
    option("--recend", required, jobs, "--recend STR, --recstart STR",
           R"(records end with STR / start with STR (default: --recend '\n');
\n \t \r \0 are understood; both: split where the end meets the start)",
           &raw::recend),
    alias_of_previous_row("--recstart", required, jobs, &raw::recstart),
    option("--regexp,--regex", none, jobs, "--regexp", "--recend and --recstart are Perl regular expressions",
           &raw::regexp),
    option("--remove-rec-sep,--removerecsep,--rrs", none, jobs, "--rrs, --remove-rec-sep",
           "take the separators out of each block", &raw::remove_separators),
    option("--round-robin,--roundrobin,--round", none, jobs, "--round-robin",
           R"(with --pipe: start only -j jobs and give each block to whichever needs
input (for commands slow to start); the output is not in block order)",
           &options::round_robin),
    option("--pipepart,--pipe-part", none, jobs, "--pipepart -a FILE",
           R"(like --pipe, on a regular file cut at record ends after every --block
bytes by seeking; --block -N: N blocks per job slot (default -10;
with --round-robin, -1))",
           &options::pipe_part),
    help_note(jobs, "", "A job's standard input is empty (/dev/null) unless --pipe is given."),

    // --- Output ---------------------------------------------------------------------------------
    help_note(output, "(default)", "each job's standard output and error, whole, as the job finishes"),
    option("--group", none, output, "--group", "the default, as above", std::monostate{}),
    option("-k,--keep-order,--keeporder", none, output, "-k, --keep-order", "print outputs in input order",
           &options::keep_order),
    option("--line-buffer,--line-buffered,--linebuffer,--linebuffered,--lb", none, output, "--line-buffer, --lb",
           "print whole lines as they come, jobs mixed line by line", &options::line_buffer),
    option("-u,--ungroup", none, output, "-u, --ungroup", "jobs write straight to the terminal (fastest; may mix within lines)",
           &options::ungroup),
    option("--tag", none, output, "--tag", "prefix each output line with the job's inputs and a tab", &options::tag),
    option("--tagstring,--tag-string", required, output, "--tagstring STR",
           "prefix each output line with STR (replacement strings work) and a tab", &options::tagstring),
    option("--results,--res,--result", required, output, "--results DIR",
           R"(save each job's output in DIR/1/<value>/.../{stdout,stderr,seq}
(also --result))",
           &options::results_dir),
    option("--dry-run,--dryrun,--dr", none, output, "--dry-run", "print the commands instead of running them",
           &options::dry_run),
    option("-v", none, output, "-v", "print each command on standard output, before its job's output",
           &options::print_command),
    option("-t,--verbose", none, output, "-t, --verbose", "print each command on standard error as it starts",
           &options::verbose),

    // --- Failures -------------------------------------------------------------------------------
    option("--halt,--halt-on-error", required, failures, "--halt WHEN,WHY=N",
           R"(stop when N (or N%) jobs fail|success|done: 'now' kills the running jobs,
'soon' lets them finish; 'never' (default))",
           &raw::halt),
    option("--retries", required, failures, "--retries N", "run a failing job up to N times in all", &raw::retries),
    option("--timeout", required, failures, "--timeout T",
           R"(kill a job that runs longer than T seconds (suffix s, m, h, d), or T% of
the median runtime of the successful jobs so far)",
           &raw::timeout),
    option("--joblog,--jl", required, failures, "--joblog FILE",
           "record every job in FILE, in GNU parallel's format (--jl; +FILE appends)", &options::joblog),
    option("--resume", none, failures, "--resume", "with --joblog: skip the jobs the log records", &options::resume),
    option("--resume-failed,--resumefailed", none, failures, "--resume-failed",
           "with --joblog: also run again the jobs the log records as failed", &options::resume_failed),

    // --- Progress -------------------------------------------------------------------------------
    option("--bar", none, progress, "--bar, --eta, --progress",
           "a progress bar with the count, rate and ETA on standard error", &options::bar),
    alias_of_previous_row("--eta", none, progress, &options::eta),
    alias_of_previous_row("--progress", none, progress, &options::progress),
    option("--timeline", required, progress, "--timeline FILE.html",
           R"(write a picture of the run: a lane per job slot, a bar per job coloured
by how it ended, and a summary; rewritten every few seconds while jobs
run. The program parmill-timeline draws the same page from any job log
(parmill's or GNU parallel's --joblog): see parmill-timeline --help)",
           &options::timeline),

    // --- Other ----------------------------------------------------------------------------------
    option("-h,--help", none, other, "-h, --help", "this text", &raw::help),
    option("--version", none, other, "--version", "the version", &raw::version),
    // What parmill always does: GNU's defaults (--gnu, --silent), no profiles to ignore (--plain),
    // -x (exit when -s is exceeded), no citation notice. Accepted so that GNU parallel's command
    // lines run unchanged.
    option("--gnu,--silent,--plain,-x,--exit", none, other, "--gnu, --silent, --plain, -x, --will-cite",
           "\naccepted as GNU parallel takes them: parmill always does what they ask", std::monostate{}),
    alias_of_previous_row("--will-cite,--willcite,--nn,--nonotice,--no-notice", none, other, std::monostate{}),
};
// clang-format on

/// The command lines of --help's usage summary, one per line.
constexpr std::string_view usage_lines = R"(parmill [options] [command [arguments]] < inputs
parmill [options] [command [arguments]] (::: values | :::: files)...
cat data | parmill --pipe [options] [command [arguments]]
)";

constexpr std::string_view description =
    R"(Runs the command once per input, in parallel. The command is shell code; every input value is
quoted, so any file name reaches the job as one argument. A command that needs no shell is run
without one. With no command, each input is a command.
)";

constexpr std::string_view help_footer =
    R"(Exit status: 0 if every job succeeded; 1-100 the number of failed jobs; 101 more than 100;
with --halt, as GNU parallel does; 255 for a bad invocation or when interrupted (SIGINT/SIGTERM).
SIGINT and SIGTERM kill the running jobs (TERM, then KILL); SIGHUP starts no new jobs and waits.
Commands that need a shell run in $PARALLEL_SHELL, or /bin/bash, or /bin/sh.
)";

/// --help's sections, in order, with their titles.
constexpr help_section_title help_sections[] = {
    {inputs, "Inputs"},     {replacement_strings, "Replacement strings"},
    {jobs, "Jobs"},         {output, "Output"},
    {failures, "Failures"}, {progress, "Progress"},
    {other, "Other"},
};

/// Where --help's right column starts, and how far its rows are indented.
constexpr std::size_t help_column = 22;
constexpr std::size_t row_indent = 2;

/// The pieces of `text` between `separator`s (none for an empty text).
std::vector<std::string_view> split_at(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  for (std::string_view rest = text; !rest.empty();) {
    const auto at = rest.find(separator);
    pieces.push_back(rest.substr(0, at));
    rest = at == std::string_view::npos ? std::string_view() : rest.substr(at + 1);
  }
  return pieces;
}

/// One row of --help: `usage` in the left column, padded to the right column (or followed by two
/// spaces when it is wider), then `help`, each further line of it indented to the right column.
/// Without `usage`, each line of `help` is a paragraph line.
std::string help_row(const option_entry& entry) {
  const std::vector<std::string_view> lines = split_at(entry.help, '\n');
  std::string out;
  const auto add_line = [&out](std::size_t indent, std::string_view text) {
    out.append(indent, ' ').append(text).append("\n");
  };
  if (entry.usage.empty()) {
    for (const std::string_view line : lines)
      add_line(row_indent, line);
    return out;
  }
  const std::size_t width = help_column - row_indent;
  const std::string_view first = lines.empty() ? std::string_view() : lines.front();
  out.append(row_indent, ' ').append(entry.usage);
  if (!first.empty()) out.append(entry.usage.size() < width ? width - entry.usage.size() : 2, ' ');
  add_line(0, first);
  for (std::size_t i = 1; i < lines.size(); ++i)
    add_line(help_column, lines[i]);
  return out;
}

} // namespace

std::span<const option_entry> option_table() { return table; }

std::vector<std::string> spellings(const option_entry& entry) {
  std::vector<std::string> out;
  for (const std::string_view name : split_at(entry.names, ','))
    out.emplace_back(name);
  return out;
}

std::span<const help_section_title> help_section_titles() { return help_sections; }

std::string_view help_usage_lines() { return usage_lines; }

std::string_view help_description() { return description; }

std::string_view help_footer_text() { return help_footer; }

std::string help_text() {
  std::string text("Usage:\n");
  for (const std::string_view line : split_at(usage_lines, '\n'))
    text.append(row_indent, ' ').append(line).append("\n");
  text.append("\n").append(description);
  for (const auto& [section, title] : help_sections) {
    text.append("\n").append(title).append(":\n");
    for (const option_entry& entry : table)
      if (entry.section == section && (!entry.usage.empty() || !entry.help.empty())) text += help_row(entry);
  }
  return text.append("\n").append(help_footer);
}

} // namespace parmill::cli
