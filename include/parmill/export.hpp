// parmill/export.hpp: PARMILL_API, which marks what libparmill exports.
#pragma once

/// Marks a class, function or exception type whose definition lives in libparmill (or
/// libparmill_mpi) as part of its binary interface: the libraries are built with hidden symbol
/// visibility, so only what carries this mark (and the standard library's templates that the
/// interface needs) is exported from the shared objects. Expands to nothing when parmill is built
/// or used as a static library (`PARMILL_STATIC_DEFINE`, set by CMake for a static build), so that
/// a shared object that links parmill statically does not export it. Not guaranteed: anything but
/// GCC and Clang on ELF platforms.
#if defined(PARMILL_STATIC_DEFINE)
#define PARMILL_API
#else
#define PARMILL_API [[gnu::visibility("default")]]
#endif
