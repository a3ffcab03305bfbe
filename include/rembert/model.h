// RemBertModel and its six heads, as Hugging Face transformers computes them.
//
//   auto model = rembert::Model::load("path/to/model_dir");          // head from config.architectures[0]
//   rembert::ForwardInputs in;
//   in.input_ids = rembert::Tensor::from_i64({1, 5}, {312, 56498, 313, 2125, 313});
//   rembert::ForwardOutputs out = model->forward(in);                  // out.last_hidden_state: [1, 5, 1152]
//
// Thread safety: a loaded Model is immutable; forward() may be called from many threads at once on one Model.
// Everything that belongs to one call (scratch buffers, the key/value cache) lives in its inputs and outputs, or in
// the caller's KVCache.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rembert/config.h"
#include "rembert/safetensors.h"
#include "rembert/tensor.h"

namespace rembert {

enum class HeadType {
  Model,                   // RemBertModel                        "model"
  MaskedLM,                // RemBertForMaskedLM                  "masked-lm"
  CausalLM,                // RemBertForCausalLM                  "causal-lm"
  SequenceClassification,  // RemBertForSequenceClassification    "sequence-classification"
  MultipleChoice,          // RemBertForMultipleChoice            "multiple-choice"
  TokenClassification,     // RemBertForTokenClassification       "token-classification"
  QuestionAnswering,       // RemBertForQuestionAnswering         "question-answering"
};
const char* head_cli_name(HeadType head);
const char* head_class_name(HeadType head);
// Accepts the CLI names and the transformers class names; throws Error listing the valid names otherwise.
HeadType head_from_name(const std::string& name);
// The head a config asks for: architectures[0], or Model when absent.
HeadType head_from_config(const RemBertConfig& config);

// Precision of the matmul weights and of the products (the compute path). Embeddings, LayerNorms and biases stay
// float32, and so do the activations between the products.
//  - Float32 (default, as transformers' from_pretrained): float32 weights and arithmetic.
//  - Auto: the weights as stored in the checkpoint (torch_dtype), computed in float32.
//  - Float16: weights rounded to float16, computed in float32.
//  - BFloat16: bfloat16 weights and products (AVX512-BF16 / AMX), float32 accumulation. On CPUs without a bfloat16
//    matmul: bfloat16 weights computed in float32, and Model::warnings() says so.
//  - Int8: weights symmetric per output channel, activations quantized per token (u8 with a zero point), int32
//    accumulation (VNNI / AMX where the CPU has them).
// The weights are packed once at load into the layout the CPU's kernels want. A checkpoint written by
// convert_model (`rembert convert`) holds its Linear weights as int8 or bfloat16 already and computes in that type.
enum class WeightDType { Auto, Float32, Float16, BFloat16, Int8 };
WeightDType weight_dtype_from_name(const std::string& name);  // "auto", "float32", "float16", "bfloat16", "int8"
const char* weight_dtype_name(WeightDType dtype);

// How a loaded model's products are computed.
struct ComputeInfo {
  std::string requested;     // the compute type asked for: "float32", "bfloat16" or "int8"
  std::string compute;       // what the products are computed in (differs from requested on a fallback)
  std::string fallback;      // empty, or why compute differs from requested
  size_t packed_bytes = 0;   // the packed weights (and int8 scales) of every Linear
  std::string converted;     // "int8" / "bfloat16" for a checkpoint written by convert_model, else empty
  // One entry per distinct Linear shape: "[out, in]" and the oneDNN implementation chosen for `rows` rows.
  std::vector<std::pair<std::string, std::string>> kernels;
};

// The x86 flags (named as in /proc/cpuinfo) of this CPU that matter to the compute paths, and oneDNN's version.
std::vector<std::string> cpu_flags();
std::string onednn_version();

struct LoadOptions {
  std::optional<HeadType> head;    // default: head_from_config
  // Unset: Float32, or the dtype a checkpoint written by convert_model was converted to. On such a checkpoint only
  // that dtype or Auto may be asked for; any other is an Error naming config.json's record.
  std::optional<WeightDType> dtype;
  bool add_pooling_layer = true;   // RemBertModel only; the heads decide for themselves (SPEC §2.6)
  uint64_t init_seed = 0;          // seed of the initialisation of head weights missing from the checkpoint
};

// One layer's cache, transformers' legacy layout: [B, heads, T, head_dim] each. cross_* only with cross-attention.
struct LayerCache {
  Tensor key, value;
  Tensor cross_key, cross_value;
};

class KVCache;

// Undefined tensors (default-constructed) mean "not given"; the model defaults apply (SPEC §2.1, §2.3).
// Integer tensors may be I64 or I32; float tensors F32 (F16/BF16/F64 are converted).
struct ForwardInputs {
  Tensor input_ids;               // [B, S] ([B, C, S] for multiple choice)
  Tensor inputs_embeds;           // [B, S, E] ([B, C, S, E] for multiple choice), instead of input_ids
  Tensor attention_mask;          // [B, P+S] or [B, S, P+S]
  Tensor token_type_ids;          // [B, S]
  Tensor position_ids;            // [B, S] or [S]
  Tensor head_mask;               // [heads] or [layers, heads]
  Tensor encoder_hidden_states;   // [B, S_enc, H] (decoders with cross-attention)
  Tensor encoder_attention_mask;  // [B, S_enc]
  std::vector<LayerCache> past_key_values;  // one per layer, or empty
  // Decoders: the in-place cache instead of past_key_values. Its cache->length() positions are the past; this call
  // appends its own keys and values to it (whatever use_cache says) and returns no past_key_values.
  KVCache* cache = nullptr;
  // Decoders, one decode step of independent sequences (continuous batching): one batch-1 cache per row of
  // input_ids [B, 1]; row b sits at position caches[b]->length() and appends its key and value to its own cache.
  // No attention_mask, position_ids, cache, past_key_values, encoder states or attention maps with it.
  std::vector<KVCache*> caches;
  Tensor labels;                  // head-specific
  Tensor start_positions, end_positions;    // question answering
  // Masked/causal LM only: compute logits just for these rows of the flattened [B*S] positions (e.g. the [MASK]
  // positions for fill-mask); logits are then [rows, V]. The vocabulary projection dominates the head's cost.
  std::vector<int64_t> logits_rows;
  // Right-padded batches of an encoder (2-D mask of ones then zeros) skip the padded positions: the work follows the
  // real token count. Real positions are unchanged; padded positions of the outputs are then zero. False computes
  // them as transformers does. (Attention maps, labels, decoders and caches always use the full layout.)
  bool skip_padding = true;
  std::optional<bool> use_cache;             // default config.use_cache; only decoders use a cache
  std::optional<bool> output_attentions;     // default config.output_attentions
  std::optional<bool> output_hidden_states;  // default config.output_hidden_states
};

// Outputs are float32. Undefined when the model or head does not produce them.
struct ForwardOutputs {
  Tensor loss;                    // [] when labels (or start/end positions) were given
  Tensor logits;                  // heads: [B,S,V], [B,labels], [B,C], [B,S,labels]
  Tensor start_logits, end_logits;  // question answering: [B, S]
  Tensor last_hidden_state;       // RemBertModel: [B, S, H]
  Tensor pooler_output;           // RemBertModel with pooler: [B, H]
  std::vector<Tensor> hidden_states;     // layers+1 entries of [B, S, H]
  std::vector<Tensor> attentions;        // layers entries of [B, heads, S, P+S]
  std::vector<Tensor> cross_attentions;  // layers entries of [B, heads, S, S_enc]
  std::vector<LayerCache> past_key_values;  // with use_cache and no ForwardInputs::cache
};

class Model {
 public:
  // Loads config.json and the weights of a Hugging Face model folder (see load_checkpoint for the file order).
  static std::shared_ptr<const Model> load(const std::string& model_dir, const LoadOptions& options = {});
  // Builds a model from a config and named tensors (HF state-dict names, with or without "rembert.").
  // `source` names the origin in messages.
  static std::shared_ptr<const Model> from_tensors(const RemBertConfig& config, const TensorMap& tensors,
                                                   const LoadOptions& options = {},
                                                   const std::string& source = "<tensors>");
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  ForwardOutputs forward(const ForwardInputs& inputs) const;

