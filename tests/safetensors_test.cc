#include "rembert/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "rembert/error.h"
#include "test_util.h"

namespace rembert {
namespace {

using testing::error_message;
using testing::raw_bytes;
using testing::read_file;
using testing::write_file;

namespace fs = std::filesystem;

const std::string kModels = std::string(REMBERT_FIXTURES_DIR) + "/models";

// Runs `f`, which must throw rembert::Error, and returns the message.
// An 8-byte little-endian length (by default the header's), the header, then `data`.
std::string safetensors_bytes(const std::string& header, const std::string& data, uint64_t declared = UINT64_MAX) {
  const uint64_t length = declared == UINT64_MAX ? header.size() : declared;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + data;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "rembert_safetensors_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

TEST(SafetensorsRead, BaseModelIsMappedInPlace) {
  const std::string file = kModels + "/base/model.safetensors";
  const SafetensorsFile st = read_safetensors(file);
  EXPECT_EQ(st.metadata.at("format"), "pt");
  // vocab 2000, E=32, H=64, 3 layers: 5 embedding tensors, 2 for the projection, 16 per layer, 2 for the pooler.
  EXPECT_EQ(st.tensors.size(), 5u + 2u + 3u * 16u + 2u);

  const Tensor& word = st.tensors.at("embeddings.word_embeddings.weight");
  EXPECT_EQ(word.dtype(), DType::F32);
  EXPECT_EQ(word.shape(), (Shape{2000, 32}));
  EXPECT_FALSE(word.writable());
  EXPECT_THROW(const_cast<Tensor&>(word).raw_mutable_data(), Error);
  EXPECT_EQ(st.tensors.at("encoder.embedding_hidden_mapping_in.weight").shape(), (Shape{64, 32}));
  EXPECT_EQ(st.tensors.at("encoder.layer.2.intermediate.dense.weight").shape(), (Shape{128, 64}));
  EXPECT_EQ(st.tensors.at("pooler.dense.bias").shape(), (Shape{64}));

  // Every tensor points into one mapping at base + data_offsets[0], and its bytes are the file's.
  const std::string bytes = read_file(file);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, header_size));
  const char* base = static_cast<const char*>(st.tensors.begin()->second.raw_data()) -
                     header[st.tensors.begin()->first]["data_offsets"][0].get<uint64_t>();
  for (const auto& [name, tensor] : st.tensors) {
    const uint64_t begin = header[name]["data_offsets"][0].get<uint64_t>();
    EXPECT_EQ(static_cast<const char*>(tensor.raw_data()), base + begin) << name;
    EXPECT_FALSE(tensor.writable()) << name;
    EXPECT_EQ(raw_bytes(tensor), bytes.substr(8 + header_size + begin, tensor.nbytes())) << name;
  }
}

TEST(SafetensorsRead, TensorsOutliveTheFileObject) {
  Tensor bias;
  {
    bias = read_safetensors(kModels + "/base/model.safetensors").tensors.at("pooler.dense.bias");
  }
  const std::vector<float> values = bias.to_f32_vector();
  ASSERT_EQ(values.size(), 64u);
  float sum = 0;
  for (float v : values) sum += v * v;
  EXPECT_GT(sum, 0.0f);
}

TEST(SafetensorsRead, HalfPrecisionFixtures) {
  const SafetensorsFile bf16 = read_safetensors(kModels + "/base_bf16/model.safetensors");
  const SafetensorsFile fp16 = read_safetensors(kModels + "/seqcls_fp16/model.safetensors");
  const SafetensorsFile f32 = read_safetensors(kModels + "/base/model.safetensors");
  EXPECT_EQ(bf16.tensors.size(), f32.tensors.size());
  for (const auto& [name, t] : bf16.tensors) {
    EXPECT_EQ(t.dtype(), DType::BF16) << name;
    EXPECT_EQ(t.shape(), f32.tensors.at(name).shape()) << name;
  }
  EXPECT_EQ(fp16.tensors.at("rembert.embeddings.word_embeddings.weight").dtype(), DType::F16);
  for (const auto& [name, t] : fp16.tensors) EXPECT_EQ(t.dtype(), DType::F16) << name;
}

TEST_F(SafetensorsTest, MissingEmptyAndDirectory) {
  EXPECT_CONTAINS(error_message([&] { read_safetensors(path("nope.safetensors")); }), path("nope.safetensors"));
  EXPECT_CONTAINS(error_message([&] { read_safetensors(path("nope.safetensors")); }), "No such file");
  write_file(path("empty.safetensors"), "");
  EXPECT_CONTAINS(error_message([&] { read_safetensors(path("empty.safetensors")); }), path("empty.safetensors"));
  EXPECT_CONTAINS(error_message([&] { read_safetensors(dir_); }), "directory");
}

TEST_F(SafetensorsTest, RoundTripWithMetadataAndDtypes) {
  TensorMap tensors;
  tensors["b.f32"] = Tensor::from_f32({2, 3}, {1, -2, 3.5f, 0, 1e-3f, -7});
  tensors["a.f16"] = Tensor::from_f32({4}, {1, 0.5f, -2, 65504}).cast_float(DType::F16);
  tensors["c.bf16"] = Tensor::from_f32({2, 2}, {1, 3.25f, -0.125f, 100}).cast_float(DType::BF16);
  tensors["d.i64"] = Tensor::from_i64({3}, {-1, 0, int64_t{1} << 40});
  tensors["e.empty"] = Tensor(DType::F32, {0, 5});
  tensors["f.scalar"] = Tensor::from_f32({}, {42});
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "round \"trip\""}};
  write_safetensors(path("rt.safetensors"), tensors, metadata);

  const SafetensorsFile back = read_safetensors(path("rt.safetensors"));
  EXPECT_EQ(back.metadata, metadata);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const Tensor& r = back.tensors.at(name);
    EXPECT_EQ(r.dtype(), t.dtype()) << name;
    EXPECT_EQ(r.shape(), t.shape()) << name;
    EXPECT_EQ(raw_bytes(r), raw_bytes(t)) << name;
  }

  // Layout: header padded to a multiple of 8, __metadata__ first, data contiguous in name order.
  const std::string bytes = read_file(path("rt.safetensors"));
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  EXPECT_EQ(header_size % 8, 0u);
  const std::string header_text = bytes.substr(8, header_size);
  EXPECT_EQ(header_text.rfind("{\"__metadata__\":", 0), 0u) << header_text;
  const nlohmann::ordered_json header = nlohmann::ordered_json::parse(header_text);
  uint64_t expected_begin = 0;
  std::string previous;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    EXPECT_LT(previous, name);
    previous = name;
    EXPECT_EQ(entry["data_offsets"][0].get<uint64_t>(), expected_begin) << name;
    expected_begin = entry["data_offsets"][1].get<uint64_t>();
  }
  EXPECT_EQ(8 + header_size + expected_begin, bytes.size());
}

