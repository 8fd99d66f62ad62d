//===- LibraryCache.h - Where `seqc run` keeps compiled models --*- C++ -*-===//
//
// `seqc run` compiles a model once and reuses the library while nothing that
// goes into it changes. A library is named `<model>-<key>.so`, the key a
// SHA-256 of the source text, the target options (the CPU resolved, so a
// cache shared between machines stays right) and the identity of the
// compiler and runtime build (the LLVM version and the size and modification
// time of the seqc executable and of libseqrt_static.a: a rebuild of either
// misses).
//
//===----------------------------------------------------------------------===//

#ifndef SEQC_RUN_LIBRARYCACHE_H
#define SEQC_RUN_LIBRARYCACHE_H

#include <string>

namespace seqc {

/// $SEQC_CACHE_DIR, else $XDG_CACHE_HOME/seqc, else $HOME/.cache/seqc; empty
/// when none is set.
std::string cacheDirectory();

/// What identifies this build of the compiler and the runtime it links
/// into libraries.
std::string compilerIdentity(const char *argv0, const std::string &runtimeDir);

/// The key (64 hex digits) of the library `source` compiles to.
std::string libraryKey(const std::string &source, const std::string &target,
                       const std::string &mcpu, const std::string &compilerId);

} // namespace seqc

#endif // SEQC_RUN_LIBRARYCACHE_H
