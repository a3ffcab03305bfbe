#include "model/heads.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "model/forward_util.h"
#include "model/losses.h"

namespace rembert::model {

namespace {

Tensor scalar(float value) { return Tensor::from_f32({}, {value}); }

}  // namespace

std::vector<float> float_labels(const Tensor& labels) {
  return is_floating(labels.dtype()) ? labels.to_f32_vector() : mask_values(labels);
}

std::string sequence_classification_problem(const RemBertConfig& c, int64_t num_labels, const Tensor& labels) {
  return c.problem_type.value_or(
      num_labels == 1 ? "regression"
                      : (is_floating(labels.dtype()) ? "multi_label_classification" : "single_label_classification"));
}

// Sequence classification: the problem type is inferred as transformers does when the config does not name it.
Tensor sequence_classification_loss(const RemBertConfig& c, const Tensor& logits, const Tensor& labels) {
  const int64_t B = logits.dim(0), num_labels = logits.dim(1);
  const std::string problem = sequence_classification_problem(c, num_labels, labels);
  const std::vector<float> logit_values = logits.to_f32_vector();
  if (problem == "regression") {
    std::vector<float> targets = float_labels(labels);
    if (num_labels != 1 && labels.shape() != logits.shape()) {
      throw Error("labels: expected shape " + shape_to_string(logits.shape()) + " for regression, got " +
                  shape_to_string(labels.shape()));
    }
    return scalar(model::mse(logit_values, targets));
  }
  if (problem == "single_label_classification") {
    if (labels.numel() != B) {
      throw Error("labels: expected " + std::to_string(B) + " class indices, got shape " +
                  shape_to_string(labels.shape()));
    }
    if (is_floating(labels.dtype())) throw Error("labels: single-label classification needs integer labels");
    return scalar(model::cross_entropy(logits.data<float>(), B, num_labels, labels.to_i64_vector(), -100, "labels"));
  }
  if (labels.shape() != logits.shape()) {
    throw Error("labels: expected shape " + shape_to_string(logits.shape()) + " for multi-label classification, got " +
                shape_to_string(labels.shape()));
  }
  return scalar(model::bce_with_logits(logit_values, float_labels(labels)));
}

// Start/end positions clamped to [0, S]; S is the ignore index (SPEC §2.10).
std::vector<int64_t> clamped_positions(const Tensor& t, int64_t B, int64_t S, const char* name) {
  if (t.numel() != B || is_floating(t.dtype())) {
    throw Error(std::string(name) + ": expected " + std::to_string(B) + " integer positions, got " +
                dtype_name(t.dtype()) + " " + shape_to_string(t.shape()));
  }
  std::vector<int64_t> v = t.to_i64_vector();
  for (int64_t& x : v) x = std::min(std::max<int64_t>(x, 0), S);
  return v;
}

std::vector<int64_t> shifted_labels(const std::vector<int64_t>& labels, int64_t B, int64_t S) {
  std::vector<int64_t> shifted(static_cast<size_t>(B * S), -100);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t s = 0; s + 1 < S; ++s) shifted[b * S + s] = labels[b * S + s + 1];
  }
  return shifted;
}