  const RemBertConfig& config() const;
  HeadType head() const;
  DType weight_dtype() const;  // the dtype the matmul weights are held in (I8 for int8)
  // The compute path of the products; `rows` is the row count the implementation names are reported for.
  ComputeInfo compute_info(int64_t rows = 128) const;
  bool has_pooler() const;
  // HF names of the weights that were missing from the checkpoint and initialised (e.g. google/rembert's MLM head).
  const std::vector<std::string>& newly_initialized() const;
  // What loading had to say: missing head weights that were initialised, unexpected keys (as transformers warns).
  const std::vector<std::string>& warnings() const;

  struct Impl;

 private:
  friend class KVCache;  // sized from the layers' head counts
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A decoder's key/value cache appended in place: every layer's keys and values preallocated for `capacity`
// positions as [batch, heads, capacity, head_dim]. Model::forward writes a call's new positions after the cached
// ones and attends over the filled part where it lies, so a decoding step copies only its own keys and values
// (past_key_values copies the whole past into a new tensor every step). Cross-attention keys and values are
// computed at the first call with encoder_hidden_states and kept.
//
//   rembert::KVCache cache(*model, /*batch=*/1, /*capacity=*/prompt_len + max_new_tokens);
//   in.cache = &cache;  // first call: the prompt; then one token per call (cache.length() are cached)
//
// A call that would go past capacity() is an Error naming the lengths, and leaves the cache as it was. A cache
// serves one sequence of calls at a time (one thread).
class KVCache {
 public:
  // capacity: 1 .. max_position_embeddings. Error for a model that is not a decoder (config is_decoder).
  KVCache(const Model& model, int64_t batch, int64_t capacity);
  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }  // positions cached
  // The cached positions in transformers' legacy layout, [batch, heads, length, head_dim] (keys and values copied).
  std::vector<LayerCache> to_legacy() const;

