// The table of the command's options (cli/option_table.hpp) against what it generates: every option
// in the table is in --help, every option --help names is one the parser takes, every spelling is
// registered once, and each option's field fits what it takes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "option_table.hpp"

using namespace parmill::cli;

namespace {

/// The words of --help that name an option: "-x" or "--name", without what is around them
/// ("(-X,", "--replace=STR", "-N:").
std::set<std::string> options_named_in(const std::string& help) {
  std::set<std::string> named;
  std::istringstream words(help);
  for (std::string word; words >> word;) {
    const auto start = word.find_first_not_of("(\"'");
    if (start == std::string::npos || word[start] != '-') continue;
    std::size_t end = start;
    while (end < word.size() && word[end] == '-')
      ++end;
    if (end - start > 2 || end == word.size() || std::isalpha(static_cast<unsigned char>(word[end])) == 0)
      continue; // "-", "---", "-10", "-N%": not an option's name
    while (end < word.size() &&
           (std::isalnum(static_cast<unsigned char>(word[end])) != 0 || word[end] == '-'))
      ++end;
    named.insert(word.substr(start, end - start));
  }
  return named;
}

/// True when `word` is a whole word of `text` (not a part of a longer option's name).
bool has_word(const std::string& text, const std::string& word) {
  const auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
  };
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool starts = at == 0 || !is_name_char(text[at - 1]);
    const bool ends = at + word.size() == text.size() || !is_name_char(text[at + word.size()]);
    if (starts && ends) return true;
  }
  return false;
}

/// The usage error `args` gives, or "" when they parse.
std::string usage_error_of(const std::vector<std::string>& args) {
  try {
    (void)parse_invocation(args, 4, 100);
  } catch (const usage_error& e) {
    return e.what();
  }
  return "";
}

/// True when the parser knows `name` (whatever it then says of the value that follows).
bool parser_takes(const std::string& name) {
  const std::string error = usage_error_of({name, "echo"});
  return error.find("unknown option") == std::string::npos &&
         error.find("not supported by parmill") == std::string::npos &&
         error.find("not expected") == std::string::npos;
}

} // namespace

TEST(OptionTable, EveryOptionAndSyntaxWordInTheTableIsInHelp) {
  const std::string help = help_text();
  for (const option_entry& entry : option_table()) {
    if (entry.kind == entry_kind::note) continue;
    const std::string first = spellings(entry).at(0);
    EXPECT_TRUE(has_word(help, first)) << first << " is in the table but not in --help";
  }
}

TEST(OptionTable, EveryOptionHelpNamesIsOneTheParserTakes) {
  std::set<std::string> in_table;
  for (const option_entry& entry : option_table())
    if (entry.kind == entry_kind::option)
      for (const std::string& name : spellings(entry))
        in_table.insert(name);
  const std::set<std::string> named = options_named_in(help_text());
  EXPECT_GT(named.size(), 40U); // the words were found at all
  for (const std::string& name : named) {
    EXPECT_TRUE(in_table.contains(name)) << "--help names " << name << ", which is not in the table";
    EXPECT_TRUE(parser_takes(name)) << "--help names " << name << ": " << usage_error_of({name, "echo"});
  }
}

TEST(OptionTable, EverySpellingIsTakenByTheParserAndRegisteredOnce) {
  std::map<std::string, int> seen;
  for (const option_entry& entry : option_table()) {
    if (entry.kind != entry_kind::option) continue;
    for (const std::string& name : spellings(entry)) {
      EXPECT_EQ(++seen[name], 1) << name << " is in the table twice";
      EXPECT_TRUE(parser_takes(name)) << name << ": " << usage_error_of({name, "echo"});
    }
  }
  EXPECT_TRUE(seen.contains("--maxprocs")); // GNU's other spellings are there too
  EXPECT_FALSE(parser_takes("--no-such-option"));
}

TEST(OptionTable, EachOptionsFieldFitsWhatItTakes) {
  for (const option_entry& entry : option_table()) {
    const std::string name(entry.names);
    if (entry.kind != entry_kind::option) {
      EXPECT_TRUE(std::holds_alternative<std::monostate>(entry.field)) << name;
      continue;
    }
    const bool flag = std::holds_alternative<std::monostate>(entry.field) ||
                      std::holds_alternative<bool options::*>(entry.field) ||
                      std::holds_alternative<bool raw_option_values::*>(entry.field);
    const bool list = std::holds_alternative<std::vector<std::string> raw_option_values::*>(entry.field);
    EXPECT_EQ(flag, entry.takes == value_kind::none) << name;
    EXPECT_EQ(list, entry.takes == value_kind::repeated) << name;
    EXPECT_FALSE(entry.names.empty());
  }
}

TEST(OptionTable, HelpRowsKeepTheirColumns) {
  const std::string help = help_text();
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_LE(line.size(), 100U) << line;
    EXPECT_EQ(line.find('\t'), std::string::npos) << line;
  }
  EXPECT_NE(help.find("\n  -j, --jobs N        run N jobs at once"), std::string::npos) << help;
  EXPECT_NE(help.find("\n  --er, --bnr, --dnr, --bner, --seqreplace, --slotreplace STR\n"
                      "                      use STR instead of"),
            std::string::npos)
      << help;
  EXPECT_EQ(help.rfind("Usage:\n", 0), 0U);
}
