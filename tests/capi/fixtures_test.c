/* The C API against the fixtures: forwards of tests/fixtures/cases.json (compared with transformers' outputs within
 * each case's tolerance, as tests/conformance_test.cc does), the fill-mask and text-classification pipelines of the
 * trained models against their references, and both tokenizers against tokenizer/tokenizer_cases.json. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rembert.h"
#include "test_support.h"

static json_value* cases;
static safetensors_file tensors;

static const json_value* case_named(const char* name) {
  const json_value* list = json_get(cases, "cases");
  size_t i;
  for (i = 0; list && i < list->count; ++i) {
    const char* n = json_get_string(&list->items[i], "name");
    if (n && strcmp(n, name) == 0) return &list->items[i];
  }
  return NULL;
}

/* Outputs with one row per token: their padded positions are not compared. */
static int per_token(const char* output, const char* head) {
  if (strcmp(output, "last_hidden_state") == 0 || strcmp(output, "start_logits") == 0 ||
      strcmp(output, "end_logits") == 0 || strncmp(output, "hidden_states.", 14) == 0) {
    return 1;
  }
  return strcmp(output, "logits") == 0 && (strcmp(head, "masked-lm") == 0 || strcmp(head, "causal-lm") == 0 ||
                                           strcmp(head, "token-classification") == 0);
}

static int compare_output(rembert_context* ctx, const char* output, const char* tensor_name, double atol,
                          double rtol, const int64_t* keep, int64_t rows, const char* head) {
  fixture_tensor want;
  const float* data = NULL;
  const int64_t* shape = NULL;
  int ndim = -1, d;
  char what[256];
  snprintf(what, sizeof what, "%s (%s)", output, tensor_name);
  REQUIRE(safetensors_get(&tensors, tensor_name, &want));
  REQUIRE(strcmp(want.dtype, "F32") == 0);
  REQUIRE(rembert_context_output(ctx, output, &data, &shape, &ndim) == REMBERT_OK);
  if (ndim != want.ndim) fixture_tensor_free(&want);
  REQUIRE(ndim == want.ndim);
  for (d = 0; d < ndim; ++d) CHECK(shape[d] == want.shape[d]);
  if (!per_token(output, head)) keep = NULL;
  CHECK(all_close(data, (const float*)want.data, want.numel, atol, rtol, keep, rows, what));
  fixture_tensor_free(&want);
  return 0;
}

/* Runs one case through rembert_context_set_input + rembert_forward and compares every output it names. */
static int run_case(rembert_context* ctx, const char* name) {
  const json_value* c = case_named(name);
  const json_value *inputs, *outputs, *tolerance;
  const char* model_key;
  char dir[512];
  rembert_model* model = NULL;
  fixture_tensor given[16];
  size_t given_count = 0;
  const int64_t* keep = NULL;
  int64_t rows = 0;
  double atol, rtol;
  size_t i;
  printf("case %s\n", name);
  REQUIRE(c);
  inputs = json_get(c, "inputs");
  outputs = json_get(c, "outputs");
  tolerance = json_get(c, "tolerance");
  model_key = json_get_string(c, "model");
  REQUIRE(inputs && outputs && tolerance && model_key);
  atol = json_get(tolerance, "atol")->number;
  rtol = json_get(tolerance, "rtol")->number;
  snprintf(dir, sizeof dir, "%s", fixture_path(json_get_string(json_get(json_get(cases, "models"), model_key), "dir")));
  REQUIRE(rembert_model_load(dir, NULL, &model) == REMBERT_OK);

  rembert_context_clear_inputs(ctx);
  REQUIRE(inputs->count <= sizeof given / sizeof given[0]);
  for (i = 0; i < inputs->count; ++i) {
    fixture_tensor t;
    REQUIRE(safetensors_get(&tensors, inputs->items[i].string, &t));
    given[given_count++] = t;
    REQUIRE(strcmp(t.dtype, "I64") == 0 || strcmp(t.dtype, "F32") == 0);
    CHECK(rembert_context_set_input(ctx, inputs->keys[i], strcmp(t.dtype, "I64") == 0 ? REMBERT_I64 : REMBERT_F32,
                                    t.data, t.shape, t.ndim) == REMBERT_OK);
    if (strcmp(inputs->keys[i], "attention_mask") == 0) {
      keep = (const int64_t*)t.data;
      rows = t.numel;
    }
  }
  if (json_get(outputs, "hidden_states")) CHECK(rembert_context_set_flag(ctx, "output_hidden_states", 1) == REMBERT_OK);
  if (rembert_forward(ctx, model) != REMBERT_OK) {
    fprintf(stderr, "forward: %s\n", rembert_context_error(ctx));
    ++test_failures;
  }
  for (i = 0; i < outputs->count; ++i) {
    const json_value* ref = &outputs->items[i];
    if (ref->type == JSON_STRING) {
      compare_output(ctx, outputs->keys[i], ref->string, atol, rtol, keep, rows, rembert_model_head(model));
    } else if (strcmp(outputs->keys[i], "hidden_states") == 0) {
      size_t k;
      for (k = 0; k < ref->count; ++k) {
        char output[64];
        snprintf(output, sizeof output, "hidden_states.%u", (unsigned)k);
        compare_output(ctx, output, ref->items[k].string, atol, rtol, keep, rows, rembert_model_head(model));
      }
    }
  }
  for (i = 0; i < given_count; ++i) fixture_tensor_free(&given[i]);
  rembert_model_free(model);
  return 0;
}

