#!/usr/bin/env bash
# make package-check: checks the Debian packages in DIR (built by `make package`) as a user meets
# them. Runs lintian on them (no errors allowed), installs them with `apt-get install ./*.deb`,
# then checks `parmill --version`, `parmill-timeline` on a job log and its man page, `man -w
# parmill`, bash completion of `parmill --jo<TAB>`, the zsh completion, `pkg-config --cflags --libs
# parmill` building and running a program, and find_package(parmill) consumers (parmill::parmill,
# and parmill::mpi when its package is there) building against /usr; then purges what it installed
# and checks that the installed packages (`dpkg -l`) are what they were before. Needs root or sudo;
# refuses to start if a parmill package is installed already (removing it at the end would not
# leave the machine as it was).
#
#   packaging/check.sh DIR
set -euo pipefail

dir=$(realpath "${1:?usage: packaging/check.sh DIR (the .deb files)}")
source_dir=$(realpath "$(dirname "$0")/..")
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
shopt -s nullglob
debs=("$dir"/*.deb)
[ ${#debs[@]} -gt 0 ] || { echo "package-check: no .deb in $dir" >&2; exit 1; }
packages=()
for deb in "${debs[@]}"; do packages+=("$(dpkg-deb -f "$deb" Package)"); done
version=$(dpkg-deb -f "$dir"/parmill_*.deb Version)

step() { echo "package-check: $* ($(($(date +%s) - start)) s)"; }
fail() { echo "package-check: FAILED: $*" >&2; exit 1; }
installed_packages() { dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package} ${Version}\n' | sort; }

for p in "${packages[@]}"; do
  if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true) == ?i* ]]; then
    fail "$p is installed already; remove it first (the check removes what it installs)"
  fi
done
work=$(mktemp -d)
installed_packages > "$work/before"

# Whatever happens, remove what was installed: the parmill packages and any dependency they
# pulled in (exactly those: nothing else is touched), then compare.
cleanup() {
  local status=$?
  installed_packages > "$work/during"
  mapfile -t added < <(comm -13 <(awk '{print $2}' "$work/before" | sort) <(awk '{print $2}' "$work/during" | sort))
  if [ ${#added[@]} -gt 0 ]; then
    $sudo apt-get purge -y -qq "${added[@]}" > "$work/purge.log" 2>&1 || cat "$work/purge.log" >&2
  fi
  installed_packages > "$work/after"
  [ -c /dev/null ] || { echo "package-check: FAILED: /dev/null is no longer a device" >&2; status=1; }
  if ! diff -u "$work/before" "$work/after"; then
    echo "package-check: FAILED: the installed packages differ from before (above)" >&2
    status=1
  fi
  rm -rf "$work"
  [ $status = 0 ] && step "all green: installed, checked and removed ${packages[*]}"
  exit $status
}
trap cleanup EXIT

step "lintian ${packages[*]}"
# Every error fails the check; warnings are printed (each one that remains is there on purpose).
lintian --fail-on error --tag-display-limit 0 "${debs[@]}" 2>&1 | tee "$work/lintian.log"

step "apt-get install ${debs[*]##*/}"
$sudo apt-get install -y -qq --no-install-recommends "${debs[@]}" > "$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "apt-get install"; }

