// Replacement strings and quoting, checked against what GNU parallel 20221122 prints.
#include <gtest/gtest.h>

#include "command_template.hpp"
#include "options.hpp"

using parmill::cli::command_template;
using parmill::cli::job_values;
using parmill::cli::shell_quote;

namespace {

std::string shell(const std::vector<std::string>& words, job_values job, bool multiple = false,
                  bool quote = false) {
  return command_template(words, quote, {}, true, multiple).shell_command(job);
}

job_values one(std::vector<std::string> columns, std::size_t seq = 1, std::size_t slot = 1) {
  return job_values{.seq = seq, .slot = slot, .records = {std::move(columns)}};
}

} // namespace

TEST(ShellQuote, LeavesPlainWordsAloneAndQuotesEverythingElseAsGnuParallelDoes) {
  EXPECT_EQ(shell_quote("plain.txt"), "plain.txt");
  EXPECT_EQ(shell_quote("a/b-c_d+e"), "a/b-c_d+e");
  EXPECT_EQ(shell_quote("-n"), "-n");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\"'\"'s'");
  EXPECT_EQ(shell_quote("it's'"), "'it'\"'\"'s'\"'\"");
  EXPECT_EQ(shell_quote("'"), "\"'\"");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("$x"), "'$x'");
  EXPECT_EQ(shell_quote("a=b"), "'a=b'");
  EXPECT_EQ(shell_quote("\xc3\xbc"), "'\xc3\xbc'");
  EXPECT_EQ(shell_quote("new\nline"), "'new\nline'");
}

TEST(CommandTemplate, ExpandsEveryReplacementString) {
  const std::vector<std::string> words{"echo", "{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{%}"};
  EXPECT_EQ(shell(words, one({"dir/sub/file.tar.gz"}, 7, 2)),
            "echo dir/sub/file.tar.gz dir/sub/file.tar file.tar.gz dir/sub file.tar 7 2");
  EXPECT_EQ(shell(words, one({"plain"})), "echo plain plain plain . plain 1 1");
  EXPECT_EQ(shell(words, one({"/abs.x"})), "echo /abs.x /abs abs.x / abs 1 1");
  EXPECT_EQ(shell(words, one({"dir.d/file"})), "echo dir.d/file dir.d/file file dir.d file 1 1");
  EXPECT_EQ(parmill::cli::dir_name("a/b/"), "a");
  EXPECT_EQ(parmill::cli::dir_name("dir/"), ".");
  EXPECT_EQ(parmill::cli::dir_name("/"), "/");
  EXPECT_EQ(parmill::cli::dir_name("/a"), "/");
  EXPECT_EQ(parmill::cli::dir_name("a//b"), "a");
}

TEST(CommandTemplate, PositionalReplacementsCountFromEitherEnd) {
  EXPECT_EQ(shell({"echo", "{1}", "{2}", "{-1}", "{1.}", "{2/}", "{3}"}, one({"a.x", "d/c"})),
            "echo a.x d/c d/c a c"); // a missing column gives nothing, as in GNU parallel
}

TEST(CommandTemplate, AppendsAllInputsWhenTheCommandHasNoReplacementString) {
  EXPECT_EQ(shell({"echo"}, one({"a", "b c"})), "echo a 'b c'");
  EXPECT_EQ(shell({"echo", "x"}, one({"a"})), "echo x a");
}

TEST(CommandTemplate, UnknownBracesStayAsTheyAre) {
  EXPECT_EQ(shell({"echo", "{foo}", "{}"}, one({"a"})), "echo {foo} a");
}

TEST(CommandTemplate, RepeatsTheWordAroundTheReplacementForSeveralInputs) {
  job_values job{.seq = 1, .slot = 1, .records = {{"a"}, {"b"}, {"c"}}};
  EXPECT_EQ(shell({"echo", "pre{}post"}, job), "echo preapost prebpost precpost");
  EXPECT_EQ(shell({"echo", "pre{}post"}, job, true), "echo prea b cpost");
}

