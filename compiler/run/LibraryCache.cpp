//===- LibraryCache.cpp - Where `seqc run` keeps compiled models ----------===//
//
// The cache directory and the key of a library; see LibraryCache.h.
//
//===----------------------------------------------------------------------===//

#include "LibraryCache.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

using namespace seqc;

std::string seqc::cacheDirectory() {
  auto env = [](const char *name) -> std::string {
    const char *v = std::getenv(name);
    return v ? v : "";
  };
  if (std::string dir = env("SEQC_CACHE_DIR"); !dir.empty())
    return dir;
  llvm::SmallString<256> dir;
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty())
    llvm::sys::path::append(dir, xdg, "seqc");
  else if (std::string home = env("HOME"); !home.empty())
    llvm::sys::path::append(dir, home, ".cache", "seqc");
  return dir.str().str();
}

/// "size:mtime" of `path`, or "absent".
static std::string fileStamp(const std::string &path) {
  llvm::sys::fs::file_status st;
  if (llvm::sys::fs::status(path, st))
    return "absent";
  return std::to_string(st.getSize()) + ":" +
         std::to_string(
             st.getLastModificationTime().time_since_epoch().count());
}

std::string seqc::compilerIdentity(const char *argv0,
                                   const std::string &runtimeDir) {
  std::string exe = llvm::sys::fs::getMainExecutable(
      argv0, reinterpret_cast<void *>(&compilerIdentity));
  llvm::SmallString<256> runtime(runtimeDir);
  llvm::sys::path::append(runtime, "libseqrt_static.a");
  return "seqc llvm-" LLVM_VERSION_STRING " exe=" + fileStamp(exe) +
         " runtime=" + fileStamp(runtime.str().str());
}

/// The CPU and features code is generated for.
static std::string resolvedCPU(const std::string &mcpu) {
  if (!mcpu.empty() && mcpu != "native")
    return mcpu;
  std::vector<std::string> features;
  for (const auto &f : llvm::sys::getHostCPUFeatures())
    features.push_back((f.second ? "+" : "-") + f.first().str());
  std::sort(features.begin(), features.end());
  return llvm::sys::getHostCPUName().str() + " " + llvm::join(features, ",");
}

std::string seqc::libraryKey(const std::string &source,
                             const std::string &target, const std::string &mcpu,
                             const std::string &compilerId) {
  llvm::SHA256 hash;
  // Each part is followed by a NUL so that no two splits hash alike.
  for (const std::string &part : {std::string("seqc-library-v1"), compilerId,
                                  target, resolvedCPU(mcpu), source}) {
    hash.update(part);
    hash.update(llvm::ArrayRef<uint8_t>{0});
  }
  return llvm::toHex(hash.final(), /*LowerCase=*/true);
}
