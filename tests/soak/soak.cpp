// tests/soak/soak.cpp: the fault-injection soak. It runs real parmill programs (a map with a
// journal, a pipeline, the parmill command with a job log), kills their workers and jobs (SIGKILL,
// SIGSEGV, SIGSTOP) and the programs themselves (SIGINT, SIGTERM, SIGKILL) at random moments, then
// resumes from the journal or the job log until the work is done, and checks parmill's promises:
//   - every item recorded as succeeded exactly once across the runs (none lost, none redone);
//   - no process left behind after a program ends (workers, jobs and their descendants, found by
//     a marker in their environment);
//   - no hang (every run ends within a bound).
// `parmill_soak --seconds S [--seed N] [--parmill PATH]` prints the figures and exits 1 if any
// promise broke. The same binary is the program under test (`parmill_soak program-map ...`).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <ranges>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "parmill/parmill.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
constexpr const char* marker_name = "PARMILL_SOAK_MARK";

// --- the programs under test ---------------------------------------------------------------------

/// A few milliseconds of work that depend on the item, so that runs interleave differently. One
/// item in 40 leaves a child process behind it (a descendant parmill must not let outlive the run).
std::int64_t work(std::int64_t i) {
  const auto until = clock_type::now() + std::chrono::microseconds(500 + (i * 7919) % 6000);
  while (clock_type::now() < until) {
  }
  if (i % 40 == 7) {
    if (std::system("sleep 30 & exit 0") != 0) std::abort();
  }
  return i * 2;
}

/// A map on processes with a journal, resumed: exits 0 once every item has succeeded in this or
/// an earlier run.
int program_map(const std::string& journal, std::int64_t items) {
  std::int64_t failed = 0;
  for (auto& r : parmill::map(parmill::processes(3), std::views::iota(std::int64_t{0}, items), work,
                              {.on_error = parmill::on_error::yield,
                              .timeout = std::chrono::seconds(2),
                              .journal = journal,
                              .resume = true}))
    if (!r) ++failed;
  return failed == 0 ? 0 : 1;
}

/// A two-stage pipeline on processes: exits 0 when every item came out.
int program_pipeline(std::int64_t items) {
  auto p = parmill::pipeline_builder()
               .source(std::views::iota(std::int64_t{0}, items))
               .pipe(work, {.concurrency = 2, .name = "work"})
               .pipe([](std::int64_t x) { return x + 1; }, {.concurrency = 1, .name = "add"})
               .build(parmill::processes(2), {.on_error = parmill::on_error::yield});
  std::int64_t good = 0;
  for (auto& r : p)
    if (r && *r == 2 * static_cast<std::int64_t>(r.index()) + 1) ++good;
  return good == items ? 0 : 1;
}

// --- processes -----------------------------------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Every process's parent, from /proc.
std::map<pid_t, pid_t> parents() {
  std::map<pid_t, pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    const std::string stat = read_file("/proc/" + std::string(e->d_name) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && state != 'Z') out[pid] = ppid;
  }
  ::closedir(d);
  return out;
}

/// The descendants of `root` at `min_depth` or deeper (1: its children).
std::vector<pid_t> descendants(pid_t root, int min_depth) {
  const auto parent = parents();
  std::vector<pid_t> out;
  std::vector<std::pair<pid_t, int>> frontier{{root, 0}};
  while (!frontier.empty()) {
    const auto [p, depth] = frontier.back();
    frontier.pop_back();
    for (const auto& [child, pp] : parent)
      if (pp == p) {
        if (depth + 1 >= min_depth) out.push_back(child);
        frontier.emplace_back(child, depth + 1);
      }
  }
  return out;
}