/* Runs the pipeline on the "text" of each of the first `lines` lines of a reference file and hands check() the
 * reference line and the parsed result (NULL when the run failed). */
typedef void (*reference_check)(rembert_context* ctx, const rembert_pipeline* pipeline, const json_value* ref,
                                const json_value* got, int n);

static int matches_reference(rembert_context* ctx, const char* model, const char* task, const char* reference,
                             int lines, reference_check check) {
  rembert_pipeline* pipeline = NULL;
  char* text = read_whole_file(fixture_path(reference), NULL);
  char* line = text;
  int n = 0;
  REQUIRE(text);
  REQUIRE(rembert_pipeline_load(fixture_path(model), task, NULL, &pipeline) == REMBERT_OK);
  CHECK(strcmp(rembert_pipeline_task(pipeline), task) == 0);
  while (line && *line && n < lines) {
    char* end = strchr(line, '\n');
    json_value *ref, *got = NULL;
    const char* result = NULL;
    if (end) *end = '\0';
    ref = json_parse(line);
    REQUIRE(ref);
    CHECK(rembert_pipeline_run(ctx, pipeline, json_get_string(ref, "text"), NULL, NULL, &result) == REMBERT_OK);
    if (result) got = json_parse(result);
    check(ctx, pipeline, ref, got, n);
    json_free(got);
    json_free(ref);
    line = end ? end + 1 : NULL;
    ++n;
  }
  CHECK(n == lines);
  rembert_pipeline_free(pipeline);
  free(text);
  return 0;
}

/* The trained masked LM's reference: same tokens, token strings and sequences, scores within 1e-5 (as
 * tests/pipeline_trained_test.cc). */
static void check_fill_mask(rembert_context* ctx, const rembert_pipeline* fill, const json_value* ref,
                            const json_value* got, int n) {
  const json_value* want = json_get(ref, "predictions");
  const char* result = NULL;
  size_t k;
  CHECK(got && got->type == JSON_ARRAY && want && got->count == want->count);
  for (k = 0; got && want && k < got->count && k < want->count; ++k) {
    const json_value *g = &got->items[k], *w = &want->items[k];
    CHECK(json_get(g, "token")->number == json_get(w, "token")->number);
    CHECK(fabs(json_get(g, "score")->number - json_get(w, "score")->number) <= 1e-5);
    CHECK(strcmp(json_get_string(g, "token_str"), json_get_string(w, "token_str")) == 0);
    CHECK(strcmp(json_get_string(g, "sequence"), json_get_string(w, "sequence")) == 0);
  }
  if (n == 0 && want && want->count >= 2) {
    /* transformers' top_k parameter: the best two of the same list. */
    json_value* two = NULL;
    CHECK(rembert_pipeline_run(ctx, fill, json_get_string(ref, "text"), NULL, "{\"top_k\": 2}", &result) ==
          REMBERT_OK);
    if (result) two = json_parse(result);
    CHECK(two && two->count == 2 &&
          json_get(&two->items[1], "token")->number == json_get(&want->items[1], "token")->number);
    json_free(two);
  }
}

