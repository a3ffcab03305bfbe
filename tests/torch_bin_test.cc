#include <gtest/gtest.h>
#include <stdlib.h>
#include <zip.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rembert/error.h"
#include "rembert/safetensors.h"
#include "test_util.h"

namespace rembert {
namespace {

using testing::error_message;
using testing::expect_same_tensors;

namespace fs = std::filesystem;

const std::string kModels = std::string(REMBERT_FIXTURES_DIR) + "/models";

std::string float_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// Writes a zip archive with the given (name, contents) entries, using libzip like the reader.
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  int code = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(archive, nullptr) << "zip_open failed with " << code;
  for (const auto& [name, contents] : entries) {
    zip_source_t* source = zip_source_buffer(archive, contents.data(), contents.size(), 0);
    ASSERT_NE(source, nullptr);
    if (zip_file_add(archive, name.c_str(), source, ZIP_FL_ENC_UTF_8) < 0) {
      zip_source_free(source);
      FAIL() << "zip_file_add: " << zip_strerror(archive);
    }
  }
  ASSERT_EQ(zip_close(archive), 0) << zip_strerror(archive);
}

// Builds pickle bytes opcode by opcode (protocol 2, as torch.save writes).
class Pickle {
 public:
  Pickle& raw(const std::string& bytes) {
    out_ += bytes;
    return *this;
  }
  Pickle& op(char opcode) {
    out_ += opcode;
    return *this;
  }
  Pickle& proto() { return raw(std::string("\x80\x02", 2)); }
  Pickle& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  Pickle& str(const std::string& s) {  // BINUNICODE
    op('X');
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    return raw(s);
  }
  Pickle& int1(uint8_t v) { return op('K').raw(std::string(1, static_cast<char>(v))); }
  Pickle& binput(uint8_t index) { return op('q').raw(std::string(1, static_cast<char>(index))); }
  Pickle& binget(uint8_t index) { return op('h').raw(std::string(1, static_cast<char>(index))); }
  Pickle& ints_tuple(const std::vector<uint8_t>& values) {
    op('(');
    for (uint8_t v : values) int1(v);
    return op('t');
  }
  Pickle& empty_ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  // torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())
  Pickle& tensor(const std::string& storage_type, const std::string& key, uint8_t numel, uint8_t offset,
                 const std::vector<uint8_t>& size, const std::vector<uint8_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", storage_type).str(key).str("cpu").int1(numel).op('t').op('Q');
    int1(offset).ints_tuple(size).ints_tuple(stride).op('\x89').empty_ordered_dict();
    return op('t').op('R');
  }
  Pickle& stop() { return op('.'); }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

// {"w": FloatStorage tensor of 3 floats}, as torch.save({"w": torch.tensor([1.0, -2.5, 0.15625])}) would write it.
std::string three_float_pickle() {
  return Pickle()
      .proto()
      .empty_ordered_dict()
      .binput(0)
      .str("w")
      .tensor("FloatStorage", "0", 3, 0, {3}, {1})
      .op('s')
      .stop()
      .bytes();
}

// The storage bytes of 1.0, -2.5 and 0.15625 (0x3f800000, 0xc0200000, 0x3e200000), little-endian.
const std::string kThreeFloats("\x00\x00\x80\x3f\x00\x00\x20\xc0\x00\x00\x20\x3e", 12);

class TorchBinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "rembert_torch_bin_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // An archive/ torch.save layout with the given pickle and storages.
  std::string write_archive(const std::string& name, const std::string& pickle,
                            const std::vector<std::pair<std::string, std::string>>& storages = {}) {
    std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", pickle}};
    for (const auto& [key, bytes] : storages) entries.emplace_back("archive/data/" + key, bytes);
    entries.emplace_back("archive/version", "3\n");
    write_zip(path(name), entries);
    return path(name);
  }

