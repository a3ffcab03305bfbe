#include "model/params.h"

#include "rembert/error.h"

namespace rembert::model {

bool head_has_pooler(HeadType head, bool add_pooling_layer) {
  switch (head) {
    case HeadType::Model: return add_pooling_layer;
    case HeadType::SequenceClassification:
    case HeadType::MultipleChoice: return true;
    default: return false;
  }
}

namespace {

// Walks the module tree; `prefix` accumulates the dotted HF path.
class Visitor {
 public:
  Visitor(const std::function<void(const ParamInfo&, Tensor&)>& visit) : visit_(visit) {}

  void tensor(const std::string& name, Shape shape, ParamGroup group, ParamInit init, bool matmul, Tensor& slot) {
    visit_(ParamInfo{name, std::move(shape), group, init, matmul}, slot);
  }
  void linear(const std::string& name, int64_t in, int64_t out, ParamGroup group, Linear& l) {
    l.name = name;
    tensor(name + ".weight", {out, in}, group, ParamInit::Normal, true, l.weight);
    tensor(name + ".bias", {out}, group, ParamInit::Zeros, false, l.bias);
  }
  void layer_norm(const std::string& name, int64_t width, ParamGroup group, LayerNorm& ln) {
    tensor(name + ".weight", {width}, group, ParamInit::Ones, false, ln.weight);
    tensor(name + ".bias", {width}, group, ParamInit::Zeros, false, ln.bias);
  }
  void attention(const std::string& name, int64_t hidden, int64_t heads, int64_t head_dim, Attention& a) {
    a.num_heads = heads;
    const int64_t width = heads * head_dim;
    linear(name + ".self.query", hidden, width, ParamGroup::Base, a.query);
    linear(name + ".self.key", hidden, width, ParamGroup::Base, a.key);
    linear(name + ".self.value", hidden, width, ParamGroup::Base, a.value);
    linear(name + ".output.dense", width, hidden, ParamGroup::Base, a.output);
    layer_norm(name + ".output.LayerNorm", hidden, ParamGroup::Base, a.layer_norm);
  }

 private:
  const std::function<void(const ParamInfo&, Tensor&)>& visit_;
};

}  // namespace

const Tensor* find_tensor(const TensorMap& tensors, const std::string& name, std::string* found_name) {
  static const std::string kPrefix = "rembert.";
  std::vector<std::string> candidates = {name};
  if (name.compare(0, kPrefix.size(), kPrefix) == 0) {
    candidates.push_back(name.substr(kPrefix.size()));
  } else if (name.compare(0, 4, "cls.") != 0) {
    candidates.push_back(kPrefix + name);
  }
  for (const auto& candidate : candidates) {
    auto it = tensors.find(candidate);
    if (it != tensors.end()) {
      *found_name = candidate;
      return &it->second;
    }
  }
  return nullptr;
}

void visit_params(const RemBertConfig& c, HeadType head, bool add_pooling_layer, Params& p,
                  const std::function<void(const ParamInfo&, Tensor& slot)>& visit) {
  Visitor v(visit);
  const std::string base = head == HeadType::Model ? "" : "rembert.";
  const int64_t E = c.input_embedding_size, H = c.hidden_size, D = c.head_dim();
  const ParamGroup B = ParamGroup::Base;

  v.tensor(base + "embeddings.word_embeddings.weight", {c.vocab_size, E}, B, ParamInit::Normal, false,
           p.embeddings.word_embeddings);
  v.tensor(base + "embeddings.position_embeddings.weight", {c.max_position_embeddings, E}, B, ParamInit::Normal,
           false, p.embeddings.position_embeddings);
  v.tensor(base + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, E}, B, ParamInit::Normal, false,
           p.embeddings.token_type_embeddings);
  v.layer_norm(base + "embeddings.LayerNorm", E, B, p.embeddings.layer_norm);

  v.linear(base + "encoder.embedding_hidden_mapping_in", E, H, B, p.encoder.embedding_hidden_mapping_in);
  p.encoder.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    Layer& layer = p.encoder.layers[static_cast<size_t>(i)];
    const std::string name = base + "encoder.layer." + std::to_string(i);
    // Pruning (config.pruned_heads) shrinks self-attention only, as transformers' prune_heads does.
    v.attention(name + ".attention", H, static_cast<int64_t>(c.kept_heads(i).size()), D, layer.attention);
    if (c.add_cross_attention) {
      if (!layer.crossattention) layer.crossattention.emplace();
      v.attention(name + ".crossattention", H, c.num_attention_heads, D, *layer.crossattention);
    }
    v.linear(name + ".intermediate.dense", H, c.intermediate_size, B, layer.intermediate);
    v.linear(name + ".output.dense", c.intermediate_size, H, B, layer.output);
    v.layer_norm(name + ".output.LayerNorm", H, B, layer.output_layer_norm);
  }
  if (head_has_pooler(head, add_pooling_layer)) {
    if (!p.pooler) p.pooler.emplace();
    v.linear(base + "pooler.dense", H, H, ParamGroup::Pooler, *p.pooler);
  }

  const ParamGroup HG = ParamGroup::Head;
  switch (head) {
    case HeadType::Model: break;
    case HeadType::MaskedLM:
    case HeadType::CausalLM:
      if (!p.lm_head) p.lm_head.emplace();
      v.linear("cls.predictions.dense", H, c.output_embedding_size, HG, p.lm_head->dense);
      v.layer_norm("cls.predictions.LayerNorm", c.output_embedding_size, HG, p.lm_head->layer_norm);
      v.linear("cls.predictions.decoder", c.output_embedding_size, c.vocab_size, HG, p.lm_head->decoder);
      break;
    case HeadType::SequenceClassification:
    case HeadType::TokenClassification:
      if (!p.classifier) p.classifier.emplace();
      v.linear("classifier", H, c.num_labels(), HG, *p.classifier);
      break;
    case HeadType::MultipleChoice:
      if (!p.classifier) p.classifier.emplace();
      v.linear("classifier", H, 1, HG, *p.classifier);
      break;
    case HeadType::QuestionAnswering:
      if (!p.classifier) p.classifier.emplace();
      v.linear("qa_outputs", H, c.num_labels(), HG, *p.classifier);
      break;
  }
}

void for_each_linear(const Params& p, const std::function<void(const Linear&, bool activated)>& visit) {
  for_each_linear(const_cast<Params&>(p), [&](Linear& l, bool activated) { visit(l, activated); });
}

void for_each_linear(Params& p, const std::function<void(Linear&, bool activated)>& visit) {
  visit(p.encoder.embedding_hidden_mapping_in, false);
  for (Layer& layer : p.encoder.layers) {
    for (Attention* a : {&layer.attention, layer.crossattention ? &*layer.crossattention : nullptr}) {
      if (!a) continue;
      visit(a->query, false);
      visit(a->key, false);
      visit(a->value, false);
      visit(a->output, false);
    }
    visit(layer.intermediate, true);
    visit(layer.output, false);
  }
  if (p.pooler) visit(*p.pooler, false);
  if (p.lm_head) {
    visit(p.lm_head->dense, true);
    visit(p.lm_head->decoder, false);
  }
  if (p.classifier) visit(*p.classifier, false);
}

}  // namespace rembert::model
