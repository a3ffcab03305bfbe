/* rembert.h: the C API of rembert.cpp (RemBERT models, tokenizers and pipelines as Hugging Face transformers runs
 * them). Plain C99; link with -lrembert (pkg-config rembert, or CMake find_package(rembert) + rembert::rembert).
 *
 *   rembert_pipeline* fill = NULL;
 *   rembert_context* ctx = rembert_context_new();
 *   const char* json = NULL;
 *   if (rembert_pipeline_load("path/to/model", "fill-mask", NULL, &fill) != REMBERT_OK ||
 *       rembert_pipeline_run(ctx, fill, "Paris is the [MASK] of France.", NULL, NULL, &json) != REMBERT_OK) {
 *     fprintf(stderr, "%s\n", rembert_last_error());
 *   } else {
 *     puts(json);  // transformers' pipeline output as JSON
 *   }
 *   rembert_pipeline_free(fill);
 *   rembert_context_free(ctx);
 *
 * Errors: every function that can fail returns a rembert_status, never throws a C++ exception or aborts on bad
 * input. The message of the failure (naming the file, tensor, field or argument at fault) is rembert_last_error(),
 * kept per thread; a function that takes a context keeps it in the context as well (rembert_context_error()).
 * A successful call leaves an empty message in both. Output arguments are written only on success.
 *
 * Thread safety, in short (each function states its own):
 *  - rembert_model, rembert_tokenizer and rembert_pipeline are immutable once loaded: any number of threads may use
 *    one handle at the same time, each with its own rembert_context.
 *  - A rembert_context holds one caller's inputs, outputs and last error: one thread at a time uses it.
 *  - A handle must not be freed while another thread uses it.
 *  - rembert_last_error() is per thread; rembert_set_num_threads() is process-wide.
 */
#ifndef REMBERT_H
#define REMBERT_H

#include <stddef.h>
#include <stdint.h>

#if defined(REMBERT_BUILDING_LIBRARY) && defined(__GNUC__)
#define REMBERT_API __attribute__((visibility("default")))
#else
#define REMBERT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version: the project's version; REMBERT_VERSION_MAJOR is the shared library's soname version. */
#define REMBERT_VERSION_MAJOR 0
#define REMBERT_VERSION_MINOR 1
#define REMBERT_VERSION_PATCH 0
#define REMBERT_VERSION_STRING "0.1.0"

/* The version of the library linked at run time ("0.1.0"), which may differ from the header's. Any thread. */
REMBERT_API const char* rembert_version(void);

/* ---- Status codes */
typedef enum rembert_status {
  REMBERT_OK = 0,
  REMBERT_INVALID_ARGUMENT = 1, /* a null pointer, a bad count or size, an unknown name or option */
  REMBERT_FILE_NOT_FOUND = 2,   /* a path that does not exist (the message names it) */
  REMBERT_BAD_FILE = 3,         /* a file that exists but could not be read as a model or tokenizer */
  REMBERT_BAD_SHAPE = 4,        /* an input's shape does not fit the model or the other inputs */
  REMBERT_BAD_DTYPE = 5,        /* an unknown dtype name, or an element type this input does not take */
  REMBERT_BAD_INPUT = 6,        /* values the model or pipeline refused (no [MASK] in the text, invalid UTF-8, ...) */
  REMBERT_UNSUPPORTED = 7,      /* a task, head or output that this model does not have */
  REMBERT_OUT_OF_MEMORY = 8,
  REMBERT_INTERNAL = 9,         /* anything else; please report it */
  REMBERT_HUB_ERROR = 10        /* a hub id the hub could not give: offline and not cached, unknown repo or
                                   revision, no access (HF_TOKEN), network failure */
} rembert_status;

/* "REMBERT_OK", "REMBERT_BAD_SHAPE", ...; "REMBERT_UNKNOWN_STATUS" for other values. Any thread. */
REMBERT_API const char* rembert_status_name(rembert_status status);

/* The message of this thread's most recent call that returned a rembert_status ("" after a success). Valid until
 * this thread's next such call. */
REMBERT_API const char* rembert_last_error(void);

