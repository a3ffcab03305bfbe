// rembert::Tokenizer for Python: loading, encoding (batches with the GIL released), decoding, the vocabulary.
#include <pybind11/stl.h>

#include <memory>
#include <optional>

#include "bindings.h"
#include "errors.h"
#include "rembert/error.h"
#include "rembert/tokenizer.h"

namespace py = pybind11;

namespace rembert::python {

namespace {

using TokenizerPtr = std::shared_ptr<Tokenizer>;  // pybind11 holders cannot be shared_ptr<const T>

TokenizerKind kind_from_name(const std::string& name) {
  if (name == "auto") return TokenizerKind::Auto;
  if (name == "slow") return TokenizerKind::Slow;
  if (name == "fast") return TokenizerKind::Fast;
  throw Error("tokenizer kind: expected auto, slow or fast, got '" + name + "'");
}

Side side_from_name(const std::string& name, const char* what) {
  if (name == "right") return Side::Right;
  if (name == "left") return Side::Left;
  throw Error(std::string(what) + ": expected 'right' or 'left', got '" + name + "'");
}

TokenizerPtr load(const std::string& dir, const std::string& kind) {
  const TokenizerKind k = kind_from_name(kind);
  py::gil_scoped_release unlocked;
  try {
    return TokenizerPtr(load_tokenizer(dir, k));
  } catch (const Error& e) {
    // A folder without the tokenizer file asked for is a missing file, as in transformers.
    const bool fast_file = path_exists(dir + "/tokenizer.json"), slow_file = path_exists(dir + "/sentencepiece.model");
    const bool missing = !path_exists(dir) || (k == TokenizerKind::Fast && !fast_file) ||
                         (k == TokenizerKind::Slow && !slow_file) || (!fast_file && !slow_file);
    if (missing) throw FileNotFound(e.what());
    throw;
  }
}

// transformers' keyword arguments (already normalised by the Python side) to EncodeOptions.
EncodeOptions options_from(const py::dict& kw) {
  EncodeOptions o;
  auto has = [&](const char* key) { return kw.contains(key) && !kw[key].is_none(); };
  if (has("add_special_tokens")) o.add_special_tokens = kw["add_special_tokens"].cast<bool>();
  if (has("padding")) o.padding = padding_from_name(kw["padding"].cast<std::string>());
  if (has("truncation")) o.truncation = truncation_from_name(kw["truncation"].cast<std::string>());
  if (has("max_length")) o.max_length = kw["max_length"].cast<int64_t>();
  if (has("stride")) o.stride = kw["stride"].cast<int64_t>();
  if (has("pad_to_multiple_of")) o.pad_to_multiple_of = kw["pad_to_multiple_of"].cast<int64_t>();
  if (has("padding_side")) o.padding_side = side_from_name(kw["padding_side"].cast<std::string>(), "padding_side");
  if (has("truncation_side")) {
    o.truncation_side = side_from_name(kw["truncation_side"].cast<std::string>(), "truncation_side");
  }
  if (has("return_overflowing_tokens")) o.return_overflowing_tokens = kw["return_overflowing_tokens"].cast<bool>();
  return o;
}

// One column per field, one row per encoding: what BatchEncoding is built from on the Python side.
py::dict columns(const BatchEncoding& b, bool fast) {
  py::list ids, types, mask, special, tokens, offsets, overflowing, truncated;
  for (const Encoding& e : b.encodings) {
    ids.append(py::cast(e.input_ids));
    types.append(py::cast(e.token_type_ids));
    mask.append(py::cast(e.attention_mask));
    special.append(py::cast(e.special_tokens_mask));
    tokens.append(py::cast(e.tokens));
    if (fast) offsets.append(py::cast(e.offsets));
    overflowing.append(py::cast(e.overflowing_tokens));
    truncated.append(e.num_truncated_tokens);
  }
  py::dict out;
  out["input_ids"] = ids;
  out["token_type_ids"] = types;
  out["attention_mask"] = mask;
  out["special_tokens_mask"] = special;
  out["tokens"] = tokens;
  if (fast) out["offset_mapping"] = offsets;
  out["overflowing_tokens"] = overflowing;
  out["num_truncated_tokens"] = truncated;
  out["overflow_to_sample_mapping"] = py::cast(b.overflow_to_sample_mapping);
  return out;
}

DecodeOptions decode_options(bool skip_special_tokens, std::optional<bool> clean_up) {
  DecodeOptions d;
  d.skip_special_tokens = skip_special_tokens;
  d.clean_up_tokenization_spaces = clean_up;
  return d;
}

std::optional<std::string> token_or_none(const std::string& token) {
  if (token.empty()) return std::nullopt;
  return token;
}

std::optional<int64_t> id_or_none(int64_t id) {
  if (id < 0) return std::nullopt;
  return id;
}

}  // namespace

void bind_tokenizer(py::module_& m) {
  py::class_<Tokenizer, TokenizerPtr>(m, "Tokenizer")
      .def_static("load", &load, py::arg("dir"), py::arg("kind") = "auto")
      .def_property_readonly("is_fast", &Tokenizer::is_fast)
      .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
      .def("__len__", &Tokenizer::size)
      .def("get_vocab", &Tokenizer::get_vocab)
      .def("tokenize", [](const Tokenizer& t, const std::string& text) { return t.tokenize(text); })
      .def("convert_token_to_id", &Tokenizer::convert_token_to_id)
      .def("convert_id_to_token", &Tokenizer::convert_id_to_token)
      .def("convert_ids_to_tokens", &Tokenizer::convert_ids_to_tokens, py::arg("ids"),
           py::arg("skip_special_tokens") = false)
      .def("convert_tokens_to_ids", &Tokenizer::convert_tokens_to_ids)
      .def(
          "encode_batch",
          [](const Tokenizer& t, const std::vector<std::string>& texts, std::optional<std::vector<std::string>> pairs,
             const py::dict& kw) {
            const EncodeOptions o = options_from(kw);
            BatchEncoding b;
            {
              py::gil_scoped_release unlocked;
              b = t.encode_batch(texts, pairs ? &*pairs : nullptr, o);
            }
            return columns(b, t.is_fast());
          },
          py::arg("texts"), py::arg("pairs"), py::arg("options"))
      .def(
          "decode",
          [](const Tokenizer& t, const std::vector<int64_t>& ids, bool skip, std::optional<bool> clean) {
            return t.decode(ids, decode_options(skip, clean));
          },
          py::arg("ids"), py::arg("skip_special_tokens") = false, py::arg("clean_up_tokenization_spaces") = py::none())
      .def(
          "batch_decode",
          [](const Tokenizer& t, const std::vector<std::vector<int64_t>>& rows, bool skip, std::optional<bool> clean) {
            const DecodeOptions d = decode_options(skip, clean);
            std::vector<std::string> out;
            py::gil_scoped_release unlocked;
            for (const auto& ids : rows) out.push_back(t.decode(ids, d));
            return out;
          },
          py::arg("sequences"), py::arg("skip_special_tokens") = false,
          py::arg("clean_up_tokenization_spaces") = py::none())
      .def(
          "build_inputs_with_special_tokens",
          [](const Tokenizer& t, const std::vector<int64_t>& a, std::optional<std::vector<int64_t>> b) {
            return t.build_inputs_with_special_tokens(a, b ? &*b : nullptr);
          },
          py::arg("token_ids_0"), py::arg("token_ids_1") = py::none())
      .def(
          "get_special_tokens_mask",
          [](const Tokenizer& t, const std::vector<int64_t>& a, std::optional<std::vector<int64_t>> b, bool already) {
            return t.get_special_tokens_mask(a, b ? &*b : nullptr, already);
          },
          py::arg("token_ids_0"), py::arg("token_ids_1") = py::none(), py::arg("already_has_special_tokens") = false)
      .def(
          "create_token_type_ids_from_sequences",
          [](const Tokenizer& t, const std::vector<int64_t>& a, std::optional<std::vector<int64_t>> b) {
            return t.create_token_type_ids_from_sequences(a, b ? &*b : nullptr);
          },
          py::arg("token_ids_0"), py::arg("token_ids_1") = py::none())
      .def("save_vocabulary", &Tokenizer::save_vocabulary, py::arg("save_directory"), py::arg("filename_prefix") = "")
      .def_property_readonly("special_tokens",
                             [](const Tokenizer& t) {
                               const SpecialTokens& s = t.special_tokens();
                               py::dict d;
                               d["bos_token"] = token_or_none(s.bos);
                               d["eos_token"] = token_or_none(s.eos);
                               d["unk_token"] = token_or_none(s.unk);
                               d["sep_token"] = token_or_none(s.sep);
                               d["pad_token"] = token_or_none(s.pad);
                               d["cls_token"] = token_or_none(s.cls);
                               d["mask_token"] = token_or_none(s.mask);
                               d["additional_special_tokens"] = s.additional;
                               return d;
                             })
      .def_property_readonly("all_special_ids", &Tokenizer::all_special_ids)
      .def_property_readonly("cls_token_id", [](const Tokenizer& t) { return id_or_none(t.cls_token_id()); })
      .def_property_readonly("sep_token_id", [](const Tokenizer& t) { return id_or_none(t.sep_token_id()); })
      .def_property_readonly("pad_token_id", [](const Tokenizer& t) { return id_or_none(t.pad_token_id()); })
      .def_property_readonly("mask_token_id", [](const Tokenizer& t) { return id_or_none(t.mask_token_id()); })
      .def_property_readonly("unk_token_id", [](const Tokenizer& t) { return id_or_none(t.unk_token_id()); })
      .def_property_readonly("model_max_length", &Tokenizer::model_max_length)
      .def_property_readonly("clean_up_tokenization_spaces", &Tokenizer::clean_up_tokenization_spaces)
      .def_property_readonly("do_lower_case", &Tokenizer::do_lower_case);
}

}  // namespace rembert::python
