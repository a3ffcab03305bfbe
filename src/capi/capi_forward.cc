// The C API's forward: named inputs copied into the context, shape checks that name the input at fault, and the
// float32 outputs by transformers' names.
#include <cstring>
#include <set>

#include "capi_internal.h"
#include "rembert/error.h"

using rembert::DType;
using rembert::Shape;
using rembert::Tensor;
using rembert::capi::fail;
using rembert::capi::guarded;
using rembert::capi::require;

namespace {

enum class Kind { Integer, Float, Either };

// The forward arguments the C API takes, and the element types each accepts.
const std::map<std::string, Kind>& input_kinds() {
  static const std::map<std::string, Kind> kinds = {
      {"input_ids", Kind::Integer},       {"inputs_embeds", Kind::Float},
      {"attention_mask", Kind::Either},   {"token_type_ids", Kind::Integer},
      {"position_ids", Kind::Integer},    {"head_mask", Kind::Float},
      {"encoder_hidden_states", Kind::Float}, {"encoder_attention_mask", Kind::Either},
      {"labels", Kind::Either},           {"start_positions", Kind::Integer},
      {"end_positions", Kind::Integer},
  };
  return kinds;
}

DType dtype_of(int dtype) {
  switch (dtype) {
    case REMBERT_F32: return DType::F32;
    case REMBERT_F16: return DType::F16;
    case REMBERT_BF16: return DType::BF16;
    case REMBERT_F64: return DType::F64;
    case REMBERT_I64: return DType::I64;
    case REMBERT_I32: return DType::I32;
    default: break;
  }
  fail(REMBERT_BAD_DTYPE, "dtype " + std::to_string(dtype) + " is not a rembert_dtype");
}

const Shape* shape_of(const rembert_context& ctx, const char* name) {
  auto it = ctx.input_shapes.find(name);
  return it == ctx.input_shapes.end() ? nullptr : &it->second;
}

[[noreturn]] void bad_shape(const std::string& name, const std::string& expected, const Shape& got) {
  fail(REMBERT_BAD_SHAPE, name + ": expected shape " + expected + ", got " + rembert::shape_to_string(got));
}

// The checks whose failures are shapes (BAD_SHAPE), made before the model sees the inputs.
void check_shapes(const rembert_context& ctx, const rembert::Model& model) {
  const rembert::RemBertConfig& c = model.config();
  const bool choices = model.head() == rembert::HeadType::MultipleChoice;
  const size_t token_dims = choices ? 3 : 2;
  const std::string layout = choices ? "[batch, choices, sequence]" : "[batch, sequence]";
  const Shape* ids = shape_of(ctx, "input_ids");
  const Shape* embeds = shape_of(ctx, "inputs_embeds");
  if (!ids && !embeds) fail(REMBERT_INVALID_ARGUMENT, "forward: set input_ids or inputs_embeds");
  if (ids && embeds) fail(REMBERT_INVALID_ARGUMENT, "forward: set either input_ids or inputs_embeds, not both");
  Shape tokens;
  if (ids) {
    if (ids->size() != token_dims) bad_shape("input_ids", layout, *ids);
    tokens = *ids;
  } else {
    const std::string embeds_layout =
        layout.substr(0, layout.size() - 1) + ", " + std::to_string(c.input_embedding_size) + "]";
    if (embeds->size() != token_dims + 1 || embeds->back() != c.input_embedding_size) {
      bad_shape("inputs_embeds", embeds_layout, *embeds);
    }
    tokens.assign(embeds->begin(), embeds->end() - 1);
  }
  const char* given = ids ? "input_ids" : "inputs_embeds";
  for (int64_t d : tokens) {
    if (d == 0) fail(REMBERT_BAD_SHAPE, std::string(given) + ": empty batch or sequence, shape " +
                                            rembert::shape_to_string(ids ? *ids : *embeds));
  }
  const int64_t B = tokens.front(), S = tokens.back();
  if (!shape_of(ctx, "position_ids") && S > c.max_position_embeddings) {
    fail(REMBERT_BAD_SHAPE, std::string(given) + ": sequence length " + std::to_string(S) +
                                " is longer than the model's max_position_embeddings (" +
                                std::to_string(c.max_position_embeddings) + ")");
  }
  const std::string like = rembert::shape_to_string(tokens) + " (like " + given + ")";
  if (const Shape* m = shape_of(ctx, "attention_mask")) {
    if (*m != tokens && (choices || *m != Shape{B, S, S})) bad_shape("attention_mask", like, *m);
  }
  if (const Shape* t = shape_of(ctx, "token_type_ids")) {
    if (*t != tokens) bad_shape("token_type_ids", like, *t);
  }
  if (const Shape* p = shape_of(ctx, "position_ids")) {
    if (*p != tokens && *p != Shape{S}) bad_shape("position_ids", like + " or [" + std::to_string(S) + "]", *p);
  }
}

rembert::ForwardInputs inputs_of(const rembert_context& ctx) {
  rembert::ForwardInputs in;
  const std::map<std::string, Tensor*> slots = {
      {"input_ids", &in.input_ids},           {"inputs_embeds", &in.inputs_embeds},
      {"attention_mask", &in.attention_mask}, {"token_type_ids", &in.token_type_ids},
      {"position_ids", &in.position_ids},     {"head_mask", &in.head_mask},
      {"encoder_hidden_states", &in.encoder_hidden_states},
      {"encoder_attention_mask", &in.encoder_attention_mask},
      {"labels", &in.labels},                 {"start_positions", &in.start_positions},
      {"end_positions", &in.end_positions},
  };
  for (const auto& [name, tensor] : ctx.inputs) *slots.at(name) = tensor;
  auto flag = [&](const char* name) -> std::optional<bool> {
    auto it = ctx.flags.find(name);
    if (it == ctx.flags.end()) return std::nullopt;
    return it->second != 0;
  };
  in.output_hidden_states = flag("output_hidden_states");
  in.output_attentions = flag("output_attentions");
  in.skip_padding = flag("skip_padding").value_or(true);
  in.use_cache = false;  // the C API returns no past_key_values
  return in;
}

void keep_outputs(rembert_context& ctx, const rembert::ForwardOutputs& out) {
  auto add = [&](const std::string& name, const Tensor& t) {
    if (t.defined()) ctx.outputs.emplace_back(name, t.to_f32());
  };
  auto add_list = [&](const std::string& name, const std::vector<Tensor>& list) {
    for (size_t i = 0; i < list.size(); ++i) add(name + "." + std::to_string(i), list[i]);
  };
  add("loss", out.loss);
  add("logits", out.logits);
  add("start_logits", out.start_logits);
  add("end_logits", out.end_logits);
  add("last_hidden_state", out.last_hidden_state);
  add("pooler_output", out.pooler_output);
  add_list("hidden_states", out.hidden_states);
  add_list("attentions", out.attentions);
  add_list("cross_attentions", out.cross_attentions);
}

}  // namespace

