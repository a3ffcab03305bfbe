#include "train/evaluate.h"

#include <algorithm>
#include <cmath>

#include "train/batching.h"
#include "train/metrics.h"

namespace rembert::train {

namespace {

int64_t argmax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

}  // namespace

std::map<std::string, double> evaluate(const Model& model, const Dataset& data, int64_t batch_size,
                                       int64_t pad_token_id, int64_t mask_token_id, double mlm_probability,
                                       uint64_t seed) {
  const RemBertConfig& c = model.config();
  const int64_t n = static_cast<int64_t>(data.features.size());
  PyRandom rng(seed);
  double loss_sum = 0.0, loss_weight = 0.0;
  std::vector<int64_t> y_true, y_pred;
  std::vector<std::vector<std::string>> tags_true, tags_pred;
  std::vector<std::vector<float>> starts(static_cast<size_t>(n)), ends(static_cast<size_t>(n));

  for (const std::vector<int64_t>& rows : fixed_batches(n, batch_size, nullptr)) {
    Batch batch = collate(data, rows, pad_token_id);
    if (data.task == Task::FillMask) mask_tokens(batch, rng, MlmOptions{mask_token_id, c.vocab_size, mlm_probability});
    const ForwardOutputs out = model.forward(forward_inputs(batch));
    // Weighted by rows (the HF Trainer's mean over samples); LM losses by their labelled tokens.
    double weight = static_cast<double>(rows.size());
    if (data.task == Task::FillMask || data.task == Task::CausalLM) {
      weight = 0;
      const std::vector<int64_t> labels = batch.labels.to_i64_vector();
      const int64_t S = batch.labels.dim(1);
      for (size_t i = 0; i < labels.size(); ++i) {
        const bool shifted_out = data.task == Task::CausalLM && static_cast<int64_t>(i) % S == 0;
        weight += labels[i] != -100 && !shifted_out;
      }
    }
    if (out.loss.defined() && weight > 0) {
      const double l = out.loss.to_f32_vector()[0];
      if (std::isfinite(l)) {
        loss_sum += l * weight;
        loss_weight += weight;
      }
    }
    const int64_t B = static_cast<int64_t>(rows.size());
    switch (data.task) {
      case Task::TextClassification:
      case Task::MultipleChoice: {
        if (data.labels.problem != ProblemType::SingleLabel && data.task == Task::TextClassification) break;
        const int64_t L = out.logits.dim(1);
        for (int64_t b = 0; b < B; ++b) {
          y_true.push_back(data.features[static_cast<size_t>(rows[static_cast<size_t>(b)])].label);
          y_pred.push_back(argmax(out.logits.data<float>() + b * L, L));
        }
        break;
      }
      case Task::TokenClassification: {
        const int64_t S = out.logits.dim(1), L = out.logits.dim(2);
        for (int64_t b = 0; b < B; ++b) {
          const Features& f = data.features[static_cast<size_t>(rows[static_cast<size_t>(b)])];
          std::vector<std::string> t, p;
          for (size_t s = 0; s < f.token_labels.size() && static_cast<int64_t>(s) < S; ++s) {
            if (f.token_labels[s] < 0) continue;
            t.push_back(data.labels.id2label[static_cast<size_t>(f.token_labels[s])]);
            const int64_t best = argmax(out.logits.data<float>() + (b * S + static_cast<int64_t>(s)) * L, L);
            p.push_back(data.labels.id2label[static_cast<size_t>(best)]);
          }
          tags_true.push_back(std::move(t));
          tags_pred.push_back(std::move(p));
        }
        break;
      }
      case Task::QuestionAnswering: {
        const int64_t S = out.start_logits.dim(1);
        for (int64_t b = 0; b < B; ++b) {
          const auto row = static_cast<size_t>(rows[static_cast<size_t>(b)]);
          const int64_t len = static_cast<int64_t>(data.features[row].input_ids.size());
          const float* s = out.start_logits.data<float>() + b * S;
          const float* e = out.end_logits.data<float>() + b * S;
          starts[row].assign(s, s + len);
          ends[row].assign(e, e + len);
        }
        break;
      }
      case Task::FillMask:
      case Task::CausalLM: break;
    }
  }

  std::map<std::string, double> m;
  if (loss_weight > 0) m["eval_loss"] = loss_sum / loss_weight;
  switch (data.task) {
    case Task::TextClassification:
      if (data.labels.problem == ProblemType::SingleLabel) {
        m["accuracy"] = accuracy(y_true, y_pred);
        m["macro_f1"] = macro_f1(y_true, y_pred);
      } else if (data.labels.problem == ProblemType::Regression && loss_weight > 0) {
        m["mse"] = m["eval_loss"];
      }
      break;
    case Task::MultipleChoice: m["accuracy"] = accuracy(y_true, y_pred); break;
    case Task::TokenClassification: {
      const EntityScores s = entity_scores(tags_true, tags_pred);
      m["precision"] = s.precision;
      m["recall"] = s.recall;
      m["f1"] = s.f1;
      m["accuracy"] = s.accuracy;
      break;
    }
    case Task::QuestionAnswering: {
      const SquadScores s = squad_scores(data.examples, postprocess_qa(data, starts, ends));
      m["exact_match"] = s.exact_match;
      m["f1"] = s.f1;
      break;
    }
    case Task::FillMask:
    case Task::CausalLM:
      if (loss_weight > 0) m["perplexity"] = std::exp(m["eval_loss"]);
      break;
  }
  return m;
}

}  // namespace rembert::train