TEST(CommandTemplate, RunsWithoutAShellOnlyWhenNothingNeedsOne) {
  EXPECT_FALSE(command_template({"echo", "{}"}, false, {}, true, false).needs_shell());
  EXPECT_FALSE(command_template({"gzip", "-k", "--", "{}"}, false, {}, true, false).needs_shell());
  EXPECT_TRUE(command_template({"echo {}; exit 1"}, false, {}, true, false).needs_shell());
  EXPECT_TRUE(command_template({"echo", "*"}, false, {}, true, false).needs_shell());
  EXPECT_TRUE(command_template({"echo", "$HOME"}, false, {}, true, false).needs_shell());
  EXPECT_TRUE(command_template({"cd", "{}"}, false, {}, true, false).needs_shell()); // a builtin
  EXPECT_TRUE(command_template({"X=1", "env"}, false, {}, true, false).needs_shell());
  EXPECT_TRUE(command_template({"no-such-program-here", "{}"}, false, {}, true, false).needs_shell());
  EXPECT_FALSE(command_template({"echo", "a;b"}, true, {}, true, false).needs_shell()); // -q
}

TEST(CommandTemplate, TheArgvHoldsEachValueAsOneArgument) {
  const command_template t({"printf", "[%s]", "x{}y"}, false, {}, true, false);
  EXPECT_EQ(t.argv(one({"a b\nc"})), (std::vector<std::string>{"printf", "[%s]", "xa b\ncy"}));
  const command_template m({"echo", "pre{}post"}, false, {}, true, true);
  EXPECT_EQ(m.argv(job_values{.seq = 1, .slot = 1, .records = {{"a"}, {"b"}}}),
            (std::vector<std::string>{"echo", "prea", "bpost"}));
}

TEST(CommandTemplate, QuotedWordsAreLiteral) {
  EXPECT_EQ(shell({"printf", "%s;", "{}"}, one({"a b"}), false, true), "printf '%s;' 'a b'");
}

TEST(CommandTemplate, ColumnNamesFromTheHeader) {
  const command_template t({"echo", "{name}-{age}", "{name.}"}, false, {{"name", 0}, {"age", 1}}, true,
                           false);
  EXPECT_EQ(t.shell_command(one({"bob.x", "3"})), "echo bob.x-3 bob");
}

TEST(CommandTemplate, AColumnNumberOutOfRangeIsAnErrorNamingTheReplacementString) {
  for (const char* bad : {"{99999999999}", "{-99999999999}", "{99999999999999999999999/}"}) {
    try {
      (void)command_template({"echo", bad}, false, {}, true, false);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const parmill::cli::usage_error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << bad << ": not a usage_error: " << e.what();
    }
  }
  EXPECT_EQ(shell({"echo", "{2147483647}"}, one({"a"})), "echo"); // a column the job lacks: nothing
}

TEST(CommandTemplate, SizeBoundCoversEveryInputAdded) {
  // For -X (a word repeated per input) and -m (values joined), with quoting growth, literal text
  // around {}, columns that change as inputs come and {#}/{%}: the command for n inputs is at
  // most first_size grown by add_size for each other. {-2} alone in a word is what template_fuzz
  // found: with a second input it becomes the first input's long value, not one of the new one's.
  const std::vector<parmill::cli::record> inputs{
      {"a b"}, {"it's"}, {""}, {"x", "y z"}, {"plain"}, {std::string(100, 'L')}, {"s"}, {"t"}};
  for (const bool multiple : {false, true})
    for (const std::vector<std::string>& words :
         std::vector<std::vector<std::string>>{{"echo", "pre{}post", "|", "wc"},
                                               {"echo", "{#}{%}{.}x{1}"},
                                               {"cmd"},
                                               {"echo", "{} {/}", "{2}"},
                                               {"echo", "x{-2}", "{-2}", "{/}"}}) {
      const command_template t(words, false, {}, true, multiple);
      job_values job{.seq = 123456, .slot = 99, .records = {inputs[0]}};
      command_template::size_bound bound = t.first_size(inputs[0]);
      EXPECT_LE(t.shell_command(job).size(), bound.bytes);
      for (std::size_t i = 1; i < inputs.size(); ++i) {
        job.records.push_back(inputs[i]);
        t.add_size(bound, inputs[i]);
        EXPECT_LE(t.shell_command(job).size(), bound.bytes)
            << words[1] << " multiple=" << multiple << " n=" << i;
      }
    }
}