/* The language-identification model's reference predictions, label and score within 1e-5 (as
 * tests/pipeline_trained_test.cc); transformers' legacy output is a list holding the best label. */
static void check_text_classification(rembert_context* ctx, const rembert_pipeline* classify, const json_value* ref,
                                      const json_value* got, int n) {
  (void)ctx;
  (void)classify;
  (void)n;
  CHECK(got && got->type == JSON_ARRAY && got->count == 1);
  if (got && got->count == 1) {
    CHECK(strcmp(json_get_string(&got->items[0], "label"), json_get_string(ref, "label")) == 0);
    CHECK(fabs(json_get(&got->items[0], "score")->number - json_get(ref, "score")->number) <= 1e-5);
  }
}

/* transformers' load warnings: the bare RemBertModel checkpoint has no masked-LM head, which is then initialised;
 * the trained masked LM has every weight. */
static int load_warnings(void) {
  rembert_pipeline* fill = NULL;
  rembert_model* model = NULL;
  rembert_load_options options = rembert_load_options_default();
  REQUIRE(rembert_pipeline_load(fixture_path("models/base"), "fill-mask", NULL, &fill) == REMBERT_OK);
  CHECK(rembert_pipeline_num_warnings(fill) >= 1 && strstr(rembert_pipeline_warning(fill, 0), "cls.predictions"));
  CHECK(rembert_pipeline_warning(fill, 99) == NULL);
  rembert_pipeline_free(fill);
  options.head = "masked-lm";
  REQUIRE(rembert_model_load(fixture_path("models/base"), &options, &model) == REMBERT_OK);
  CHECK(strcmp(rembert_model_head(model), "masked-lm") == 0);
  CHECK(rembert_model_num_warnings(model) >= 1 && strstr(rembert_model_warning(model, 0), "newly initialized"));
  rembert_model_free(model);
  REQUIRE(rembert_model_load(fixture_path("trained/lm"), NULL, &model) == REMBERT_OK);
  CHECK(rembert_model_num_warnings(model) == 0 && rembert_model_warning(model, 0) == NULL);
  rembert_model_free(model);
  return 0;
}

/* text-generation answers in transformers' shape, [{"generated_text": ...}]: the prompt then the continuation, which
 * return_full_text=false gives alone. */
static int text_generation_shape(rembert_context* ctx) {
  rembert_pipeline* generate = NULL;
  const char* result = NULL;
  json_value *full = NULL, *new_only = NULL;
  const char *full_text, *new_text;
  REQUIRE(rembert_pipeline_load(fixture_path("models/clm"), "text-generation", NULL, &generate) == REMBERT_OK);
  REQUIRE(rembert_pipeline_run(ctx, generate, "Hello world", NULL, "{\"max_new_tokens\": 3}", &result) == REMBERT_OK);
  full = json_parse(result);
  REQUIRE(rembert_pipeline_run(ctx, generate, "Hello world", NULL,
                               "{\"max_new_tokens\": 3, \"return_full_text\": false}", &result) == REMBERT_OK);
  new_only = json_parse(result);
  CHECK(full && full->type == JSON_ARRAY && full->count == 1 && full->items[0].count == 1);
  CHECK(new_only && new_only->type == JSON_ARRAY && new_only->count == 1);
  full_text = full && full->count == 1 ? json_get_string(&full->items[0], "generated_text") : NULL;
  new_text = new_only && new_only->count == 1 ? json_get_string(&new_only->items[0], "generated_text") : NULL;
  CHECK(full_text && new_text && strncmp(full_text, "Hello world", 11) == 0 && strlen(new_text) > 0 &&
        strcmp(full_text + 11, new_text) == 0);
  json_free(full);
  json_free(new_only);
  rembert_pipeline_free(generate);
  return 0;
}

