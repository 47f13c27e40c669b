// cli/command_template.hpp: a command with replacement strings, rendered for one job either as
// shell code (every value quoted) or, when the command needs no shell, as an argv.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "options.hpp"

namespace parmill::cli {

/// One input: its columns (one per input source, or per `--colsep` field).
using record = std::vector<std::string>;

/// What a job renders its command from.
struct job_values {
  std::size_t seq = 0;         ///< `{#}`, from 1
  std::size_t slot = 0;        ///< `{%}`, from 1
  std::vector<record> records; ///< one, or several with -n/-N/-X/-m
  /// Crosses to other ranks under MPI (parmill/codec.hpp).
  static constexpr auto parmill_fields =
      std::tuple{&job_values::seq, &job_values::slot, &job_values::records};
};

/// Quotes `value` for a POSIX shell as GNU parallel does: unchanged when it is made only of
/// letters, digits and `-_.+/`; otherwise in single quotes, a quote written as '"'"'.
[[nodiscard]] std::string shell_quote(const std::string& value);

/// `{.}` `{/}` `{//}` `{/.}` of a path.
[[nodiscard]] std::string without_extension(const std::string& path);
[[nodiscard]] std::string base_name(const std::string& path);
[[nodiscard]] std::string dir_name(const std::string& path);

/// A parsed command. Not thread-safe to build; rendering is const and thread-safe.
class command_template {
public:
  /// Parses the command's words. Throws `usage_error` naming a replacement string whose column
  /// number does not fit in an int. `quote_words` (-q) makes each word one literal argument;
  /// `column_names` (from --header) enables `{name}`; `append_all` adds ` {}` when the command
  /// has no replacement string; `multiple` (-m) joins several inputs where `{}` is instead of
  /// repeating the word around it (-X, and the default for several inputs).
  /// `names` renames the replacement strings (-I, --er, ...): a renamed string is found anywhere in
  /// the text; its default form, and the column forms built on it ({1} for {}, {1.} for {.}), are
  /// then plain text, as in GNU parallel.
  command_template(const std::vector<std::string>& words, bool quote_words,
                   const std::map<std::string, std::size_t>& column_names, bool append_all, bool multiple,
                   const replacement_names& names = {}, bool plus = false);

  /// The job's shell code: values quoted (not when the first word holds a replacement string).
  [[nodiscard]] std::string shell_command(const job_values& job) const;
  /// The job's argv, for running without a shell. Valid only when `needs_shell()` is false.
  [[nodiscard]] std::vector<std::string> argv(const job_values& job) const;
  /// True when the literal text uses anything a shell would interpret, or the first word is not a
  /// program (a builtin, a function, an assignment): then the job runs in the shell.
  [[nodiscard]] bool needs_shell() const noexcept { return needs_shell_; }
  /// -X and -N: a word around `{}` is repeated once per value of the job (every column of every
  /// input, as GNU parallel repeats it), not only once per input of several.
  void repeat_for_each_value() noexcept { repeat_each_value_ = true; }
  /// True when the command contains a replacement string of its own.
  [[nodiscard]] bool has_replacement() const noexcept { return has_replacement_; }

  /// An upper bound of the size of a job's shell command as inputs are added to it, for packing
  /// several inputs in one job (-X, -m, -n): quoting, the text around `{}` repeated by -X, columns
  /// that change as inputs come, and `{#}`/`{%}` at their longest are all counted.
  struct size_bound {
    std::size_t bytes = 0;         ///< the command is at most this long
    std::size_t longest_value = 0; ///< the longest value of the job so far, as shown
  };
  /// The bound for a job of one input: its command rendered (with the longest {#} and {%}).
  [[nodiscard]] size_bound first_size(const record& first) const;
  /// Grows `bound` by what adding `input` to the job can add to its command.
  void add_size(size_bound& bound, const record& input) const;

  /// True when a --plus string needs the number of jobs ({##}, {0#}): the caller reads every input
  /// first and gives it with `set_run_size`.
  [[nodiscard]] bool needs_total() const noexcept { return needs_total_; }
  /// The number of jobs ({##}, {0#}) and of job slots ({0%}'s width).
  void set_run_size(std::size_t total, std::size_t slots) noexcept {
    total_ = total;
    slots_ = slots;
  }

  /// Renders `text` (a --tagstring) for a job: replacement strings filled in, nothing quoted.
  [[nodiscard]] std::string render_plain(const job_values& job) const;

private:
  enum class modifier { none, no_extension, basename, dirname, basename_no_extension };
  struct plus_edit; // a --plus string's edit of the value ({+.}, {:-str}, {/re/str}, ...)
  struct segment {
    /// total: {##}; padded_seq: {0#}; padded_slot: {0%} (--plus)
    enum class kind { text, value, seq, slot, total, padded_seq, padded_slot } what = kind::text;
    std::string text;
    int column = 0; ///< 0: every column of the input; n > 0: the n-th; n < 0: from the end
    modifier mod = modifier::none;
    std::shared_ptr<const plus_edit> plus; ///< --plus: applied after `mod`
  };
  struct word {
    std::vector<segment> segments;
    std::string separator_before; ///< the whitespace before the word in the command
    bool per_input = false;       ///< contains a replacement of the whole input (repeated by -X)
  };

  std::vector<std::string> render(const job_values& job, bool quoted) const;
  static std::string modified(modifier mod, const std::string& value);
  void values_of(const segment& s, const job_values& job, const record* one, bool quoted,
                 std::vector<std::string>& out) const;
  std::vector<segment> parse_word(const std::string& text, const std::map<std::string, std::size_t>& names,
                                  bool& found) const;
  std::vector<segment> parse_braces(const std::string& text, const std::map<std::string, std::size_t>& names,
                                    bool& found) const;
  bool renamed(const segment& s) const;
  std::optional<segment> parse_plus(const std::string& inside) const;
  std::string number(const segment& s, const job_values& job) const;
  std::size_t longest_shown(const std::string& value) const;

  /// True when the command's first word (up to a `=`) holds a replacement string: GNU parallel
  /// then takes the inputs as shell code (`parallel {} ::: 'echo a  b'`) and quotes no value.
  [[nodiscard]] bool replacement_in_first_word() const;

  std::vector<word> words_;
  bool quote_words_ = false;
  bool repeat_each_value_ = false; ///< see repeat_for_each_value()
  bool values_are_code_ = false;   ///< values are not quoted: see replacement_in_first_word()
  bool multiple_ = false;
  bool needs_shell_ = true;
  bool has_replacement_ = false;
  replacement_names names_;
  bool plus_ = false;
  bool needs_total_ = false;
  std::size_t total_ = 0, slots_ = 1;
  std::vector<std::shared_ptr<const plus_edit>> edits_; // every --plus edit of the command
};

} // namespace parmill::cli