/// Live processes whose environment carries this run's marker.
std::vector<pid_t> marked(const std::string& mark) {
  std::vector<pid_t> out;
  const std::string needle = std::string(marker_name) + "=" + mark;
  for (const auto& [pid, ppid] : parents()) {
    const std::string env = read_file("/proc/" + std::to_string(pid) + "/environ");
    std::size_t start = 0;
    while (start < env.size()) {
      const auto end = env.find('\0', start);
      if (env.compare(start, (end == std::string::npos ? env.size() : end) - start, needle) == 0) {
        out.push_back(pid);
        break;
      }
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return out;
}

std::string command_line(pid_t pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : s)
    if (c == '\0') c = ' ';
  return s;
}

/// The program file `pid` runs ("" once it has gone).
std::string executable(pid_t pid) {
  std::error_code error;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", error).string();
}

/// True when `child` is a job's process that the command has started but that has not reached
/// exec yet (it still runs the command's own program). Such a process exists for microseconds,
/// inside posix_spawn, whose calling thread waits for it to exec: no real sender can aim a signal
/// at it, only a /proc scan as fast as this one. A SIGSTOP there, then a SIGKILL of the command,
/// leaves it stopped for good (SIGINT and SIGTERM still end it); the soak's first 600 s found that
/// once.
bool not_yet_a_job(pid_t child, pid_t command) {
  const std::string own = executable(command);
  return !own.empty() && executable(child) == own;
}

/// Starts a program with this run's marker in its environment; its output goes to `log`.
pid_t start(const std::vector<std::string>& argv, const std::string& mark, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv(marker_name, mark.c_str(), 1);
    const int null = ::open("/dev/null", O_RDWR);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(null, 0);
    ::dup2(out, 1); // the programs' own output (and the faults' messages) are not the soak's
    ::dup2(out, 2);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// --- the soak ------------------------------------------------------------------------------------

struct figures {
  std::map<std::string, std::size_t> rounds, runs, faults;
  std::size_t items = 0, lost = 0, duplicated = 0, orphans = 0, hangs = 0, wrong = 0;
  [[nodiscard]] bool broken() const { return lost + duplicated + orphans + hangs + wrong > 0; }
};

class soak {
public:
  soak(std::string self, std::string parmill, std::uint64_t seed, std::string dir)
      : self_(std::move(self)), parmill_(std::move(parmill)), random_(seed), dir_(std::move(dir)) {}

  figures f;

  /// Runs `argv` to its end while injecting faults (fewer on each later run of a round, so the
  /// work gets done); returns its exit status, or -1 if it was killed.
  int run_with_faults(const std::string& mode, const std::vector<std::string>& argv, int run,
                      int worker_depth) {
    const std::string mark = std::to_string(::getpid()) + "-" + std::to_string(++marks_);
    ++f.runs[mode];
    const pid_t pid = start(argv, mark, dir_ + "/programs.log");
    const auto began = clock_type::now();
    const double fault_chance = run < 6 ? 1.0 / (1 << run) : 0.0;
    auto next_fault = began + pause();
    int status = 0;
    for (;;) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      const auto now = clock_type::now();
      if (now - began > std::chrono::seconds(90)) {
        std::cerr << "soak: HANG: " << mode << " run " << run << " still running after 90 s\n";
        ++f.hangs;
        for (pid_t p : descendants(pid, 1))
          std::cerr << "  " << p << ": " << command_line(p) << "\n";
        ::kill(pid, SIGKILL);
      } else if (now >= next_fault) {
        if (std::uniform_real_distribution<>(0, 1)(random_) < fault_chance) inject(mode, pid, worker_depth);
        next_fault = now + pause();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5)); // the driver's polling period
    }
    check_nothing_left(mode, mark);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return -1;
  }

  void map_round(std::int64_t items) {
    const std::string journal = dir_ + "/map.journal";
    std::remove(journal.c_str());
    ++f.rounds["map"];
    int code = -1;
    for (int run = 0; code != 0 && run < 40; ++run)
      code = run_with_faults("map", {self_, "program-map", journal, std::to_string(items)}, run, 2);
    f.items += static_cast<std::size_t>(items);
    std::map<std::size_t, std::size_t> successes;
    parmill::detail::for_each_journal_record(journal, [&](std::size_t index, bool ok, parmill::reader&) {
      if (ok) ++successes[index];
    });
    for (const auto& o : parmill::read_journal<std::int64_t>(journal))
      if (o && *o != 2 * static_cast<std::int64_t>(o.index())) ++f.wrong;
    count(successes, items, "map");
  }

  void pipeline_round(std::int64_t items) {
    ++f.rounds["pipeline"];
    f.items += static_cast<std::size_t>(items);
    int code = -1;
    for (int run = 0; code != 0 && run < 40; ++run)
      code = run_with_faults("pipeline", {self_, "program-pipeline", std::to_string(items)}, run, 2);
    if (code != 0) ++f.lost;
  }

  void command_round(std::int64_t items) {
    const std::string log = dir_ + "/jobs.log";
    std::remove(log.c_str());
    ++f.rounds["command"];
    std::vector<std::string> argv{parmill_,
                                  "-j3",
                                  "--joblog",
                                  log,
                                  "--resume-failed",
                                  "--timeout",
                                  "3",
                                  "sleep 0.0$(( {} % 7 )); echo {}",
                                  ":::"};
    for (std::int64_t i = 1; i <= items; ++i)
      argv.push_back(std::to_string(i));
    int code = -1;
    for (int run = 0; code != 0 && run < 40; ++run)
      code = run_with_faults("command", argv, run, 1);
    f.items += static_cast<std::size_t>(items);
    std::map<std::size_t, std::size_t> successes;
    std::istringstream lines(read_file(log));
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream columns(line);
      std::string seq, host, start_time, runtime, sent, received, exit_value, signal;
      columns >> seq >> host >> start_time >> runtime >> sent >> received >> exit_value >> signal;
      if (seq == "Seq" || seq.empty()) continue;
      if (exit_value == "0" && signal == "0") ++successes[std::stoul(seq) - 1];
    }
    count(successes, items, "command");
  }

