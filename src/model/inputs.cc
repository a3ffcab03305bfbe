#include "model/inputs.h"

#include <string>

#include "model/forward_util.h"
#include "rembert/error.h"

namespace rembert::model {

void flatten_choice_inputs(ForwardInputs& in) {
  for (Tensor* t : {&in.input_ids, &in.attention_mask, &in.token_type_ids, &in.position_ids, &in.inputs_embeds}) {
    *t = flatten_choices(*t);
  }
}

BatchShape batch_shape(const ForwardInputs& in, const ForwardInputs& given, const RemBertConfig& c,
                       bool multiple_choice) {
  if (in.input_ids.defined() == in.inputs_embeds.defined()) {
    throw Error(in.input_ids.defined() ? "give either input_ids or inputs_embeds, not both"
                                       : "give input_ids or inputs_embeds");
  }
  BatchShape s;
  if (in.input_ids.defined()) {
    if (in.input_ids.ndim() != 2) {
      throw Error("input_ids: expected shape [batch, sequence]" +
                  std::string(multiple_choice ? " per choice ([batch, choices, sequence])" : "") + ", got " +
                  shape_to_string(given.input_ids.shape()));
    }
    s.batch = in.input_ids.dim(0);
    s.seq = in.input_ids.dim(1);
  } else {
    if (in.inputs_embeds.ndim() != 3 || in.inputs_embeds.dim(2) != c.input_embedding_size ||
        !is_floating(in.inputs_embeds.dtype())) {
      throw Error("inputs_embeds: expected a float tensor [batch, sequence, " +
                  std::to_string(c.input_embedding_size) + "] (input_embedding_size), got " +
                  shape_to_string(given.inputs_embeds.shape()));
    }
    s.batch = in.inputs_embeds.dim(0);
    s.seq = in.inputs_embeds.dim(1);
  }
  if (s.seq == 0) throw Error("input: the sequence is empty");
  return s;
}

}  // namespace rembert::model
