// The C API's tokenizers and pipelines. Pipeline parameters arrive as a JSON object of transformers' call
// arguments; results leave as the JSON that transformers' pipeline returns (rembert::to_json).
#include <nlohmann/json.hpp>
#include <functional>
#include <set>

#include "capi_internal.h"
#include "rembert/error.h"

using nlohmann::json;
using rembert::capi::fail;
using rembert::capi::guarded;
using rembert::capi::require;

namespace {

// The tasks of transformers' pipeline() this API runs, with their aliases, and the head each loads.
struct Task {
  const char* name;
  rembert::HeadType head;
};
Task task_of(const std::string& name) {
  using rembert::HeadType;
  if (name == "fill-mask") return {"fill-mask", HeadType::MaskedLM};
  if (name == "text-classification" || name == "sentiment-analysis") {
    return {"text-classification", HeadType::SequenceClassification};
  }
  if (name == "token-classification" || name == "ner") return {"token-classification", HeadType::TokenClassification};
  if (name == "question-answering") return {"question-answering", HeadType::QuestionAnswering};
  if (name == "feature-extraction") return {"feature-extraction", HeadType::Model};
  if (name == "text-generation") return {"text-generation", HeadType::CausalLM};
  fail(REMBERT_UNSUPPORTED, "task \"" + name + "\" is not supported (expected fill-mask, text-classification, "
                            "token-classification, question-answering, feature-extraction or text-generation)");
}

// The parameters object of one call: typed access by name, and a check that nothing unknown was given.
class Parameters {
 public:
  Parameters(const char* text, std::string task) : task_(std::move(task)) {
    if (!text) return;
    try {
      p_ = json::parse(text);
    } catch (const json::exception& e) {
      fail(REMBERT_INVALID_ARGUMENT, std::string("parameters: not JSON: ") + e.what());
    }
    if (p_.is_null()) p_ = json::object();
    if (!p_.is_object()) fail(REMBERT_INVALID_ARGUMENT, "parameters: expected a JSON object, got " + p_.dump());
  }

  bool has(const char* key) { return value(key) != nullptr; }
  // Given as null (e.g. text-classification's top_k=None).
  bool is_null(const char* key) { return p_.contains(key) && p_[key].is_null() && (used_.insert(key), true); }
  std::optional<int64_t> integer(const char* key) {
    const json* v = value(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) wrong(key, "an integer", *v);
    return v->get<int64_t>();
  }
  std::optional<double> number(const char* key) {
    const json* v = value(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) wrong(key, "a number", *v);
    return v->get<double>();
  }
  std::optional<bool> boolean(const char* key) {
    const json* v = value(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) wrong(key, "true or false", *v);
    return v->get<bool>();
  }
  std::optional<std::string> string(const char* key) {
    const json* v = value(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) wrong(key, "a string", *v);
    return v->get<std::string>();
  }
  // A string or a list of strings.
  std::optional<std::vector<std::string>> strings(const char* key) {
    const json* v = value(key);
    if (!v) return std::nullopt;
    if (v->is_string()) return std::vector<std::string>{v->get<std::string>()};
    std::vector<std::string> out;
    if (!v->is_array()) wrong(key, "a string or a list of strings", *v);
    for (const json& s : *v) {
      if (!s.is_string()) wrong(key, "a string or a list of strings", *v);
      out.push_back(s.get<std::string>());
    }
    return out;
  }
  // INVALID_ARGUMENT naming the keys that the task does not take.
  void check_all_used() const {
    for (const auto& [key, v] : p_.items()) {
      if (!used_.count(key)) {
        fail(REMBERT_INVALID_ARGUMENT, "parameters: \"" + key + "\" is not a " + task_ + " parameter");
      }
    }
  }

 private:
  const json* value(const char* key) {
    used_.insert(key);
    auto it = p_.find(key);
    return it == p_.end() || it->is_null() ? nullptr : &*it;
  }
  [[noreturn]] void wrong(const char* key, const char* expected, const json& got) const {
    fail(REMBERT_INVALID_ARGUMENT,
         std::string("parameters: \"") + key + "\" must be " + expected + ", got " + got.dump());
  }

