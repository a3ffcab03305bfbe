// Tokenizing under the length rules, shared by the routes (the request schemas are in schemas.cc).
#include <cstdint>
#include <exception>

#include "app.h"

namespace rembert::server {

RequestLimits App::limits() const {
  RequestLimits l;
  l.max_client_batch_size = o_.max_client_batch_size;
  l.max_input_length = max_input_length_;
  l.hidden_size = pm_.model ? pm_.model->config().hidden_size : 0;
  l.auto_truncate = o_.auto_truncate;
  l.pooling = pooling_;
  return l;
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

}  // namespace rembert::server
