/* What the C tests share: checks that count failures, fixture paths and files, the tensors of a safetensors file,
 * and numpy.allclose. */
#ifndef REMBERT_TESTS_CAPI_SUPPORT_H
#define REMBERT_TESTS_CAPI_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json_min.h"

extern int test_failures;

/* Reports a failed condition with its place and goes on. */
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++test_failures;                                                         \
    }                                                                          \
  } while (0)

/* Reports a failure that the test cannot go on from, and ends the test. */
#define REQUIRE(cond)                                                            \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

/* The test's exit status: 0 when nothing failed. */
int test_result(const char* name);

/* REMBERT_FIXTURES_DIR "/" relative, in a static buffer (valid until the next call). */
const char* fixture_path(const char* relative);
/* The whole file, NUL-terminated (NULL when unreadable); free() it. */
char* read_whole_file(const char* path, size_t* size);
/* The file as JSON (NULL when unreadable or not JSON). */
json_value* read_json_file(const char* path);

/* One tensor of a safetensors file, copied out of the file (whose tensors need not be aligned to their type). */
typedef struct {
  char dtype[8];
  int64_t shape[8];
  int ndim;
  int64_t numel;
  void* data; /* malloc'ed: fixture_tensor_free */
} fixture_tensor;

typedef struct {
  char* bytes;
  json_value* header;
} safetensors_file;

int safetensors_open(safetensors_file* file, const char* path); /* 1 on success */
void safetensors_close(safetensors_file* file);
int safetensors_get(const safetensors_file* file, const char* name, fixture_tensor* out); /* 1 when found */
void fixture_tensor_free(fixture_tensor* tensor);

/* |a - e| <= atol + rtol * |e| for every element, skipping the rows (of numel / rows elements) whose keep entry is
 * 0; keep may be NULL. Prints the first difference. 1 when close. */
int all_close(const float* actual, const float* expected, int64_t numel, double atol, double rtol,
              const int64_t* keep, int64_t rows, const char* what);

#endif
