//===- JsonTest.cpp - The runtime's strict JSON parser ------------------===//

#include "Json.h"

#include <gtest/gtest.h>

#include <string>

namespace {

struct Parsed {
  bool ok;
  JsonValue v;
  std::string err;
  explicit Parsed(const std::string &text) {
    char buf[256];
    ok = seqrt_json_parse(text.data(), text.size(), &v, buf, sizeof(buf)) == 0;
    err = buf;
  }
  ~Parsed() { seqrt_json_free(&v); }
};

TEST(Json, SafetensorsHeader) {
  Parsed p(R"( {"__metadata__": {"format": "pt"},
      "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}} )");
  ASSERT_TRUE(p.ok) << p.err;
  ASSERT_EQ(p.v.kind, JSON_OBJECT);
  ASSERT_EQ(p.v.count, 2);
  const JsonValue *w = seqrt_json_get(&p.v, "w");
  ASSERT_NE(w, nullptr);
  const JsonValue *shape = seqrt_json_get(w, "shape");
  ASSERT_EQ(shape->kind, JSON_ARRAY);
  ASSERT_EQ(shape->count, 2);
  EXPECT_EQ(shape->items[1].integer, 3);
  EXPECT_STREQ(seqrt_json_get(w, "dtype")->string, "F32");
  EXPECT_EQ(seqrt_json_get(&p.v, "missing"), nullptr);
}

TEST(Json, StringEscapes) {
  Parsed p(R"(["a\"b\\c\/d\n\t", "\u00e9\ud83d\ude00"])");
  ASSERT_TRUE(p.ok) << p.err;
  EXPECT_STREQ(p.v.items[0].string, "a\"b\\c/d\n\t");
  EXPECT_STREQ(p.v.items[1].string, "\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Json, IntegersAndLiterals) {
  Parsed p("[0, -5, 9223372036854775807, -9223372036854775808, true, false, "
           "null, [], {}]");
  ASSERT_TRUE(p.ok) << p.err;
  EXPECT_EQ(p.v.items[1].integer, -5);
  EXPECT_EQ(p.v.items[2].integer, INT64_MAX);
  EXPECT_EQ(p.v.items[3].integer, INT64_MIN);
  EXPECT_EQ(p.v.items[4].kind, JSON_BOOL);
  EXPECT_EQ(p.v.items[6].kind, JSON_NULL);
}

TEST(Json, RejectsMalformed) {
  for (const char *bad :
       {"", "{", "[1, 2", "[1,]", "{\"a\" 1}", "{\"a\": 1,}", "{a: 1}",
        "[01]", "[1.5]", "[1e3]", "[9223372036854775808]", "\"abc",
        "\"\\x\"", "\"\\ud800\"", "\"a\nb\"", "[1] x", "nul", "{\"a\": 1, "
        "\"a\": 2}", "[\"\\u0000\"]"}) {
    Parsed p(bad);
    EXPECT_FALSE(p.ok) << bad;
    EXPECT_NE(p.err.find("at byte"), std::string::npos) << bad;
  }
}

TEST(Json, DepthLimit) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  Parsed p(deep);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.err.find("nesting"), std::string::npos) << p.err;
}

} // namespace