  std::string task_;
  json p_ = json::object();
  std::set<std::string> used_;
};

void at_least(const char* key, const std::optional<int64_t>& v, int64_t minimum) {
  if (v && *v < minimum) {
    fail(REMBERT_INVALID_ARGUMENT,
         std::string("parameters: \"") + key + "\" must be at least " + std::to_string(minimum));
  }
}

// The parsed options of each task and the call that runs it, as one function returning the result JSON.
std::function<std::string()> prepare(const rembert_pipeline& pl, const std::string& text, const char* second,
                                     Parameters& p) {
  using namespace rembert;
  const PipelineModel& pm = pl.pm;
  if (pl.task == "fill-mask") {
    FillMaskOptions o;
    if (auto k = p.integer("top_k")) o.top_k = *k;
    at_least("top_k", o.top_k, 1);
    if (auto t = p.strings("targets")) o.targets = *t;
    return [&pm, text, o] { return to_json(fill_mask(pm, text, o)); };
  }
  if (pl.task == "text-classification") {
    TextClassificationOptions o;
    if (auto k = p.integer("top_k")) {
      at_least("top_k", k, 1);
      o.top_k = *k;
    } else if (p.is_null("top_k")) {
      o.top_k = 0;  // top_k=None: every label
    }
    if (auto f = p.string("function_to_apply")) o.function_to_apply = classification_function_from_name(*f);
    o.truncation = p.boolean("truncation").value_or(false);
    o.max_length = p.integer("max_length");
    std::optional<std::string> pair;
    if (second) pair = second;
    return [&pm, text, pair, o] { return to_json(text_classification(pm, text, pair ? &*pair : nullptr, o)); };
  }
  if (pl.task == "token-classification") {
    TokenClassificationOptions o;
    if (auto a = p.string("aggregation_strategy")) o.aggregation_strategy = aggregation_strategy_from_name(*a);
    if (auto l = p.strings("ignore_labels")) o.ignore_labels = *l;
    if (auto s = p.integer("stride")) o.stride = *s;
    at_least("stride", o.stride, 0);
    return [&pm, text, o] { return to_json(token_classification(pm, text, o)); };
  }
  if (pl.task == "question-answering") {
    if (!second) fail(REMBERT_INVALID_ARGUMENT, "question-answering: the context (second) is NULL");
    QuestionAnsweringOptions o;
    if (auto k = p.integer("top_k")) o.top_k = *k;
    if (auto m = p.integer("max_answer_len")) o.max_answer_len = *m;
    o.max_seq_len = p.integer("max_seq_len");
    o.doc_stride = p.integer("doc_stride");
    o.handle_impossible_answer = p.boolean("handle_impossible_answer").value_or(false);
    o.align_to_words = p.boolean("align_to_words").value_or(true);
    const std::string context = second;
    return [&pm, text, context, o] { return to_json(question_answering(pm, text, context, o)); };
  }
  if (pl.task == "feature-extraction") {
    FeatureExtractionOptions o;
    if (auto pooling = p.string("pooling")) o.pooling = pooling_from_name(*pooling);
    o.normalize = p.boolean("normalize").value_or(false);
    o.truncation = p.boolean("truncation").value_or(false);
    o.max_length = p.integer("max_length");
    return [&pm, text, o] { return to_json_features(feature_extraction(pm, text, o)); };
  }
  GenerationOptions o;  // text-generation
  o.max_new_tokens = p.integer("max_new_tokens");
  o.max_length = p.integer("max_length");
  o.do_sample = p.boolean("do_sample").value_or(false);
  if (auto t = p.number("temperature")) o.temperature = *t;
  if (auto k = p.integer("top_k")) o.top_k = *k;
  if (auto t = p.number("top_p")) o.top_p = *t;
  if (auto s = p.integer("seed")) o.seed = static_cast<uint64_t>(*s);
  o.return_full_text = p.boolean("return_full_text").value_or(true);
  at_least("max_new_tokens", o.max_new_tokens, 1);
  // transformers' shape: a list with one {"generated_text"} per returned sequence.
  return [&pm, text, o] {
    const json result = json::array({{{"generated_text", text_generation(pm, text, o).generated_text}}});
    return result.dump(-1, ' ', false, json::error_handler_t::replace);
  };
}

}  // namespace

