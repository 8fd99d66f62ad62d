/*===- Json.c - A small strict JSON parser ------------------------*- C -*-===//
 *
 * Recursive descent over a byte range that need not be NUL-terminated (it
 * is the header of a memory-mapped file). See Json.h for what is accepted.
 *
 *===----------------------------------------------------------------------===*/

#include "Json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Parser {
  const char *text;
  size_t len, pos;
  int depth;
  char *err;
  size_t errLen;
  int failed;
} Parser;

static int fail(Parser *p, const char *fmt, ...) {
  if (p->failed)
    return 1;
  p->failed = 1;
  int n = snprintf(p->err, p->errLen, "at byte %zu: ", p->pos);
  if (n >= 0 && (size_t)n < p->errLen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errLen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return 1;
}

static void skipSpace(Parser *p) {
  while (p->pos < p->len) {
    char c = p->text[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    ++p->pos;
  }
}

static int peek(Parser *p) {
  return p->pos < p->len ? (unsigned char)p->text[p->pos] : -1;
}

static int parseValue(Parser *p, JsonValue *out);

/* Growable byte buffer for decoded strings. */
typedef struct Buffer {
  char *data;
  size_t len, cap;
} Buffer;

static int put(Buffer *b, char c) {
  if (b->len + 1 >= b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 32;
    char *data = realloc(b->data, cap);
    if (!data)
      return 1;
    b->data = data;
    b->cap = cap;
  }
  b->data[b->len++] = c;
  return 0;
}

static int putUtf8(Buffer *b, unsigned cp) {
  if (cp < 0x80)
    return put(b, (char)cp);
  if (cp < 0x800)
    return put(b, (char)(0xC0 | (cp >> 6))) ||
           put(b, (char)(0x80 | (cp & 0x3F)));
  if (cp < 0x10000)
    return put(b, (char)(0xE0 | (cp >> 12))) ||
           put(b, (char)(0x80 | ((cp >> 6) & 0x3F))) ||
           put(b, (char)(0x80 | (cp & 0x3F)));
  return put(b, (char)(0xF0 | (cp >> 18))) ||
         put(b, (char)(0x80 | ((cp >> 12) & 0x3F))) ||
         put(b, (char)(0x80 | ((cp >> 6) & 0x3F))) ||
         put(b, (char)(0x80 | (cp & 0x3F)));
}

static int parseHex4(Parser *p, unsigned *out) {
  if (p->len - p->pos < 4)
    return fail(p, "truncated \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; ++i) {
    char c = p->text[p->pos++];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return fail(p, "bad hex digit in \\u escape");
  }
  *out = v;
  return 0;
}

/* Parses a string at p->pos (which is '"'); *out is malloc'ed. */
static int parseString(Parser *p, char **out, size_t *outLen) {
  Buffer b = {NULL, 0, 0};
  ++p->pos;
  for (;;) {
    if (p->pos >= p->len) {
      free(b.data);
      return fail(p, "unterminated string");
    }
    unsigned char c = (unsigned char)p->text[p->pos++];
    if (c == '"')
      break;
    if (c < 0x20) {
      free(b.data);
      --p->pos;
      return fail(p, "control character in string");
    }
    if (c != '\\') {
      if (put(&b, (char)c))
        goto oom;
      continue;
    }
    if (p->pos >= p->len) {
      free(b.data);
      return fail(p, "unterminated string");
    }
    char e = p->text[p->pos++];
    int bad = 0;
    switch (e) {
    case '"':
    case '\\':
    case '/':
      bad = put(&b, e);
      break;
    case 'b':
      bad = put(&b, '\b');
      break;
    case 'f':
      bad = put(&b, '\f');
      break;
    case 'n':
      bad = put(&b, '\n');
      break;
    case 'r':
      bad = put(&b, '\r');
      break;
    case 't':
      bad = put(&b, '\t');
      break;
    case 'u': {
      unsigned cp;
      if (parseHex4(p, &cp)) {
        free(b.data);
        return 1;
      }
      if (cp >= 0xD800 && cp < 0xDC00) {
        unsigned lo;
        if (p->len - p->pos < 2 || p->text[p->pos] != '\\' ||
            p->text[p->pos + 1] != 'u') {
          free(b.data);
          return fail(p, "unpaired surrogate in \\u escape");
        }
        p->pos += 2;
        if (parseHex4(p, &lo)) {
          free(b.data);
          return 1;
        }
        if (lo < 0xDC00 || lo >= 0xE000) {
          free(b.data);
          return fail(p, "unpaired surrogate in \\u escape");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if (cp >= 0xDC00 && cp < 0xE000) {
        free(b.data);
        return fail(p, "unpaired surrogate in \\u escape");
      }
      if (cp == 0) {
        free(b.data);
        return fail(p, "\\u0000 in string");
      }
      bad = putUtf8(&b, cp);
      break;
    }
    default:
      free(b.data);
      --p->pos;
      return fail(p, "bad escape '\\%c'", e);
    }
    if (bad)
      goto oom;
  }
  if (put(&b, '\0'))
    goto oom;
  *out = b.data;
  *outLen = b.len - 1;
  return 0;
oom:
  free(b.data);
  return fail(p, "out of memory");
}

static int parseInteger(Parser *p, JsonValue *out) {
  int negative = 0;
  if (peek(p) == '-') {
    negative = 1;
    ++p->pos;
  }
  int c = peek(p);
  if (c < '0' || c > '9')
    return fail(p, "expected a digit");
  uint64_t v = 0;
  if (c == '0') {
    ++p->pos;
    c = peek(p);
    if (c >= '0' && c <= '9')
      return fail(p, "leading zero in number");
  } else {
    while ((c = peek(p)) >= '0' && c <= '9') {
      if (v > (UINT64_C(9223372036854775808) - (uint64_t)(c - '0')) / 10)
        return fail(p, "integer out of range");
      v = v * 10 + (uint64_t)(c - '0');
      ++p->pos;
    }
  }
  if (c == '.' || c == 'e' || c == 'E')
    return fail(p, "only integers are supported");
  if (!negative && v > INT64_MAX)
    return fail(p, "integer out of range");
  out->kind = JSON_INT;
  out->integer = negative ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

static int parseLiteral(Parser *p, const char *word, JsonValue *out,
                        JsonKind kind, int64_t value) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
    return fail(p, "unexpected character '%c'", p->text[p->pos]);
  p->pos += n;
  out->kind = kind;
  out->integer = value;
  return 0;
}

static int appendItem(JsonValue *v, int *cap, JsonValue item, char *key) {
  if (v->count == *cap) {
    int ncap = *cap ? *cap * 2 : 4;
    JsonValue *items = realloc(v->items, sizeof(JsonValue) * (size_t)ncap);
    if (!items)
      return 1;
    v->items = items;
    if (v->kind == JSON_OBJECT) {
      char **keys = realloc(v->keys, sizeof(char *) * (size_t)ncap);
      if (!keys)
        return 1;
      v->keys = keys;
    }
    *cap = ncap;
  }
  v->items[v->count] = item;
  if (v->kind == JSON_OBJECT)
    v->keys[v->count] = key;
  ++v->count;
  return 0;
}

static int parseComposite(Parser *p, JsonValue *out, int isObject) {
  out->kind = isObject ? JSON_OBJECT : JSON_ARRAY;
  char close = isObject ? '}' : ']';
  int cap = 0;
  ++p->pos;
  if (++p->depth > 64)
    return fail(p, "nesting deeper than 64 levels");
  skipSpace(p);
  if (peek(p) == close) {
    ++p->pos;
    --p->depth;
    return 0;
  }
  for (;;) {
    char *key = NULL;
    skipSpace(p);
    if (isObject) {
      size_t keyLen;
      if (peek(p) != '"')
        return fail(p, "expected a string key");
      if (parseString(p, &key, &keyLen))
        return 1;
      if (seqrt_json_get(out, key)) {
        size_t at = p->pos;
        free(key);
        p->pos = at;
        return fail(p, "duplicate key");
      }
      skipSpace(p);
      if (peek(p) != ':') {
        free(key);
        return fail(p, "expected ':'");
      }
      ++p->pos;
    }
    JsonValue item;
    memset(&item, 0, sizeof(item));
    if (parseValue(p, &item)) {
      seqrt_json_free(&item);
      free(key);
      return 1;
    }
    if (appendItem(out, &cap, item, key)) {
      seqrt_json_free(&item);
      free(key);
      return fail(p, "out of memory");
    }
    skipSpace(p);
    int c = peek(p);
    if (c == ',') {
      ++p->pos;
      continue;
    }
    if (c == close) {
      ++p->pos;
      --p->depth;
      return 0;
    }
    return fail(p, isObject ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int parseValue(Parser *p, JsonValue *out) {
  skipSpace(p);
  int c = peek(p);
  switch (c) {
  case -1:
    return fail(p, "unexpected end of input");
  case '{':
    return parseComposite(p, out, 1);
  case '[':
    return parseComposite(p, out, 0);
  case '"':
    out->kind = JSON_STRING;
    return parseString(p, &out->string, &out->length);
  case 't':
    return parseLiteral(p, "true", out, JSON_BOOL, 1);
  case 'f':
    return parseLiteral(p, "false", out, JSON_BOOL, 0);
  case 'n':
    return parseLiteral(p, "null", out, JSON_NULL, 0);
  default:
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseInteger(p, out);
    if (c >= 0x20 && c < 0x7f)
      return fail(p, "unexpected character '%c'", c);
    return fail(p, "unexpected byte 0x%02x", c);
  }
}

int seqrt_json_parse(const char *text, size_t len, JsonValue *out, char *err,
                     size_t errLen) {
  Parser p = {text, len, 0, 0, err, errLen, 0};
  memset(out, 0, sizeof(*out));
  if (errLen)
    err[0] = '\0';
  if (parseValue(&p, out)) {
    seqrt_json_free(out);
    return 1;
  }
  skipSpace(&p);
  if (p.pos != p.len) {
    fail(&p, "trailing characters after the value");
    seqrt_json_free(out);
    return 1;
  }
  return 0;
}

const JsonValue *seqrt_json_get(const JsonValue *object, const char *key) {
  if (!object || object->kind != JSON_OBJECT)
    return NULL;
  for (int i = 0; i < object->count; ++i)
    if (strcmp(object->keys[i], key) == 0)
      return &object->items[i];
  return NULL;
}

void seqrt_json_free(JsonValue *v) {
  if (!v)
    return;
  free(v->string);
  for (int i = 0; i < v->count; ++i) {
    seqrt_json_free(&v->items[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  memset(v, 0, sizeof(*v));
}
