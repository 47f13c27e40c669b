// cli/main.cpp: the parmill command's entry point.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

#include "option_table.hpp"
#include "options.hpp"
#include "parmill/version.hpp"
#include "run.hpp"

#ifdef PARMILL_WITH_MPI
#include <csignal>
#include <cstdlib>
#include <memory>

#include "parmill/mpi.hpp"
#endif

namespace {

/// What `-j 0` means: as many jobs as file descriptors allow (each needs three), at most 1024.
std::size_t most_jobs() {
  rlimit limit{};
  std::size_t fds = 1024;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) fds = limit.rlim_cur;
  return std::clamp<std::size_t>((fds > 32 ? fds - 32 : 1) / 3, 1, 1024);
}

#ifdef PARMILL_WITH_MPI
/// True when started by mpirun/mpiexec (Open MPI, MPICH and other PMI launchers say so).
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}
#endif

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN); // a reader that goes away is seen as EPIPE
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    const std::size_t cores = std::max(1U, std::thread::hardware_concurrency());
    const auto [what, o] = parmill::cli::parse_invocation(args, cores, most_jobs());
    if (what == parmill::cli::action::help) {
      std::cout << parmill::cli::help_text();
      return 0;
    }
    if (what == parmill::cli::action::version) {
      std::cout << "parmill " PARMILL_VERSION_STRING "\n";
      return 0;
    }
#ifdef PARMILL_WITH_MPI
    if (launched_by_mpi()) {
      // MPI starts threads of its own: block the signals the command handles first, so that
      // they inherit the mask and the command's signal thread alone takes them.
      sigset_t handled;
      sigemptyset(&handled);
      for (int s : {SIGINT, SIGTERM, SIGHUP})
        sigaddset(&handled, s);
      pthread_sigmask(SIG_BLOCK, &handled, nullptr);
      parmill::mpi_session session(argc, argv);
      const parmill::cli::cluster ranks{.where = parmill::mpi(o.jobs),
                                        .root = session.is_root(),
                                        .held_items = [&session] { return session.held_items(); }};
      return parmill::cli::run(o, &ranks);
    }
#endif
    return parmill::cli::run(o);
  } catch (const parmill::cli::usage_error& e) {
    std::fprintf(stderr, "parmill: Error: %s\nparmill: Try 'parmill --help'.\n", e.what());
    return 255;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parmill: Error: %s\n", e.what());
    return 255;
  }
}
