// RemBERT tokenizers, token for token identical to Hugging Face transformers (v4) and tokenizers.
//
//   auto tok = rembert::load_tokenizer("path/to/model_dir");         // fast if tokenizer.json exists, else slow
//   rembert::Encoding enc = tok->encode("Hello world!");              // [CLS] ... [SEP]
//   // enc.input_ids, enc.token_type_ids, enc.attention_mask, enc.special_tokens_mask, enc.tokens, enc.offsets
//   rembert::EncodeOptions o;
//   o.padding = rembert::Padding::Longest;
//   rembert::BatchEncoding batch = tok->encode_batch({"a", "longer text"}, nullptr, o);
//   std::string text = tok->decode(enc.input_ids);
//
// Two implementations behind one interface:
//  - SlowTokenizer = transformers' RemBertTokenizer: splits on added/special tokens (lstrip/rstrip/single_word),
//    then runs libsentencepiece on `sentencepiece.model`.
//  - FastTokenizer = RemBertTokenizerFast: runs the pipeline of `tokenizer.json` (normalizer, pre-tokenizer,
//    Unigram model, post-processor, decoder) with Hugging Face tokenizers' own algorithms, and reports character
//    offsets (Unicode code points) into the original text.
//
// Errors: every failure (bad files, invalid UTF-8 input, impossible truncation, unknown tokenizer.json component)
// throws rembert::Error with a message naming the problem.
// Thread safety: a loaded tokenizer is immutable; all const methods may be called from many threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rembert {

// An added (or special) token, as in tokenizers' AddedToken.
struct AddedToken {
  std::string content;
  int64_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

enum class Truncation { DoNotTruncate, LongestFirst, OnlyFirst, OnlySecond };
enum class Padding { DoNotPad, Longest, MaxLength };
enum class Side { Right, Left };

// "longest_first", "only_first", "only_second", "do_not_truncate" (also "true"/"false"); throws Error otherwise.
Truncation truncation_from_name(const std::string& name);
const char* truncation_name(Truncation t);
// "longest", "max_length", "do_not_pad" (also "true"/"false"); throws Error otherwise.
Padding padding_from_name(const std::string& name);

// The arguments of transformers' __call__ / encode_plus / batch_encode_plus, with the v4 defaults.
struct EncodeOptions {
  bool add_special_tokens = true;
  Padding padding = Padding::DoNotPad;
  // Unset = transformers' truncation=None: longest_first when max_length is given, else no truncation.
  std::optional<Truncation> truncation;
  std::optional<int64_t> max_length;
  int64_t stride = 0;
  std::optional<int64_t> pad_to_multiple_of;
  Side padding_side = Side::Right;
  Side truncation_side = Side::Right;
  bool return_overflowing_tokens = false;
  // Fast tokenizer: tokenizers 0.23 (which the fixtures were recorded with) stops tokenizing a long text once the
  // first window is full, so its overflowing windows stop early too (huggingface/tokenizers#2091). True tokenizes the
  // whole text first, as tokenizers <= 0.22 did, so the windows cover all of it: the pipelines that walk a long
  // text in windows (question answering's doc_stride, token classification's stride) need that. Slow tokenizer
  // (with return_overflowing_tokens): the windows are returned as the fast tokenizer returns them, one Encoding
  // each with overflow_to_sample_mapping, instead of transformers' overflowing_tokens.
  bool overflow_covers_whole_text = false;
  // Slow tokenizer: fill Encoding::offsets, from the byte spans SentencePiece reports for its pieces (the fast
  // tokenizer always fills them).
  bool return_offsets_mapping = false;
};

// One encoded sequence (or pair). All vectors have the same length, except `offsets` (fast; slow only with
// EncodeOptions::return_offsets_mapping, else empty).
struct Encoding {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> token_type_ids;
  std::vector<int64_t> attention_mask;
  std::vector<int64_t> special_tokens_mask;
  std::vector<std::string> tokens;
  std::vector<std::pair<int64_t, int64_t>> offsets;  // [start, end) in code points of the input text, [0, 0] for
                                                     // the special tokens the template adds
  // Slow tokenizer with return_overflowing_tokens: the truncated-away ids (plus stride), as transformers returns.
  std::vector<int64_t> overflowing_tokens;
  int64_t num_truncated_tokens = 0;
};

struct BatchEncoding {
  std::vector<Encoding> encodings;
  // With return_overflowing_tokens, fast (slow: with overflow_covers_whole_text): for every encoding, the index of
  // the input it came from.
  std::vector<int64_t> overflow_to_sample_mapping;
};

struct DecodeOptions {
  bool skip_special_tokens = false;
  // Unset: the tokenizer's clean_up_tokenization_spaces (tokenizer_config.json; transformers default True).
  std::optional<bool> clean_up_tokenization_spaces;
};

// The named special tokens (empty string = not set) plus every other additional special token.
struct SpecialTokens {
  std::string bos, eos, unk, sep, pad, cls, mask;
  std::vector<std::string> additional;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual bool is_fast() const = 0;

