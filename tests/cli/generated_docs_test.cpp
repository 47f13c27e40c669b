// What the command says about itself: `parmill --version`, and the man page and the shell
// completions generated from the option table (cli/generated_docs.hpp), which must cover every
// option --help shows, be well-formed, and complete as a user types.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "generated_docs.hpp"
#include "option_table.hpp"
#include "parmill/version.hpp"
#include "run_helpers.hpp"

using namespace parmill::cli;
using parmill_test::run_program;

namespace {

/// A bound on any one program the tests run.
auto deadline() { return std::chrono::steady_clock::now() + std::chrono::seconds(20); }

/// `text` as the man page writes it: every '-' as roff's "\-".
std::string as_roff_text(const std::string& text) {
  std::string out;
  for (const char c : text)
    out += c == '-' ? std::string("\\-") : std::string(1, c);
  return out;
}

/// The requests and macros the page may use; any other line that starts with '.' or '\'' would be
/// text from the table that roff took for a request.
const std::set<std::string> known_requests = {".TH", ".SH", ".SS", ".TP", ".PP", ".IP", ".RS",  ".RE",
                                              ".nf", ".fi", ".nh", ".ad", ".B",  ".BR", ".\\\""};

/// What bash's completion of `words` (the last one is being completed) offers, through the
/// generated script: COMPREPLY, one word a line.
std::string bash_completes(const std::string& script_path, const std::vector<std::string>& words) {
  std::string array;
  for (const std::string& word : words)
    array += " '" + word + "'";
  const std::string program =
      "source '" + script_path + "' && COMP_WORDS=(" + array +
      ") && COMP_CWORD=" + std::to_string(words.size() - 1) +
      " && _parmill; for word in \"${COMPREPLY[@]}\"; do printf '%s\\n' \"$word\"; done";
  const auto r = run_program({"/bin/bash", "--norc", "-c", program}, "", {}, deadline());
  EXPECT_EQ(r.status, 0) << r.err;
  return r.out;
}

} // namespace

