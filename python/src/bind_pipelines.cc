// The six pipelines of rembert/pipelines.h for Python, each run with the GIL released. Results are Python lists and
// dicts with transformers' keys and key order; how single and batched inputs nest is decided in rembert/pipelines.py.
#include <pybind11/stl.h>

#include <memory>
#include <optional>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"

namespace py = pybind11;

namespace rembert::python {

namespace {

using PipelinePtr = std::shared_ptr<PipelineModel>;  // pybind11 holders cannot be shared_ptr<const T>

PipelinePtr load(const std::string& dir, std::optional<std::string> head, std::optional<std::string> dtype,
                 const std::string& tokenizer) {
  std::optional<HeadType> h;
  if (head) h = head_from_name(*head);
  LoadOptions o;
  if (dtype) o.dtype = weight_dtype_from_name(*dtype);
  const TokenizerKind kind = tokenizer == "slow" ? TokenizerKind::Slow
                             : tokenizer == "fast" ? TokenizerKind::Fast
                                                   : TokenizerKind::Auto;
  py::gil_scoped_release unlocked;
  try {
    return std::make_shared<PipelineModel>(load_pipeline_model(dir, h, o, kind));
  } catch (const Error& e) {
    if (!path_exists(dir + "/config.json")) throw FileNotFound(e.what());
    throw;
  }
}

template <class T>
std::optional<T> get(const py::dict& kw, const char* key) {
  if (!kw.contains(key) || kw[key].is_none()) return std::nullopt;
  return kw[key].cast<T>();
}

py::list fill_mask_call(const PipelineModel& pm, const std::string& text, const py::dict& kw) {
  FillMaskOptions o;
  if (auto k = get<int64_t>(kw, "top_k")) o.top_k = *k;
  if (auto t = get<std::vector<std::string>>(kw, "targets")) o.targets = *t;
  std::vector<std::string> warnings;
  std::vector<std::vector<FillMaskPrediction>> result;
  {
    py::gil_scoped_release unlocked;
    result = fill_mask(pm, text, o, &warnings);
  }
  py::list masks;
  for (const auto& predictions : result) {
    py::list list;
    for (const FillMaskPrediction& p : predictions) {
      py::dict d;
      d["score"] = p.score;
      d["token"] = p.token;
      d["token_str"] = p.token_str;
      d["sequence"] = p.sequence;
      list.append(d);
    }
    masks.append(list);
  }
  return masks;
}

py::list text_classification_call(const PipelineModel& pm, const std::string& text, std::optional<std::string> pair,
                                  const py::dict& kw) {
  TextClassificationOptions o;
  o.top_k = get<int64_t>(kw, "top_k");
  if (auto f = get<std::string>(kw, "function_to_apply")) o.function_to_apply = classification_function_from_name(*f);
  o.max_length = get<int64_t>(kw, "max_length");
  if (auto t = get<bool>(kw, "truncation")) o.truncation = *t;
  std::vector<LabelScore> result;
  {
    py::gil_scoped_release unlocked;
    result = text_classification(pm, text, pair ? &*pair : nullptr, o);
  }
  py::list out;
  for (const LabelScore& s : result) {
    py::dict d;
    d["label"] = s.label;
    d["score"] = s.score;
    out.append(d);
  }
  return out;
}

py::list token_classification_call(const PipelineModel& pm, const std::string& text, const py::dict& kw) {
  TokenClassificationOptions o;
  if (auto a = get<std::string>(kw, "aggregation_strategy")) o.aggregation_strategy = aggregation_strategy_from_name(*a);
  if (auto l = get<std::vector<std::string>>(kw, "ignore_labels")) o.ignore_labels = *l;
  if (auto s = get<int64_t>(kw, "stride")) o.stride = *s;
  std::vector<std::string> warnings;
  std::vector<TokenEntity> result;
  {
    py::gil_scoped_release unlocked;
    result = token_classification(pm, text, o, &warnings);
  }
  py::list out;
  for (const TokenEntity& e : result) {
    py::dict d;
    d[e.grouped ? "entity_group" : "entity"] = e.entity;
    d["score"] = e.score;
    if (!e.grouped) d["index"] = e.index;
    d["word"] = e.word;
    d["start"] = e.start;
    d["end"] = e.end;
    out.append(d);
  }
  return out;
}

py::list question_answering_call(const PipelineModel& pm, const std::string& question, const std::string& context,
                                 const py::dict& kw) {
  QuestionAnsweringOptions o;
  if (auto v = get<int64_t>(kw, "top_k")) o.top_k = *v;
  if (auto v = get<int64_t>(kw, "max_answer_len")) o.max_answer_len = *v;
  o.max_seq_len = get<int64_t>(kw, "max_seq_len");
  o.doc_stride = get<int64_t>(kw, "doc_stride");
  if (auto v = get<bool>(kw, "handle_impossible_answer")) o.handle_impossible_answer = *v;
  if (auto v = get<bool>(kw, "align_to_words")) o.align_to_words = *v;
  std::vector<Answer> result;
  {
    py::gil_scoped_release unlocked;
    result = question_answering(pm, question, context, o);
  }
  py::list out;
  for (const Answer& a : result) {
    py::dict d;
    d["score"] = a.score;
    d["start"] = a.start;
    d["end"] = a.end;
    d["answer"] = a.answer;
    out.append(d);
  }
  return out;
}

py::array feature_extraction_call(const PipelineModel& pm, const std::string& text, const py::dict& kw) {
  FeatureExtractionOptions o;
  if (auto v = get<bool>(kw, "truncation")) o.truncation = *v;
  o.max_length = get<int64_t>(kw, "max_length");
  if (auto v = get<std::string>(kw, "pooling")) o.pooling = pooling_from_name(*v);
  if (auto v = get<bool>(kw, "normalize")) o.normalize = *v;
  Tensor features;
  {
    py::gil_scoped_release unlocked;
    features = feature_extraction(pm, text, o);
  }
  return array_from_tensor(features);
}

GenerationOptions generation_options(const py::dict& kw) {
  GenerationOptions o;
  o.max_new_tokens = get<int64_t>(kw, "max_new_tokens");
  o.max_length = get<int64_t>(kw, "max_length");
  if (auto v = get<bool>(kw, "do_sample")) o.do_sample = *v;
  if (auto v = get<double>(kw, "temperature")) o.temperature = *v;
  if (auto v = get<int64_t>(kw, "top_k")) o.top_k = *v;
  if (auto v = get<double>(kw, "top_p")) o.top_p = *v;
  if (auto v = get<uint64_t>(kw, "seed")) o.seed = *v;
  o.eos_token_id = get<int64_t>(kw, "eos_token_id");
  if (auto v = get<bool>(kw, "return_full_text")) o.return_full_text = *v;
  return o;
}

py::dict text_generation_call(const PipelineModel& pm, const std::string& prompt, const py::dict& kw) {
  const GenerationOptions o = generation_options(kw);
  GenerationResult r;
  {
    py::gil_scoped_release unlocked;
    r = text_generation(pm, prompt, o);
  }
  py::dict d;
  d["generated_text"] = r.generated_text;
  d["generated_ids"] = r.generated_ids;
  d["prompt_ids"] = r.prompt_ids;
  return d;
}

}  // namespace

void bind_pipelines(py::module_& m) {
  py::class_<PipelineModel, PipelinePtr>(m, "PipelineModel")
      .def_static("load", &load, py::arg("dir"), py::arg("head") = py::none(), py::arg("dtype") = py::none(),
                  py::arg("tokenizer") = "auto")
      .def_static(
          "from_parts",
          [](std::shared_ptr<Model> model, std::shared_ptr<Tokenizer> tokenizer) {
            return std::make_shared<PipelineModel>(PipelineModel{std::move(model), std::move(tokenizer), {}, {}});
          },
          py::arg("model"), py::arg("tokenizer"))
      .def_property_readonly("model", [](const PipelineModel& pm) { return std::const_pointer_cast<Model>(pm.model); })
      .def_property_readonly("tokenizer",
                             [](const PipelineModel& pm) { return std::const_pointer_cast<Tokenizer>(pm.tokenizer); })
      .def_property_readonly("warnings", [](const PipelineModel& pm) { return pm.warnings; })
      .def("fill_mask", &fill_mask_call, py::arg("text"), py::arg("options"))
      .def("text_classification", &text_classification_call, py::arg("text"), py::arg("text_pair"),
           py::arg("options"))
      .def("token_classification", &token_classification_call, py::arg("text"), py::arg("options"))
      .def("question_answering", &question_answering_call, py::arg("question"), py::arg("context"),
           py::arg("options"))
      .def("feature_extraction", &feature_extraction_call, py::arg("text"), py::arg("options"))
      .def("text_generation", &text_generation_call, py::arg("text"), py::arg("options"));
  // model.generate(): greedy or sampled ids after a prompt (the model must be a causal LM).
  m.def(
      "generate",
      [](const Model& model, const std::vector<int64_t>& prompt, const py::dict& kw) {
        const GenerationOptions o = generation_options(kw);
        py::gil_scoped_release unlocked;
        return rembert::generate(model, prompt, o);
      },
      py::arg("model"), py::arg("prompt_ids"), py::arg("options"));
}

}  // namespace rembert::python