  std::string dir_;
};

TEST(TorchBinFixtures, BaseMatchesSafetensors) {
  const TensorMap bin = read_torch_bin(kModels + "/base/pytorch_model.bin");
  const TensorMap st = read_safetensors(kModels + "/base/model.safetensors").tensors;
  expect_same_tensors(bin, st);
  for (const auto& [name, t] : bin) EXPECT_TRUE(t.writable()) << name;  // owned copies
  EXPECT_EQ(bin.at("embeddings.word_embeddings.weight").shape(), (Shape{2000, 32}));
}

TEST(TorchBinFixtures, MlmMatchesSafetensors) {
  expect_same_tensors(read_torch_bin(kModels + "/mlm/pytorch_model.bin"),
                      read_safetensors(kModels + "/mlm/model.safetensors").tensors);
}

TEST_F(TorchBinTest, HandCraftedPickleLoads) {
  const std::string file = write_archive("three.bin", three_float_pickle(), {{"0", kThreeFloats}});
  const TensorMap tensors = read_torch_bin(file);
  ASSERT_EQ(tensors.size(), 1u);
  const Tensor& w = tensors.at("w");
  EXPECT_EQ(w.dtype(), DType::F32);
  EXPECT_EQ(w.shape(), (Shape{3}));
  EXPECT_EQ(w.to_f32_vector(), (std::vector<float>{1.0f, -2.5f, 0.15625f}));
}

TEST_F(TorchBinTest, StridedParametersHalfStoragesAndStateDictMetadata) {
  const std::string pickle =
      Pickle()
          .proto()
          .empty_ordered_dict()
          .binput(0)
          .op('(')
          // "t": the transpose of a 2x2 storage [1, 2, 3, 4] (stride (1, 2)), wrapped in a Parameter.
          .str("t")
          .global("torch._utils", "_rebuild_parameter")
          .op('(')
          .tensor("FloatStorage", "0", 4, 0, {2, 2}, {1, 2})
          .op('\x89')
          .empty_ordered_dict()
          .op('t')
          .op('R')
          // "h": two halves starting at element 1 of a 3-element HalfStorage.
          .str("h")
          .tensor("HalfStorage", "1", 3, 1, {2}, {1})
          // "s": the same storage as "t" seen through an offset and a broadcast (stride 0) dimension.
          .str("s")
          .tensor("FloatStorage", "0", 4, 3, {2, 1}, {0, 1})
          .op('u')
          // state_dict._metadata arrives through BUILD on the OrderedDict: ignored.
          .op('}')
          .str("_metadata")
          .op('}')
          .op('s')
          .op('b')
          .stop()
          .bytes();

  const uint16_t halves[3] = {0x3c00, 0x4000, 0xc200};  // 1.0, 2.0, -3.0
  const std::string file = write_archive("strided.bin", pickle,
                                         {{"0", float_bytes({1, 2, 3, 4})},
                                          {"1", std::string(reinterpret_cast<const char*>(halves), sizeof(halves))}});
  const TensorMap tensors = read_torch_bin(file);
  ASSERT_EQ(tensors.size(), 3u);
  EXPECT_EQ(tensors.at("t").shape(), (Shape{2, 2}));
  EXPECT_EQ(tensors.at("t").to_f32_vector(), (std::vector<float>{1, 3, 2, 4}));
  EXPECT_EQ(tensors.at("h").dtype(), DType::F16);
  EXPECT_EQ(tensors.at("h").to_f32_vector(), (std::vector<float>{2, -3}));
  EXPECT_EQ(tensors.at("s").to_f32_vector(), (std::vector<float>{4, 4}));
}

TEST_F(TorchBinTest, RefusesCodeExecution) {
  const std::string marker = path("pwned");
  const std::string os_system =
      Pickle().proto().global("os", "system").str("touch " + marker).op('\x85').op('R').stop().bytes();
  const std::string file = write_archive("evil.bin", os_system);
  EXPECT_THROW(read_torch_bin(file), Error);
  const std::string message = error_message([&] { read_torch_bin(file); });
  EXPECT_CONTAINS(message, "refusing to unpickle global 'os system'");
  EXPECT_CONTAINS(message, file);
  EXPECT_FALSE(fs::exists(marker));

  // Other ways in: other globals (also through STACK_GLOBAL) and opcodes that build arbitrary objects.
  const std::vector<std::pair<std::string, std::string>> attempts = {
      {Pickle().proto().global("posix", "system").bytes(), "'posix system'"},
      {Pickle().proto().global("__builtin__", "getattr").bytes(), "'__builtin__ getattr'"},
      {Pickle().proto().str("builtins").str("eval").op('\x93').bytes(), "'builtins eval'"},
      {Pickle().proto().global("torch", "load").bytes(), "'torch load'"},
      {Pickle().proto().op('(').op('i').raw("os\nsystem\n").stop().bytes(), "unsupported pickle opcode 0x69"},
      {Pickle().proto().op('(').global("collections", "OrderedDict").op('o').stop().bytes(),
       "unsupported pickle opcode 0x6f"},
      {Pickle().proto().raw("\x82\x01").stop().bytes(), "unsupported pickle opcode 0x82"},
      {Pickle().proto().raw("P0\n").stop().bytes(), "unsupported pickle opcode 0x50"},
      {Pickle().proto().global("torch", "FloatStorage").op(')').op('R').stop().bytes(), "cannot call"},
      {Pickle().proto().global("collections", "OrderedDict").str("x").op('b').stop().bytes(), "BUILD"},
  };
  for (size_t i = 0; i < attempts.size(); ++i) {
    SCOPED_TRACE(attempts[i].second);
    const std::string name = "attempt" + std::to_string(i) + ".bin";
    const std::string msg = error_message([&] { read_torch_bin(write_archive(name, attempts[i].first)); });
    EXPECT_CONTAINS(msg, attempts[i].second);
    EXPECT_CONTAINS(msg, path(name));
  }
}

TEST_F(TorchBinTest, BrokenArchives) {
  std::ofstream(path("text.bin")) << "this is not a zip archive";
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(path("text.bin")); }), path("text.bin"));
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(path("missing.bin")); }), path("missing.bin"));
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(dir_); }), "directory");

  write_zip(path("nopkl.bin"), {{"archive/version", "3\n"}, {"archive/data/0", kThreeFloats}});
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(path("nopkl.bin")); }), "no data.pkl");

  // The fixture cut in half has lost its central directory.
  std::ifstream in(kModels + "/base/pytorch_model.bin", std::ios::binary);
  std::stringstream whole;
  whole << in.rdbuf();
  const std::string half = whole.str().substr(0, whole.str().size() / 2);
  std::ofstream(path("half.bin"), std::ios::binary) << half;
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(path("half.bin")); }), path("half.bin"));
}