 private:
  friend class Model;
  int64_t batch_ = 0, capacity_ = 0, length_ = 0;
  // key/value: [batch, heads, capacity, head_dim]; cross_key/cross_value: [batch, heads, S_enc, head_dim] once known.
  std::vector<LayerCache> layers_;
};

// Every parameter of a head, with its HF state-dict name and shape, in state-dict order.
std::vector<TensorSpec> parameter_specs(const RemBertConfig& config, HeadType head, bool add_pooling_layer = true);

// Writes `out_dir`/config.json and `out_dir`/model.safetensors holding random weights for (config, head), as
// transformers initialises them (Linear and Embedding weights ~ N(0, initializer_range), biases 0, LayerNorm 1/0),
// stored as `dtype` (F32, F16 or BF16). One tensor is in memory at a time, so full-size checkpoints are fine.
void write_random_checkpoint(const RemBertConfig& config, HeadType head, const std::string& out_dir, DType dtype,
                             uint64_t seed);

// `rembert convert`: writes `out_dir` with `model_dir`'s model (a folder) for the int8 or bfloat16 compute path.
// Every Linear weight of the config's head is stored as that path packs it: Int8 as I8 [out, in] (symmetric per
// output channel) plus its scales "<linear>.weight_scale" (F32 [out]), BFloat16 as BF16; every other tensor is
// copied unchanged, config.json gets the record "rembert_cpp_quantization" (int8 also a transformers
// "quantization_config" that transformers refuses), and the tokenizer files are copied. Model::load then packs the
// stored weights as they are: its outputs equal those of loading `model_dir` with that dtype. The files are written
// into a temporary sibling folder renamed to `out_dir` at the end; a non-empty `out_dir` is an Error unless `force`
// (then it is replaced).
struct ConvertOptions {
  WeightDType dtype = WeightDType::Int8;  // Int8 or BFloat16
  bool force = false;
};
struct ConvertResult {
  uint64_t source_bytes = 0;   // the source's weight files
  uint64_t weights_bytes = 0;  // the written model.safetensors
  size_t linears = 0;          // Linear weights converted
  std::vector<std::string> files;  // what `out_dir` holds
};
ConvertResult convert_model(const std::string& model_dir, const std::string& out_dir, const ConvertOptions& options);

// Threads each computation uses (one OpenMP team per calling thread, shared with oneDNN), for every thread of the
// process, also threads started later; 0 or less: OpenMP's default (OMP_NUM_THREADS, else all cores).
void set_num_threads(int threads);
// Threads the kernels use now.
int num_threads();

}  // namespace rembert