/* ---- Threads */
/* Threads each computation uses, for every thread of the process, also threads started later; 0 or less: OpenMP's
 * default (OMP_NUM_THREADS, else all cores). Process-wide: do not call while computations run. */
REMBERT_API void rembert_set_num_threads(int threads);

/* ---- Call context: per-caller inputs, outputs and last error */
typedef struct rembert_context rembert_context;

/* NULL when out of memory. Any thread; the new context then belongs to one thread at a time. */
REMBERT_API rembert_context* rembert_context_new(void);
/* NULL is allowed. Frees everything the context returned. */
REMBERT_API void rembert_context_free(rembert_context* ctx);
/* The message of the most recent call that used this context ("" after a success, or for a NULL ctx). Valid until
 * the next call on the context. Same thread as the context's other calls. */
REMBERT_API const char* rembert_context_error(const rembert_context* ctx);
/* The status of that call. */
REMBERT_API rembert_status rembert_context_status(const rembert_context* ctx);

/* ---- Loading */
/* Options of rembert_model_load, rembert_pipeline_load and rembert_tokenizer_load; start from
 * rembert_load_options_default() so that fields added later get their defaults. */
typedef struct rembert_load_options {
  const char* head;      /* NULL: the config's architectures[0]. "model", "masked-lm", "causal-lm",
                            "sequence-classification", "multiple-choice", "token-classification",
                            "question-answering", or transformers' class names (RemBertForMaskedLM, ...) */
  const char* dtype;     /* NULL: float32 (or a converted checkpoint's dtype). "auto", "float32", "float16",
                            "bfloat16", "int8" */
  const char* tokenizer; /* NULL or "auto": fast when tokenizer.json exists, else slow; "slow", "fast" */
  int add_pooling_layer; /* RemBertModel only: 1 (default) keeps the pooler */
  const char* revision;  /* hub ids only: branch, tag or commit; NULL: "main" */
} rembert_load_options;

/* The defaults (all NULL, add_pooling_layer 1). Any thread. */
REMBERT_API rembert_load_options rembert_load_options_default(void);

/* ---- Model: RemBertModel or one of its heads */
typedef struct rembert_model rembert_model;

/* Loads config.json and the weights (model.safetensors, shards, pytorch_model.bin or tf_model.h5) of a model
 * folder, or of a hub id ("google/rembert") fetched into and read from the Hugging Face cache as the CLI does
 * (HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_TOKEN, HF_ENDPOINT; options->revision); an existing folder always wins.
 * options may be NULL (defaults). On success *out is a new model to free with rembert_model_free.
 * FILE_NOT_FOUND when the folder does not exist (and it is no hub id), HUB_ERROR for a hub id the hub could not
 * give, BAD_DTYPE for an unknown dtype name, INVALID_ARGUMENT for an
 * unknown head name, BAD_FILE when the folder's files cannot be read or do not fit the options (a checkpoint
 * converted to int8 asked for bfloat16, ...). Any thread; loads may run concurrently. */
REMBERT_API rembert_status rembert_model_load(const char* model_dir, const rembert_load_options* options,
                                              rembert_model** out);
/* NULL is allowed. Not while another thread uses the model. */
REMBERT_API void rembert_model_free(rembert_model* model);
/* The head's name ("masked-lm", ...), or "" for NULL. Any thread; valid while the model lives. */
REMBERT_API const char* rembert_model_head(const rembert_model* model);
/* What loading had to say, as transformers logs it (head weights missing from the checkpoint and initialised,
 * unexpected keys): the count, and message i (NULL when out of range; valid while the model lives). Any thread. */
REMBERT_API size_t rembert_model_num_warnings(const rembert_model* model);
REMBERT_API const char* rembert_model_warning(const rembert_model* model, size_t i);
/* An integer field of config.json: "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
 * "input_embedding_size", "output_embedding_size", "intermediate_size", "max_position_embeddings",
 * "type_vocab_size", "num_labels". INVALID_ARGUMENT for other names. Any thread. */
REMBERT_API rembert_status rembert_model_config_int(const rembert_model* model, const char* field, int64_t* value);

