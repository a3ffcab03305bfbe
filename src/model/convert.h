// The record `rembert convert` writes into config.json, and how the loader reads it back.
#pragma once

#include <optional>
#include <string>

#include "rembert/config.h"
#include "rembert/model.h"

namespace rembert::model {

// config.json key of the record (an object; see README, "rembert convert").
inline constexpr const char* kConvertRecordKey = "rembert_cpp_quantization";
// An I8 weight "<linear>.weight" has its per-output-channel scales in "<linear>.weight" + kScaleSuffix.
inline constexpr const char* kScaleSuffix = "_scale";

// The compute type (Int8 or BFloat16) that the checkpoint of `config` was converted to, or nullopt for an ordinary
// checkpoint. Throws Error naming `source`'s config.json field for a malformed record, unknown values, or a
// transformers quantization_config that is not ours.
std::optional<WeightDType> converted_dtype(const RemBertConfig& config, const std::string& source);

}  // namespace rembert::model