extern "C" {

// ---- tokenizers

REMBERT_API rembert_status rembert_tokenizer_load(const char* dir, const rembert_load_options* options,
                                                  rembert_tokenizer** out) {
  return guarded(nullptr, REMBERT_BAD_FILE, [&] {
    require(out, "out");
    const std::string folder = rembert::capi::resolve_folder(dir, options, false, "tokenizer folder or hub id");
    const rembert::TokenizerKind kind = rembert::capi::tokenizer_kind_of(options);
    auto handle = std::make_unique<rembert_tokenizer>();
    handle->tokenizer = rembert::load_tokenizer(folder, kind);
    *out = handle.release();
  });
}

REMBERT_API void rembert_tokenizer_free(rembert_tokenizer* tokenizer) { delete tokenizer; }

REMBERT_API rembert_status rembert_tokenizer_encode(rembert_context* ctx, const rembert_tokenizer* tokenizer,
                                                    const char* text, const char* pair, int add_special_tokens,
                                                    const int64_t** ids, const int64_t** token_type_ids,
                                                    size_t* length) {
  return guarded(ctx, REMBERT_BAD_INPUT, [&] {
    require(ctx, "ctx");
    require(tokenizer, "tokenizer");
    require(text, "text");
    require(ids, "ids");
    require(length, "length");
    rembert::EncodeOptions o;
    o.add_special_tokens = add_special_tokens != 0;
    const std::string second = pair ? pair : "";
    rembert::Encoding e = tokenizer->tokenizer->encode(text, pair ? &second : nullptr, o);
    ctx->ids = std::move(e.input_ids);
    ctx->type_ids = std::move(e.token_type_ids);
    *ids = ctx->ids.data();
    if (token_type_ids) *token_type_ids = ctx->type_ids.data();
    *length = ctx->ids.size();
  });
}

REMBERT_API rembert_status rembert_tokenizer_decode(rembert_context* ctx, const rembert_tokenizer* tokenizer,
                                                    const int64_t* ids, size_t length, int skip_special_tokens,
                                                    const char** text) {
  return guarded(ctx, REMBERT_BAD_INPUT, [&] {
    require(ctx, "ctx");
    require(tokenizer, "tokenizer");
    require(text, "text");
    if (length > 0) require(ids, "ids");
    rembert::DecodeOptions o;
    o.skip_special_tokens = skip_special_tokens != 0;
    const std::vector<int64_t> v(ids, ids + length);
    ctx->text = tokenizer->tokenizer->decode(v, o);
    *text = ctx->text.c_str();
  });
}

REMBERT_API int64_t rembert_tokenizer_token_to_id(const rembert_tokenizer* tokenizer, const char* token) {
  if (!tokenizer || !token) return -1;
  try {
    return tokenizer->tokenizer->convert_token_to_id(token);
  } catch (...) {
    return -1;
  }
}

// ---- pipelines

REMBERT_API rembert_status rembert_pipeline_load(const char* model_dir, const char* task,
                                                 const rembert_load_options* options, rembert_pipeline** out) {
  return guarded(nullptr, REMBERT_BAD_FILE, [&] {
    require(out, "out");
    require(task, "task");
    const Task t = task_of(task);
    const std::string dir = rembert::capi::resolve_folder(model_dir, options, true, "model folder or hub id");
    rembert::LoadOptions o = rembert::capi::load_options_of(options);
    o.head = t.head;
    const rembert::TokenizerKind kind = rembert::capi::tokenizer_kind_of(options);
    auto handle = std::make_unique<rembert_pipeline>();
    handle->task = t.name;
    handle->pm = rembert::load_pipeline_model(dir, t.head, o, kind);
    *out = handle.release();
  });
}

REMBERT_API void rembert_pipeline_free(rembert_pipeline* pipeline) { delete pipeline; }

REMBERT_API size_t rembert_pipeline_num_warnings(const rembert_pipeline* pipeline) {
  return pipeline ? pipeline->pm.warnings.size() : 0;
}

REMBERT_API const char* rembert_pipeline_warning(const rembert_pipeline* pipeline, size_t i) {
  return pipeline && i < pipeline->pm.warnings.size() ? pipeline->pm.warnings[i].c_str() : nullptr;
}

REMBERT_API const char* rembert_pipeline_task(const rembert_pipeline* pipeline) {
  return pipeline ? pipeline->task.c_str() : "";
}

REMBERT_API rembert_status rembert_pipeline_run(rembert_context* ctx, const rembert_pipeline* pipeline,
                                                const char* text, const char* second, const char* parameters,
                                                const char** json_out) {
  return guarded(ctx, REMBERT_BAD_INPUT, [&] {
    require(ctx, "ctx");
    require(pipeline, "pipeline");
    require(text, "text");
    require(json_out, "json");
    Parameters p(parameters, pipeline->task);
    std::function<std::string()> run;
    try {
      run = prepare(*pipeline, text, second, p);
    } catch (const rembert::Error& e) {
      fail(REMBERT_INVALID_ARGUMENT, std::string("parameters: ") + e.what());  // an unknown strategy name, ...
    }
    p.check_all_used();
    ctx->json = run();
    *json_out = ctx->json.c_str();
  });
}

}  // extern "C"
