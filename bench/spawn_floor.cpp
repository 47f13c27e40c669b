// The floor for the command benchmark: a plain loop over posix_spawn that keeps N children
// running and reaps them with waitpid, doing nothing else (no output capture, no quoting).
//   usage: spawn_floor JOBS COUNT PROGRAM [ARG]   (ARG "{}" becomes the job number)
#include <cstdio>
#include <cstdlib>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <vector>

extern char** environ;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: spawn_floor JOBS COUNT PROGRAM [ARG]\n");
    return 2;
  }
  const int jobs = std::atoi(argv[1]), count = std::atoi(argv[2]);
  int started = 0, running = 0, failed = 0;
  while (started < count || running > 0) {
    while (running < jobs && started < count) {
      std::string arg = argc > 4 ? argv[4] : "";
      if (arg == "{}") arg = std::to_string(started + 1);
      std::vector<char*> args{argv[3]};
      if (argc > 4) args.push_back(arg.data());
      args.push_back(nullptr);
      pid_t pid;
      if (posix_spawnp(&pid, argv[3], nullptr, nullptr, args.data(), environ) != 0) return 1;
      ++started;
      ++running;
    }
    int status;
    if (wait(&status) > 0) {
      --running;
      failed += status != 0;
    }
  }
  return failed != 0;
}