private:
  clock_type::duration pause() {
    return std::chrono::milliseconds(std::uniform_int_distribution<>(40, 400)(random_));
  }

  void inject(const std::string& mode, pid_t program, int worker_depth) {
    if (std::uniform_int_distribution<>(0, 4)(random_) == 0) {
      static constexpr int program_signals[] = {SIGINT, SIGTERM, SIGKILL};
      const int s = program_signals[std::uniform_int_distribution<>(0, 2)(random_)];
      ++f.faults[mode + ": program " + sigabbrev_np(s)];
      ::kill(program, s);
      return;
    }
    auto targets = descendants(program, worker_depth);
    if (mode == "command") // jobs, not the command's own clones on their way to exec
      std::erase_if(targets, [&](pid_t p) { return not_yet_a_job(p, program); });
    if (targets.empty()) return;
    static constexpr int worker_signals[] = {SIGKILL, SIGSEGV, SIGSTOP};
    const int s = worker_signals[std::uniform_int_distribution<>(0, 2)(random_)];
    const pid_t victim = targets[std::uniform_int_distribution<std::size_t>(0, targets.size() - 1)(random_)];
    ++f.faults[mode + ": worker " + sigabbrev_np(s)];
    ::kill(victim, s);
  }

  /// Once a program has ended, nothing it started may be left: poll for up to 3 s.
  void check_nothing_left(const std::string& mode, const std::string& mark) {
    const auto until = clock_type::now() + std::chrono::seconds(3);
    std::vector<pid_t> left = marked(mark);
    while (!left.empty() && clock_type::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20)); // the polling period of the check
      left = marked(mark);
    }
    for (pid_t p : left) {
      std::cerr << "soak: ORPHAN after a " << mode << " run: " << p << ": " << command_line(p) << "\n";
      ::kill(p, SIGKILL);
      ++f.orphans;
    }
  }

  void count(const std::map<std::size_t, std::size_t>& successes, std::int64_t items,
             const std::string& mode) {
    for (std::int64_t i = 0; i < items; ++i) {
      const auto it = successes.find(static_cast<std::size_t>(i));
      const std::size_t n = it == successes.end() ? 0 : it->second;
      if (n == 0) {
        std::cerr << "soak: LOST: " << mode << " item " << i << "\n";
        ++f.lost;
      } else if (n > 1) {
        std::cerr << "soak: DUPLICATED: " << mode << " item " << i << " succeeded " << n << " times\n";
        ++f.duplicated;
      }
    }
  }

  std::string self_, parmill_;
  std::mt19937_64 random_;
  std::string dir_;
  std::size_t marks_ = 0;
};

void print(const figures& f, std::uint64_t seed, double seconds) {
  std::cout << "soak: seed " << seed << ", " << seconds << " s\n";
  for (const auto& [mode, n] : f.rounds)
    std::cout << "  " << mode << ": " << n << " rounds, " << f.runs.at(mode) << " runs\n";
  std::size_t faults = 0;
  for (const auto& [what, n] : f.faults) {
    std::cout << "  fault " << what << ": " << n << "\n";
    faults += n;
  }
  std::cout << "  faults injected: " << faults << "\n  items: " << f.items << "\n  lost: " << f.lost
            << "\n  duplicated: " << f.duplicated << "\n  wrong values: " << f.wrong
            << "\n  orphans: " << f.orphans << "\n  hangs: " << f.hangs << "\n";
}

} // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "program-map" && args.size() == 3)
    return program_map(args[1], std::stoll(args[2]));
  if (!args.empty() && args[0] == "program-pipeline" && args.size() == 2)
    return program_pipeline(std::stoll(args[1]));

  double seconds = 30;
  std::uint64_t seed = std::random_device{}();
  std::string parmill;
  for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--seconds")
      seconds = std::stod(args[i + 1]);
    else if (args[i] == "--seed")
      seed = std::stoull(args[i + 1]);
    else if (args[i] == "--parmill")
      parmill = args[i + 1];
  }
  char dir_template[] = "/tmp/parmill-soak-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) return 2;
  std::string self = argv[0];
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) self.assign(exe, static_cast<std::size_t>(n));

  soak s(self, parmill, seed, dir);
  const auto began = clock_type::now();
  const auto until =
      began + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  for (int round = 0; round == 0 || clock_type::now() < until; ++round) {
    s.map_round(600);
    s.pipeline_round(200);
    if (!parmill.empty()) s.command_round(120);
  }
  print(s.f, seed, std::chrono::duration<double>(clock_type::now() - began).count());
  if (s.f.broken()) {
    std::cout << "soak: the programs' output is in " << dir << "/programs.log\n";
    return 1;
  }
  std::filesystem::remove_all(dir);
  return 0;
}