// A few bytes of zip must not make the reader allocate what the central directory claims: an entry's declared size
// is checked against its compressed bytes before anything is allocated (found by fuzz_torch_bin).
TEST_F(TorchBinTest, DeclaredEntrySizesAreCheckedBeforeAllocating) {
  // The size of archive/data.pkl in the central directory (offset 24 of its header) set to 3 GB.
  auto claim_3gb = [](std::string zip) {
    for (size_t at = zip.find("PK\x01\x02"); at != std::string::npos; at = zip.find("PK\x01\x02", at + 4)) {
      const size_t name_len = static_cast<uint8_t>(zip[at + 28]) | static_cast<uint8_t>(zip[at + 29]) << 8;
      if (zip.compare(at + 46, name_len, "archive/data.pkl") != 0) continue;
      const uint32_t size = 3000000000u;
      for (int i = 0; i < 4; ++i) zip[at + 24 + static_cast<size_t>(i)] = static_cast<char>((size >> (8 * i)) & 0xff);
    }
    return zip;
  };
  const std::string file = write_archive("deflated.bin", three_float_pickle(), {{"0", kThreeFloats}});
  std::ifstream in(file, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::ofstream(path("huge.bin"), std::ios::binary) << claim_3gb(bytes.str());
  const std::string deflated = error_message([&] { read_torch_bin(path("huge.bin")); });
  EXPECT_CONTAINS(deflated, "'archive/data.pkl' declares 3000000000 bytes, more than deflate can expand");

  // torch.save's own layout stores entries uncompressed (the input fuzz_torch_bin found).
  const std::string stored = std::string(REMBERT_SOURCE_DIR) + "/tests/fuzz/regressions/torch_bin/data_pkl_declares_3gb";
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(stored); }), "is stored uncompressed but declares 3000000000 bytes");
}

TEST_F(TorchBinTest, EveryTruncatedPickleIsRefused) {
  const std::string pickle = three_float_pickle();
  for (size_t n = 0; n < pickle.size(); ++n) {
    SCOPED_TRACE(n);
    const std::string file = write_archive("cut.bin", pickle.substr(0, n), {{"0", kThreeFloats}});
    EXPECT_CONTAINS(error_message([&] { read_torch_bin(file); }), file);
  }
}