  // Text to tokens, without special tokens (slow: PreTrainedTokenizer.tokenize; fast: the tokens of the encoding).
  virtual std::vector<std::string> tokenize(std::string_view text) const = 0;
  // Unknown tokens map to the unk id.
  virtual int64_t convert_token_to_id(const std::string& token) const = 0;
  // Throws Error for ids outside the vocabulary (including added tokens).
  virtual std::string convert_id_to_token(int64_t id) const = 0;
  std::vector<int64_t> convert_tokens_to_ids(const std::vector<std::string>& tokens) const;
  std::vector<std::string> convert_ids_to_tokens(const std::vector<int64_t>& ids,
                                                 bool skip_special_tokens = false) const;
  // Size of the base vocabulary (without added tokens beyond it), as transformers' vocab_size.
  virtual int64_t vocab_size() const = 0;
  // Base vocabulary plus added tokens; len(tokenizer) is its size. Built on the first call (from any thread), then
  // the same map for the tokenizer's lifetime: a 250k-piece vocabulary is not rebuilt per call.
  const std::map<std::string, int64_t>& get_vocab() const;
  int64_t size() const { return static_cast<int64_t>(get_vocab().size()); }

  // [CLS] A [SEP] / [CLS] A [SEP] B [SEP]
  std::vector<int64_t> build_inputs_with_special_tokens(const std::vector<int64_t>& a,
                                                        const std::vector<int64_t>* b = nullptr) const;
  // Without already_has_special_tokens: 1 on the positions build_inputs_with_special_tokens adds. With it: 1 on
  // ids equal to cls or sep only (a second sequence is then an error), as RemBertTokenizer does.
  std::vector<int64_t> get_special_tokens_mask(const std::vector<int64_t>& a, const std::vector<int64_t>* b = nullptr,
                                               bool already_has_special_tokens = false) const;
  std::vector<int64_t> create_token_type_ids_from_sequences(const std::vector<int64_t>& a,
                                                            const std::vector<int64_t>* b = nullptr) const;
  int64_t num_special_tokens_to_add(bool pair) const { return pair ? 3 : 2; }

  // transformers' __call__ on one text (or pair). Overflowing windows (fast) are not returned here: use
  // encode_batch, which flattens them with overflow_to_sample_mapping like transformers.
  Encoding encode(std::string_view text, const std::string* pair = nullptr, const EncodeOptions& options = {}) const;
  // transformers' __call__ on a batch; `pairs`, when given, has one entry per text.
  virtual BatchEncoding encode_batch(const std::vector<std::string>& texts, const std::vector<std::string>* pairs,
                                     const EncodeOptions& options = {}) const = 0;

  virtual std::string decode(const std::vector<int64_t>& ids, const DecodeOptions& options = {}) const = 0;
  // Copies the SentencePiece model to DIR/[prefix-]sentencepiece.model; returns the written paths.
  virtual std::vector<std::string> save_vocabulary(const std::string& dir, const std::string& prefix = "") const = 0;

  const SpecialTokens& special_tokens() const { return special_; }
  // Ids of all special tokens (all_special_ids).
  const std::vector<int64_t>& all_special_ids() const { return all_special_ids_; }
  int64_t cls_token_id() const { return cls_id_; }
  int64_t sep_token_id() const { return sep_id_; }
  int64_t pad_token_id() const { return pad_id_; }
  int64_t mask_token_id() const { return mask_id_; }
  int64_t unk_token_id() const { return unk_id_; }
  // tokenizer_config.json model_max_length; unset when absent or "very large" (> 1e20, transformers' sentinel).
  std::optional<int64_t> model_max_length() const { return model_max_length_; }
  bool clean_up_tokenization_spaces() const { return clean_up_tokenization_spaces_; }
  bool do_lower_case() const { return do_lower_case_; }
  bool remove_space() const { return remove_space_; }
  bool keep_accents() const { return keep_accents_; }
  // Added tokens by id (tokenizer_config.json added_tokens_decoder, or tokenizer.json added_tokens).
  const std::map<int64_t, AddedToken>& added_tokens_decoder() const { return added_tokens_; }

 protected:
  // The map get_vocab() keeps (called once, on its first use).
  virtual std::map<std::string, int64_t> build_vocab() const = 0;
  // Resolves the ids of the special tokens (call after the vocabulary is known).
  void resolve_special_ids();
  static std::string clean_up_tokenization(std::string text);

  SpecialTokens special_;
  std::vector<int64_t> all_special_ids_;
  std::vector<std::string> all_special_tokens_;
  int64_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, mask_id_ = -1, unk_id_ = -1;
  std::optional<int64_t> model_max_length_;
  bool clean_up_tokenization_spaces_ = true;
  bool do_lower_case_ = false, remove_space_ = true, keep_accents_ = true;
  std::map<int64_t, AddedToken> added_tokens_;

 private:
  mutable std::once_flag vocab_once_;
  mutable std::map<std::string, int64_t> vocab_;
};

enum class TokenizerKind { Auto, Slow, Fast };

// Loads the tokenizer of a model folder (which may hold only tokenizer files): like AutoTokenizer, the fast one when
// tokenizer.json exists, else the slow one from sentencepiece.model; `kind` forces either. Reads
// tokenizer_config.json and special_tokens_map.json when present.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir, TokenizerKind kind = TokenizerKind::Auto);
std::unique_ptr<Tokenizer> load_slow_tokenizer(const std::string& dir);
std::unique_ptr<Tokenizer> load_fast_tokenizer(const std::string& dir);

}  // namespace rembert