extern "C" {

REMBERT_API rembert_status rembert_context_set_input(rembert_context* ctx, const char* name, rembert_dtype dtype,
                                                     const void* data, const int64_t* shape, int ndim) {
  return guarded(ctx, REMBERT_INVALID_ARGUMENT, [&] {
    require(ctx, "ctx");
    require(name, "name");
    auto kind = input_kinds().find(name);
    if (kind == input_kinds().end()) {
      std::string known;
      for (const auto& [n, k] : input_kinds()) known += (known.empty() ? "" : ", ") + n;
      fail(REMBERT_INVALID_ARGUMENT,
           std::string("input \"") + name + "\" is not known (expected one of: " + known + ")");
    }
    if (!data) {
      ctx->inputs.erase(name);
      ctx->input_shapes.erase(name);
      return;
    }
    const DType dt = dtype_of(rembert::capi::enum_value(dtype));
    const bool floating = rembert::is_floating(dt);
    if ((kind->second == Kind::Integer && floating) || (kind->second == Kind::Float && !floating)) {
      fail(REMBERT_BAD_DTYPE, std::string(name) + ": dtype " + rembert::dtype_name(dt) + " given, expected " +
                                  (floating ? "an integer dtype (I64 or I32)" : "a float dtype (F32, F16, BF16, F64)"));
    }
    if (ndim < 0 || ndim > 8) {
      fail(REMBERT_INVALID_ARGUMENT, std::string(name) + ": ndim " + std::to_string(ndim) + " is not in [0, 8]");
    }
    if (ndim > 0) require(shape, "shape");
    Shape s(shape, shape + ndim);
    for (int64_t d : s) {
      if (d < 0) {
        fail(REMBERT_INVALID_ARGUMENT,
             std::string(name) + ": negative dimension in shape " + rembert::shape_to_string(s));
      }
    }
    Tensor t(dt, s);  // throws Error (INVALID_ARGUMENT) when the element count overflows
    if (t.nbytes() > 0) std::memcpy(t.raw_mutable_data(), data, t.nbytes());
    ctx->inputs[name] = t;
    ctx->input_shapes[name] = s;
  });
}

REMBERT_API void rembert_context_clear_inputs(rembert_context* ctx) {
  if (!ctx) return;
  ctx->inputs.clear();
  ctx->input_shapes.clear();
  ctx->flags.clear();
  ctx->outputs.clear();
}

REMBERT_API rembert_status rembert_context_set_flag(rembert_context* ctx, const char* name, int value) {
  return guarded(ctx, REMBERT_INVALID_ARGUMENT, [&] {
    require(ctx, "ctx");
    require(name, "name");
    const std::string n = name;
    if (n != "output_hidden_states" && n != "output_attentions" && n != "skip_padding") {
      fail(REMBERT_INVALID_ARGUMENT, "flag \"" + n + "\" is not known (expected output_hidden_states, "
                                     "output_attentions or skip_padding)");
    }
    ctx->flags[n] = value;
  });
}

REMBERT_API rembert_status rembert_forward(rembert_context* ctx, const rembert_model* model) {
  return guarded(ctx, REMBERT_BAD_INPUT, [&] {
    require(ctx, "ctx");
    require(model, "model");
    ctx->outputs.clear();
    check_shapes(*ctx, *model->model);
    rembert::ForwardOutputs out;
    try {
      out = model->model->forward(inputs_of(*ctx));
    } catch (const rembert::Error& e) {
      // The model's own input checks: those about shapes say "shape".
      const std::string message = e.what();
      fail(message.find("shape") != std::string::npos ? REMBERT_BAD_SHAPE : REMBERT_BAD_INPUT, message);
    }
    keep_outputs(*ctx, out);
  });
}

REMBERT_API size_t rembert_context_num_outputs(const rembert_context* ctx) { return ctx ? ctx->outputs.size() : 0; }

REMBERT_API const char* rembert_context_output_name(const rembert_context* ctx, size_t i) {
  return ctx && i < ctx->outputs.size() ? ctx->outputs[i].first.c_str() : nullptr;
}

REMBERT_API rembert_status rembert_context_output(rembert_context* ctx, const char* name, const float** data,
                                                  const int64_t** shape, int* ndim) {
  return guarded(ctx, REMBERT_INTERNAL, [&] {
    require(ctx, "ctx");
    require(name, "name");
    require(data, "data");
    for (const auto& [n, t] : ctx->outputs) {
      if (n != name) continue;
      *data = t.data<float>();
      if (shape) *shape = t.shape().data();
      if (ndim) *ndim = t.ndim();
      return;
    }
    std::string produced;
    for (const auto& [n, t] : ctx->outputs) produced += (produced.empty() ? "" : ", ") + n;
    fail(REMBERT_UNSUPPORTED, std::string("output \"") + name + "\" was not produced by the last forward (it gave: " +
                                  (produced.empty() ? "nothing" : produced) + ")");
  });
}

}  // extern "C"
