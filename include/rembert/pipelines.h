// The transformers pipelines (v4 behaviour, SPEC §4): fill-mask, text-classification, token-classification,
// question-answering, feature-extraction, text-generation. Each takes a loaded model + tokenizer and returns
// plain structs; to_json() renders them exactly as the Python pipeline's result would be printed with json.dumps.
//
//   rembert::PipelineModel pm = rembert::load_pipeline_model("path/or/hub-id", rembert::HeadType::MaskedLM);
//   auto masks = rembert::fill_mask(pm, "The capital of France is [MASK].");
//   std::string json = rembert::to_json(masks);
//
// Thread safety: PipelineModel is immutable; pipeline functions may run concurrently on one PipelineModel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rembert/model.h"
#include "rembert/tokenizer.h"

namespace rembert {

struct PipelineModel {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  // Messages transformers would log (missing head weights, truncated targets, ...), for the caller to show.
  std::vector<std::string> warnings;
  // How the pipelines run the model: model->forward when empty. A caller may route the forwards elsewhere (the
  // server hands them to its batcher, which runs those of concurrent requests as one batch); it must return what
  // model->forward returns for the same inputs. Every pipeline forward is one sequence ([1, S]).
  std::function<ForwardOutputs(const ForwardInputs&)> forward_fn;
  ForwardOutputs forward(const ForwardInputs& in) const { return forward_fn ? forward_fn(in) : model->forward(in); }
};

// Loads config, weights and tokenizer of a model folder for `head` (default: the config's architectures[0]).
PipelineModel load_pipeline_model(const std::string& model_dir, std::optional<HeadType> head = std::nullopt,
                                  const LoadOptions& options = {}, TokenizerKind tokenizer = TokenizerKind::Auto);

// ---- fill-mask (§4.1)
struct FillMaskOptions {
  int64_t top_k = 5;
  std::vector<std::string> targets;  // empty: the whole vocabulary
};
struct FillMaskPrediction {
  double score = 0;
  int64_t token = 0;
  std::string token_str;
  std::string sequence;
};
// One list of predictions per [MASK] in the text, in order. No mask in the text: Error naming the mask token.
std::vector<std::vector<FillMaskPrediction>> fill_mask(const PipelineModel& pm, const std::string& text,
                                                       const FillMaskOptions& options = {},
                                                       std::vector<std::string>* warnings = nullptr);
// transformers' shape: one mask -> [ {..}, .. ]; several -> [[..], [..]].
std::string to_json(const std::vector<std::vector<FillMaskPrediction>>& result);

// ---- text-classification (§4.2)
enum class ClassificationFunction { Default, Sigmoid, Softmax, None };
ClassificationFunction classification_function_from_name(const std::string& name);  // sigmoid|softmax|none
struct TextClassificationOptions {
  // Unset = legacy (top label only, as a one-element list); 0 = top_k=None (all labels); k = the k best.
  std::optional<int64_t> top_k;
  ClassificationFunction function_to_apply = ClassificationFunction::Default;
  std::optional<int64_t> max_length;  // with truncation
  bool truncation = false;
};
struct LabelScore {
  std::string label;
  double score = 0;
};
std::vector<LabelScore> text_classification(const PipelineModel& pm, const std::string& text,
                                            const std::string* text_pair = nullptr,
                                            const TextClassificationOptions& options = {});
std::string to_json(const std::vector<LabelScore>& result);

// ---- token-classification (§4.3)
enum class AggregationStrategy { None, Simple, First, Average, Max };
AggregationStrategy aggregation_strategy_from_name(const std::string& name);  // none|simple|first|average|max
struct TokenClassificationOptions {
  AggregationStrategy aggregation_strategy = AggregationStrategy::None;
  std::vector<std::string> ignore_labels = {"O"};
  // 0: not given (one window, truncated at model_max_length when the tokenizer sets one). > 0: overlapping
  // windows of model_max_length tokens, merged like transformers' aggregate_overlapping_entities (needs a fast
  // tokenizer and an aggregation strategy other than none).
  int64_t stride = 0;
};
struct TokenEntity {
  std::string entity;        // aggregation none: the label; otherwise the entity group
  bool grouped = false;      // true: rendered as "entity_group" without "index"
  double score = 0;
  int64_t index = 0;         // token index (aggregation none)
  std::string word;
  std::optional<int64_t> start, end;  // character offsets (null without offsets)
};
std::vector<TokenEntity> token_classification(const PipelineModel& pm, const std::string& text,
                                              const TokenClassificationOptions& options = {},
                                              std::vector<std::string>* warnings = nullptr);
std::string to_json(const std::vector<TokenEntity>& result);

// ---- question-answering (§4.4)
struct QuestionAnsweringOptions {
  int64_t top_k = 1;
  int64_t max_answer_len = 15;
  std::optional<int64_t> max_seq_len;  // default min(model_max_length, 384)
  std::optional<int64_t> doc_stride;   // default min(max_seq_len / 2, 128)
  bool handle_impossible_answer = false;
  bool align_to_words = true;
};
struct Answer {
  double score = 0;
  int64_t start = 0, end = 0;  // character offsets into the context
  std::string answer;
};
// Sorted by score (answers with the same text, compared case-insensitively, merged by adding their scores);
// at most top_k. Needs a fast tokenizer. Errors (rembert::Error) as transformers': top_k < 1, max_answer_len < 1,
// an empty question or context, doc_stride > max_seq_len, a question too long for max_seq_len.
std::vector<Answer> question_answering(const PipelineModel& pm, const std::string& question,
                                       const std::string& context, const QuestionAnsweringOptions& options = {});
// single = true: transformers' shape, a dict when there is exactly one answer (also with top_k > 1 when only one
// is left), else a list; single = false: always a list.
std::string to_json(const std::vector<Answer>& result, bool single = true);

// ---- feature-extraction (§4.5)
enum class Pooling { None, Cls, Mean };
Pooling pooling_from_name(const std::string& name);  // none|cls|mean
struct FeatureExtractionOptions {
  bool truncation = false;
  std::optional<int64_t> max_length;
  Pooling pooling = Pooling::None;  // None: transformers' [1][L][H]; cls/mean: one [H] vector
  bool normalize = false;           // L2-normalise the pooled vector (or each token vector)
};
// [1, L, H] without pooling (the batch dimension is kept, as transformers returns), [H] with pooling.
Tensor feature_extraction(const PipelineModel& pm, const std::string& text,
                          const FeatureExtractionOptions& options = {});
std::string to_json_features(const Tensor& features);

// ---- text-generation (§4.6, §5)
struct GenerationOptions {
  std::optional<int64_t> max_new_tokens;  // default: max_length (config, 20) minus the prompt length
  std::optional<int64_t> max_length;
  bool do_sample = false;
  double temperature = 1.0;
  int64_t top_k = 50;
  double top_p = 1.0;
  uint64_t seed = 0;
  std::optional<int64_t> eos_token_id;   // default config.eos_token_id
  bool return_full_text = true;
  // Called with each new token id as soon as it is chosen (streaming); may be empty.
  std::function<void(int64_t token)> on_token;
  // Text pipeline only: called with each new piece of decoded text as soon as it is known (streaming).
  std::function<void(const std::string& piece)> on_text;
};
struct GenerationResult {
  std::vector<int64_t> prompt_ids;
  std::vector<int64_t> generated_ids;  // the new ids only
  std::string generated_text;          // transformers' generated_text (full text unless return_full_text=false)
};
// Greedy or sampled decoding with the key/value cache when the config is a decoder (else full re-encoding each
// step, as transformers does for is_decoder=False).
std::vector<int64_t> generate(const Model& model, const std::vector<int64_t>& prompt_ids,
                              const GenerationOptions& options = {});
GenerationResult text_generation(const PipelineModel& pm, const std::string& prompt,
                                 const GenerationOptions& options = {});
GenerationResult text_generation_from_ids(const PipelineModel& pm, const std::vector<int64_t>& prompt_ids,
                                          const GenerationOptions& options = {});
// {"generated_text": ..., "generated_ids": [...]} (the new ids only).
std::string to_json(const GenerationResult& result);

}  // namespace rembert
