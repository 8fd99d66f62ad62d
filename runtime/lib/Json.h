/*===- Json.h - A small strict JSON parser ------------------------*- C -*-===//
 *
 * Enough JSON for safetensors headers: objects (no duplicate keys), arrays,
 * strings with every escape, integers (no fractions or exponents), true,
 * false and null. Nesting is limited to 64 levels.
 *
 *===----------------------------------------------------------------------===*/

#ifndef SEQRT_JSON_H
#define SEQRT_JSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum JsonKind {
  JSON_NULL,
  JSON_BOOL,
  JSON_INT,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT
} JsonKind;

typedef struct JsonValue {
  JsonKind kind;
  int64_t integer;          /* JSON_INT; JSON_BOOL (0 or 1) */
  char *string;             /* JSON_STRING, NUL-terminated */
  size_t length;            /* JSON_STRING, bytes without the NUL */
  int count;                /* JSON_ARRAY, JSON_OBJECT */
  struct JsonValue *items;  /* elements, or the members' values */
  char **keys;              /* JSON_OBJECT: the members' keys */
} JsonValue;

/* Parses text[0, len) into *out. On failure returns nonzero and writes a
 * message with the byte offset into err. */
int seqrt_json_parse(const char *text, size_t len, JsonValue *out, char *err,
                     size_t errLen);

/* The value of member `key` of an object, or NULL. */
const JsonValue *seqrt_json_get(const JsonValue *object, const char *key);

void seqrt_json_free(JsonValue *v);

#ifdef __cplusplus
}
#endif

#endif /* SEQRT_JSON_H */