/* Element types of forward inputs. Integer inputs take I64 or I32, float inputs F32 (F16, BF16 and F64 are
 * converted). F16 and BF16 elements are uint16_t bit patterns. */
typedef enum rembert_dtype {
  REMBERT_F32 = 0,
  REMBERT_F16 = 1,
  REMBERT_BF16 = 2,
  REMBERT_F64 = 3,
  REMBERT_I64 = 4,
  REMBERT_I32 = 5
} rembert_dtype;

/* Sets a named input of the next rembert_forward on this context, copying `data` (row-major, `ndim` dims of
 * `shape`). Names and shapes are transformers' forward arguments ([batch, seq]; multiple choice [batch, choices,
 * seq]): "input_ids", "inputs_embeds", "attention_mask" ([batch, seq] or [batch, seq, seq]), "token_type_ids",
 * "position_ids" ([batch, seq] or [seq]), "head_mask", "encoder_hidden_states", "encoder_attention_mask", "labels",
 * "start_positions", "end_positions". data NULL removes the input. INVALID_ARGUMENT for an unknown name or a
 * negative dimension, BAD_DTYPE for a float dtype on an integer input or the reverse. The context's thread. */
REMBERT_API rembert_status rembert_context_set_input(rembert_context* ctx, const char* name, rembert_dtype dtype,
                                                     const void* data, const int64_t* shape, int ndim);
/* Forgets every input, flag and output of the context. The context's thread. */
REMBERT_API void rembert_context_clear_inputs(rembert_context* ctx);
/* Flags of the next forward: "output_hidden_states", "output_attentions" (0/1; default: the config's), and
 * "skip_padding" (1, the default: right-padded rows do only their real tokens' work; their padded positions come
 * out as zeros). INVALID_ARGUMENT for other names. The context's thread. */
REMBERT_API rembert_status rembert_context_set_flag(rembert_context* ctx, const char* name, int value);

/* Runs the model on the context's inputs; the outputs replace the context's previous ones. BAD_SHAPE when an
 * input's shape does not fit (batch or sequence 0, a sequence longer than max_position_embeddings, an
 * attention_mask or token_type_ids unlike input_ids, ...), BAD_INPUT for values the model refuses (a token id out
 * of the vocabulary, ...). The model: any thread; the context: its own thread. */
REMBERT_API rembert_status rembert_forward(rembert_context* ctx, const rembert_model* model);

/* The outputs of the context's last successful forward, in transformers' order: "loss", "logits",
 * "start_logits", "end_logits", "last_hidden_state", "pooler_output", "hidden_states.0" ...,
 * "attentions.0" ..., "cross_attentions.0" ... (only those produced). The context's thread. */
REMBERT_API size_t rembert_context_num_outputs(const rembert_context* ctx);
/* The name of output i (NULL when out of range). Valid until the next forward on the context. */
REMBERT_API const char* rembert_context_output_name(const rembert_context* ctx, size_t i);
/* A float32 output by name: *data points to its row-major values, *shape to its *ndim dimensions; both are owned by
 * the context and valid until its next rembert_forward, rembert_context_clear_inputs or free. UNSUPPORTED when the
 * last forward did not produce `name`. The context's thread. */
REMBERT_API rembert_status rembert_context_output(rembert_context* ctx, const char* name, const float** data,
                                                  const int64_t** shape, int* ndim);

/* ---- Tokenizer */
typedef struct rembert_tokenizer rembert_tokenizer;

/* Loads the tokenizer of a folder (tokenizer.json and/or sentencepiece.model, tokenizer_config.json,
 * special_tokens_map.json); options->tokenizer picks fast or slow, the other fields are ignored; options may be
 * NULL. FILE_NOT_FOUND, BAD_FILE, INVALID_ARGUMENT (unknown tokenizer kind) as rembert_model_load. Any thread. */
REMBERT_API rembert_status rembert_tokenizer_load(const char* dir, const rembert_load_options* options,
                                                  rembert_tokenizer** out);
