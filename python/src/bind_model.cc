// rembert::Model for Python: loading with a head and dtype, and forward() over numpy arrays (zero-copy both ways,
// the GIL released while it computes).
#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <optional>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "rembert/error.h"
#include "rembert/model.h"

namespace py = pybind11;

namespace rembert::python {

namespace {

// pybind11 holders cannot be shared_ptr<const T>; the library only ever gets a const Model.
using ModelPtr = std::shared_ptr<Model>;

ModelPtr load(const std::string& dir, std::optional<std::string> head, std::optional<std::string> dtype,
              bool add_pooling_layer) {
  LoadOptions o;
  if (head) o.head = head_from_name(*head);
  if (dtype) o.dtype = weight_dtype_from_name(*dtype);
  o.add_pooling_layer = add_pooling_layer;
  py::gil_scoped_release unlocked;
  try {
    return std::const_pointer_cast<Model>(Model::load(dir, o));
  } catch (const Error& e) {
    if (!path_exists(dir + "/config.json")) throw FileNotFound(e.what());
    throw;
  }
}

// The tensor slots of ForwardInputs by transformers' argument names.
std::map<std::string, Tensor ForwardInputs::*> tensor_slots() {
  return {{"input_ids", &ForwardInputs::input_ids},
          {"inputs_embeds", &ForwardInputs::inputs_embeds},
          {"attention_mask", &ForwardInputs::attention_mask},
          {"token_type_ids", &ForwardInputs::token_type_ids},
          {"position_ids", &ForwardInputs::position_ids},
          {"head_mask", &ForwardInputs::head_mask},
          {"encoder_hidden_states", &ForwardInputs::encoder_hidden_states},
          {"encoder_attention_mask", &ForwardInputs::encoder_attention_mask},
          {"labels", &ForwardInputs::labels},
          {"start_positions", &ForwardInputs::start_positions},
          {"end_positions", &ForwardInputs::end_positions}};
}

py::tuple arrays_of(const std::vector<Tensor>& tensors) {
  py::tuple out(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) out[i] = array_from_tensor(tensors[i]);
  return out;
}

// transformers' legacy cache: one (key, value[, cross_key, cross_value]) tuple per layer.
py::tuple cache_of(const std::vector<LayerCache>& layers) {
  py::tuple out(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerCache& l = layers[i];
    std::vector<Tensor> parts = {l.key, l.value};
    if (l.cross_key.defined()) parts.insert(parts.end(), {l.cross_key, l.cross_value});
    out[i] = arrays_of(parts);
  }
  return out;
}

std::vector<LayerCache> cache_from(const py::handle& past) {
  std::vector<LayerCache> layers;
  for (py::handle layer : past) {
    py::sequence parts = py::reinterpret_borrow<py::sequence>(layer);
    if (parts.size() != 2 && parts.size() != 4) {
      throw Error("past_key_values: every layer must be (key, value) or (key, value, cross_key, cross_value), got " +
                  std::to_string(parts.size()) + " tensors");
    }
    LayerCache l;
    l.key = tensor_from_array(parts[0], "past_key_values key");
    l.value = tensor_from_array(parts[1], "past_key_values value");
    if (parts.size() == 4) {
      l.cross_key = tensor_from_array(parts[2], "past_key_values cross key");
      l.cross_value = tensor_from_array(parts[3], "past_key_values cross value");
    }
    layers.push_back(std::move(l));
  }
  return layers;
}

// inputs: transformers' argument names -> arrays (None entries skipped); the flags as in forward().
py::dict forward(const Model& model, const py::dict& inputs, const py::dict& flags) {
  static const auto slots = tensor_slots();
  ForwardInputs in;
  for (auto item : inputs) {
    const std::string name = item.first.cast<std::string>();
    if (item.second.is_none()) continue;
    if (name == "past_key_values") {
      in.past_key_values = cache_from(item.second);
      continue;
    }
    auto slot = slots.find(name);
    if (slot == slots.end()) throw Error("forward() got an unexpected keyword argument '" + name + "'");
    in.*(slot->second) = tensor_from_array(item.second, name.c_str());
  }
  auto flag = [&](const char* key) -> std::optional<bool> {
    if (!flags.contains(key) || flags[key].is_none()) return std::nullopt;
    return flags[key].cast<bool>();
  };
  in.use_cache = flag("use_cache");
  in.output_attentions = flag("output_attentions");
  in.output_hidden_states = flag("output_hidden_states");
  if (auto skip = flag("skip_padding")) in.skip_padding = *skip;
  if (flags.contains("logits_rows") && !flags["logits_rows"].is_none()) {
    in.logits_rows = flags["logits_rows"].cast<std::vector<int64_t>>();
  }

  ForwardOutputs out;
  {
    py::gil_scoped_release unlocked;
    out = model.forward(in);
  }
  py::dict d;
  auto put = [&](const char* name, const Tensor& t) {
    if (t.defined()) d[name] = array_from_tensor(t);
  };
  put("loss", out.loss);
  put("logits", out.logits);
  put("start_logits", out.start_logits);
  put("end_logits", out.end_logits);
  put("last_hidden_state", out.last_hidden_state);
  put("pooler_output", out.pooler_output);
  if (!out.past_key_values.empty()) d["past_key_values"] = cache_of(out.past_key_values);
  if (!out.hidden_states.empty()) d["hidden_states"] = arrays_of(out.hidden_states);
  if (!out.attentions.empty()) d["attentions"] = arrays_of(out.attentions);
  if (!out.cross_attentions.empty()) d["cross_attentions"] = arrays_of(out.cross_attentions);
  return d;
}

py::dict compute_info(const Model& model) {
  const ComputeInfo c = model.compute_info();
  py::dict d;
  d["requested"] = c.requested;
  d["compute"] = c.compute;
  d["fallback"] = c.fallback;
  d["packed_bytes"] = c.packed_bytes;
  d["converted"] = c.converted;
  return d;
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<Model, ModelPtr>(m, "Model")
      .def_static("load", &load, py::arg("dir"), py::arg("head") = py::none(), py::arg("dtype") = py::none(),
                  py::arg("add_pooling_layer") = true)
      .def("forward", &forward, py::arg("inputs"), py::arg("flags") = py::dict())
      .def_property_readonly("head", [](const Model& mdl) { return std::string(head_cli_name(mdl.head())); })
      .def_property_readonly("class_name", [](const Model& mdl) { return std::string(head_class_name(mdl.head())); })
      .def_property_readonly("config_json", [](const Model& mdl) { return mdl.config().to_json_string(); })
      .def_property_readonly("dtype", [](const Model& mdl) { return std::string(dtype_name(mdl.weight_dtype())); })
      .def_property_readonly("compute_info", &compute_info)
      .def_property_readonly("warnings", &Model::warnings)
      .def_property_readonly("newly_initialized", &Model::newly_initialized);
  // Test hook: the address forward() reads an input from (the array's own buffer when no copy was made).
  m.def("_input_address", [](py::handle array) {
    return reinterpret_cast<uintptr_t>(tensor_from_array(array, "input").raw_data());
  });
}

}  // namespace rembert::python
