#include "pipelines/common.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/utf8.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"

namespace rembert::pipelines {

ForwardInputs inputs_of(const Encoding& enc) {
  const auto S = static_cast<int64_t>(enc.input_ids.size());
  ForwardInputs in;
  in.input_ids = Tensor::from_i64({1, S}, enc.input_ids);
  in.token_type_ids = Tensor::from_i64({1, S}, enc.token_type_ids);
  in.attention_mask = Tensor::from_i64({1, S}, enc.attention_mask);
  return in;
}

std::string json_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's repr layout.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  const size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string out;
  if (exponent < -4 || exponent >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp_buf;
  } else if (exponent < 0) {
    out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else {
    const size_t int_len = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_len) {
      out = digits + std::string(int_len - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  }
  return negative ? "-" + out : out;
}


std::string json_string(const std::string& utf8) {
  std::string out = "\"";
  size_t i = 0;
  while (i < utf8.size()) {
    const uint32_t cp = utf8::next_or_replacement(utf8, i);
    char buf[16];
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7f) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      out += buf;
    } else {
      const uint32_t v = cp - 0x10000;
      std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      out += buf;
    }
  }
  return out + "\"";
}

std::vector<float> softmax_f32(const float* logits, int64_t n) {
  std::vector<float> p(static_cast<size_t>(n));
  if (n == 0) return p;
  const float max = *std::max_element(logits, logits + n);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    p[static_cast<size_t>(i)] = std::exp(logits[i] - max);
    sum += p[static_cast<size_t>(i)];
  }
  for (float& v : p) v /= sum;
  return p;
}

int64_t code_point_count(const std::string& utf8) {
  int64_t n = 0;
  for (size_t i = 0; i < utf8.size();) {
    utf8::next_or_replacement(utf8, i);
    ++n;
  }
  return n;
}

size_t byte_offset_of_code_point(const std::string& utf8, int64_t index) {
  size_t i = 0;
  for (int64_t n = 0; n < index && i < utf8.size(); ++n) utf8::next_or_replacement(utf8, i);
  return i;
}

std::string code_point_slice(const std::string& utf8, int64_t start, int64_t end) {
  const size_t b = byte_offset_of_code_point(utf8, start);
  const size_t e = byte_offset_of_code_point(utf8, std::max(start, end));
  return utf8.substr(b, e - b);
}

}  // namespace rembert::pipelines

namespace rembert {

PipelineModel load_pipeline_model(const std::string& model_dir, std::optional<HeadType> head,
                                  const LoadOptions& options, TokenizerKind tokenizer) {
  LoadOptions load = options;
  if (head) load.head = head;
  PipelineModel pm;
  auto model = Model::load(model_dir, load);
  pm.warnings = model->warnings();
  pm.model = model;
  pm.tokenizer = load_tokenizer(model_dir, tokenizer);
  return pm;
}

}  // namespace rembert
