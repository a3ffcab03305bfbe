// tf_model.h5 (TensorFlow checkpoints): the Keras-to-PyTorch weight names, the fixtures of
// scripts/make_tf_h5_fixture.py against the safetensors they were made from, the loading order, and malformed files
// (made here from a fixture copy with libhdf5) as errors naming the file and the weight. The forwards through the
// TF fixtures are compared with transformers' outputs in conformance_test.cc (TfCheckpointCase).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/tf_h5.h"
#include "rembert/model.h"
#include "rembert/safetensors.h"
#include "test_util.h"

namespace rembert {
namespace {

namespace fs = std::filesystem;
using testing::fixture_path;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TfWeightNames, MapKerasNamesAsTransformersDoes) {
  struct Case {
    const char* tf;
    const char* pt;
    bool transpose;
  };
  const Case cases[] = {
      {"tf_rem_bert_for_masked_lm/rembert/encoder/layer_._0/attention/self/query/kernel:0",
       "rembert.encoder.layer.0.attention.self.query.weight", true},
      {"tf_rem_bert_for_masked_lm/rembert/encoder/layer_._11/output/dense/bias:0",
       "rembert.encoder.layer.11.output.dense.bias", false},
      {"tf_rem_bert_model/rembert/embeddings/position_embeddings/embeddings:0",
       "rembert.embeddings.position_embeddings.weight", false},
      {"tf_rem_bert_model/rembert/embeddings/word_embeddings/weight:0", "rembert.embeddings.word_embeddings.weight",
       false},
      {"tf_rem_bert_model/rembert/embeddings/LayerNorm/gamma:0", "rembert.embeddings.LayerNorm.weight", false},
      {"tf_rem_bert_model/rembert/embeddings/LayerNorm/beta:0", "rembert.embeddings.LayerNorm.bias", false},
      {"tf_rem_bert_for_masked_lm/mlm___cls/predictions/decoder/weight:0", "cls.predictions.decoder.weight", false},
      {"tf_rem_bert_for_masked_lm/mlm___cls/predictions/dense/kernel:0", "cls.predictions.dense.weight", true},
      {"tf_rem_bert_for_question_answering/qa_outputs/kernel:0", "qa_outputs.weight", true},
      // A name of one level keeps it (BART's final_logits_bias); "x___y" levels do not overlap (re.sub).
      {"final_logits_bias:0", "final_logits_bias", false},
      {"model/a___b/c___d/e:0", "b.c___d.e", false},
  };
  for (const Case& c : cases) {
    const tf::PtName got = tf::pt_weight_name(c.tf);
    EXPECT_EQ(got.name, c.pt) << c.tf;
    EXPECT_EQ(got.transpose, c.transpose) << c.tf;
  }
}

// Every tensor of the source model.safetensors, bit for bit, under its name (a bare RemBertModel's TF names carry
// "rembert.", which the model loader accepts either way).
TEST(TfCheckpoint, HoldsTheSafetensorsWeightsUnderTheirPyTorchNames) {
  for (const char* name : {"base", "mlm", "seqcls", "seqcls_fp16", "base_bf16"}) {
    SCOPED_TRACE(name);
    const TensorMap tf = read_tf_h5(fixture_path(std::string("tf/") + name + "/tf_model.h5"));
    const TensorMap st = read_safetensors(fixture_path(std::string("models/") + name + "/model.safetensors")).tensors;
    ASSERT_EQ(tf.size(), st.size());
    for (const auto& [pt_name, expected] : st) {
      auto it = tf.find(pt_name);
      if (it == tf.end()) it = tf.find("rembert." + pt_name);
      ASSERT_NE(it, tf.end()) << pt_name;
      EXPECT_EQ(it->second.dtype(), expected.dtype()) << pt_name;
      ASSERT_EQ(it->second.shape(), expected.shape()) << pt_name;
      EXPECT_EQ(std::string(static_cast<const char*>(it->second.raw_data()), it->second.nbytes()),
                std::string(static_cast<const char*>(expected.raw_data()), expected.nbytes()))
          << pt_name << ": bytes differ";
    }
  }
}

// A scratch model folder with a fixture's config and the given files copied in.
class TfFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::scratch_dir() + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    copy("tf/mlm/config.json");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void copy(const std::string& fixture, const std::string& as = "") {
    const fs::path from = fixture_path(fixture);
    fs::copy_file(from, fs::path(dir_) / (as.empty() ? from.filename().string() : as),
                  fs::copy_options::overwrite_existing);
  }
  std::string h5() const { return dir_ + "/tf_model.h5"; }
  std::string load_error() const { return error_of([&] { Model::load(dir_); }); }