TEST_F(SafetensorsTest, NoMetadataBlockWhenEmpty) {
  write_safetensors(path("plain.safetensors"), {{"x", Tensor::from_f32({1}, {1})}});
  const std::string bytes = read_file(path("plain.safetensors"));
  EXPECT_EQ(bytes.find("__metadata__"), std::string::npos);
  EXPECT_TRUE(read_safetensors(path("plain.safetensors")).metadata.empty());
}

TEST_F(SafetensorsTest, RewritingMappedViews) {
  const SafetensorsFile original = read_safetensors(kModels + "/base/model.safetensors");
  write_safetensors(path("copy.safetensors"), original.tensors, original.metadata);
  // Same tensors, same order, same padding rules: the reference writer's bytes come back exactly.
  EXPECT_EQ(read_file(path("copy.safetensors")), read_file(kModels + "/base/model.safetensors"));
}

TEST_F(SafetensorsTest, StreamingWriterMatchesInMemoryWriter) {
  // Specs deliberately out of name order: fill must still be called in the specs' order.
  const std::vector<TensorSpec> specs = {
      {"z.weight", DType::F32, {3, 2}}, {"a.bias", DType::BF16, {5}}, {"m.ids", DType::I64, {2}},
      {"e.none", DType::F16, {0}}};
  std::vector<std::string> order;
  auto fill = [&](const TensorSpec& spec, void* buffer) {
    order.push_back(spec.name);
    auto* bytes = static_cast<uint8_t*>(buffer);
    for (size_t i = 0; i < spec.nbytes(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + spec.name[0]);
  };
  write_safetensors_streaming(path("stream.safetensors"), specs, fill, {{"format", "pt"}});
  EXPECT_EQ(order, (std::vector<std::string>{"z.weight", "a.bias", "m.ids", "e.none"}));

  TensorMap tensors;
  for (const TensorSpec& spec : specs) {
    Tensor t(spec.dtype, spec.shape);
    fill(spec, t.raw_mutable_data());
    tensors[spec.name] = t;
  }
  write_safetensors(path("memory.safetensors"), tensors, {{"format", "pt"}});
  EXPECT_EQ(read_file(path("stream.safetensors")), read_file(path("memory.safetensors")));
  const SafetensorsFile back = read_safetensors(path("stream.safetensors"));
  for (const auto& [name, t] : tensors) EXPECT_EQ(raw_bytes(back.tensors.at(name)), raw_bytes(t)) << name;
}

TEST_F(SafetensorsTest, WriteErrors) {
  const TensorMap one = {{"x", Tensor::from_f32({2}, {1, 2})}};
  const std::string unwritable = path("no/such/dir/out.safetensors");
  EXPECT_CONTAINS(error_message([&] { write_safetensors(unwritable, one); }), unwritable);
  EXPECT_CONTAINS(error_message([&] { write_safetensors(path("m.safetensors"), {{"__metadata__", one.at("x")}}); }),
                  "__metadata__");
  EXPECT_CONTAINS(error_message([&] {
                    write_safetensors_streaming(path("dup.safetensors"),
                                                {{"x", DType::F32, {1}}, {"x", DType::F32, {2}}},
                                                [](const TensorSpec&, void*) {});
                  }),
                  "'x'");
  if (fs::exists("/dev/full")) {  // a device that always reports a full disk
    EXPECT_CONTAINS(error_message([&] { write_safetensors("/dev/full", one); }), "/dev/full");
    EXPECT_TRUE(fs::exists("/dev/full"));
  }
  // A failing fill leaves no partial file behind.
  EXPECT_THROW(write_safetensors_streaming(path("partial.safetensors"), {{"x", DType::F32, {4}}},
                                           [](const TensorSpec&, void*) { throw Error("fill failed"); }),
               Error);
  EXPECT_FALSE(fs::exists(path("partial.safetensors")));
}

// Each malformed file must be refused with the file and (where there is one) the tensor in the message.
TEST_F(SafetensorsTest, MalformedFiles) {
  struct Case {
    const char* name;
    std::string bytes;
    std::vector<std::string> message_parts;
  };
  const std::string data16(16, '\0');
  const std::vector<Case> cases = {
      {"truncated", std::string("\x10\x00\x00", 3), {"too short"}},
      {"huge_header", safetensors_bytes("{}", data16, uint64_t{1} << 40), {"oversized header"}},
      {"header_past_end", safetensors_bytes("{}", data16, 1000), {"oversized header"}},
      {"invalid_json", safetensors_bytes("{\"w\": {\"dtype\": ", data16), {"not valid JSON"}},
      {"not_object", safetensors_bytes("[1, 2]", data16), {"not a JSON object"}},
      {"missing_dtype", safetensors_bytes(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", data16),
       {"tensor 'w'", "dtype"}},
      {"missing_offsets", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", data16),
       {"tensor 'w'", "data_offsets"}},
      {"unknown_dtype", safetensors_bytes(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", data16),
       {"tensor 'w'", "Q4"}},
      {"out_of_range", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", data16),
       {"tensor 'w'", "past the end"}},
      {"descending", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", data16),
       {"tensor 'w'", "ascending"}},
      {"three_offsets", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", data16),
       {"tensor 'w'", "data_offsets"}},
      {"overlap",
       safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         data16),
       {"'a'", "'b'", "overlap"}},
      {"size_mismatch", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data16),
       {"tensor 'w'", "need 12 bytes"}},
      {"negative_dim", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data16),
       {"tensor 'w'", "negative"}},
      {"float_dim", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", data16),
       {"tensor 'w'", "shape"}},
      {"numel_overflow",
       safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", data16),
       {"tensor 'w'"}},
      {"bad_metadata", safetensors_bytes(R"({"__metadata__":{"format":1}})", data16), {"__metadata__"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string file = path(std::string(c.name) + ".safetensors");
    write_file(file, c.bytes);
    EXPECT_THROW(read_safetensors(file), Error);
    const std::string message = error_message([&] { read_safetensors(file); });
    EXPECT_CONTAINS(message, file);
    for (const std::string& part : c.message_parts) EXPECT_CONTAINS(message, part);
  }
}

TEST_F(SafetensorsTest, EmptyTensorsDoNotOverlapAndMisalignedDataIsCopied) {
  // An unpadded header and a 2-byte tensor first leave the F32 tensor misaligned in memory.
  const float value = 1.5f;
  std::string data = "\x07\x09";
  data.append(reinterpret_cast<const char*>(&value), 4);
  const std::string header =
      R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]},)"
      R"("c":{"dtype":"F32","shape":[0],"data_offsets":[2,2]}})";
  write_file(path("odd.safetensors"), safetensors_bytes(header, data));
  const SafetensorsFile st = read_safetensors(path("odd.safetensors"));
  EXPECT_EQ(st.tensors.at("a").to_i64_vector(), (std::vector<int64_t>{7, 9}));
  EXPECT_EQ(st.tensors.at("b").to_f32_vector(), (std::vector<float>{1.5f}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(st.tensors.at("b").raw_data()) % 4, 0u);
  EXPECT_EQ(st.tensors.at("c").numel(), 0);
}

}  // namespace
}  // namespace rembert
