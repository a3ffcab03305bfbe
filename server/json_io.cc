#include "json_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace rembert::server {

json parse_body(const std::string& body) {
  json value;
  try {
    value = json::parse(body);
  } catch (const json::exception& e) {
    invalid(std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!value.is_object()) invalid("the request body must be a JSON object, got " + type_name(value));
  return value;
}

std::string type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

namespace {

const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

bool get_bool(const json& obj, const char* key, bool fallback) {
  const json* v = field(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) invalid(std::string("`") + key + "` must be a boolean, got " + type_name(*v));
  return v->get<bool>();
}

std::optional<int64_t> get_int(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_unsigned()) {
    const auto u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) invalid(std::string("`") + key + "` is too large");
    return static_cast<int64_t>(u);
  }
  invalid(std::string("`") + key + "` must be an integer, got " + type_name(*v));
}

std::optional<double> get_number(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) invalid(std::string("`") + key + "` must be a number, got " + type_name(*v));
  const double d = v->get<double>();
  if (!std::isfinite(d)) invalid(std::string("`") + key + "` must be finite");
  return d;
}

std::optional<std::string> get_string(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) invalid(std::string("`") + key + "` must be a string, got " + type_name(*v));
  return v->get<std::string>();
}

std::optional<std::vector<std::string>> get_string_list(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (v->is_string()) return std::vector<std::string>{v->get<std::string>()};
  if (!v->is_array()) invalid(std::string("`") + key + "` must be a string or a list of strings, got " + type_name(*v));
  std::vector<std::string> out;
  for (const json& item : *v) {
    if (!item.is_string()) invalid(std::string("`") + key + "` must hold strings only, got " + type_name(item));
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string dump(const ojson& value) { return value.dump(-1, ' ', false, ojson::error_handler_t::replace); }

std::string quote(const std::string& text) { return dump(json(text)); }

void append_float(std::string& out, float value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, r.ptr);
}

void append_floats(std::string& out, const float* values, size_t n) {
  out += '[';
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    append_float(out, values[i]);
  }
  out += ']';
}

std::string base64_encode(const void* data, size_t n) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = uint32_t{p[i]} << 16;
    if (i + 1 < n) v |= uint32_t{p[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace rembert::server
