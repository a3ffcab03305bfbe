#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rembert/error.h"
#include "rembert/safetensors.h"
#include "test_util.h"

namespace rembert {
namespace {

using testing::error_message;
using testing::expect_same_tensors;

namespace fs = std::filesystem;

const std::string kModels = std::string(REMBERT_FIXTURES_DIR) + "/models";

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "rembert_checkpoint_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  void write_index(const std::string& name, const nlohmann::json& weight_map) {
    std::ofstream(path(name)) << nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2);
  }

  std::string dir_;
};

TEST(CheckpointFixtures, PrefersSafetensorsOverTorchBin) {
  const Checkpoint ckpt = load_checkpoint(kModels + "/base");
  EXPECT_EQ(ckpt.files, (std::vector<std::string>{kModels + "/base/model.safetensors"}));
  EXPECT_EQ(ckpt.tensors.at("embeddings.word_embeddings.weight").shape(), (Shape{2000, 32}));
  EXPECT_FALSE(ckpt.tensors.at("embeddings.word_embeddings.weight").writable());  // still the mapped view
}

TEST(CheckpointFixtures, ShardedLoadsEveryTensorFromItsShard) {
  const std::string dir = kModels + "/mlm_sharded";
  const Checkpoint sharded = load_checkpoint(dir);
  EXPECT_EQ(sharded.files, (std::vector<std::string>{dir + "/model.safetensors.index.json",
                                                     dir + "/model-00001-of-00002.safetensors",
                                                     dir + "/model-00002-of-00002.safetensors"}));
  // The union of the two shards, exactly.
  TensorMap expected = read_safetensors(dir + "/model-00001-of-00002.safetensors").tensors;
  const TensorMap second = read_safetensors(dir + "/model-00002-of-00002.safetensors").tensors;
  expected.insert(second.begin(), second.end());
  expect_same_tensors(sharded.tensors, expected);

  // Same architecture as the single-file mlm model (its weights are a different random draw): same names, shapes
  // and dtypes.
  const TensorMap single = read_safetensors(kModels + "/mlm/model.safetensors").tensors;
  ASSERT_EQ(sharded.tensors.size(), single.size());
  for (const auto& [name, t] : single) {
    ASSERT_EQ(sharded.tensors.count(name), 1u) << name;
    EXPECT_EQ(sharded.tensors.at(name).shape(), t.shape()) << name;
    EXPECT_EQ(sharded.tensors.at(name).dtype(), t.dtype()) << name;
  }
}

TEST_F(CheckpointTest, TorchBinFallbackAndBinShards) {
  fs::copy_file(kModels + "/base/pytorch_model.bin", path("pytorch_model.bin"));
  const TensorMap expected = read_safetensors(kModels + "/base/model.safetensors").tensors;
  Checkpoint single = load_checkpoint(dir_);
  EXPECT_EQ(single.files, (std::vector<std::string>{path("pytorch_model.bin")}));
  expect_same_tensors(single.tensors, expected);

  // Two shards (copies of the same file): each tensor comes from the shard the index names.
  fs::remove(path("pytorch_model.bin"));
  fs::copy_file(kModels + "/base/pytorch_model.bin", path("pytorch_model-00001-of-00002.bin"));
  fs::copy_file(kModels + "/base/pytorch_model.bin", path("pytorch_model-00002-of-00002.bin"));
  nlohmann::json weight_map = nlohmann::json::object();
  bool first = true;
  for (const auto& entry : expected) {
    weight_map[entry.first] = first ? "pytorch_model-00001-of-00002.bin" : "pytorch_model-00002-of-00002.bin";
    first = !first;
  }
  write_index("pytorch_model.bin.index.json", weight_map);
  const Checkpoint sharded = load_checkpoint(dir_);
  EXPECT_EQ(sharded.files, (std::vector<std::string>{path("pytorch_model.bin.index.json"),
                                                     path("pytorch_model-00001-of-00002.bin"),
                                                     path("pytorch_model-00002-of-00002.bin")}));
  expect_same_tensors(sharded.tensors, expected);
}

TEST_F(CheckpointTest, IndexTakesExactlyTheMappedTensors) {
  write_safetensors(path("shard-a.safetensors"),
                    {{"x", Tensor::from_f32({2}, {1, 2})}, {"unlisted", Tensor::from_f32({1}, {9})}});
  write_safetensors(path("shard-b.safetensors"),
                    {{"x", Tensor::from_f32({2}, {5, 6})}, {"y", Tensor::from_f32({1}, {3})}});
  write_index("model.safetensors.index.json", {{"x", "shard-a.safetensors"}, {"y", "shard-b.safetensors"}});
  const Checkpoint ckpt = load_checkpoint(dir_);
  ASSERT_EQ(ckpt.tensors.size(), 2u);
  EXPECT_EQ(ckpt.tensors.at("x").to_f32_vector(), (std::vector<float>{1, 2}));
  EXPECT_EQ(ckpt.tensors.at("y").to_f32_vector(), (std::vector<float>{3}));
}

TEST_F(CheckpointTest, ShardErrors) {
  write_safetensors(path("shard-a.safetensors"), {{"x", Tensor::from_f32({2}, {1, 2})}});

  write_index("model.safetensors.index.json", {{"x", "shard-a.safetensors"}, {"y", "shard-missing.safetensors"}});
  std::string msg = error_message([&] { load_checkpoint(dir_); });
  EXPECT_CONTAINS(msg, "shard-missing.safetensors");
  EXPECT_CONTAINS(msg, "does not exist");

  write_index("model.safetensors.index.json", {{"x", "shard-a.safetensors"}, {"y", "shard-a.safetensors"}});
  msg = error_message([&] { load_checkpoint(dir_); });
  EXPECT_CONTAINS(msg, "tensor 'y'");
  EXPECT_CONTAINS(msg, "shard-a.safetensors");

  for (const char* escape : {"../shard-a.safetensors", "sub/shard-a.safetensors", "/etc/passwd", ".."}) {
    SCOPED_TRACE(escape);
    write_index("model.safetensors.index.json", {{"x", escape}});
    EXPECT_CONTAINS(error_message([&] { load_checkpoint(dir_); }), "invalid shard");
  }

  std::ofstream(path("model.safetensors.index.json")) << "{\"weight_map\": 3}";
  EXPECT_CONTAINS(error_message([&] { load_checkpoint(dir_); }), "weight_map");
  std::ofstream(path("model.safetensors.index.json")) << "{not json";
  EXPECT_CONTAINS(error_message([&] { load_checkpoint(dir_); }), "model.safetensors.index.json");
}

TEST_F(CheckpointTest, NothingToLoad) {
  EXPECT_EQ(error_message([&] { load_checkpoint(dir_); }),
            "no weights found in " + dir_ +
                " (looked for model.safetensors, model.safetensors.index.json, pytorch_model.bin, "
                "pytorch_model.bin.index.json, tf_model.h5)");
  EXPECT_CONTAINS(error_message([&] { load_checkpoint(path("absent")); }), path("absent"));
  std::ofstream(path("file")) << "x";
  EXPECT_CONTAINS(error_message([&] { load_checkpoint(path("file")); }), "not a directory");
}

}  // namespace
}  // namespace rembert
