// TensorFlow checkpoints (tf_model.h5): the Keras weight names transformers' TF classes save, mapped onto the
// PyTorch state-dict names. Defined in tf_h5.cc; read_tf_h5 itself is declared in rembert/safetensors.h.
#pragma once

#include <string>

namespace rembert::tf {

// transformers' convert_tf_weight_name_to_pt_weight_name for a full Keras variable name:
// "tf_rem_bert_for_masked_lm/rembert/encoder/layer_._0/attention/self/query/kernel:0" ->
// "rembert.encoder.layer.0.attention.self.query.weight", transposed ([in, out] -> [out, in]).
// ":0" dropped, "x___y" levels become "y" (mlm___cls -> cls), "_._" a level separator, the model's own name (level
// zero) dropped, kernel/embeddings/gamma -> weight, beta -> bias; a kernel is transposed.
struct PtName {
  std::string name;
  bool transpose = false;
};
PtName pt_weight_name(const std::string& tf_name);

}  // namespace rembert::tf
