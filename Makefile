# The front door. `make demo` and `make test` set everything up on a fresh Debian machine: they
# install what is missing with apt-get, configure, build and run.
#
#   make demo      install, build (Release), run the main job
#   make test      install, build, run the whole test suite (CTest)
#   make sanitize  the test suite under ThreadSanitizer, then AddressSanitizer + UBSan
#   make fuzz      build the libFuzzer targets (clang) and run each for FUZZ_SECONDS (default 60)
#   make soak      the fault-injection soak: kill workers and the program at random, resume until
#                  done, check nothing is lost, duplicated or left running (SOAK_SECONDS, default 600)
#   make bench     build the benchmarks and run them against their peers (see bench/RESULTS.md)
#   make package   Debian packages of build/release (CPack): build/release/packages/*.deb
#   make package-check  build the packages, install them with apt-get, check them as a user would
#                  (command, man page, completion, pkg-config, find_package), lintian, then purge
#                  them, leaving the installed packages as they were
#   make docs      the API documentation (Doxygen) into $(BUILD_DIR)/docs/html; fails on any warning
#   make format    clang-format the sources

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CTEST_FLAGS ?= --output-on-failure -j $(JOBS)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages needed to build and test (chromium: the timeline tests open pages headless, with
# fonts-dejavu-core so that a fresh machine has a font to draw text with;
# parallel: GNU parallel, whose own job logs the timeline tests draw; python3-numpy: the Python
# tests check that arrays cross processes out of band); benchmarks add their peers.
DEPS := cmake ninja-build g++ make ccache pkg-config libgtest-dev libgmock-dev libcli11-dev \
        libpcre2-dev libopenmpi-dev openmpi-bin pybind11-dev python3-dev python3-pytest python3-tqdm \
        python3-numpy chromium fonts-dejavu-core parallel
FUZZ_DEPS := clang libfuzzer-14-dev
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 600
BENCH_DEPS := libbenchmark-dev libtbb-dev parallel python3 python3-joblib python3-pebble
# make package and package-check: CPack's DEB generator (dpkg-shlibdeps, file), and the checks.
PACKAGE_DEPS := dpkg-dev fakeroot file lintian man-db bash-completion zsh
# The project's one version number, from CMakeLists.txt's project().
VERSION := $(shell sed -n 's/^project.parmill VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

# The mpi component is built and tested too (its tests run mpirun on loopback).
CONFIGURE = cmake -S . -G Ninja -Wno-dev -DPARMILL_WITH_MPI=ON

.PHONY: all deps bench-deps demo test sanitize tsan asan fuzz soak bench package package-check docs format clean

all: test

deps:
	@missing=$$(for p in $(DEPS) $(EXTRA_DEPS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "parmill: installing missing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi

bench-deps:
	@$(MAKE) --no-print-directory deps EXTRA_DEPS="$(BENCH_DEPS)"

$(BUILD_DIR)/release/build.ninja: CMakeLists.txt
	$(CONFIGURE) -B $(BUILD_DIR)/release -DCMAKE_BUILD_TYPE=Release

demo: bench-deps $(BUILD_DIR)/release/build.ninja
	cmake --build $(BUILD_DIR)/release --target parmill_command
	examples/demo_command.sh $(BUILD_DIR)/release/parmill $(BUILD_DIR)/demo 3000

test: bench-deps $(BUILD_DIR)/release/build.ninja
	cmake --build $(BUILD_DIR)/release
	cd $(BUILD_DIR)/release && ctest $(CTEST_FLAGS)

sanitize: tsan asan

tsan: deps
	$(CONFIGURE) -B $(BUILD_DIR)/tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
	  -DPARMILL_SANITIZE=thread -DPARMILL_BUILD_BENCH=OFF
	cmake --build $(BUILD_DIR)/tsan
	cd $(BUILD_DIR)/tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/sanitizer/tsan.supp" ctest $(CTEST_FLAGS)

# ASan+UBSan at -O0: UBSan's null and alignment checks make -O1 compile three times slower (33 s
# against 10 s for a file with one map), which was a third of CI; the tests run about as fast.
asan: deps
	$(CONFIGURE) -B $(BUILD_DIR)/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O0 \
	  -DPARMILL_SANITIZE=address,undefined -DPARMILL_BUILD_BENCH=OFF
	cmake --build $(BUILD_DIR)/asan
	cd $(BUILD_DIR)/asan && ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1" ctest $(CTEST_FLAGS)

# libFuzzer needs clang; the library is instrumented for coverage, and ASan+UBSan catch what the
# fuzzer provokes. Tests, benchmarks, examples and MPI are off: only the parsers are built. The
# library is static here (as fuzz targets usually link), which also keeps the static build tried.
fuzz:
	@$(MAKE) --no-print-directory deps EXTRA_DEPS="$(FUZZ_DEPS)"
	CC=clang CXX=clang++ cmake -S . -G Ninja -Wno-dev -B $(BUILD_DIR)/fuzz -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS="-O1 -g -fsanitize=fuzzer-no-link" -DPARMILL_SANITIZE=address,undefined \
	  -DPARMILL_BUILD_SHARED=OFF -DPARMILL_BUILD_FUZZ=ON -DPARMILL_BUILD_CLI=OFF -DPARMILL_BUILD_TESTS=OFF -DPARMILL_BUILD_BENCH=OFF -DPARMILL_BUILD_EXAMPLES=OFF \
	  -DPARMILL_BUILD_PYTHON=OFF
	cmake --build $(BUILD_DIR)/fuzz
	fuzz/run.sh $(BUILD_DIR)/fuzz $(FUZZ_SECONDS)

soak: deps $(BUILD_DIR)/release/build.ninja
	cmake --build $(BUILD_DIR)/release --target parmill_soak parmill_command
	$(BUILD_DIR)/release/tests/parmill_soak --seconds $(SOAK_SECONDS) --parmill $(BUILD_DIR)/release/parmill

bench: bench-deps $(BUILD_DIR)/release/build.ninja
	cmake --build $(BUILD_DIR)/release
	bench/run.sh $(BUILD_DIR)/release
	bench/command_bench.sh $(BUILD_DIR)/release
	bench/process_bench.sh $(BUILD_DIR)/release
	bench/mpi_bench.sh $(BUILD_DIR)/release

# The packages are made from build/release, the build `make test` tests (no second build): only
# the library, the command and the generated man page and completions are built here. Packages
# install under /usr, so build/release is configured with that prefix (it changes no compiled code).
package:
	@$(MAKE) --no-print-directory deps EXTRA_DEPS="$(PACKAGE_DEPS)"
	$(CONFIGURE) -B $(BUILD_DIR)/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
	cmake --build $(BUILD_DIR)/release --target parmill parmill_mpi parmill_command parmill_docs \
	  $$(ninja -C $(BUILD_DIR)/release -t targets all | grep -q '^parmill_python:' && echo parmill_python)
	rm -rf $(BUILD_DIR)/release/packages
	cd $(BUILD_DIR)/release && cpack -G DEB
	@ls -l $(BUILD_DIR)/release/packages/*.deb

package-check: package
	packaging/check.sh $(BUILD_DIR)/release/packages
# Doxygen over the public headers (detail/ excluded) and the pages in docs/ (docs/Doxyfile). Any
# warning, such as a public entity without a `///` comment, fails the target and is printed.
# Needs only doxygen, not the compilers; takes about a second.
docs:
	@$(MAKE) --no-print-directory deps DEPS=doxygen
	@mkdir -p $(BUILD_DIR)/docs
	@PARMILL_DOCS_DIR=$(BUILD_DIR)/docs PARMILL_VERSION=$(VERSION) doxygen docs/Doxyfile \
	  || { echo "parmill: make docs: Doxygen warnings:"; cat $(BUILD_DIR)/docs/warnings.log; exit 1; }
	@echo "parmill: API documentation in $(BUILD_DIR)/docs/html/index.html"

format:
	clang-format -i $$(git ls-files '*.hpp' '*.cpp')

clean:
	rm -rf $(BUILD_DIR)
