// Request schemas shared by the routes: tokenizing under the length rules, embedding inputs, truncation side,
// batch sizes, and the {"inputs", "parameters"} form of the pipeline routes.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <exception>

#include "app.h"

namespace rembert::server {

Side App::side_of(const json& body) const {
  const auto v = get_string(body, "truncation_direction");
  if (!v) return Side::Right;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (s == "right") return Side::Right;
  if (s == "left") return Side::Left;
  invalid("`truncation_direction` must be \"Right\" or \"Left\", got \"" + *v + "\"");
}

void App::check_batch_size(size_t n) const {
  if (n == 0) invalid("`inputs` cannot be empty");
  if (static_cast<int64_t>(n) > o_.max_client_batch_size) {
    invalid("batch size " + std::to_string(n) + " > maximum allowed batch size " +
            std::to_string(o_.max_client_batch_size));
  }
}

Encoded App::encode(const std::string& text, const std::string* pair, bool truncate, Side side,
                    bool add_special_tokens) const {
  if (text.empty() && (!pair || pair->empty())) invalid("`inputs` cannot be empty");
  EncodeOptions eo;
  eo.add_special_tokens = add_special_tokens;
  if (truncate) {
    eo.truncation = Truncation::LongestFirst;
    eo.max_length = max_input_length_;
    eo.truncation_side = side;
  }
  Encoding enc;
  try {
    enc = pm_.tokenizer->encode(text, pair, eo);
  } catch (const std::exception& e) {
    fail(422, "Tokenizer", e.what());
  }
  const auto n = static_cast<int64_t>(enc.input_ids.size());
  if (n == 0) invalid("`inputs` cannot be empty");
  if (n > max_input_length_) {
    invalid("`inputs` must have less than " + std::to_string(max_input_length_) + " tokens. Given: " +
            std::to_string(n));
  }
  Encoded out;
  out.ids = std::move(enc.input_ids);
  out.types = std::move(enc.token_type_ids);
  out.offsets = std::move(enc.offsets);
  out.tokens = std::move(enc.tokens);
  return out;
}

Encoded App::encode_ids(const std::vector<int64_t>& ids, bool truncate, Side side) const {
  if (ids.empty()) invalid("`inputs` cannot be empty");
  const int64_t vocab = pm_.model->config().vocab_size;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab) {
      invalid("token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  Encoded out;
  out.ids = ids;
  if (static_cast<int64_t>(ids.size()) > max_input_length_) {
    if (!truncate) {
      invalid("`inputs` must have less than " + std::to_string(max_input_length_) + " tokens. Given: " +
              std::to_string(ids.size()));
    }
    if (side == Side::Right) {
      out.ids.resize(static_cast<size_t>(max_input_length_));
    } else {
      out.ids.erase(out.ids.begin(), out.ids.end() - max_input_length_);
    }
  }
  out.types.assign(out.ids.size(), 0);
  return out;
}

std::vector<EmbedInput> App::parse_embed_inputs(const json& value, const char* key) const {
  auto ids_of = [&](const json& list) {
    std::vector<int64_t> ids;
    for (const json& v : list) {
      if (!v.is_number_integer() && !v.is_number_unsigned()) {
        invalid(std::string("`") + key + "`: a list of token ids must hold integers only, got " + type_name(v));
      }
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) invalid("token id too large");
      ids.push_back(v.get<int64_t>());
    }
    return ids;
  };
  std::vector<EmbedInput> inputs;
  if (value.is_string()) {
    inputs.push_back(EmbedInput{false, value.get<std::string>(), {}});
  } else if (value.is_array()) {
    if (value.empty()) invalid(std::string("`") + key + "` cannot be empty");
    if (value[0].is_number()) {
      inputs.push_back(EmbedInput{true, "", ids_of(value)});  // one list of token ids
    } else {
      for (const json& item : value) {
        if (item.is_string()) {
          inputs.push_back(EmbedInput{false, item.get<std::string>(), {}});
        } else if (item.is_array()) {
          inputs.push_back(EmbedInput{true, "", ids_of(item)});
        } else {
          invalid(std::string("`") + key + "` items must be strings or lists of token ids, got " + type_name(item));
        }
      }
    }
  } else if (value.is_null()) {
    invalid(std::string("`") + key + "` is required");
  } else {
    invalid(std::string("`") + key + "` must be a string, a list of strings or token ids, got " + type_name(value));
  }
  check_batch_size(inputs.size());
  return inputs;
}

// The HF Inference API form of the pipeline routes: {"inputs": ..., "parameters": {...}}.
const json& parameters_of(const json& body) {
  static const json empty = json::object();
  auto it = body.find("parameters");
  if (it == body.end() || it->is_null()) return empty;
  if (!it->is_object()) invalid("`parameters` must be an object, got " + type_name(*it));
  return *it;
}

// "inputs" as one text (single = true) or a list of texts.
std::vector<std::string> texts_of(const json& body, bool& single) {
  auto it = body.find("inputs");
  if (it == body.end() || it->is_null()) invalid("`inputs` is required");
  std::vector<std::string> texts;
  single = it->is_string();
  if (single) {
    texts.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const json& t : *it) {
      if (!t.is_string()) invalid("`inputs` must hold strings only, got " + type_name(t));
      texts.push_back(t.get<std::string>());
    }
  } else {
    invalid("`inputs` must be a string or a list of strings, got " + type_name(*it));
  }
  return texts;
}

}  // namespace rembert::server
