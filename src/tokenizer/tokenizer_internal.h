// Shared internals of the two tokenizers: reading tokenizer_config.json / special_tokens_map.json, and resolving
// the padding/truncation arguments the way transformers' _get_padding_truncation_strategies does.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rembert/tokenizer.h"

namespace rembert::tok {

struct TokenizerConfig {
  // Named special tokens (bos, eos, unk, sep, pad, cls, mask) with their AddedToken flags; unset when absent.
  std::map<std::string, AddedToken> named;
  std::vector<AddedToken> additional;             // additional_special_tokens / extra_special_tokens
  std::map<int64_t, AddedToken> added_tokens_decoder;  // from tokenizer_config.json
  std::optional<int64_t> model_max_length;
  std::optional<bool> clean_up_tokenization_spaces;
  std::optional<bool> do_lower_case, remove_space, keep_accents;
};

// Reads DIR/tokenizer_config.json and DIR/special_tokens_map.json (both optional). `fast` picks the class defaults
// (RemBertTokenizer vs RemBertTokenizerFast) for the special tokens absent from both files.
TokenizerConfig read_tokenizer_config(const std::string& dir, bool fast);

// The seven named special tokens (bos, eos, unk, sep, pad, cls, mask), in that order, as config keys.
inline const char* const kNamedSpecialTokens[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                  "pad_token", "cls_token", "mask_token"};
// The SpecialTokens of a config: the named tokens' contents (empty when unset) and the additional ones.
SpecialTokens special_tokens_of(const TokenizerConfig& cfg);

struct Strategy {
  Padding padding = Padding::DoNotPad;
  Truncation truncation = Truncation::DoNotTruncate;
  std::optional<int64_t> max_length;
};
// transformers' _get_padding_truncation_strategies (v4), including its errors.
Strategy resolve_strategy(const EncodeOptions& o, const Tokenizer& t);

// A batch of pairs needs one pair text per text.
void check_batch_pairs(const std::vector<std::string>& texts, const std::vector<std::string>* pairs);

bool file_exists(const std::string& path);

// tokenizers' Encoding::truncate windows: [begin, end) token ranges of at most `max_len` tokens, consecutive ones
// sharing `stride`, from the start (Side::Right) or from the end (Side::Left, the last window first); the first is
// what truncation keeps, the rest overflow. Throws tokenizers' error when stride >= max_len; max_len > 0, n > 0.
std::vector<std::pair<size_t, size_t>> window_ranges(size_t n, size_t max_len, size_t stride, Side side);

}  // namespace rembert::tok
