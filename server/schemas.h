// The request schemas of every route with a JSON body: turning a parsed body into the typed request a handler
// runs, with every check that needs neither the model nor the tokenizer. Apart from httplib and App so that the
// fuzz target tests/fuzz/fuzz_server_requests.cc drives them without a server. Errors are ApiError (422).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "batcher.h"
#include "json_io.h"
#include "rembert/pipelines.h"
#include "rembert/tokenizer.h"

namespace rembert::server {

// What the schemas need to know of the server and its model.
struct RequestLimits {
  int64_t max_client_batch_size = 32;
  int64_t max_input_length = 512;  // tokens
  int64_t hidden_size = 0;         // the bound of /embed's `dimensions`
  bool auto_truncate = false;      // `truncate` when the request does not say
  Reduce pooling = Reduce::Cls;    // `pooling` when the request does not say
};

// 422 for an empty batch or one larger than max_client_batch_size.
void check_batch_size(size_t n, const RequestLimits& limits);

// An input of /embed, /embed_all, /v1/embeddings: a text, or token ids used as they are.
struct EmbedInput {
  bool is_ids = false;
  std::string text;
  std::vector<int64_t> ids;
};
// `value` is the body's `key` (null when absent): a text, a list of texts, token ids or a list of token id lists.
std::vector<EmbedInput> parse_embed_inputs(const json& value, const char* key, const RequestLimits& limits);

// /embed_all; also the common part of /embed and /v1/embeddings.
struct EmbedAllRequest {
  std::vector<EmbedInput> inputs;
  bool truncate = false;
  Side side = Side::Right;
};
EmbedAllRequest parse_embed_all_request(const json& body, const RequestLimits& limits);

// /embed ("inputs") and /v1/embeddings ("input").
struct EmbedRequest {
  EmbedAllRequest common;
  Reduce pooling = Reduce::Cls;
  std::optional<int64_t> dimensions;
  bool normalize = true;
  bool base64 = false;  // /v1/embeddings encoding_format
};
EmbedRequest parse_embed_request(const json& body, const RequestLimits& limits);
EmbedRequest parse_openai_request(const json& body, const RequestLimits& limits);

// /predict: "text", ["text", "pair"] (one pair), [["text"], ["text", "pair"], ...] (a batch).
struct PredictItem {
  std::string text, pair;
  bool has_pair = false;
};
struct PredictRequest {
  std::vector<PredictItem> items;
  bool batch = false;
  bool truncate = false;
  Side side = Side::Right;
  bool raw_scores = false;
};
PredictRequest parse_predict_request(const json& body, const RequestLimits& limits);

struct RerankRequest {
  std::string query;
  std::vector<std::string> texts;
  bool truncate = false;
  Side side = Side::Right;
  bool raw_scores = false;
  bool return_text = false;
};
RerankRequest parse_rerank_request(const json& body, const RequestLimits& limits);

struct TokenizeRequest {
  std::vector<std::string> texts;
  bool single = false;
  bool add_special_tokens = true;
};
TokenizeRequest parse_tokenize_request(const json& body, const RequestLimits& limits);

// The ids are checked against the vocabulary by the handler (the tokenizer knows it).
struct DecodeRequest {
  std::vector<std::vector<int64_t>> lists;
  bool skip_special_tokens = true;
};
DecodeRequest parse_decode_request(const json& body, const RequestLimits& limits);

// The HF Inference API form of the pipeline routes: {"inputs": ..., "parameters": {...}}.
const json& parameters_of(const json& body);
// "inputs" as one text (single = true) or a list of texts.
std::vector<std::string> texts_of(const json& body, bool& single);

struct FillMaskRequest {
  std::vector<std::string> texts;
  bool single = false;
  FillMaskOptions options;
};
FillMaskRequest parse_fill_mask_request(const json& body, const RequestLimits& limits);

struct TokenClassificationRequest {
  std::vector<std::string> texts;
  bool single = false;
  TokenClassificationOptions options;
};
TokenClassificationRequest parse_token_classification_request(const json& body, const RequestLimits& limits);

struct QuestionAnsweringItem {
  std::string question, context;
};
struct QuestionAnsweringRequest {
  std::vector<QuestionAnsweringItem> items;
  bool single = true;
  QuestionAnsweringOptions options;  // max_seq_len always set
};
QuestionAnsweringRequest parse_question_answering_request(const json& body, const RequestLimits& limits);

// /generate and /generate_stream (force_stream: the body's "stream" is not read).
struct GenerateRequest {
  std::string prompt;
  bool stream = false;
  GenerationOptions options;
};
GenerateRequest parse_generate_request(const json& body, const RequestLimits& limits, bool force_stream);

}  // namespace rembert::server
