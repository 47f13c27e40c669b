// Uses the installed parmill the way an application would; exits 0 when the answer is right.
#include <parmill/parmill.hpp>

int main() {
  parmill::thread_pool pool(2);
  auto answer = pool.submit([](int a, int b) { return a * b; }, 6, 7);
  return answer.get() == 42 ? 0 : 1;
}
