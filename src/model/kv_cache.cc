// KVCache: the in-place key/value cache of decoders (see model.h); Model::forward fills it.
#include <cstring>
#include <string>

#include "model/model_impl.h"
#include "rembert/error.h"

namespace rembert {

KVCache::KVCache(const Model& model, int64_t batch, int64_t capacity) : batch_(batch), capacity_(capacity) {
  const RemBertConfig& c = model.config();
  if (!c.is_decoder) throw Error("KVCache: only decoder models (config is_decoder) take a cache");
  if (batch < 1) throw Error("KVCache: batch must be at least 1, got " + std::to_string(batch));
  if (capacity < 1 || capacity > c.max_position_embeddings) {
    throw Error("KVCache: capacity " + std::to_string(capacity) + " is outside [1, " +
                std::to_string(c.max_position_embeddings) + "] (max_position_embeddings)");
  }
  for (const model::Layer& layer : model.impl_->params.encoder.layers) {
    const Shape shape = {batch, layer.attention.num_heads, capacity, c.head_dim()};
    layers_.push_back(LayerCache{Tensor(DType::F32, shape), Tensor(DType::F32, shape), {}, {}});
  }
}

std::vector<LayerCache> KVCache::to_legacy() const {
  std::vector<LayerCache> out;
  for (const LayerCache& layer : layers_) {
    const int64_t heads = layer.key.dim(1), D = layer.key.dim(3);
    auto filled = [&](const Tensor& full) {
      Tensor t(DType::F32, {batch_, heads, length_, D});
      for (int64_t bh = 0; bh < batch_ * heads; ++bh) {
        std::memcpy(t.mutable_data<float>() + bh * length_ * D, full.data<float>() + bh * capacity_ * D,
                    static_cast<size_t>(length_ * D) * sizeof(float));
      }
      return t;
    };
    out.push_back(LayerCache{filled(layer.key), filled(layer.value), layer.cross_key, layer.cross_value});
  }
  return out;
}

}  // namespace rembert
