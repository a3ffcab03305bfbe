/* The thread-safety rules of rembert.h: one model and one pipeline used from several threads at once, each thread
 * with its own context, give the same results as one thread alone; rembert_last_error() is per thread. */
#include <pthread.h>
#include <string.h>

#include "rembert.h"
#include "test_support.h"

#define THREADS 4
#define ROUNDS 3

static rembert_model* model;
static rembert_pipeline* fill;
static float reference[4 * 64];
static const char* reference_json;
static const int64_t ids[4] = {2, 57, 311, 3};
static const int64_t shape[2] = {1, 4};

typedef struct {
  int index;
  int failures;
} worker;

/* last_hidden_state of the ids, copied into out[256]. */
static int run_forward(rembert_context* ctx, float* out) {
  const float* data = NULL;
  const int64_t* s = NULL;
  int ndim = 0;
  if (rembert_context_set_input(ctx, "input_ids", REMBERT_I64, ids, shape, 2) != REMBERT_OK) return 0;
  if (rembert_forward(ctx, model) != REMBERT_OK) return 0;
  if (rembert_context_output(ctx, "last_hidden_state", &data, &s, &ndim) != REMBERT_OK) return 0;
  if (ndim != 3 || s[0] * s[1] * s[2] != 4 * 64) return 0;
  memcpy(out, data, sizeof reference);
  return 1;
}

static void* work(void* arg) {
  worker* w = (worker*)arg;
  rembert_context* ctx = rembert_context_new();
  const char* json = NULL;
  int round;
  for (round = 0; round < ROUNDS; ++round) {
    float out[4 * 64];
    if (!run_forward(ctx, out) || memcmp(out, reference, sizeof out) != 0) ++w->failures;
    if (rembert_pipeline_run(ctx, fill, "The capital of France is [MASK].", NULL, NULL, &json) != REMBERT_OK ||
        strcmp(json, reference_json) != 0) {
      ++w->failures;
    }
    /* An error on odd threads; the even ones must still read an empty message after their successes. */
    if (w->index % 2) {
      if (rembert_forward(ctx, NULL) != REMBERT_INVALID_ARGUMENT || !strstr(rembert_last_error(), "model")) {
        ++w->failures;
      }
    } else if (strcmp(rembert_last_error(), "") != 0) {
      ++w->failures;
    }
  }
  rembert_context_free(ctx);
  return NULL;
}

int main(void) {
  rembert_context* ctx = rembert_context_new();
  pthread_t threads[THREADS];
  worker workers[THREADS];
  int i;
  REQUIRE(ctx);
  REQUIRE(rembert_model_load(fixture_path("models/base"), NULL, &model) == REMBERT_OK);
  REQUIRE(rembert_pipeline_load(fixture_path("models/mlm"), "fill-mask", NULL, &fill) == REMBERT_OK);
  REQUIRE(run_forward(ctx, reference));
  REQUIRE(rembert_pipeline_run(ctx, fill, "The capital of France is [MASK].", NULL, NULL, &reference_json) ==
          REMBERT_OK);
  for (i = 0; i < THREADS; ++i) {
    workers[i].index = i;
    workers[i].failures = 0;
    REQUIRE(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
  }
  for (i = 0; i < THREADS; ++i) {
    pthread_join(threads[i], NULL);
    if (workers[i].failures) fprintf(stderr, "thread %d: %d failure(s)\n", i, workers[i].failures);
    test_failures += workers[i].failures;
  }
  rembert_pipeline_free(fill);
  rembert_model_free(model);
  rembert_context_free(ctx);
  return test_result("capi_threads_test");
}
