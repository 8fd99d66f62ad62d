//===- TempDir.h - A scratch folder for one test ---------------*- C++ -*-===//

#ifndef SEQRT_TEST_TEMPDIR_H
#define SEQRT_TEST_TEMPDIR_H

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

/// Creates a fresh folder; removes it (and what tests wrote) at the end.
class TempDir {
public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "seqrt-test-XXXXXX";
    char *p = mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    dir = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + dir + "'").c_str()); }
  std::string path(const std::string &name) const { return dir + "/" + name; }
  std::string write(const std::string &name, const std::string &bytes) const {
    std::ofstream out(path(name), std::ios::binary);
    out.write(bytes.data(), (std::streamsize)bytes.size());
    return path(name);
  }

private:
  std::string dir;
};

#endif // SEQRT_TEST_TEMPDIR_H
