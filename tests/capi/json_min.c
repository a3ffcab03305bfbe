/* A recursive-descent JSON parser: enough for the fixtures (UTF-8 text, \uXXXX escapes with surrogate pairs). */
#include "json_min.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const char* p;
  int failed;
} parser;

static void skip_space(parser* s) {
  while (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t') ++s->p;
}

static void append(char** buf, size_t* len, size_t* cap, char c) {
  if (*len + 1 >= *cap) {
    *cap = *cap ? *cap * 2 : 16;
    *buf = (char*)realloc(*buf, *cap);
  }
  (*buf)[(*len)++] = c;
  (*buf)[*len] = '\0';
}

static void append_utf8(char** buf, size_t* len, size_t* cap, unsigned long cp) {
  if (cp < 0x80) {
    append(buf, len, cap, (char)cp);
  } else if (cp < 0x800) {
    append(buf, len, cap, (char)(0xC0 | (cp >> 6)));
    append(buf, len, cap, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    append(buf, len, cap, (char)(0xE0 | (cp >> 12)));
    append(buf, len, cap, (char)(0x80 | ((cp >> 6) & 0x3F)));
    append(buf, len, cap, (char)(0x80 | (cp & 0x3F)));
  } else {
    append(buf, len, cap, (char)(0xF0 | (cp >> 18)));
    append(buf, len, cap, (char)(0x80 | ((cp >> 12) & 0x3F)));
    append(buf, len, cap, (char)(0x80 | ((cp >> 6) & 0x3F)));
    append(buf, len, cap, (char)(0x80 | (cp & 0x3F)));
  }
}

static unsigned long hex4(parser* s) {
  unsigned long v = 0;
  int i;
  for (i = 0; i < 4; ++i) {
    const char c = *s->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned long)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned long)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned long)(c - 'A' + 10);
    else { s->failed = 1; return 0; }
  }
  return v;
}

static char* parse_string(parser* s) {
  char* buf = NULL;
  size_t len = 0, cap = 0;
  append(&buf, &len, &cap, 'x');
  len = 0;
  buf[0] = '\0';
  ++s->p; /* the opening quote */
  while (*s->p && *s->p != '"') {
    char c = *s->p++;
    if (c != '\\') { append(&buf, &len, &cap, c); continue; }
    c = *s->p++;
    switch (c) {
      case 'n': append(&buf, &len, &cap, '\n'); break;
      case 't': append(&buf, &len, &cap, '\t'); break;
      case 'r': append(&buf, &len, &cap, '\r'); break;
      case 'b': append(&buf, &len, &cap, '\b'); break;
      case 'f': append(&buf, &len, &cap, '\f'); break;
      case 'u': {
        unsigned long cp = hex4(s);
        if (cp >= 0xD800 && cp < 0xDC00 && s->p[0] == '\\' && s->p[1] == 'u') {
          unsigned long low;
          s->p += 2;
          low = hex4(s);
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(&buf, &len, &cap, cp);
        break;
      }
      default: append(&buf, &len, &cap, c); break; /* \" \\ \/ */
    }
  }
  if (*s->p != '"') s->failed = 1; else ++s->p;
  return buf;
}

static void parse_value(parser* s, json_value* out);

static void parse_container(parser* s, json_value* out, char close) {
  size_t cap = 0;
  ++s->p;
  skip_space(s);
  if (*s->p == close) { ++s->p; return; }
  while (!s->failed) {
    json_value item;
    char* key = NULL;
    skip_space(s);
    if (close == '}') {
      if (*s->p != '"') { s->failed = 1; return; }
      key = parse_string(s);
      skip_space(s);
      if (*s->p++ != ':') { free(key); s->failed = 1; return; }
    }
    parse_value(s, &item);
    if (out->count == cap) {
      cap = cap ? cap * 2 : 8;
      out->items = (json_value*)realloc(out->items, cap * sizeof(json_value));
      if (close == '}') out->keys = (char**)realloc(out->keys, cap * sizeof(char*));
    }
    out->items[out->count] = item;
    if (close == '}') out->keys[out->count] = key;
    ++out->count;
    skip_space(s);
    if (*s->p == ',') { ++s->p; continue; }
    if (*s->p == close) { ++s->p; return; }
    s->failed = 1;
  }
}

static void parse_value(parser* s, json_value* out) {
  memset(out, 0, sizeof *out);
  skip_space(s);
  if (*s->p == '{') {
    out->type = JSON_OBJECT;
    parse_container(s, out, '}');
  } else if (*s->p == '[') {
    out->type = JSON_ARRAY;
    parse_container(s, out, ']');
  } else if (*s->p == '"') {
    out->type = JSON_STRING;
    out->string = parse_string(s);
  } else if (strncmp(s->p, "true", 4) == 0 || strncmp(s->p, "false", 5) == 0) {
    out->type = JSON_BOOL;
    out->number = *s->p == 't';
    s->p += *s->p == 't' ? 4 : 5;
  } else if (strncmp(s->p, "null", 4) == 0) {
    out->type = JSON_NULL;
    s->p += 4;
  } else {
    char* end = NULL;
    out->type = JSON_NUMBER;
    out->number = strtod(s->p, &end);
    if (end == s->p) s->failed = 1;
    s->p = end;
  }
}

static void free_children(json_value* v) {
  size_t i;
  for (i = 0; i < v->count; ++i) {
    free_children(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->string);
}

json_value* json_parse(const char* text) {
  parser s;
  json_value* v = (json_value*)malloc(sizeof *v);
  s.p = text;
  s.failed = 0;
  parse_value(&s, v);
  skip_space(&s);
  if (s.failed || *s.p) {
    json_free(v);
    return NULL;
  }
  return v;
}

void json_free(json_value* value) {
  if (!value) return;
  free_children(value);
  free(value);
}

const json_value* json_get(const json_value* object, const char* key) {
  size_t i;
  if (!object || object->type != JSON_OBJECT) return NULL;
  for (i = 0; i < object->count; ++i) {
    if (strcmp(object->keys[i], key) == 0) return &object->items[i];
  }
  return NULL;
}

const char* json_get_string(const json_value* object, const char* key) {
  const json_value* v = json_get(object, key);
  return v && v->type == JSON_STRING ? v->string : NULL;
}
