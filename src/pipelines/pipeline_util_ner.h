// The steps of transformers' TokenClassificationPipeline post-processing (SPEC §4.3), exposed for the unit tests.
// Defined in token_classification.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rembert/pipelines.h"

namespace rembert::pipelines::ner {

// One token before aggregation (gather_pre_entities).
struct PreEntity {
  std::string word;           // the raw piece ("▁Paris"), or the text slice for an [UNK] token
  std::vector<float> scores;  // softmax over the labels (float32)
  std::optional<int64_t> start, end;
  int64_t index = 0;          // position in the encoding
  bool is_subword = false;
};

// tokenizer.convert_tokens_to_string for a list of tokens or words.
using TokensToString = std::function<std::string(const std::vector<std::string>&)>;

// RemBertTokenizerFast.convert_tokens_to_string: the Metaspace decoder of tokenizer.json (every "▁" becomes a space,
// except in the first token where it is dropped), joined.
std::string metaspace_tokens_to_string(const std::vector<std::string>& tokens);
// RemBertTokenizer.convert_tokens_to_string: sentencepiece's decode_pieces ("▁" becomes a space, the leading space
// of the first piece is dropped, control pieces ([CLS], [SEP], [PAD], [MASK]) vanish, the unk piece is " ⁇ ").
std::string sentencepiece_tokens_to_string(const std::vector<std::string>& tokens, const Tokenizer& tokenizer);

// The fallback is_subword heuristic for tokenizers without a continuing-subword prefix: start > 0 and
// sentence[start-1:start+1] (code points) holds no space.
bool is_subword_heuristic(const std::string& sentence, int64_t start);

// scores: [tokens, labels] row-major softmax values. offsets: empty without a fast tokenizer. `tokens` are
// convert_ids_to_tokens(input_ids).
std::vector<PreEntity> gather_pre_entities(const std::string& sentence, const std::vector<int64_t>& input_ids,
                                           const std::vector<std::string>& tokens, const std::vector<float>& scores,
                                           int64_t num_labels,
                                           const std::vector<std::pair<int64_t, int64_t>>& offsets,
                                           const std::vector<int64_t>& special_tokens_mask, int64_t unk_token_id);

// aggregate(): one entity per token (none/simple) or per word (first/average/max), then group_entities unless
// the strategy is none. Scores are float32 values held in doubles.
std::vector<TokenEntity> aggregate(const std::vector<PreEntity>& pre_entities, AggregationStrategy strategy,
                                   const std::map<int64_t, std::string>& id2label,
                                   const TokensToString& tokens_to_string);

// aggregate_words (first/average/max): subword pre-entities merged into the word before them.
std::vector<TokenEntity> aggregate_words(const std::vector<PreEntity>& pre_entities, AggregationStrategy strategy,
                                         const std::map<int64_t, std::string>& id2label,
                                         const TokensToString& tokens_to_string);

// group_entities: B-/I- grouping of word or token entities into entity groups.
std::vector<TokenEntity> group_entities(const std::vector<TokenEntity>& entities,
                                        const TokensToString& tokens_to_string);

// Drops entities whose entity (or entity_group) is in ignore_labels.
std::vector<TokenEntity> filter_ignored(const std::vector<TokenEntity>& entities,
                                        const std::vector<std::string>& ignore_labels);

// aggregate_overlapping_entities: merges the entities of overlapping stride chunks (sorted by start; of two
// overlapping entities the longer wins, then the higher score).
std::vector<TokenEntity> aggregate_overlapping_entities(std::vector<TokenEntity> entities);

}  // namespace rembert::pipelines::ner