step "the command"
[ "$(parmill --version)" = "parmill ${version%-*}" ] || fail "parmill --version says '$(parmill --version)'"
[ "$(parmill -k echo ::: a b)" = "$(printf 'a\nb')" ] || fail "parmill -k echo ::: a b"
library=$(ldd /usr/bin/parmill | awk '$1 == "libparmill.so.0" { print $3 }')
[[ $(realpath "$library") == /usr/lib/*/libparmill.so.${version%-*} ]] ||
  fail "parmill uses '$library', not the installed libparmill.so.0"
[ "$(command -v parmill)" = /usr/bin/parmill ] || fail "parmill is not /usr/bin/parmill"

step "parmill-timeline"
[ "$(parmill-timeline --version)" = "parmill-timeline ${version%-*}" ] ||
  fail "parmill-timeline --version says '$(parmill-timeline --version)'"
parmill --joblog "$work/jobs.log" true ::: 1 2 3 &&
  parmill-timeline "$work/jobs.log" -o "$work/jobs.html" && grep -q '</html>' "$work/jobs.html" ||
  fail "parmill-timeline could not draw a job log of parmill's"
[ "$(man -w parmill-timeline)" = /usr/share/man/man1/parmill-timeline.1.gz ] ||
  fail "man -w parmill-timeline says '$(man -w parmill-timeline)'"

step "man -w parmill"
[ "$(man -w parmill)" = /usr/share/man/man1/parmill.1.gz ] || fail "man -w parmill says '$(man -w parmill)'"
[[ $(MANWIDTH=80 man --warnings parmill 2> "$work/man.err") == *"DIFFERENCES FROM GNU PARALLEL"* ]] ||
  fail "man parmill"
[ ! -s "$work/man.err" ] || { cat "$work/man.err"; fail "man parmill warns"; }

step "bash completion of 'parmill --jo<TAB>'"
# As bash-completion loads it on demand (it must be found by the command's name), then completed.
completion=$(bash --norc -c '
  source /usr/share/bash-completion/bash_completion
  _completion_loader parmill
  complete -p parmill >&2
  COMP_WORDS=(parmill --jo) COMP_CWORD=1 COMP_LINE="parmill --jo" COMP_POINT=12
  _parmill parmill --jo parmill
  printf "%s\n" "${COMPREPLY[@]}"')
[ "$completion" = "$(printf -- '--jobs\n--joblog')" ] || fail "bash completes 'parmill --jo' as '$completion'"

step "zsh completion"
# compinit replaces its dump file (-d) with mv: it must be a scratch file, never /dev/null.
zsh -fc 'autoload -U compinit && compinit -u -d "$1" && [[ $_comps[parmill] == _parmill ]]' zsh "$work/zcompdump" ||
  fail "zsh's compinit does not find _parmill"

step "pkg-config --cflags --libs parmill"
cat > "$work/pc.cpp" <<'EOF'
#include <parmill/parmill.hpp>
#include <parmill/version.hpp>

#include <cstdio>
#include <cstring>

int main() {
  parmill::thread_pool pool(2);
  auto answer = pool.submit([](int a, int b) { return a * b; }, 6, 7);
  std::printf("%s %d\n", PARMILL_VERSION_STRING, answer.get());
  return 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's output is words
g++ -std=c++20 "$work/pc.cpp" -o "$work/pc" $(pkg-config --cflags --libs parmill) || fail "building with pkg-config"
[ "$("$work/pc")" = "${version%-*} 42" ] || fail "the pkg-config program printed '$("$work/pc")'"

step "find_package(parmill) against /usr"
cmake -S "$source_dir/tests/consumer" -B "$work/consumer" -G Ninja -Wno-dev > "$work/consumer.log" 2>&1 &&
  cmake --build "$work/consumer" >> "$work/consumer.log" 2>&1 && "$work/consumer/consumer" ||
  { cat "$work/consumer.log"; fail "the find_package(parmill) consumer"; }
grep -q "^parmill_DIR:PATH=/usr/lib/.*/cmake/parmill$" "$work/consumer/CMakeCache.txt" ||
  fail "the consumer did not find the installed parmill"

if [[ " ${packages[*]} " == *" python3-parmill "* ]]; then
  step "import parmill with Debian's python3"
  (cd "$work" && env -u PYTHONPATH /usr/bin/python3 -c '
import parmill
assert parmill.__file__.startswith("/usr/lib/python3/dist-packages/"), parmill.__file__
assert list(parmill.map(abs, [-1, -2, -3], backend=parmill.processes(2))) == [1, 2, 3]
') || fail "python3 -c 'import parmill' with the installed python3-parmill"
fi

if [[ " ${packages[*]} " == *" libparmill-mpi-dev "* ]]; then
  step "find_package(parmill COMPONENTS mpi) against /usr"
  mkdir -p "$work/mpi_consumer"
  cat > "$work/mpi_consumer/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(parmill_mpi_consumer LANGUAGES CXX)
find_package(parmill CONFIG REQUIRED COMPONENTS mpi)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE parmill::mpi)
EOF
  cat > "$work/mpi_consumer/main.cpp" <<'EOF'
#include <parmill/mpi.hpp>

// Links parmill::mpi; mpi() itself needs a running MPI job, so it is not called here.
int main(int argc, char**) {
  if (argc > 99) (void)parmill::mpi(1);
  return 0;
}
EOF
  cmake -S "$work/mpi_consumer" -B "$work/mpi_consumer/build" -G Ninja -Wno-dev > "$work/mpi.log" 2>&1 &&
    cmake --build "$work/mpi_consumer/build" >> "$work/mpi.log" 2>&1 && "$work/mpi_consumer/build/consumer" ||
    { cat "$work/mpi.log"; fail "the find_package(parmill COMPONENTS mpi) consumer"; }
fi
