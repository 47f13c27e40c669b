// cli/generate_docs.cpp: writes the parmill command's manual page or a shell completion script,
// generated from its option table (see generated_docs.hpp). Run by the build; not installed.
//
//   parmill_generate_docs man VERSION EXTRA_SECTIONS_FILE OUTPUT
//   parmill_generate_docs bash OUTPUT
//   parmill_generate_docs zsh OUTPUT
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "generated_docs.hpp"

namespace {

/// The whole content of the file at `path`; throws when it cannot be read.
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Writes `text` to the file at `path`; throws when it cannot be written whole.
void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

} // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 4 && args[0] == "man") {
      write_file(args[3], parmill::cli::man_page(args[1], read_file(args[2])));
    } else if (args.size() == 2 && args[0] == "bash") {
      write_file(args[1], parmill::cli::bash_completion());
    } else if (args.size() == 2 && args[0] == "zsh") {
      write_file(args[1], parmill::cli::zsh_completion());
    } else {
      std::cerr << "usage: parmill_generate_docs man VERSION EXTRA_SECTIONS_FILE OUTPUT | bash OUTPUT | zsh "
                   "OUTPUT\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::cerr << "parmill_generate_docs: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
