#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int test_failures = 0;

int test_result(const char* name) {
  if (test_failures) fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
  else printf("%s: all checks passed\n", name);
  return test_failures ? 1 : 0;
}

const char* fixture_path(const char* relative) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", REMBERT_FIXTURES_DIR, relative);
  return path;
}

char* read_whole_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  char* bytes;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  bytes = (char*)malloc((size_t)n + 1);
  if (fread(bytes, 1, (size_t)n, f) != (size_t)n) {
    free(bytes);
    fclose(f);
    return NULL;
  }
  fclose(f);
  bytes[n] = '\0';
  if (size) *size = (size_t)n;
  return bytes;
}

json_value* read_json_file(const char* path) {
  char* text = read_whole_file(path, NULL);
  json_value* v = text ? json_parse(text) : NULL;
  free(text);
  return v;
}

int safetensors_open(safetensors_file* file, const char* path) {
  size_t size = 0, header_len = 0;
  char* header;
  int i;
  file->header = NULL;
  file->bytes = read_whole_file(path, &size);
  if (!file->bytes || size < 8) return 0;
  for (i = 7; i >= 0; --i) header_len = header_len * 256 + (unsigned char)file->bytes[i];
  if (header_len > size - 8) return 0;
  header = (char*)malloc(header_len + 1);
  memcpy(header, file->bytes + 8, header_len);
  header[header_len] = '\0';
  file->header = json_parse(header);
  free(header);
  return file->header != NULL;
}

void safetensors_close(safetensors_file* file) {
  json_free(file->header);
  free(file->bytes);
}

int safetensors_get(const safetensors_file* file, const char* name, fixture_tensor* out) {
  const json_value* t = json_get(file->header, name);
  const json_value* shape = json_get(t, "shape");
  const json_value* offsets = json_get(t, "data_offsets");
  const char* dtype = json_get_string(t, "dtype");
  uint64_t n = 0;
  size_t i;
  int b;
  if (!shape || !offsets || !dtype || shape->count > 8 || offsets->count != 2) return 0;
  for (b = 7; b >= 0; --b) n = n * 256 + (unsigned char)file->bytes[b];
  snprintf(out->dtype, sizeof out->dtype, "%s", dtype);
  out->ndim = (int)shape->count;
  out->numel = 1;
  for (i = 0; i < shape->count; ++i) {
    out->shape[i] = (int64_t)shape->items[i].number;
    out->numel *= out->shape[i];
  }
  {
    const size_t begin = (size_t)offsets->items[0].number, end = (size_t)offsets->items[1].number;
    out->data = malloc(end - begin + 1);
    memcpy(out->data, file->bytes + 8 + n + begin, end - begin);
  }
  return 1;
}

void fixture_tensor_free(fixture_tensor* tensor) {
  free(tensor->data);
  tensor->data = NULL;
}

int all_close(const float* actual, const float* expected, int64_t numel, double atol, double rtol,
              const int64_t* keep, int64_t rows, const char* what) {
  const int64_t per_row = keep && rows > 0 ? numel / rows : numel;
  int64_t i, bad = 0, compared = 0;
  for (i = 0; i < numel; ++i) {
    const double a = actual[i], e = expected[i];
    if (keep && keep[i / per_row] == 0) continue;
    ++compared;
    if (!(fabs(a - e) <= atol + rtol * fabs(e))) {
      if (bad++ == 0) fprintf(stderr, "%s: index %lld: %.8g vs expected %.8g\n", what, (long long)i, a, e);
    }
  }
  if (bad) fprintf(stderr, "%s: %lld of %lld values differ\n", what, (long long)bad, (long long)compared);
  return bad == 0 && compared > 0;
}
