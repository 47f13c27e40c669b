// A program that runs a map on processes(3) whose items never finish, printing each worker's pid
// as it starts its item, so that a test can signal this program and check that no worker process
// (nor the spawner) outlives it.
#include <parmill/map.hpp>

#include <cstdio>
#include <unistd.h>
#include <vector>

int main() {
  std::vector<int> items{0, 1, 2};
  for (auto& r : parmill::map(parmill::processes(3), items,
                              [](int) {
                                std::printf("%ld\n", static_cast<long>(::getpid()));
                                std::fflush(stdout);
                                for (;;)
                                  ::pause();
                                return 0;
                              },
                              {.chunk = 1}))
    (void)r;
  return 0;
}
