// The heads in train mode and their backward.
#include "train/heads.h"

#include <algorithm>
#include <cstring>

#include "kernels/backward.h"
#include "kernels/ops.h"
#include "model/forward_util.h"
#include "model/heads.h"
#include "model/losses.h"

namespace rembert::train {

namespace {

Tensor scalar(float value) { return Tensor::from_f32({}, {value}); }

Tensor make_f32(Shape shape, const std::vector<float>& values) {
  Tensor t(DType::F32, std::move(shape));
  std::memcpy(t.mutable_data<float>(), values.data(), values.size() * sizeof(float));
  return t;
}

}  // namespace

bool head_reads_pooled(HeadType head) {
  return head == HeadType::SequenceClassification || head == HeadType::MultipleChoice;
}

HeadOutputs head_forward(const model::Params& p, const RemBertConfig& c, HeadType head, kernels::Activation act,
                         const ForwardInputs& in, int64_t B, int64_t S, int64_t choices, const float* sequence,
                         const float* pooled, DropoutStream& dropout, bool want_grad, float loss_scale,
                         HeadSaved& saved) {
  const int64_t H = c.hidden_size, R = B * S;
  const float p_classifier = static_cast<float>(c.classifier_dropout_prob);
  HeadOutputs out;
  auto need_labels = [&](bool given, const char* what) {
    if (want_grad && !given) throw Error(std::string("backward: the loss needs ") + what);
  };
  switch (head) {
    case HeadType::Model:
      if (want_grad) throw Error("backward: RemBertModel has no loss; load the model with a head");
      break;

    case HeadType::MaskedLM:
    case HeadType::CausalLM: {
      // cls.predictions: decoder(LayerNorm(act(dense(h))))
      const model::LMHead& lm = *p.lm_head;
      const int64_t O = c.output_embedding_size, V = c.vocab_size;
      saved.lm_pre_activation.resize(static_cast<size_t>(R * O));
      linear_forward(lm.dense, sequence, R, saved.lm_pre_activation.data());
      std::vector<float> activated(saved.lm_pre_activation);
      kernels::apply_activation(act, activated.data(), R * O);
      saved.lm_normed.resize(static_cast<size_t>(R * O));
      layer_norm_forward(lm.layer_norm, activated.data(), R, O, c.layer_norm_eps, saved.lm_norm,
                         saved.lm_normed.data());
      out.logits = Tensor(DType::F32, {B, S, V});
      linear_forward(lm.decoder, saved.lm_normed.data(), R, out.logits.mutable_data<float>());
      need_labels(in.labels.defined(), "labels");
      if (in.labels.defined()) {
        model::expect_shape(in.labels, {B, S}, "labels");
        std::vector<int64_t> labels = in.labels.to_i64_vector();
        if (head == HeadType::CausalLM) labels = model::shifted_labels(labels, B, S);
        out.loss = scalar(model::cross_entropy(out.logits.data<float>(), R, V, labels, -100, "labels"));
        if (want_grad) {
          // Only the labelled rows carry a gradient: the head's backward runs on them alone.
          saved.labelled_rows.clear();
          std::vector<int64_t> kept_labels;
          for (int64_t r = 0; r < R; ++r) {
            if (labels[static_cast<size_t>(r)] == -100) continue;
            saved.labelled_rows.push_back(r);
            kept_labels.push_back(labels[static_cast<size_t>(r)]);
          }
          const int64_t n = static_cast<int64_t>(saved.labelled_rows.size());
          std::vector<float> rows(static_cast<size_t>(n * V));
          for (int64_t i = 0; i < n; ++i) {
            std::memcpy(rows.data() + i * V, out.logits.data<float>() + saved.labelled_rows[static_cast<size_t>(i)] * V,
                        V * sizeof(float));
          }
          saved.d_logits.resize(static_cast<size_t>(n * V));
          model::cross_entropy_backward(rows.data(), n, V, kept_labels, -100, loss_scale, saved.d_logits.data());
        }
      }
      break;
    }

    case HeadType::SequenceClassification:
    case HeadType::MultipleChoice: {
      const int64_t L = head == HeadType::MultipleChoice ? 1 : c.num_labels();
      saved.classifier_input.assign(pooled, pooled + B * H);
      dropout.apply(saved.classifier_input.data(), B * H, p_classifier, saved.keep);
      std::vector<float> logits(static_cast<size_t>(B * L));
      linear_forward(*p.classifier, saved.classifier_input.data(), B, logits.data());
      const int64_t batch = B / choices;
      out.logits = head == HeadType::MultipleChoice ? make_f32({batch, choices}, logits) : make_f32({B, L}, logits);
      need_labels(in.labels.defined(), "labels");
      if (!in.labels.defined()) break;
      saved.d_logits.assign(logits.size(), 0.0f);
      if (head == HeadType::MultipleChoice) {
        if (in.labels.numel() != batch || is_floating(in.labels.dtype())) {
          throw Error("labels: expected " + std::to_string(batch) + " integer choice indices, got " +
                      shape_to_string(in.labels.shape()));
        }
        const std::vector<int64_t> labels = in.labels.to_i64_vector();
        out.loss = scalar(model::cross_entropy(logits.data(), batch, choices, labels, -100, "labels"));
        if (want_grad) {
          model::cross_entropy_backward(logits.data(), batch, choices, labels, -100, loss_scale,
                                        saved.d_logits.data());
        }
        break;
      }
      out.loss = model::sequence_classification_loss(c, out.logits, in.labels);
      if (!want_grad) break;
      const std::string problem = model::sequence_classification_problem(c, L, in.labels);
      if (problem == "regression") {
        model::mse_backward(logits, model::float_labels(in.labels), loss_scale, saved.d_logits.data());
      } else if (problem == "single_label_classification") {
        model::cross_entropy_backward(logits.data(), B, L, in.labels.to_i64_vector(), -100, loss_scale,
                                      saved.d_logits.data());
      } else {
        model::bce_with_logits_backward(logits, model::float_labels(in.labels), loss_scale, saved.d_logits.data());
      }
      break;
    }

    case HeadType::TokenClassification: {
      const int64_t L = c.num_labels();
      saved.classifier_input.assign(sequence, sequence + R * H);
      dropout.apply(saved.classifier_input.data(), R * H, p_classifier, saved.keep);
      out.logits = Tensor(DType::F32, {B, S, L});
      linear_forward(*p.classifier, saved.classifier_input.data(), R, out.logits.mutable_data<float>());
      need_labels(in.labels.defined(), "labels");
      if (!in.labels.defined()) break;
      model::expect_shape(in.labels, {B, S}, "labels");
      const std::vector<int64_t> labels = in.labels.to_i64_vector();
      out.loss = scalar(model::cross_entropy(out.logits.data<float>(), R, L, labels, -100, "labels"));
      if (want_grad) {
        saved.d_logits.resize(static_cast<size_t>(R * L));
        model::cross_entropy_backward(out.logits.data<float>(), R, L, labels, -100, loss_scale, saved.d_logits.data());
      }
      break;
    }

    case HeadType::QuestionAnswering: {
      std::vector<float> both(static_cast<size_t>(R * 2));
      linear_forward(*p.classifier, sequence, R, both.data());
      std::vector<float> start(static_cast<size_t>(R)), end(static_cast<size_t>(R));
      for (int64_t i = 0; i < R; ++i) {
        start[static_cast<size_t>(i)] = both[static_cast<size_t>(2 * i)];
        end[static_cast<size_t>(i)] = both[static_cast<size_t>(2 * i + 1)];
      }
      out.start_logits = make_f32({B, S}, start);
      out.end_logits = make_f32({B, S}, end);
      const bool given = in.start_positions.defined() && in.end_positions.defined();
      need_labels(given, "start_positions and end_positions");
      if (!given) break;
      const auto start_pos = model::clamped_positions(in.start_positions, B, S, "start_positions");
      const auto end_pos = model::clamped_positions(in.end_positions, B, S, "end_positions");
      const float start_loss = model::cross_entropy(start.data(), B, S, start_pos, S, "start_positions");
      const float end_loss = model::cross_entropy(end.data(), B, S, end_pos, S, "end_positions");
      out.loss = scalar((start_loss + end_loss) / 2.0f);
      if (want_grad) {
        std::vector<float> d_start(static_cast<size_t>(R)), d_end(static_cast<size_t>(R));
        model::cross_entropy_backward(start.data(), B, S, start_pos, S, loss_scale / 2.0f, d_start.data());
        model::cross_entropy_backward(end.data(), B, S, end_pos, S, loss_scale / 2.0f, d_end.data());
        saved.d_logits.resize(static_cast<size_t>(R * 2));
        for (int64_t i = 0; i < R; ++i) {
          saved.d_logits[static_cast<size_t>(2 * i)] = d_start[static_cast<size_t>(i)];
          saved.d_logits[static_cast<size_t>(2 * i + 1)] = d_end[static_cast<size_t>(i)];
        }
      }
      break;
    }
  }
  return out;
}

void head_backward(const model::Params& p, model::Params& grads, const RemBertConfig& c, HeadType head,
                   kernels::Activation act, const HeadSaved& saved, int64_t B, int64_t S, const float* sequence,
                   float* d_sequence, float* d_pooled) {
  const int64_t H = c.hidden_size, R = B * S;
  const float p_classifier = static_cast<float>(c.classifier_dropout_prob);
  switch (head) {
    case HeadType::Model: break;

    case HeadType::MaskedLM:
    case HeadType::CausalLM: {
      const model::LMHead& lm = *p.lm_head;
      model::LMHead& g = *grads.lm_head;
      const int64_t O = c.output_embedding_size, n = static_cast<int64_t>(saved.labelled_rows.size());
      // Gather what the labelled rows' backward reads: the decoder input, the norm's statistics, the dense input.
      std::vector<float> normed(static_cast<size_t>(n * O)), pre(static_cast<size_t>(n * O)),
          hidden(static_cast<size_t>(n * H));
      LayerNormSaved norm;
      norm.input.resize(static_cast<size_t>(n * O));
      norm.mean.resize(static_cast<size_t>(n));
      norm.rstd.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = saved.labelled_rows[static_cast<size_t>(i)];
        std::memcpy(normed.data() + i * O, saved.lm_normed.data() + r * O, O * sizeof(float));
        std::memcpy(pre.data() + i * O, saved.lm_pre_activation.data() + r * O, O * sizeof(float));
        std::memcpy(norm.input.data() + i * O, saved.lm_norm.input.data() + r * O, O * sizeof(float));
        norm.mean[static_cast<size_t>(i)] = saved.lm_norm.mean[static_cast<size_t>(r)];
        norm.rstd[static_cast<size_t>(i)] = saved.lm_norm.rstd[static_cast<size_t>(r)];
        std::memcpy(hidden.data() + i * H, sequence + r * H, H * sizeof(float));
      }
      std::vector<float> d(static_cast<size_t>(n * O)), d_hidden(static_cast<size_t>(n * H));
      linear_backward(lm.decoder, g.decoder, normed.data(), saved.d_logits.data(), n, d.data(), false);
      layer_norm_backward(lm.layer_norm, g.layer_norm, norm, d.data(), n, O, d.data());
      kernels::activation_backward(act, pre.data(), d.data(), d.data(), n * O);
      linear_backward(lm.dense, g.dense, hidden.data(), d.data(), n, d_hidden.data(), false);
      for (int64_t i = 0; i < n; ++i) {
        kernels::add_inplace(d_sequence + saved.labelled_rows[static_cast<size_t>(i)] * H, d_hidden.data() + i * H, H);
      }
      break;
    }

    case HeadType::SequenceClassification:
    case HeadType::MultipleChoice: {
      linear_backward(*p.classifier, *grads.classifier, saved.classifier_input.data(), saved.d_logits.data(), B,
                      d_pooled, false);
      dropout_backward(saved.keep, p_classifier, d_pooled, d_pooled, B * H);
      break;
    }

    case HeadType::TokenClassification: {
      std::vector<float> d(static_cast<size_t>(R * H));
      linear_backward(*p.classifier, *grads.classifier, saved.classifier_input.data(), saved.d_logits.data(), R,
                      d.data(), false);
      dropout_backward(saved.keep, p_classifier, d.data(), d.data(), R * H);
      for (int64_t i = 0; i < R * H; ++i) d_sequence[i] += d[static_cast<size_t>(i)];
      break;
    }

    case HeadType::QuestionAnswering:
      linear_backward(*p.classifier, *grads.classifier, sequence, saved.d_logits.data(), R, d_sequence, true);
      break;
  }
}

}  // namespace rembert::train
