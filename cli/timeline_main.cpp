// cli/timeline_main.cpp: parmill-timeline, the page of a run from its job log or trace.
//
//   parmill-timeline [--title TEXT] INPUT... -o PAGE.html
//
// INPUT is a GNU-format job log (parmill --joblog, or GNU parallel's own), or a trace file written by
// the library's `.trace` option (Chrome Trace Event JSON), told apart by their content; "-" is
// standard input. Several job logs make one page (lanes per host, times on one axis); a trace is
// drawn alone.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "parmill/timeline.hpp"
#include "parmill/version.hpp"
#include "timeline_job_log.hpp"
#include "timeline_page.hpp"

namespace {

constexpr const char* help = R"(Usage:
  parmill-timeline [--title TEXT] INPUT... -o PAGE.html

Draws the timeline of a run as one self-contained HTML page (no network needed to open it): a
lane per job slot, a bar per job coloured by how it ended (ok, failed, crashed, timed out,
retried), a tooltip per bar, zoom and pan, and a summary (jobs, failures, utilisation per lane,
the longest jobs, a histogram of durations).

INPUT is one of (told apart by content; "-" is standard input):
  a job log     GNU parallel's --joblog format, written by parmill --joblog or by GNU parallel
                itself. It has no job slot column, so jobs are put on lanes by start time, with
                as many lanes as jobs ran at once (on each Host). Several job logs make one page.
                Exitval -1 with a Signal (a job killed by --timeout) is drawn as timed out, a
                failed job that a later line runs again as retried. Malformed lines are skipped
                with a warning that names the line.
  a trace       a .json file written by the parmill library's .trace option (Chrome Trace Event
                format): drawn alone.

Options:
  -o, --output PAGE.html  the page to write (replaced atomically: a reader never sees half of it)
  --title TEXT            the page's title (default: the input's name)
  -h, --help              this text
  --version               the version

At most 100000 bars are drawn (the page stays under 10 MB): beyond, the oldest successful jobs
are left out, and the summary says how many.
Exit status: 0 when the page was written; 255 for a bad invocation, an input that is neither a
job log nor a trace, or a page that cannot be written.
The command `parmill --timeline PAGE.html ...` writes the same page while it runs.
)";

/// A bad invocation or input: printed with the program's name, exit status 255.
struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct invocation {
  std::vector<std::string> inputs;
  std::string output;
  std::optional<std::string> title;
  bool help = false, version = false;
};

/// The value of option `name` at `args[i]` ("-o X", "-oX", "--output=X", "--output X").
std::string value_of(const std::vector<std::string>& args, std::size_t& i, const std::string& name,
                     std::size_t attached) {
  if (args[i].size() > attached) return args[i].substr(attached);
  if (++i >= args.size()) throw failure(name + " needs a value");
  return args[i];
}

invocation parse(const std::vector<std::string>& args) {
  invocation how;
  bool options_end = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_end || a == "-" || a.empty() || a[0] != '-') {
      how.inputs.push_back(a);
    } else if (a == "--") {
      options_end = true;
    } else if (a == "-h" || a == "--help") {
      how.help = true;
    } else if (a == "--version") {
      how.version = true;
    } else if (a.starts_with("-o")) {
      how.output = value_of(args, i, "-o", 2);
    } else if (a == "--output" || a.starts_with("--output=")) {
      how.output = value_of(args, i, "--output", a == "--output" ? a.size() : 9);
    } else if (a == "--title" || a.starts_with("--title=")) {
      how.title = value_of(args, i, "--title", a == "--title" ? a.size() : 8);
    } else {
      throw failure("unknown option '" + a + "'");
    }
  }
  if (how.help || how.version) return how;
  if (how.inputs.empty()) throw failure("no input: give a job log or a trace file (or - for standard input)");
  if (how.output.empty()) throw failure("no page to write: give -o PAGE.html");
  return how;
}

/// An input, open: a file or standard input.
struct opened_input {
  std::ifstream file;
  std::istream* in = nullptr;
  explicit opened_input(const std::string& name) {
    if (name == "-") {
      in = &std::cin;
      return;
    }
    file.open(name, std::ios::binary);
    if (!file) throw failure("cannot read '" + name + "': " + std::strerror(errno));
    in = &file;
  }
};

/// True when `in` holds a trace: its first byte after white space is '{'.
bool is_trace(std::istream& in) {
  for (int c = in.peek(); c != std::char_traits<char>::eof(); c = in.peek()) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return c == '{';
    in.get();
  }
  return false;
}

/// The run `how.inputs` describe, with any warnings printed.
parmill::timeline read_inputs(const invocation& how) {
  parmill::cli::job_log_timeline logs;
  std::optional<parmill::timeline> trace;
  for (const std::string& name : how.inputs) {
    opened_input input(name);
    const std::string shown = name == "-" ? "standard input" : name;
    try {
      if (!is_trace(*input.in)) {
        logs.add(*input.in, shown);
        continue;
      }
      if (trace || how.inputs.size() > 1)
        throw failure("'" + shown + "' is a trace: give one trace alone, or one or more job logs");
      trace = parmill::read_chrome_trace(*input.in);
    } catch (const std::ios_base::failure&) {
      throw failure("cannot read '" + shown + "': " + std::strerror(errno));
    } catch (const failure&) {
      throw;
    } catch (const parmill::cli::timeline_input_error& e) { // names the input already
      throw failure(e.what());
    } catch (const std::runtime_error& e) {
      throw failure("'" + shown + "': " + e.what());
    }
    if (input.in->bad()) throw failure("cannot read '" + shown + "': " + std::strerror(errno));
  }
  for (const std::string& warning : logs.warnings())
    std::fprintf(stderr, "parmill-timeline: Warning: %s\n", warning.c_str());
  std::string title = how.title.value_or("");
  if (trace) {
    if (how.title) trace->title = title;
    if (trace->title.empty()) trace->title = how.inputs.front();
    return std::move(*trace);
  }
  if (!how.title) {
    title = "job log";
    for (const std::string& name : how.inputs)
      title += " " + (name == "-" ? std::string("(standard input)") : name);
  }
  return logs.take(title);
}

} // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    const invocation how = parse(args);
    if (how.help) {
      std::cout << help;
      return 0;
    }
    if (how.version) {
      std::cout << "parmill-timeline " PARMILL_VERSION_STRING "\n";
      return 0;
    }
    const parmill::timeline run = read_inputs(how);
    parmill::cli::write_page_atomically(how.output, run);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parmill-timeline: Error: %s\nparmill-timeline: Try 'parmill-timeline --help'.\n",
                 e.what());
    return 255;
  }
}
