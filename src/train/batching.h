// Batches of `rembert train`: which rows go together (length-bucketed like the langid recipe's make_batches, or
// fixed-size like the Hugging Face Trainer), and the collators that pad them into model inputs.
//
//   PyRandom rng(seed);                                           // Python's random.Random(seed)
//   auto batches = make_batches(train.lengths(), rng, 2048, 96, 20000);   // one epoch
//   Batch b = collate(train, batches[0], tokenizer.pad_token_id());
//   mask_tokens(b, rng, {tokenizer.mask_token_id(), vocab_size});     // fill-mask only
#pragma once

#include <cstdint>
#include <vector>

#include "rembert/model.h"
#include "rembert/tensor.h"
#include "train/data.h"

namespace rembert::train {

// Python's random.Random(seed) for a non-negative integer seed: MT19937 seeded by init_by_array with the seed's
// 32-bit words, getrandbits, _randbelow and shuffle as CPython 3 draws them, so a seed gives the same shuffles
// as the Python recipe.
class PyRandom {
 public:
  explicit PyRandom(uint64_t seed);
  uint32_t next_u32();
  uint64_t getrandbits(int k);  // 0 <= k <= 64
  uint64_t randbelow(uint64_t n);  // uniform in [0, n), n >= 1
  double random();                 // uniform in [0, 1), 53 bits
  template <class T>
  void shuffle(std::vector<T>& x) {
    for (size_t i = x.size(); i-- > 1;) {
      const auto j = static_cast<size_t>(randbelow(i + 1));
      std::swap(x[i], x[j]);
    }
  }

 private:
  uint32_t mt_[624];
  int index_ = 624;
};

// One epoch of the langid recipe (peer_torch_train.py make_batches): shuffle the row indices, sort each chunk of
// sort_chunk rows by length (stable), cut the chunk into batches of at most max_rows rows and at most max_tokens
// = rows x longest length (a row longer than max_tokens gets a batch of its own), shuffle the batches.
std::vector<std::vector<int64_t>> make_batches(const std::vector<int64_t>& lengths, PyRandom& rng, int64_t max_tokens,
                                               int64_t max_rows, int64_t sort_chunk);

// Fixed-size batches of rows 0..n-1: shuffled by rng (the Trainer's RandomSampler), or in order when rng is
// nullptr (evaluation). The last batch may be smaller unless drop_last.
std::vector<std::vector<int64_t>> fixed_batches(int64_t n, int64_t batch_size, PyRandom* rng, bool drop_last = false);

// Model inputs of a batch, right-padded to its longest row. Int64 tensors; absent ones are undefined:
//   input_ids, attention_mask, token_type_ids   [B, L]   (multiple choice: [B, choices, L])
//   labels   text classification [B] (regression [B] F32, multi-label [B, num_labels] F32); token
//            classification [B, L] (-100 on padding); multiple choice [B]; fill-mask after mask_tokens and
//            causal-lm [B, L] (-100 where not scored)
//   start_positions, end_positions   question answering [B]
//   special_tokens_mask   fill-mask [B, L], 1 on special tokens and padding (what mask_tokens never picks)
struct Batch {
  Tensor input_ids, attention_mask, token_type_ids, labels, start_positions, end_positions, special_tokens_mask;
  int64_t real_tokens = 0;    // tokens that are not padding
  std::vector<int64_t> rows;  // the feature indices, in batch order
};

// Collates data.features[rows] for data.task. Causal LM: labels = input_ids, with -100 where the id is the pad
// id (DataCollatorForLanguageModeling(mlm=False); the model shifts them). Fill-mask: no labels until mask_tokens.
Batch collate(const Dataset& data, const std::vector<int64_t>& rows, int64_t pad_token_id);

// The model's arguments for a collated batch (input ids, masks, token types and the task's labels).
ForwardInputs forward_inputs(const Batch& batch);

struct MlmOptions {
  int64_t mask_token_id = -1;
  int64_t vocab_size = 0;  // random replacements are uniform in [0, vocab_size)
  double mlm_probability = 0.15;
};

// DataCollatorForLanguageModeling(mlm_probability) on a collated fill-mask batch: each position that is not
// special or padding is selected with mlm_probability; a selected one becomes mask_token_id (80%), a random id
// (10%) or stays (10%); labels = the original id where selected, -100 elsewhere. Seeded by rng.
void mask_tokens(Batch& batch, PyRandom& rng, const MlmOptions& options);

}  // namespace rembert::train
