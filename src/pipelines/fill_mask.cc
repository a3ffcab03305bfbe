// fill-mask (SPEC §4.1): softmax over the vocabulary at each [MASK], top-k, with transformers' output fields.
#include <algorithm>
#include <cctype>
#include <numeric>
#include <set>

#include "pipelines/common.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"

namespace rembert {

namespace {

// transformers' get_target_ids: vocabulary lookups, else the first token of the target's own tokenization.
std::vector<int64_t> target_ids(const Tokenizer& tok, const std::vector<std::string>& targets,
                                std::vector<std::string>* warnings) {
  const std::map<std::string, int64_t>& vocab = tok.get_vocab();
  std::set<int64_t> ids;  // transformers deduplicates through a set
  for (const std::string& target : targets) {
    auto it = vocab.find(target);
    if (it != vocab.end()) {
      ids.insert(it->second);
      continue;
    }
    EncodeOptions o;
    o.add_special_tokens = false;
    std::vector<int64_t> pieces = tok.encode(target, nullptr, o).input_ids;
    if (pieces.empty()) {
      if (warnings) {
        warnings->push_back("The specified target token `" + target +
                            "` does not exist in the model vocabulary. We cannot replace it with anything meaningful, "
                            "ignoring it");
      }
      continue;
    }
    if (warnings) {
      warnings->push_back("The specified target token `" + target +
                          "` does not exist in the model vocabulary. Replacing with `" +
                          tok.convert_id_to_token(pieces.front()) + "`.");
    }
    ids.insert(pieces.front());
  }
  if (ids.empty()) throw Error("fill-mask: at least one target must be provided when targets are passed");
  return std::vector<int64_t>(ids.begin(), ids.end());
}

// The hint for a text without the mask token: another model's spelling of it (RoBERTa's and XLM-R's <mask>, a
// lowercased [mask], ...), matched without regard to ASCII case; "" when there is none.
std::string other_mask_spelling(const std::string& text, const std::string& mask) {
  auto lower = [](std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  };
  const std::string folded = lower(text);
  for (const char* spelling : {"<mask>", "[mask]"}) {
    const size_t at = folded.find(spelling);
    if (at == std::string::npos) continue;
    const std::string found = text.substr(at, std::char_traits<char>::length(spelling));
    if (found == mask) continue;
    return "; the text holds `" + found + "`, which is not this model's mask token: write `" + mask + "`";
  }
  return "";
}

}  // namespace

std::vector<std::vector<FillMaskPrediction>> fill_mask(const PipelineModel& pm, const std::string& text,
                                                       const FillMaskOptions& options,
                                                       std::vector<std::string>* warnings) {
  const Tokenizer& tok = *pm.tokenizer;
  if (pm.model->head() != HeadType::MaskedLM) {
    throw Error(std::string("fill-mask needs RemBertForMaskedLM, the model is ") + head_class_name(pm.model->head()));
  }
  if (options.top_k < 1) throw Error("fill-mask: top_k must be at least 1");
  const Encoding enc = tok.encode(text);
  std::vector<int64_t> mask_rows;
  for (size_t i = 0; i < enc.input_ids.size(); ++i) {
    if (enc.input_ids[i] == tok.mask_token_id()) mask_rows.push_back(static_cast<int64_t>(i));
  }
  if (mask_rows.empty()) {
    throw Error("fill-mask: no mask_token (" + tok.special_tokens().mask + ") found on the input" +
                other_mask_spelling(text, tok.special_tokens().mask));
  }

  ForwardInputs in = pipelines::inputs_of(enc);
  in.logits_rows = mask_rows;  // the vocabulary projection only where it is needed
  const Tensor logits = pm.forward(in).logits;  // [masks, V]
  const int64_t V = logits.dim(1);

  std::vector<int64_t> candidates;
  if (!options.targets.empty()) candidates = target_ids(tok, options.targets, warnings);
  const bool single_mask = mask_rows.size() == 1;

  std::vector<std::vector<FillMaskPrediction>> result;
  for (size_t m = 0; m < mask_rows.size(); ++m) {
    std::vector<float> probs = pipelines::softmax_f32(logits.data<float>() + static_cast<int64_t>(m) * V, V);
    std::vector<int64_t> order;
    if (candidates.empty()) {
      order.resize(static_cast<size_t>(V));
      std::iota(order.begin(), order.end(), 0);
    } else {
      order = candidates;
    }
    const size_t k = std::min(static_cast<size_t>(options.top_k), order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](int64_t a, int64_t b) {
                        return probs[static_cast<size_t>(a)] > probs[static_cast<size_t>(b)] ||
                               (probs[static_cast<size_t>(a)] == probs[static_cast<size_t>(b)] && a < b);
                      });
    std::vector<FillMaskPrediction> predictions;
    for (size_t i = 0; i < k; ++i) {
      const int64_t token = order[i];
      std::vector<int64_t> ids;
      for (size_t j = 0; j < enc.input_ids.size(); ++j) {
        const int64_t id = static_cast<int64_t>(j) == mask_rows[m] ? token : enc.input_ids[j];
        if (id != tok.pad_token_id()) ids.push_back(id);
      }
      DecodeOptions sequence_options;
      sequence_options.skip_special_tokens = single_mask;
      predictions.push_back(FillMaskPrediction{static_cast<double>(probs[static_cast<size_t>(token)]), token,
                                               tok.decode({token}), tok.decode(ids, sequence_options)});
    }
    result.push_back(std::move(predictions));
  }
  return result;
}

std::string to_json(const std::vector<std::vector<FillMaskPrediction>>& result) {
  auto render = [](const std::vector<FillMaskPrediction>& preds) {
    std::string s = "[";
    for (size_t i = 0; i < preds.size(); ++i) {
      const auto& p = preds[i];
      s += (i ? ", " : "") + std::string("{\"score\": ") + pipelines::json_number(p.score) +
           ", \"token\": " + std::to_string(p.token) + ", \"token_str\": " + pipelines::json_string(p.token_str) +
           ", \"sequence\": " + pipelines::json_string(p.sequence) + "}";
    }
    return s + "]";
  };
  if (result.size() == 1) return render(result.front());
  std::string s = "[";
  for (size_t i = 0; i < result.size(); ++i) s += (i ? ", " : "") + render(result[i]);
  return s + "]";
}

}  // namespace rembert
