/* A minimal JSON reader for the C tests (the fixtures are JSON): parses a whole document into a tree. */
#ifndef REMBERT_TESTS_JSON_MIN_H
#define REMBERT_TESTS_JSON_MIN_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
  json_type type;
  double number;             /* JSON_NUMBER; JSON_BOOL: 0 or 1 */
  char* string;              /* JSON_STRING: UTF-8, NUL-terminated */
  size_t count;              /* JSON_ARRAY / JSON_OBJECT: entries */
  struct json_value* items;  /* the entries */
  char** keys;               /* JSON_OBJECT: the entries' keys */
} json_value;

/* NULL when `text` is not one JSON value. */
json_value* json_parse(const char* text);
void json_free(json_value* value);
/* The entry `key` of an object, or NULL (also for a NULL or non-object value). */
const json_value* json_get(const json_value* object, const char* key);
/* The string of an entry, or NULL. */
const char* json_get_string(const json_value* object, const char* key);

#endif