TEST(Version, PrintsTheProjectVersionAndExitsZero) {
  const auto r = run_program({PARMILL_BINARY, "--version"}, "", {}, deadline());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, std::string("parmill ") + PARMILL_VERSION_STRING + "\n");
  EXPECT_TRUE(std::regex_match(r.out, std::regex("parmill [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(Version, TheHeaderAgreesWithItself) {
  const std::string numbers = std::to_string(PARMILL_VERSION_MAJOR) + "." +
                              std::to_string(PARMILL_VERSION_MINOR) + "." +
                              std::to_string(PARMILL_VERSION_PATCH);
  EXPECT_EQ(numbers, PARMILL_VERSION_STRING);
  EXPECT_EQ(PARMILL_VERSION,
            PARMILL_VERSION_MAJOR * 10000 + PARMILL_VERSION_MINOR * 100 + PARMILL_VERSION_PATCH);
}

TEST(Version, HelpListsVersion) {
  const auto r = run_program({PARMILL_BINARY, "--help"}, "", {}, deadline());
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("\n  --version "), std::string::npos) << r.out;
}

TEST(ManPage, HasTheSectionsAndTheVersion) {
  const std::string page = man_page("9.8.7", ".SH EXAMPLES\nparmill echo ::: a\n");
  EXPECT_EQ(page.rfind(".\\\"", 0), 0U); // a comment saying it is generated comes first
  EXPECT_NE(page.find(".TH PARMILL 1 \"\" \"parmill 9.8.7\" \"User Commands\"\n"), std::string::npos);
  std::size_t at = 0;
  for (const std::string heading : {".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n", ".SH OPTIONS\n",
                                    ".SS Inputs\n", ".SS Other\n", ".SH EXIT STATUS\n", ".SH EXAMPLES\n"}) {
    const auto found = page.find(heading, at);
    ASSERT_NE(found, std::string::npos) << heading << " missing or out of order";
    at = found;
  }
}

TEST(ManPage, ListsEverySpellingHelpShows) {
  const std::string page = man_page("0", "");
  for (const std::string& spelling : completed_spellings())
    EXPECT_NE(page.find(as_roff_text(spelling)), std::string::npos) << spelling << " is not in the man page";
  for (const std::string syntax : {":::", "::::", ":::+"})
    EXPECT_NE(page.find(syntax), std::string::npos) << syntax;
}

TEST(ManPage, TableTextNeverBecomesARequestOrAnEscape) {
  const std::string page = man_page("0", "");
  for (const std::string& line : parmill_test::lines(page)) {
    if (line.empty() || (line[0] != '.' && line[0] != '\'')) continue;
    const std::string request = line.substr(0, line.find(' '));
    EXPECT_TRUE(known_requests.contains(request)) << "a text line taken for a request: " << line;
  }
  // The help texts' backslashes (\n, \t, \0 ...) are printed, not interpreted: "\e" each.
  EXPECT_NE(page.find("(\\en, \\et, \\er, \\e0, \\eNNN octal"), std::string::npos);
}

TEST(ManPage, TheMarkerBecomesTheOptionsParmillRefuses) {
  const std::string page =
      man_page("0", ".SH DIFFERENCES FROM GNU PARALLEL\nbefore\n@UNSUPPORTED_OPTIONS@\nafter\n");
  EXPECT_EQ(page.find("@UNSUPPORTED_OPTIONS@"), std::string::npos);
  const auto tmux = page.find("\\fB\\-\\-tmux, \\-\\-tmuxpane, \\-\\-tmux\\-pane\\fR\n");
  ASSERT_NE(tmux, std::string::npos) << page;
  EXPECT_LT(page.find("\nbefore\n"), tmux);
  EXPECT_GT(page.find("\nafter\n"), tmux);
  for (const unsupported_option& option : unsupported_gnu_options())
    EXPECT_NE(page.find(as_roff_text(std::string(option.reason))), std::string::npos) << option.reason;
}

TEST(Completion, OffersTheSpellingsHelpShowsOnce) {
  const std::vector<std::string> offered = completed_spellings();
  const std::set<std::string> unique(offered.begin(), offered.end());
  EXPECT_EQ(unique.size(), offered.size());
  for (const std::string shown : {"-j", "--jobs", "--joblog", "--version", "--help", "-k", "--keep-order",
                                  "--er", "--bnr", "--will-cite", "--pipepart", "-0"})
    EXPECT_TRUE(unique.contains(shown)) << shown;
  // GNU parallel's other spellings are accepted but not offered, as --help does not list them.
  for (const std::string hidden : {"--maxprocs", "--keeporder", "--willcite", ":::"})
    EXPECT_FALSE(unique.contains(hidden)) << hidden;
}

TEST(Completion, BashCompletesOptionsCommandsAndValues) {
  parmill_test::scratch dir;
  const std::string script = dir / "parmill.bash";
  std::ofstream(script) << bash_completion();
  EXPECT_EQ(bash_completes(script, {"parmill", "--jo"}), "--jobs\n--joblog\n");
  EXPECT_EQ(bash_completes(script, {"parmill", "--vers"}), "--version\n");
  EXPECT_EQ(bash_completes(script, {"parmill", "-j"}), "-j\n");
  // After an option that takes a value, nothing is offered for the value (a number).
  EXPECT_EQ(bash_completes(script, {"parmill", "--jobs", ""}), "");
  // The first word that is not an option nor a value is a command: bash is on PATH.
  EXPECT_NE(bash_completes(script, {"parmill", "-j", "4", "--tag", "bas"}).find("bash\n"), std::string::npos);
  // A path after --joblog and after ::::, and nothing of ours once the command is written.
  EXPECT_EQ(bash_completes(script, {"parmill", "--joblog", dir / "parmill.b"}), script + "\n");
  EXPECT_EQ(bash_completes(script, {"parmill", "echo", "::::", dir / "parmill.b"}), script + "\n");
  EXPECT_EQ(bash_completes(script, {"parmill", "echo", "--jo"}), "");
}

TEST(Completion, ZshScriptIsWellFormed) {
  const std::string zsh = "/usr/bin/zsh";
  if (!std::ifstream(zsh)) GTEST_SKIP() << "zsh is not installed";
  parmill_test::scratch dir;
  const std::string script = dir / "_parmill";
  std::ofstream(script) << zsh_completion();
  const auto r = run_program({zsh, "-n", script}, "", {}, deadline());
  EXPECT_EQ(r.status, 0) << r.err;
  const std::string text = zsh_completion();
  EXPECT_EQ(text.rfind("#compdef parmill\n", 0), 0U);
  for (const std::string spec : {"'*--jobs=[", "'*-j+[", "'*--joblog=[", "'*--version["})
    EXPECT_NE(text.find(spec), std::string::npos) << spec;
}
