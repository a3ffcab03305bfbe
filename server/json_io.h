// JSON helpers of the server: request field access that answers 422 on wrong types, compact float output,
// base64, and the API error type that handlers throw.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rembert::server {

using nlohmann::json;
using ojson = nlohmann::ordered_json;  // responses keep TEI's field order

// An error answered to the client: HTTP status, TEI's error_type ("Validation", "Tokenizer", "Backend",
// "Overloaded", "Unhealthy", "Unauthorized", "NotFound", "PayloadTooLarge") and a message.
struct ApiError {
  int status;
  std::string type;
  std::string message;
};

[[noreturn]] inline void fail(int status, const std::string& type, const std::string& message) {
  throw ApiError{status, type, message};
}
[[noreturn]] inline void invalid(const std::string& message) { fail(422, "Validation", message); }

// The request body as a JSON object (422 when it is not JSON or not an object).
json parse_body(const std::string& body);

// Optional fields of an object: missing or null gives the default; any other type is a 422 naming the field.
bool get_bool(const json& obj, const char* key, bool fallback);
std::optional<int64_t> get_int(const json& obj, const char* key);
std::optional<double> get_number(const json& obj, const char* key);
std::optional<std::string> get_string(const json& obj, const char* key);
// A string, or a list of strings (for "targets", "ignore_labels").
std::optional<std::vector<std::string>> get_string_list(const json& obj, const char* key);

// The name of a JSON value's type, for messages ("a string", "a list", ...).
std::string type_name(const json& value);

// Serialises with invalid UTF-8 replaced (never throws on strings).
std::string dump(const json& value);
std::string dump(const ojson& value);
// A JSON string literal.
std::string quote(const std::string& text);

// Shortest round-trip float32 ("0.1", "-1.5e-05"); null for NaN/Inf, which JSON cannot carry.
void append_float(std::string& out, float value);
void append_floats(std::string& out, const float* values, size_t n);  // [a,b,...]

// Standard base64 (with padding) of raw bytes.
std::string base64_encode(const void* data, size_t n);

}  // namespace rembert::server