  // Opens the copy read-write and runs `edit` on it.
  void edit(const std::function<void(hid_t file)>& change) const {
    const hid_t file = H5Fopen(h5().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    change(file);
    ASSERT_GE(H5Fclose(file), 0);
  }
  static void write_strings(hid_t obj, const std::string& name, const std::vector<std::string>& values,
                            bool variable = false) {
    if (H5Aexists(obj, name.c_str()) > 0) ASSERT_GE(H5Adelete(obj, name.c_str()), 0);
    const hsize_t n = values.size();
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t type = H5Tcopy(H5T_C_S1);
    std::vector<const char*> pointers;
    std::string fixed;
    size_t width = 1;
    for (const auto& v : values) width = std::max(width, v.size());
    if (variable) {
      H5Tset_size(type, H5T_VARIABLE);
      for (const auto& v : values) pointers.push_back(v.c_str());
    } else {
      H5Tset_size(type, width);
      H5Tset_strpad(type, H5T_STR_NULLPAD);
      for (const auto& v : values) fixed += v + std::string(width - v.size(), '\0');
    }
    const hid_t attr = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(attr, 0);
    ASSERT_GE(H5Awrite(attr, type, variable ? static_cast<const void*>(pointers.data()) : fixed.data()), 0);
    H5Aclose(attr);
    H5Tclose(type);
    H5Sclose(space);
  }
  static std::vector<std::string> weight_names(hid_t group) {
    // The fixture writes fixed-length names, as Keras does.
    const hid_t attr = H5Aopen(group, "weight_names", H5P_DEFAULT);
    const hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    const size_t width = H5Tget_size(type);
    const auto n = static_cast<size_t>(H5Sget_simple_extent_npoints(space));
    std::vector<char> buffer(n * width);
    H5Aread(attr, type, buffer.data());
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) {
      const char* name = buffer.data() + i * width;
      out.emplace_back(name, strnlen(name, width));
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(attr);
    return out;
  }
  // Replaces a dataset by one of another type and shape (zeros).
  static void replace_dataset(hid_t file, const std::string& path, hid_t type, std::vector<hsize_t> dims) {
    ASSERT_GE(H5Ldelete(file, path.c_str(), H5P_DEFAULT), 0);
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t dset = H5Dcreate2(file, path.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(dset, 0);
    H5Dclose(dset);
    H5Sclose(space);
  }

  static constexpr const char* kQuery =
      "tf_rem_bert_for_masked_lm/rembert/encoder/layer_._0/attention/self/query/kernel:0";
  std::string dir_;
};

TEST_F(TfFolder, PyTorchWeightsWinAndTfModelH5IsUsedWhenAlone) {
  copy("tf/mlm/tf_model.h5");
  Checkpoint c = load_checkpoint(dir_);
  EXPECT_EQ(c.files, std::vector<std::string>{h5()});
  copy("models/mlm/pytorch_model.bin");
  c = load_checkpoint(dir_);
  EXPECT_EQ(c.files, std::vector<std::string>{dir_ + "/pytorch_model.bin"});
  copy("models/mlm/model.safetensors");
  c = load_checkpoint(dir_);
  EXPECT_EQ(c.files, std::vector<std::string>{dir_ + "/model.safetensors"});
}

TEST_F(TfFolder, ShardedTfCheckpointIsAClearError) {
  testing::write_file(dir_ + "/tf_model.h5.index.json",
                      R"({"weight_map": {"rembert/embeddings/LayerNorm/beta:0": "tf_model-00001-of-00002.h5"}})");
  const std::string msg = load_error();
  EXPECT_CONTAINS(msg, dir_ + "/tf_model.h5.index.json");
  EXPECT_CONTAINS(msg, "sharded TensorFlow checkpoints (tf_model-0000x-of-0000y.h5) are not supported");
}

TEST_F(TfFolder, NotHdf5IsAnErrorNamingTheFile) {
  testing::write_file(h5(), "PK\x03\x04 this is a zip, not HDF5");
  const std::string msg = load_error();
  EXPECT_CONTAINS(msg, "'" + h5() + "': is not an HDF5 file");
  testing::write_file(h5(), "");
  EXPECT_CONTAINS(load_error(), "'" + h5() + "': is not an HDF5 file");
}

TEST_F(TfFolder, TruncatedFileIsAnErrorNamingTheFile) {
  const std::string bytes = testing::read_file(fixture_path("tf/mlm/tf_model.h5"));
  for (size_t keep : {size_t{16}, size_t{600}, bytes.size() / 2, bytes.size() - 1}) {
    SCOPED_TRACE(keep);
    testing::write_file(h5(), bytes.substr(0, keep));
    const std::string msg = load_error();
    EXPECT_CONTAINS(msg, "'" + h5() + "'");
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("not an HDF5 file") != std::string::npos ||
                msg.find("cannot be opened") != std::string::npos)
        << msg;
  }
}

TEST_F(TfFolder, WeightListedButAbsentIsAnErrorNamingIt) {
  copy("tf/mlm/tf_model.h5");
  edit([](hid_t file) { ASSERT_GE(H5Ldelete(file, (std::string("rembert/") + kQuery).c_str(), H5P_DEFAULT), 0); });
  const std::string msg = load_error();
  EXPECT_CONTAINS(msg, "'" + h5() + "': weight '" + kQuery + "'");
  EXPECT_CONTAINS(msg, "PyTorch name 'rembert.encoder.layer.0.attention.self.query.weight'");
  EXPECT_CONTAINS(msg, "is listed in weight_names but cannot be opened");
}

TEST_F(TfFolder, MissingWeightIsTheModelsErrorNamingIt) {
  copy("tf/mlm/tf_model.h5");
  edit([](hid_t file) {
    const hid_t group = H5Gopen2(file, "rembert", H5P_DEFAULT);
    std::vector<std::string> names = weight_names(group);
    names.erase(std::find(names.begin(), names.end(), kQuery));
    write_strings(group, "weight_names", names);
    H5Gclose(group);
  });
  const std::string msg = load_error();
  EXPECT_CONTAINS(msg, dir_);
  EXPECT_CONTAINS(msg, "'rembert.encoder.layer.0.attention.self.query.weight'");
}

TEST_F(TfFolder, WrongShapeIsAnErrorNamingTheTensor) {
  copy("tf/mlm/tf_model.h5");
  // The kernel [in, out] = [64, 64] stored as [64, 32]: transposed to [32, 64].
  edit([](hid_t file) { replace_dataset(file, std::string("rembert/") + kQuery, H5T_IEEE_F32LE, {64, 32}); });
  EXPECT_CONTAINS(load_error(), "'rembert.encoder.layer.0.attention.self.query.weight' has shape [32, 64] but the "
                                "config needs [64, 64]");
  edit([](hid_t file) { replace_dataset(file, std::string("rembert/") + kQuery, H5T_IEEE_F32LE, {4, 64, 16}); });
  EXPECT_CONTAINS(load_error(), std::string("weight '") + kQuery + "' (layer 'rembert', PyTorch name " +
                                    "'rembert.encoder.layer.0.attention.self.query.weight') is a kernel of shape " +
                                    "[4, 64, 16]: only the 2-D kernels of Dense layers are supported");
}

TEST_F(TfFolder, WrongDtypeIsAnErrorNamingTheWeight) {
  copy("tf/mlm/tf_model.h5");
  edit([](hid_t file) { replace_dataset(file, std::string("rembert/") + kQuery, H5T_STD_I32LE, {64, 64}); });
  std::string msg = load_error();
  EXPECT_CONTAINS(msg, "'" + h5() + "': weight '" + kQuery + "'");
  EXPECT_CONTAINS(msg, "has dtype int32, expected float32, float16 or bfloat16");
  edit([](hid_t file) { replace_dataset(file, std::string("rembert/") + kQuery, H5T_C_S1, {64, 64}); });
  EXPECT_CONTAINS(load_error(), "has a string type, expected float32");
}

TEST_F(TfFolder, FileWithoutKerasAttributesIsAnError) {
  copy("tf/mlm/tf_model.h5");
  edit([](hid_t file) { ASSERT_GE(H5Adelete(file, "layer_names"), 0); });
  EXPECT_CONTAINS(load_error(), "'" + h5() + "': the file's root has no attribute 'layer_names': not a weights "
                                "file written by Keras' save_weights");
}

// Keras splits an attribute over HDF5's 64 KiB header limit into name0, name1, ...; Python strings may be stored
// variable-length.
TEST_F(TfFolder, ChunkedAndVariableLengthNameListsAreRead) {
  copy("tf/mlm/tf_model.h5");
  edit([](hid_t file) {
    const hid_t group = H5Gopen2(file, "rembert", H5P_DEFAULT);
    const std::vector<std::string> names = weight_names(group);
    ASSERT_GE(H5Adelete(group, "weight_names"), 0);
    const auto half = static_cast<std::ptrdiff_t>(names.size() / 2);
    write_strings(group, "weight_names0", {names.begin(), names.begin() + half});
    write_strings(group, "weight_names1", {names.begin() + half, names.end()});
    H5Gclose(group);
    write_strings(file, "layer_names", {"rembert", "mlm___cls"}, /*variable=*/true);
  });
  const TensorMap read = read_tf_h5(h5());
  const TensorMap expected = read_tf_h5(fixture_path("tf/mlm/tf_model.h5"));
  ASSERT_EQ(read.size(), expected.size());
  testing::expect_same_tensors(read, expected);
}

TEST(TfCli, InfoAndConvertWorkOnATfFolder) {
  const std::string tf_dir = fixture_path("tf/mlm");
  const testing::RunResult info = testing::run_cli("info --model " + tf_dir + " --threads 1");
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_CONTAINS(info.out, "model: " + tf_dir + " (RemBertForMaskedLM)");
  EXPECT_CONTAINS(info.out, "weights held as: F32");

  // Converting the TF checkpoint writes the very bytes converting the safetensors one writes.
  const std::string from_tf = testing::scratch_dir() + "convert_from_tf";
  const std::string from_st = testing::scratch_dir() + "convert_from_st";
  for (const auto& [source, out] :
       {std::make_pair(tf_dir, from_tf), std::make_pair(fixture_path("models/mlm"), from_st)}) {
    const testing::RunResult r =
        testing::run_cli("convert --model " + source + " --dtype int8 --out " + out + " --force --threads 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  EXPECT_EQ(testing::read_file(from_tf + "/model.safetensors"), testing::read_file(from_st + "/model.safetensors"));
  EXPECT_EQ(testing::read_file(from_tf + "/config.json"), testing::read_file(from_st + "/config.json"));
  fs::remove_all(from_tf);
  fs::remove_all(from_st);
}

}  // namespace
}  // namespace rembert
