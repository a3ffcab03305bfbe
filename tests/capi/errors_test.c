/* Every error path of the C API: each failing call returns its status and a message naming what was wrong, leaves
 * the output arguments alone, and nothing aborts. */
#include <stdlib.h>
#include <string.h>

#include "rembert.h"
#include "test_support.h"

/* The call returned `status` and rembert_last_error() mentions `part`. */
#define CHECK_FAILS(call, status, part)                                                                   \
  do {                                                                                                    \
    const rembert_status got_ = (call);                                                                   \
    if (got_ != (status) || !strstr(rembert_last_error(), (part))) {                                      \
      fprintf(stderr, "%s:%d: %s gave %s \"%s\", expected %s mentioning \"%s\"\n", __FILE__, __LINE__, #call, \
              rembert_status_name(got_), rembert_last_error(), #status, (part));                          \
      ++test_failures;                                                                                    \
    }                                                                                                     \
  } while (0)

static void loading(void) {
  rembert_load_options options = rembert_load_options_default();
  rembert_model* model = NULL;
  rembert_tokenizer* tok = NULL;
  rembert_pipeline* pipeline = NULL;
  const char* missing = "/nonexistent/rembert-model";

  CHECK_FAILS(rembert_model_load(missing, NULL, &model), REMBERT_FILE_NOT_FOUND, missing);
  CHECK(model == NULL);
  CHECK_FAILS(rembert_model_load(fixture_path("models/base/config.json"), NULL, &model), REMBERT_FILE_NOT_FOUND,
              "is not a folder");
  CHECK_FAILS(rembert_model_load(NULL, NULL, &model), REMBERT_INVALID_ARGUMENT, "model folder");
  CHECK_FAILS(rembert_model_load(fixture_path("models/base"), NULL, NULL), REMBERT_INVALID_ARGUMENT, "out");
  /* A folder without config.json: the file's name is in the message. */
  CHECK_FAILS(rembert_model_load(fixture_path("tokenizer"), NULL, &model), REMBERT_BAD_FILE, "config.json");
  options.dtype = "float13";
  CHECK_FAILS(rembert_model_load(fixture_path("models/base"), &options, &model), REMBERT_BAD_DTYPE, "float13");
  options = rembert_load_options_default();
  options.head = "regression-tree";
  CHECK_FAILS(rembert_model_load(fixture_path("models/base"), &options, &model), REMBERT_INVALID_ARGUMENT,
              "regression-tree");
  CHECK(model == NULL);

  options = rembert_load_options_default();
  options.tokenizer = "medium";
  CHECK_FAILS(rembert_tokenizer_load(fixture_path("tokenizer"), &options, &tok), REMBERT_INVALID_ARGUMENT, "medium");
  CHECK_FAILS(rembert_tokenizer_load(missing, NULL, &tok), REMBERT_FILE_NOT_FOUND, missing);
  CHECK_FAILS(rembert_tokenizer_load(fixture_path("train"), NULL, &tok), REMBERT_BAD_FILE, "");
  CHECK(tok == NULL);

  CHECK_FAILS(rembert_pipeline_load(fixture_path("models/mlm"), "summarization", NULL, &pipeline),
              REMBERT_UNSUPPORTED, "summarization");
  CHECK_FAILS(rembert_pipeline_load(missing, "fill-mask", NULL, &pipeline), REMBERT_FILE_NOT_FOUND, missing);
  CHECK_FAILS(rembert_pipeline_load(fixture_path("models/mlm"), NULL, NULL, &pipeline), REMBERT_INVALID_ARGUMENT,
              "task");
  options = rembert_load_options_default();
  options.dtype = "int4";
  CHECK_FAILS(rembert_pipeline_load(fixture_path("models/mlm"), "fill-mask", &options, &pipeline), REMBERT_BAD_DTYPE,
              "int4");
  CHECK(pipeline == NULL);
}

static void set_ids(rembert_context* ctx, const int64_t* shape, int ndim) {
  static int64_t ids[200 * 2];
  size_t i;
  for (i = 0; i < sizeof ids / sizeof ids[0]; ++i) ids[i] = 5 + (int64_t)(i % 50);
  rembert_context_clear_inputs(ctx);
  CHECK(rembert_context_set_input(ctx, "input_ids", REMBERT_I64, ids, shape, ndim) == REMBERT_OK);
}

static void forward(rembert_context* ctx) {
  rembert_model* model = NULL;
  int64_t value = 0, max_positions = 0;
  const int64_t ok_shape[2] = {1, 4}, empty_batch[2] = {0, 4}, one_dim[1] = {4}, negative[2] = {1, -4};
  const int64_t mask_shape[2] = {1, 3};
  const int64_t mask[4] = {1, 1, 1, 1}, out_of_vocab[4] = {2, 5, 999999, 3};
  const float floats[4] = {0, 0, 0, 0};
  const float* data = NULL;
  const int64_t* shape = NULL;
  int ndim = 0;
  int64_t too_long[2] = {1, 0};

  if (rembert_model_load(fixture_path("models/base"), NULL, &model) != REMBERT_OK) {
    fprintf(stderr, "load: %s\n", rembert_last_error());
    ++test_failures;
    return;
  }
  CHECK(rembert_model_config_int(model, "max_position_embeddings", &max_positions) == REMBERT_OK);
  CHECK_FAILS(rembert_model_config_int(model, "colour", &value), REMBERT_INVALID_ARGUMENT, "colour");
  CHECK_FAILS(rembert_model_config_int(NULL, "hidden_size", &value), REMBERT_INVALID_ARGUMENT, "model");

  /* No input at all. */
  rembert_context_clear_inputs(ctx);
  CHECK_FAILS(rembert_forward(ctx, model), REMBERT_INVALID_ARGUMENT, "input_ids");
  /* Shapes. */
  set_ids(ctx, empty_batch, 2);
  CHECK_FAILS(rembert_forward(ctx, model), REMBERT_BAD_SHAPE, "[0, 4]");
  set_ids(ctx, one_dim, 1);
  CHECK_FAILS(rembert_forward(ctx, model), REMBERT_BAD_SHAPE, "input_ids");
  too_long[1] = max_positions + 1;
  set_ids(ctx, too_long, 2);
  CHECK_FAILS(rembert_forward(ctx, model), REMBERT_BAD_SHAPE, "max_position_embeddings");
  set_ids(ctx, ok_shape, 2);
  CHECK(rembert_context_set_input(ctx, "attention_mask", REMBERT_I64, mask, mask_shape, 2) == REMBERT_OK);
  CHECK_FAILS(rembert_forward(ctx, model), REMBERT_BAD_SHAPE, "attention_mask");
  CHECK(rembert_context_num_outputs(ctx) == 0);
  set_ids(ctx, ok_shape, 2);
  CHECK(rembert_context_set_input(ctx, "token_type_ids", REMBERT_I64, mask, mask_shape, 2) == REMBERT_OK);
  CHECK_FAILS(rembert_forward(ctx, model), REMBERT_BAD_SHAPE, "token_type_ids");
  CHECK_FAILS(rembert_context_set_input(ctx, "input_ids", REMBERT_I64, mask, negative, 2), REMBERT_INVALID_ARGUMENT,
              "negative");
  CHECK_FAILS(rembert_context_set_input(ctx, "input_ids", REMBERT_I64, mask, NULL, 2), REMBERT_INVALID_ARGUMENT,
              "shape");
  CHECK_FAILS(rembert_context_set_input(ctx, "input_ids", REMBERT_I64, mask, ok_shape, -1), REMBERT_INVALID_ARGUMENT,
              "ndim");
  /* Dtypes. */
  CHECK_FAILS(rembert_context_set_input(ctx, "input_ids", REMBERT_F32, floats, ok_shape, 2), REMBERT_BAD_DTYPE,
              "input_ids");
  CHECK_FAILS(rembert_context_set_input(ctx, "inputs_embeds", REMBERT_I64, mask, ok_shape, 2), REMBERT_BAD_DTYPE,
              "inputs_embeds");
  CHECK_FAILS(rembert_context_set_input(ctx, "input_ids", (rembert_dtype)42, mask, ok_shape, 2), REMBERT_BAD_DTYPE,
              "42");
  /* Names and values. */
  CHECK_FAILS(rembert_context_set_input(ctx, "input_idz", REMBERT_I64, mask, ok_shape, 2), REMBERT_INVALID_ARGUMENT,
              "input_idz");
  CHECK_FAILS(rembert_context_set_flag(ctx, "output_everything", 1), REMBERT_INVALID_ARGUMENT, "output_everything");
  set_ids(ctx, ok_shape, 2);
  CHECK(rembert_context_set_input(ctx, "input_ids", REMBERT_I64, out_of_vocab, ok_shape, 2) == REMBERT_OK);
  CHECK_FAILS(rembert_forward(ctx, model), REMBERT_BAD_INPUT, "999999");
  /* A good forward, then an output this model does not produce. */
  set_ids(ctx, ok_shape, 2);
  CHECK(rembert_forward(ctx, model) == REMBERT_OK);
  CHECK(strcmp(rembert_context_error(ctx), "") == 0 && strcmp(rembert_last_error(), "") == 0);
  CHECK(rembert_context_output(ctx, "last_hidden_state", &data, &shape, &ndim) == REMBERT_OK && ndim == 3);
  data = NULL;
  CHECK_FAILS(rembert_context_output(ctx, "logits", &data, &shape, &ndim), REMBERT_UNSUPPORTED, "last_hidden_state");
  CHECK(data == NULL);
  CHECK(rembert_context_status(ctx) == REMBERT_UNSUPPORTED && strstr(rembert_context_error(ctx), "logits"));
  CHECK_FAILS(rembert_context_output(ctx, NULL, &data, &shape, &ndim), REMBERT_INVALID_ARGUMENT, "name");
  CHECK(rembert_context_output_name(ctx, 99) == NULL);
  /* Null handles. */
  CHECK_FAILS(rembert_forward(NULL, model), REMBERT_INVALID_ARGUMENT, "ctx");
  CHECK_FAILS(rembert_forward(ctx, NULL), REMBERT_INVALID_ARGUMENT, "model");
  CHECK_FAILS(rembert_context_set_input(NULL, "input_ids", REMBERT_I64, mask, ok_shape, 2), REMBERT_INVALID_ARGUMENT,
              "ctx");
  rembert_model_free(model);
}

static void text(rembert_context* ctx) {
  rembert_tokenizer* tok = NULL;
  rembert_pipeline* fill = NULL;
  const int64_t* ids = NULL;
  const int64_t bad_id = 99999999;
  const char* out = NULL;
  size_t n = 0;
  rembert_load_options slow = rembert_load_options_default();
  slow.tokenizer = "slow";
  CHECK(rembert_tokenizer_load(fixture_path("tokenizer"), &slow, &tok) == REMBERT_OK);
  CHECK_FAILS(rembert_tokenizer_encode(ctx, tok, "\xff\xfe invalid", NULL, 1, &ids, NULL, &n), REMBERT_BAD_INPUT, "");
  CHECK_FAILS(rembert_tokenizer_encode(ctx, tok, NULL, NULL, 1, &ids, NULL, &n), REMBERT_INVALID_ARGUMENT, "text");
  CHECK_FAILS(rembert_tokenizer_encode(ctx, NULL, "a", NULL, 1, &ids, NULL, &n), REMBERT_INVALID_ARGUMENT,
              "tokenizer");
  CHECK_FAILS(rembert_tokenizer_decode(ctx, tok, NULL, 3, 0, &out), REMBERT_INVALID_ARGUMENT, "ids");
  CHECK_FAILS(rembert_tokenizer_decode(ctx, tok, &bad_id, 1, 0, &out), REMBERT_BAD_INPUT, "99999999");
  CHECK(rembert_tokenizer_decode(ctx, tok, NULL, 0, 0, &out) == REMBERT_OK && strcmp(out, "") == 0);
  CHECK(rembert_tokenizer_token_to_id(NULL, "a") == -1 && rembert_tokenizer_token_to_id(tok, NULL) == -1);
  rembert_tokenizer_free(tok);

  CHECK(rembert_pipeline_load(fixture_path("trained/lm"), "fill-mask", NULL, &fill) == REMBERT_OK);
  out = NULL;
  CHECK_FAILS(rembert_pipeline_run(ctx, fill, "no mask here", NULL, NULL, &out), REMBERT_BAD_INPUT, "[MASK]");
  CHECK_FAILS(rembert_pipeline_run(ctx, fill, "a [MASK]", NULL, "{\"top_k\": 0}", &out), REMBERT_INVALID_ARGUMENT,
              "top_k");
  CHECK_FAILS(rembert_pipeline_run(ctx, fill, "a [MASK]", NULL, "{\"top_k\": \"five\"}", &out),
              REMBERT_INVALID_ARGUMENT, "top_k");
  CHECK_FAILS(rembert_pipeline_run(ctx, fill, "a [MASK]", NULL, "{\"colour\": 1}", &out), REMBERT_INVALID_ARGUMENT,
              "colour");
  CHECK_FAILS(rembert_pipeline_run(ctx, fill, "a [MASK]", NULL, "{not json", &out), REMBERT_INVALID_ARGUMENT,
              "JSON");
  CHECK_FAILS(rembert_pipeline_run(ctx, fill, "a [MASK]", NULL, "[1]", &out), REMBERT_INVALID_ARGUMENT, "object");
  CHECK_FAILS(rembert_pipeline_run(ctx, fill, NULL, NULL, NULL, &out), REMBERT_INVALID_ARGUMENT, "text");
  CHECK_FAILS(rembert_pipeline_run(ctx, NULL, "a [MASK]", NULL, NULL, &out), REMBERT_INVALID_ARGUMENT, "pipeline");
  CHECK(out == NULL);
  rembert_pipeline_free(fill);
}

int main(void) {
  rembert_context* ctx = rembert_context_new();
  REQUIRE(ctx);
  CHECK(strcmp(rembert_status_name(REMBERT_BAD_SHAPE), "REMBERT_BAD_SHAPE") == 0);
  CHECK(strcmp(rembert_status_name((rembert_status)77), "REMBERT_UNKNOWN_STATUS") == 0);
  CHECK(strcmp(rembert_context_error(NULL), "") == 0);
  loading();
  forward(ctx);
  text(ctx);
  /* Freeing NULL handles is allowed. */
  rembert_model_free(NULL);
  rembert_tokenizer_free(NULL);
  rembert_pipeline_free(NULL);
  rembert_context_clear_inputs(NULL);
  rembert_context_free(ctx);
  return test_result("capi_errors_test");
}
