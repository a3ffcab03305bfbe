// Generation (SPEC §5) and the text-generation pipeline (§4.6): greedy or sampled decoding, with the key/value
// cache when the config is a decoder.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <memory>
#include <optional>
#include <random>

#include "pipelines/common.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"

namespace rembert {

namespace {

// transformers' sampling warpers in their order: temperature, top-k, top-p; then a draw from the softmax.
int64_t sample_token(std::vector<float> scores, const GenerationOptions& o, std::mt19937_64& rng) {
  const float kRemoved = -std::numeric_limits<float>::infinity();
  const auto V = static_cast<int64_t>(scores.size());
  if (o.temperature != 1.0) {
    for (float& s : scores) s = static_cast<float>(s / o.temperature);
  }
  if (o.top_k > 0 && o.top_k < V) {
    std::vector<float> sorted = scores;
    std::nth_element(sorted.begin(), sorted.begin() + (o.top_k - 1), sorted.end(), std::greater<float>());
    const float kth = sorted[static_cast<size_t>(o.top_k - 1)];
    for (float& s : scores) {
      if (s < kth) s = kRemoved;  // ties with the k-th score are kept, as transformers does
    }
  }
  if (o.top_p < 1.0) {
    std::vector<int64_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return scores[static_cast<size_t>(a)] < scores[static_cast<size_t>(b)]; });
    std::vector<float> sorted_scores(static_cast<size_t>(V));
    for (int64_t i = 0; i < V; ++i) sorted_scores[static_cast<size_t>(i)] = scores[static_cast<size_t>(order[i])];
    std::vector<float> probs = pipelines::softmax_f32(sorted_scores.data(), V);
    float cumulative = 0.0f;
    // Ascending order: drop the low tail whose cumulative probability stays within 1 - top_p; keep the top token.
    for (int64_t i = 0; i < V - 1; ++i) {
      cumulative += probs[static_cast<size_t>(i)];
      if (cumulative <= static_cast<float>(1.0 - o.top_p)) scores[static_cast<size_t>(order[i])] = kRemoved;
    }
  }
  std::vector<float> probs = pipelines::softmax_f32(scores.data(), V);
  std::discrete_distribution<int64_t> draw(probs.begin(), probs.end());
  return draw(rng);
}

// The decoding loop; every forward goes through `forward` (Model::forward, or PipelineModel::forward_fn: the
// server's batcher runs the decode steps of concurrent generations as one batch, each with its own cache).
std::vector<int64_t> decode(const Model& model, const std::function<ForwardOutputs(const ForwardInputs&)>& forward,
                            const std::vector<int64_t>& prompt_ids, const GenerationOptions& o) {
  const RemBertConfig& c = model.config();
  if (model.head() != HeadType::CausalLM) {
    throw Error(std::string("text generation needs RemBertForCausalLM, the model is ") + head_class_name(model.head()));
  }
  if (prompt_ids.empty()) throw Error("text generation: the prompt is empty (give at least one token)");
  if (o.do_sample && o.temperature <= 0) throw Error("text generation: temperature must be positive");
  if (o.top_p <= 0 || o.top_p > 1) throw Error("text generation: top_p must be in (0, 1]");
  const auto prompt_len = static_cast<int64_t>(prompt_ids.size());
  int64_t max_new = o.max_new_tokens ? *o.max_new_tokens : o.max_length.value_or(c.max_length) - prompt_len;
  max_new = std::max<int64_t>(max_new, 1);  // transformers always produces at least one token
  const std::optional<int64_t> eos = o.eos_token_id ? o.eos_token_id : c.eos_token_id;
  std::mt19937_64 rng(o.seed);

  std::vector<int64_t> sequence = prompt_ids, generated;
  // Decoders keep their keys and values in place, room for the whole generation (positions past
  // max_position_embeddings fail in the model as they do in transformers).
  std::optional<KVCache> cache;
  if (c.is_decoder) cache.emplace(model, 1, std::min(prompt_len + max_new, c.max_position_embeddings));
  for (int64_t step = 0; step < max_new; ++step) {
    ForwardInputs in;
    // With a decoder config only the tokens not yet cached are fed; otherwise every step re-encodes everything
    // (bidirectional attention), as transformers does when is_decoder is False.
    const bool cached = cache && cache->length() > 0;
    const std::vector<int64_t> feed = cached ? std::vector<int64_t>{sequence.back()} : sequence;
    in.input_ids = Tensor::from_i64({1, static_cast<int64_t>(feed.size())}, feed);
    in.cache = cache ? &*cache : nullptr;
    in.logits_rows = {static_cast<int64_t>(feed.size()) - 1};  // the vocabulary projection at the last position only
    ForwardOutputs out = forward(in);
    const float* row = out.logits.data<float>();
    const int64_t V = out.logits.dim(1);
    const int64_t token = o.do_sample ? sample_token(std::vector<float>(row, row + V), o, rng)
                                      : std::max_element(row, row + V) - row;  // first maximum, as torch.argmax
    sequence.push_back(token);
    generated.push_back(token);
    if (o.on_token) o.on_token(token);
    if (eos && token == *eos) break;
  }
  return generated;
}

}  // namespace