void compute_head(const Model::Impl& m, const ForwardInputs& raw, const ForwardInputs& in, int64_t B, int64_t S,
                  const Tensor& sequence, const Tensor& pooled, ForwardOutputs& out) {
  const RemBertConfig& c = m.config;
  const HeadType head = m.head;
  const float* seq = sequence.data<float>();
  const int64_t H = c.hidden_size;
  switch (head) {
    case HeadType::Model:
      out.last_hidden_state = sequence;
      out.pooler_output = pooled;
      break;

    case HeadType::MaskedLM:
    case HeadType::CausalLM: {
      // cls.predictions: decoder(LayerNorm(act(dense(h)))), width O in between.
      const model::LMHead& lm = *m.params.lm_head;
      const int64_t O = c.output_embedding_size, V = c.vocab_size;
      // Only the requested rows go through the head when logits_rows is given.
      const bool some_rows = !in.logits_rows.empty();
      const int64_t rows = some_rows ? static_cast<int64_t>(in.logits_rows.size()) : B * S;
      Tensor gathered;
      const float* head_in = seq;
      if (some_rows) {
        if (in.labels.defined()) throw Error("logits_rows: a loss needs the logits of every position");
        gathered = scratch_f32({rows, H});
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t row = in.logits_rows[static_cast<size_t>(r)];
          if (row < 0 || row >= B * S) {
            throw Error("logits_rows: row " + std::to_string(row) + " is out of range [0, " + std::to_string(B * S) +
                        ")");
          }
          std::memcpy(gathered.mutable_data<float>() + r * H, seq + row * H, H * sizeof(float));
        }
        head_in = gathered.data<float>();
      }
      Tensor t = scratch_f32({rows, O});
      apply_linear_act(lm.dense, m.activation, head_in, rows, t.mutable_data<float>());
      apply_layer_norm(lm.layer_norm, t.mutable_data<float>(), rows, O, c.layer_norm_eps);
      out.logits = some_rows ? new_f32({rows, V}) : new_f32({B, S, V});
      apply_linear(lm.decoder, t.data<float>(), rows, out.logits.mutable_data<float>());
      if (in.labels.defined()) {
        expect_shape(in.labels, {B, S}, "labels");
        std::vector<int64_t> labels = in.labels.to_i64_vector();
        if (head == HeadType::MaskedLM) {
          out.loss = scalar(model::cross_entropy(out.logits.data<float>(), B * S, V, labels, -100, "labels"));
        } else {
          const std::vector<int64_t> shifted = shifted_labels(labels, B, S);
          out.loss = scalar(model::cross_entropy(out.logits.data<float>(), B * S, V, shifted, -100, "labels"));
        }
      }
      break;
    }

    case HeadType::SequenceClassification: {
      const int64_t L = c.num_labels();
      out.logits = new_f32({B, L});
      apply_linear(*m.params.classifier, pooled.data<float>(), B, out.logits.mutable_data<float>());
      if (in.labels.defined()) out.loss = sequence_classification_loss(c, out.logits, in.labels);
      break;
    }

    case HeadType::MultipleChoice: {
      const Tensor& shaped = raw.input_ids.defined() ? raw.input_ids : raw.inputs_embeds;
      const int64_t batch = shaped.dim(0), choices = shaped.dim(1);
      out.logits = new_f32({batch, choices});
      apply_linear(*m.params.classifier, pooled.data<float>(), B, out.logits.mutable_data<float>());
      if (in.labels.defined()) {
        if (in.labels.numel() != batch || is_floating(in.labels.dtype())) {
          throw Error("labels: expected " + std::to_string(batch) + " integer choice indices, got " +
                      shape_to_string(in.labels.shape()));
        }
        out.loss = scalar(model::cross_entropy(out.logits.data<float>(), batch, choices, in.labels.to_i64_vector(),
                                               -100, "labels"));
      }
      break;
    }

    case HeadType::TokenClassification: {
      const int64_t L = c.num_labels();
      out.logits = new_f32({B, S, L});
      apply_linear(*m.params.classifier, seq, B * S, out.logits.mutable_data<float>());
      if (in.labels.defined()) {
        expect_shape(in.labels, {B, S}, "labels");
        out.loss = scalar(model::cross_entropy(out.logits.data<float>(), B * S, L, in.labels.to_i64_vector(), -100,
                                               "labels"));
      }
      break;
    }

    case HeadType::QuestionAnswering: {
      Tensor both = new_f32({B * S, 2});
      apply_linear(*m.params.classifier, seq, B * S, both.mutable_data<float>());
      out.start_logits = new_f32({B, S});
      out.end_logits = new_f32({B, S});
      for (int64_t i = 0; i < B * S; ++i) {
        out.start_logits.mutable_data<float>()[i] = both.data<float>()[2 * i];
        out.end_logits.mutable_data<float>()[i] = both.data<float>()[2 * i + 1];
      }
      if (in.start_positions.defined() && in.end_positions.defined()) {
        auto start = clamped_positions(in.start_positions, B, S, "start_positions");
        auto end = clamped_positions(in.end_positions, B, S, "end_positions");
        const float start_loss = model::cross_entropy(out.start_logits.data<float>(), B, S, start, S, "start_positions");
        const float end_loss = model::cross_entropy(out.end_logits.data<float>(), B, S, end, S, "end_positions");
        out.loss = scalar((start_loss + end_loss) / 2.0f);
      }
      break;
    }
  }
}

}  // namespace rembert::model
