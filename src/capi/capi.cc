// The C API (include/rembert.h): errors, contexts, models, forward and tokenizers. Pipelines: capi_pipeline.cc.
#include <sys/stat.h>

#include <cstring>
#include <new>

#include "capi_internal.h"
#include "rembert/error.h"
#include "rembert/hub.h"

using rembert::capi::fail;
using rembert::capi::guarded;
using rembert::capi::require;

namespace rembert::capi {

namespace {
thread_local rembert_status last_status = REMBERT_OK;
thread_local std::string last_message;
}  // namespace

rembert_status record(rembert_context* ctx, rembert_status status, const char* message) {
  try {
    last_status = status;
    last_message = message;
    if (ctx) {
      ctx->status = status;
      ctx->error = message;
    }
  } catch (...) {
    // Copying the message ran out of memory: the status still tells.
  }
  return status;
}

std::string resolve_folder(const char* name_or_path, const rembert_load_options* options, bool weights,
                           const char* what) {
  require(name_or_path, what);
  const std::string name = name_or_path;
  struct stat st {};
  const bool exists = stat(name_or_path, &st) == 0;
  if (exists || !is_hub_repo_id(name)) {
    if (!exists) fail(REMBERT_FILE_NOT_FOUND, std::string(what) + " '" + name + "' does not exist");
    if (!S_ISDIR(st.st_mode)) fail(REMBERT_FILE_NOT_FOUND, std::string(what) + " '" + name + "' is not a folder");
    return name;
  }
  HubOptions hub;
  if (options && options->revision) hub.revision = options->revision;
  hub.progress = HubProgress::Lines;
  ModelParts parts;
  parts.weights = weights;
  try {
    return resolve_model_for_task(name, hub, parts);
  } catch (const Error& e) {
    fail(REMBERT_HUB_ERROR, e.what());
  }
}

LoadOptions load_options_of(const rembert_load_options* options) {
  LoadOptions o;
  if (!options) return o;
  if (options->head) {
    try {
      o.head = head_from_name(options->head);
    } catch (const Error& e) {
      fail(REMBERT_INVALID_ARGUMENT, std::string("head: ") + e.what());
    }
  }
  if (options->dtype) {
    try {
      o.dtype = weight_dtype_from_name(options->dtype);
    } catch (const Error& e) {
      fail(REMBERT_BAD_DTYPE, std::string("dtype: ") + e.what());
    }
  }
  o.add_pooling_layer = options->add_pooling_layer != 0;
  return o;
}

TokenizerKind tokenizer_kind_of(const rembert_load_options* options) {
  if (!options || !options->tokenizer) return TokenizerKind::Auto;
  const std::string kind = options->tokenizer;
  if (kind == "auto") return TokenizerKind::Auto;
  if (kind == "slow") return TokenizerKind::Slow;
  if (kind == "fast") return TokenizerKind::Fast;
  fail(REMBERT_INVALID_ARGUMENT, "tokenizer: unknown kind \"" + kind + "\" (expected auto, slow or fast)");
}

}  // namespace rembert::capi

extern "C" {

REMBERT_API const char* rembert_version(void) { return REMBERT_VERSION_STRING; }

REMBERT_API const char* rembert_status_name(rembert_status status) {
  switch (rembert::capi::enum_value(status)) {
    case REMBERT_OK: return "REMBERT_OK";
    case REMBERT_INVALID_ARGUMENT: return "REMBERT_INVALID_ARGUMENT";
    case REMBERT_FILE_NOT_FOUND: return "REMBERT_FILE_NOT_FOUND";
    case REMBERT_BAD_FILE: return "REMBERT_BAD_FILE";
    case REMBERT_BAD_SHAPE: return "REMBERT_BAD_SHAPE";
    case REMBERT_BAD_DTYPE: return "REMBERT_BAD_DTYPE";
    case REMBERT_BAD_INPUT: return "REMBERT_BAD_INPUT";
    case REMBERT_UNSUPPORTED: return "REMBERT_UNSUPPORTED";
    case REMBERT_OUT_OF_MEMORY: return "REMBERT_OUT_OF_MEMORY";
    case REMBERT_INTERNAL: return "REMBERT_INTERNAL";
    case REMBERT_HUB_ERROR: return "REMBERT_HUB_ERROR";
    default: break;
  }
  return "REMBERT_UNKNOWN_STATUS";
}

REMBERT_API const char* rembert_last_error(void) { return rembert::capi::last_message.c_str(); }

REMBERT_API void rembert_set_num_threads(int threads) {
  try {
    rembert::set_num_threads(threads);
  } catch (...) {
    // Nothing to report: the thread count stays as it was.
  }
}

// ---- contexts

REMBERT_API rembert_context* rembert_context_new(void) { return new (std::nothrow) rembert_context(); }

REMBERT_API void rembert_context_free(rembert_context* ctx) { delete ctx; }

REMBERT_API const char* rembert_context_error(const rembert_context* ctx) { return ctx ? ctx->error.c_str() : ""; }

REMBERT_API rembert_status rembert_context_status(const rembert_context* ctx) {
  return ctx ? ctx->status : REMBERT_OK;
}

// ---- models

REMBERT_API rembert_load_options rembert_load_options_default(void) {
  rembert_load_options o;
  o.head = nullptr;
  o.dtype = nullptr;
  o.tokenizer = nullptr;
  o.add_pooling_layer = 1;
  o.revision = nullptr;
  return o;
}

REMBERT_API rembert_status rembert_model_load(const char* model_dir, const rembert_load_options* options,
                                              rembert_model** out) {
  return guarded(nullptr, REMBERT_BAD_FILE, [&] {
    require(out, "out");
    const std::string dir = rembert::capi::resolve_folder(model_dir, options, true, "model folder or hub id");
    const rembert::LoadOptions o = rembert::capi::load_options_of(options);
    auto handle = std::make_unique<rembert_model>();
    handle->model = rembert::Model::load(dir, o);
    *out = handle.release();
  });
}

REMBERT_API void rembert_model_free(rembert_model* model) { delete model; }

REMBERT_API const char* rembert_model_head(const rembert_model* model) {
  return model ? rembert::head_cli_name(model->model->head()) : "";
}

REMBERT_API size_t rembert_model_num_warnings(const rembert_model* model) {
  return model ? model->model->warnings().size() : 0;
}

REMBERT_API const char* rembert_model_warning(const rembert_model* model, size_t i) {
  return model && i < model->model->warnings().size() ? model->model->warnings()[i].c_str() : nullptr;
}

REMBERT_API rembert_status rembert_model_config_int(const rembert_model* model, const char* field, int64_t* value) {
  return guarded(nullptr, REMBERT_INTERNAL, [&] {
    require(model, "model");
    require(field, "field");
    require(value, "value");
    const rembert::RemBertConfig& c = model->model->config();
    const std::map<std::string, int64_t> fields = {
        {"vocab_size", c.vocab_size},
        {"hidden_size", c.hidden_size},
        {"num_hidden_layers", c.num_hidden_layers},
        {"num_attention_heads", c.num_attention_heads},
        {"input_embedding_size", c.input_embedding_size},
        {"output_embedding_size", c.output_embedding_size},
        {"intermediate_size", c.intermediate_size},
        {"max_position_embeddings", c.max_position_embeddings},
        {"type_vocab_size", c.type_vocab_size},
        {"num_labels", c.num_labels()},
    };
    auto it = fields.find(field);
    if (it == fields.end()) fail(REMBERT_INVALID_ARGUMENT, std::string("config field \"") + field + "\" is not known");
    *value = it->second;
  });
}

}  // extern "C"