std::vector<int64_t> generate(const Model& model, const std::vector<int64_t>& prompt_ids, const GenerationOptions& o) {
  return decode(model, [&model](const ForwardInputs& in) { return model.forward(in); }, prompt_ids, o);
}

GenerationResult text_generation_from_ids(const PipelineModel& pm, const std::vector<int64_t>& prompt_ids,
                                          const GenerationOptions& options) {
  const Tokenizer& tok = *pm.tokenizer;
  DecodeOptions d;
  d.skip_special_tokens = true;
  d.clean_up_tokenization_spaces = true;
  const int64_t prompt_chars = pipelines::code_point_count(tok.decode(prompt_ids, d));
  GenerationOptions run = options;
  if (options.on_text) {
    // Decode everything so far and hand out what is new since the last call; a token that ends inside a character
    // (byte fallback) shows up once the character is complete.
    auto so_far = std::make_shared<std::vector<int64_t>>(prompt_ids);
    auto printed = std::make_shared<std::string>();
    run.on_token = [&, so_far, printed](int64_t token) {
      if (options.on_token) options.on_token(token);
      so_far->push_back(token);
      const std::string text = tok.decode(*so_far, d);
      const std::string fresh = pipelines::code_point_slice(text, prompt_chars, pipelines::code_point_count(text));
      if (fresh.size() > printed->size() && fresh.compare(0, printed->size(), *printed) == 0) {
        options.on_text(fresh.substr(printed->size()));
        *printed = fresh;
      }
    };
  }
  GenerationResult r;
  r.prompt_ids = prompt_ids;
  r.generated_ids = decode(*pm.model, [&pm](const ForwardInputs& in) { return pm.forward(in); }, prompt_ids, run);
  std::vector<int64_t> all = prompt_ids;
  all.insert(all.end(), r.generated_ids.begin(), r.generated_ids.end());
  const std::string all_text = tok.decode(all, d);
  const std::string prompt_text = tok.decode(prompt_ids, d);
  // transformers removes len(decoded prompt) characters from the decoded whole.
  const std::string new_text = pipelines::code_point_slice(all_text, pipelines::code_point_count(prompt_text),
                                                           pipelines::code_point_count(all_text));
  r.generated_text = options.return_full_text ? prompt_text + new_text : new_text;
  return r;
}

std::string to_json(const GenerationResult& result) {
  std::string ids = "[";
  for (size_t i = 0; i < result.generated_ids.size(); ++i) ids += (i ? ", " : "") + std::to_string(result.generated_ids[i]);
  return "{\"generated_text\": " + pipelines::json_string(result.generated_text) + ", \"generated_ids\": " + ids + "]}";
}

GenerationResult text_generation(const PipelineModel& pm, const std::string& prompt, const GenerationOptions& options) {
  EncodeOptions eo;
  eo.add_special_tokens = false;  // the pipeline's default for text generation
  std::vector<int64_t> ids = pm.tokenizer->encode(prompt, nullptr, eo).input_ids;
  GenerationResult r = text_generation_from_ids(pm, ids, options);
  if (options.return_full_text) {
    // The original prompt string is prepended, not its decoding.
    DecodeOptions d;
    d.skip_special_tokens = true;
    d.clean_up_tokenization_spaces = true;
    const std::string prompt_text = pm.tokenizer->decode(ids, d);
    r.generated_text = prompt + pipelines::code_point_slice(r.generated_text, pipelines::code_point_count(prompt_text),
                                                            pipelines::code_point_count(r.generated_text));
  }
  return r;
}

}  // namespace rembert
