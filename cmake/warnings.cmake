# The compiler warnings of parmill's own code, in one place, as two INTERFACE targets that a target
# links PRIVATE through $<BUILD_INTERFACE:...> (so they reach neither installed packages nor a
# project that adds parmill with add_subdirectory, whose warnings are its own choice):
#   parmill_warnings       the library, the mpi component, the command and the Python module
#   parmill_test_warnings  tests, examples and benchmarks: GoogleTest's macros and the peers'
#                          headers are not -Wconversion/-Wshadow clean, and their noise would hide
#                          what matters
add_library(parmill_warnings INTERFACE)
add_library(parmill_test_warnings INTERFACE)
if(PROJECT_IS_TOP_LEVEL)
  target_compile_options(parmill_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
  target_compile_options(parmill_test_warnings INTERFACE -Wall -Wextra)
endif()