TEST_F(TorchBinTest, CorruptedPicklesFailCleanly) {
  // Flipping any single byte either still loads or throws Error: never a crash (run under the sanitizers).
  const std::string pickle = three_float_pickle();
  for (size_t i = 0; i < pickle.size(); ++i) {
    for (uint8_t delta : {uint8_t{1}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::string bad = pickle;
      bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ delta);
      const std::string file = write_archive("flip.bin", bad, {{"0", kThreeFloats}});
      try {
        read_torch_bin(file);
      } catch (const Error&) {
      }
    }
  }
}

TEST_F(TorchBinTest, StorageAndLayoutChecks) {
  const std::string pickle = three_float_pickle();
  const std::string short_storage = write_archive("short.bin", pickle, {{"0", kThreeFloats.substr(0, 8)}});
  std::string msg = error_message([&] { read_torch_bin(short_storage); });
  EXPECT_CONTAINS(msg, short_storage);
  EXPECT_CONTAINS(msg, "tensor 'w'");
  EXPECT_CONTAINS(msg, "8 bytes");

  const std::string no_storage = write_archive("nostorage.bin", pickle);
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(no_storage); }), "missing storage entry 'archive/data/0'");

  auto with_tensor = [&](const std::string& name, uint8_t numel, uint8_t offset, const std::vector<uint8_t>& size,
                         const std::vector<uint8_t>& stride) {
    const std::string p = Pickle()
                              .proto()
                              .op('}')
                              .str("w")
                              .tensor("FloatStorage", "0", numel, offset, size, stride)
                              .op('s')
                              .stop()
                              .bytes();
    return write_archive(name, p, {{"0", std::string(numel * 4u, '\0')}});
  };
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(with_tensor("big.bin", 3, 0, {4}, {1})); }), "reaches element 3");
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(with_tensor("off.bin", 3, 2, {2}, {1})); }), "tensor 'w'");
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(with_tensor("stride.bin", 4, 0, {2, 2}, {3, 1})); }),
                  "reaches element 4");
  // Zero-element tensors touch nothing.
  EXPECT_EQ(read_torch_bin(with_tensor("empty.bin", 0, 0, {0, 3}, {3, 1})).at("w").numel(), 0);
}

TEST_F(TorchBinTest, MalformedPickles) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Pickle().proto().binget(7).stop().bytes(), "memo index 7"},
      {Pickle().proto().op('R').stop().bytes(), "stack underflow"},
      {Pickle().proto().op('t').stop().bytes(), "MARK missing"},
      {Pickle().proto().op('(').op('.').bytes(), "stack underflow"},
      {Pickle().proto().int1(1).stop().bytes(), "expected a state_dict"},
      {Pickle().proto().op('}').str("x").int1(1).op('s').stop().bytes(), "entry 'x' is a int"},
      {Pickle().proto().op('}').int1(1).int1(1).op('s').stop().bytes(), "key is a int"},
      {Pickle().proto().int1(0).int1(1).int1(2).op('s').stop().bytes(), "SETITEM on a int"},
      {Pickle().proto().op(']').op('(').int1(1).op('d').op('a').stop().bytes(), "odd number"},
      {Pickle().raw("\x80\x09").bytes(), "protocol 9"},
      {Pickle().proto().raw("\x8a\x09").bytes(), "too large"},
      {Pickle().proto().raw("X\xff\xff\xff\x7f").bytes(), "truncated"},
      {Pickle().proto().raw("cos\nsys").bytes(), "truncated"},
      {Pickle().proto().str("storage").op('Q').stop().bytes(), "persistent id"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].second);
    const std::string file = write_archive("bad" + std::to_string(i) + ".bin", cases[i].first);
    const std::string msg = error_message([&] { read_torch_bin(file); });
    EXPECT_CONTAINS(msg, cases[i].second);
    EXPECT_CONTAINS(msg, file);
  }
}

TEST_F(TorchBinTest, TopFolderNameVaries) {
  write_zip(path("renamed.bin"), {{"my_model/data.pkl", three_float_pickle()}, {"my_model/data/0", kThreeFloats}});
  EXPECT_EQ(read_torch_bin(path("renamed.bin")).at("w").to_f32_vector(), (std::vector<float>{1.0f, -2.5f, 0.15625f}));

  write_zip(path("big_endian.bin"), {{"a/data.pkl", three_float_pickle()}, {"a/data/0", kThreeFloats},
                                     {"a/byteorder", "big"}});
  EXPECT_CONTAINS(error_message([&] { read_torch_bin(path("big_endian.bin")); }), "byte order");
}

}  // namespace
}  // namespace rembert
