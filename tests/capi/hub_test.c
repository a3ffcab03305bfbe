/* Hub ids in the C API: a Hugging Face cache laid out as huggingface_hub writes it (refs/main holding the commit,
 * snapshots/<commit>/ with the files), read offline. The model, pipeline and tokenizer loaded by hub id give what
 * the folder gives; a hub id the cache lacks is HUB_ERROR naming it. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rembert.h"
#include "test_support.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

static char cache[256];

/* cache/models--test-org--mlm: the fixture MLM's files as links in the snapshot, refs/main naming it. */
static int make_cache(void) {
  static const char* const files[] = {"config.json", "model.safetensors", "tokenizer.json", "sentencepiece.model",
                                      "tokenizer_config.json", "special_tokens_map.json"};
  char path[512], target[512];
  FILE* ref;
  size_t i;
  strcpy(cache, "/tmp/rembert-capi-hub-XXXXXX");
  REQUIRE(mkdtemp(cache));
  snprintf(path, sizeof path, "%s/models--test-org--mlm", cache);
  REQUIRE(mkdir(path, 0755) == 0);
  snprintf(path, sizeof path, "%s/models--test-org--mlm/refs", cache);
  REQUIRE(mkdir(path, 0755) == 0);
  snprintf(path, sizeof path, "%s/models--test-org--mlm/snapshots", cache);
  REQUIRE(mkdir(path, 0755) == 0);
  snprintf(path, sizeof path, "%s/models--test-org--mlm/snapshots/" COMMIT, cache);
  REQUIRE(mkdir(path, 0755) == 0);
  for (i = 0; i < sizeof files / sizeof files[0]; ++i) {
    snprintf(target, sizeof target, "%s", fixture_path("models/mlm"));
    snprintf(target + strlen(target), sizeof target - strlen(target), "/%s", files[i]);
    snprintf(path, sizeof path, "%s/models--test-org--mlm/snapshots/" COMMIT "/%s", cache, files[i]);
    REQUIRE(symlink(target, path) == 0);
  }
  snprintf(path, sizeof path, "%s/models--test-org--mlm/refs/main", cache);
  ref = fopen(path, "w");
  REQUIRE(ref);
  fputs(COMMIT, ref);
  fclose(ref);
  return 0;
}

static int same_fill_mask(rembert_context* ctx, const char* a, const char* b) {
  rembert_pipeline *by_id = NULL, *by_folder = NULL;
  const char* result = NULL;
  char* first = NULL;
  int same = 0;
  REQUIRE(rembert_pipeline_load(a, "fill-mask", NULL, &by_id) == REMBERT_OK);
  REQUIRE(rembert_pipeline_load(b, "fill-mask", NULL, &by_folder) == REMBERT_OK);
  if (rembert_pipeline_run(ctx, by_id, "Hello [MASK] world.", NULL, NULL, &result) == REMBERT_OK) {
    first = malloc(strlen(result) + 1);
    if (first) strcpy(first, result);
    if (first && rembert_pipeline_run(ctx, by_folder, "Hello [MASK] world.", NULL, NULL, &result) == REMBERT_OK) {
      same = strcmp(first, result) == 0 && strstr(result, "\"token_str\"") != NULL;
    }
  }
  free(first);
  rembert_pipeline_free(by_id);
  rembert_pipeline_free(by_folder);
  return same;
}

static int hub_ids(rembert_context* ctx) {
  rembert_model* model = NULL;
  rembert_pipeline* pipeline = NULL;
  rembert_tokenizer *tok = NULL, *tok_folder = NULL;
  rembert_load_options options = rembert_load_options_default();
  const int64_t *ids = NULL, *ids_folder = NULL;
  size_t n = 0, n_folder = 0;

  REQUIRE(rembert_model_load("test-org/mlm", NULL, &model) == REMBERT_OK);
  CHECK(strcmp(rembert_model_head(model), "masked-lm") == 0);
  rembert_model_free(model);
  CHECK(same_fill_mask(ctx, "test-org/mlm", fixture_path("models/mlm")));

  REQUIRE(rembert_tokenizer_load("test-org/mlm", NULL, &tok) == REMBERT_OK);
  REQUIRE(rembert_tokenizer_load(fixture_path("models/mlm"), NULL, &tok_folder) == REMBERT_OK);
  REQUIRE(rembert_tokenizer_encode(ctx, tok, "Hello world", NULL, 1, &ids, NULL, &n) == REMBERT_OK);
  {
    int64_t copy[64];
    size_t i, same;
    REQUIRE(n <= 64);
    memcpy(copy, ids, n * sizeof *ids);
    REQUIRE(rembert_tokenizer_encode(ctx, tok_folder, "Hello world", NULL, 1, &ids_folder, NULL, &n_folder) == REMBERT_OK);
    same = n == n_folder && n > 2;
    for (i = 0; same && i < n; ++i) same = copy[i] == ids_folder[i];
    CHECK(same);
  }
  rembert_tokenizer_free(tok);
  rembert_tokenizer_free(tok_folder);

  /* The commit as revision names the snapshot; a branch the cache never saw is an error naming it. */
  options.revision = COMMIT;
  model = NULL;
  CHECK(rembert_model_load("test-org/mlm", &options, &model) == REMBERT_OK);
  rembert_model_free(model);
  options.revision = "v9";
  model = NULL;
  CHECK(rembert_model_load("test-org/mlm", &options, &model) == REMBERT_HUB_ERROR);
  CHECK(strstr(rembert_last_error(), "v9") != NULL);
  CHECK(model == NULL);
  CHECK(rembert_model_load("test-org/absent", NULL, &model) == REMBERT_HUB_ERROR);
  CHECK(strstr(rembert_last_error(), "test-org/absent") != NULL);
  CHECK(rembert_pipeline_load("test-org/absent", "fill-mask", NULL, &pipeline) == REMBERT_HUB_ERROR);
  CHECK(pipeline == NULL);
  CHECK(strcmp(rembert_status_name(REMBERT_HUB_ERROR), "REMBERT_HUB_ERROR") == 0);
  /* Not a hub id (two slashes) and no such folder: FILE_NOT_FOUND, as before. */
  CHECK(rembert_model_load("no/such/folder", NULL, &model) == REMBERT_FILE_NOT_FOUND);
  return 0;
}

int main(void) {
  rembert_context* ctx = rembert_context_new();
  char command[300];
  REQUIRE(ctx);
  REQUIRE(make_cache() == 0);
  setenv("HF_HUB_CACHE", cache, 1);
  setenv("HF_HUB_OFFLINE", "1", 1);
  unsetenv("HF_ENDPOINT");
  if (hub_ids(ctx) != 0) ++test_failures;
  rembert_context_free(ctx);
  snprintf(command, sizeof command, "rm -rf '%s'", cache);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", cache);
  return test_result("capi_hub_test");
}