static int same_ids(const int64_t* ids, size_t n, const json_value* want) {
  size_t i;
  if (!want || want->count != n) return 0;
  for (i = 0; i < n; ++i) {
    if ((double)ids[i] != want->items[i].number) return 0;
  }
  return 1;
}

/* Single texts and pairs: ids, token type ids and both decodes; `fast` reads the case's "fast" expectations. */
static int tokenizer_matches_cases(rembert_context* ctx, const char* kind) {
  rembert_load_options options = rembert_load_options_default();
  rembert_tokenizer* tok = NULL;
  json_value* all = read_json_file(fixture_path("tokenizer/tokenizer_cases.json"));
  const json_value* list = json_get(all, "cases");
  const int fast = strcmp(kind, "fast") == 0;
  size_t i, checked = 0;
  REQUIRE(list);
  options.tokenizer = kind;
  REQUIRE(rembert_tokenizer_load(fixture_path("tokenizer"), &options, &tok) == REMBERT_OK);
  CHECK(rembert_tokenizer_token_to_id(tok, "[MASK]") == 4);
  for (i = 0; i < list->count; ++i) {
    const json_value* c = &list->items[i];
    const char* k = json_get_string(c, "kind");
    const json_value* want = fast ? json_get(c, "fast") : c;
    const int64_t *ids = NULL, *types = NULL;
    const char* decoded = NULL;
    size_t n = 0;
    if (strcmp(k, "single") != 0 && strcmp(k, "pair") != 0) continue;
    CHECK(rembert_tokenizer_encode(ctx, tok, json_get_string(c, "text"), json_get_string(c, "text_pair"), 1, &ids,
                                   &types, &n) == REMBERT_OK);
    if (!same_ids(ids, n, json_get(want, "input_ids")) || !same_ids(types, n, json_get(want, "token_type_ids"))) {
      fprintf(stderr, "%s (%s): ids differ\n", json_get_string(c, "name"), kind);
      ++test_failures;
    }
    if (json_get_string(want, "decode")) {
      CHECK(rembert_tokenizer_decode(ctx, tok, ids, n, 0, &decoded) == REMBERT_OK);
      CHECK(decoded && strcmp(decoded, json_get_string(want, "decode")) == 0);
    }
    if (json_get_string(want, "decode_skip_special")) {
      CHECK(rembert_tokenizer_decode(ctx, tok, ids, n, 1, &decoded) == REMBERT_OK);
      CHECK(decoded && strcmp(decoded, json_get_string(want, "decode_skip_special")) == 0);
    }
    ++checked;
  }
  CHECK(checked >= 40);
  rembert_tokenizer_free(tok);
  json_free(all);
  return 0;
}

int main(void) {
  rembert_context* ctx = rembert_context_new();
  const char* forward_cases[] = {"base_batch_padded", "mlm_batch_labels", "seqcls_single_label", "mc_labels",
                                 "qa_no_labels",      "fill_mask"};
  size_t i;
  REQUIRE(ctx);
  CHECK(strcmp(rembert_version(), REMBERT_VERSION_STRING) == 0);
  cases = read_json_file(fixture_path("cases.json"));
  REQUIRE(cases);
  REQUIRE(safetensors_open(&tensors, fixture_path("cases.safetensors")));
  for (i = 0; i < sizeof forward_cases / sizeof forward_cases[0]; ++i) run_case(ctx, forward_cases[i]);
  matches_reference(ctx, "trained/lm", "fill-mask", "trained/lm/reference_fill_mask.jsonl", 20, check_fill_mask);
  matches_reference(ctx, "trained/langid", "text-classification", "trained/langid/reference_predictions.jsonl", 10,
                    check_text_classification);
  load_warnings();
  text_generation_shape(ctx);
  tokenizer_matches_cases(ctx, "slow");
  tokenizer_matches_cases(ctx, "fast");
  safetensors_close(&tensors);
  json_free(cases);
  rembert_context_free(ctx);
  return test_result("capi_fixtures_test");
}