/* NULL is allowed. Not while another thread uses the tokenizer. */
REMBERT_API void rembert_tokenizer_free(rembert_tokenizer* tokenizer);
/* transformers' tokenizer(text[, pair]): ids with [CLS] ... [SEP] when add_special_tokens is non-zero. *ids (and
 * *token_type_ids, when that pointer is not NULL) have *length entries, owned by the context until its next
 * encode or free. pair may be NULL. BAD_INPUT for invalid UTF-8. Tokenizer: any thread; context: its thread. */
REMBERT_API rembert_status rembert_tokenizer_encode(rembert_context* ctx, const rembert_tokenizer* tokenizer,
                                                    const char* text, const char* pair, int add_special_tokens,
                                                    const int64_t** ids, const int64_t** token_type_ids,
                                                    size_t* length);
/* transformers' tokenizer.decode(ids, skip_special_tokens), with the tokenizer's clean_up_tokenization_spaces.
 * *text (UTF-8) is owned by the context until its next decode or free. ids may be NULL when length is 0. An id
 * outside the vocabulary: BAD_INPUT for the slow tokenizer; the fast one skips it, as tokenizers does.
 * Tokenizer: any thread; context: its thread. */
REMBERT_API rembert_status rembert_tokenizer_decode(rembert_context* ctx, const rembert_tokenizer* tokenizer,
                                                    const int64_t* ids, size_t length, int skip_special_tokens,
                                                    const char** text);
/* The id of a token string, or the unk id for unknown tokens; -1 for NULL arguments. Any thread. */
REMBERT_API int64_t rembert_tokenizer_token_to_id(const rembert_tokenizer* tokenizer, const char* token);

/* ---- Pipelines: transformers' pipeline(task) on a model folder or hub id */
typedef struct rembert_pipeline rembert_pipeline;

/* Loads model and tokenizer of a folder or hub id for a task: "fill-mask", "text-classification" (also
 * "sentiment-analysis"), "token-classification" (also "ner"), "question-answering", "feature-extraction",
 * "text-generation". The task picks the head (options->head is ignored). UNSUPPORTED for another task; otherwise
 * as rembert_model_load. Any thread. */
REMBERT_API rembert_status rembert_pipeline_load(const char* model_dir, const char* task,
                                                 const rembert_load_options* options, rembert_pipeline** out);
/* NULL is allowed. Not while another thread uses the pipeline. */
REMBERT_API void rembert_pipeline_free(rembert_pipeline* pipeline);
/* Loading's warnings, as rembert_model_warning (model and tokenizer). Any thread. */
REMBERT_API size_t rembert_pipeline_num_warnings(const rembert_pipeline* pipeline);
REMBERT_API const char* rembert_pipeline_warning(const rembert_pipeline* pipeline, size_t i);
/* The task it was loaded for ("" for NULL). Any thread. */
REMBERT_API const char* rembert_pipeline_task(const rembert_pipeline* pipeline);

/* Runs the pipeline on one input and sets *json to its result exactly as transformers' pipeline returns it, as JSON
 * (a list of {score, token, token_str, sequence} for one [MASK], ...), owned by the context until its next
 * rembert_pipeline_run or free. `text` is the text (question-answering: the question); `second` is the
 * text-classification pair or the question-answering context, else NULL. `parameters` is NULL or a JSON object of
 * transformers' call arguments: fill-mask top_k, targets; text-classification top_k (null: all labels),
 * function_to_apply, truncation, max_length; token-classification aggregation_strategy, ignore_labels, stride;
 * question-answering top_k, max_answer_len, max_seq_len, doc_stride, handle_impossible_answer, align_to_words;
 * feature-extraction pooling ("none", "cls", "mean"), normalize, truncation, max_length; text-generation
 * max_new_tokens, max_length, do_sample, temperature, top_k, top_p, seed, return_full_text (the result is then
 * [{"generated_text": ...}]).
 * INVALID_ARGUMENT for bad parameters, BAD_INPUT for a text the pipeline refuses. Pipeline: any thread; context:
 * its thread. */
REMBERT_API rembert_status rembert_pipeline_run(rembert_context* ctx, const rembert_pipeline* pipeline,
                                                const char* text, const char* second, const char* parameters,
                                                const char** json);

#ifdef __cplusplus
}
#endif

#endif /* REMBERT_H */
