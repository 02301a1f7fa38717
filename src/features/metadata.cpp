#include "util/json.h"  // first: configures RapidJSON
#include "features/metadata.h"

#include "features/feature.h"

#include <rapidjson/document.h>

#include "util/error.h"
#include "util/json.h"
#include "util/strings.h"

namespace kiln {

MetadataMap metadata_from_json_unchecked(const std::string& text, const std::string& source);

void FeatureMetadata::index() {
  str2idx.clear();
  for (size_t i = 0; i < idx2str.size(); ++i) str2idx.emplace(idx2str[i], static_cast<int64_t>(i));
}

std::string metadata_to_json(const MetadataMap& m) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  for (const auto& [name, f] : m) {
    json_key(w, name);
    w.StartObject();
    json_key(w, "type");
    json_string(w, f.type);
    json_key(w, "training_rows");
    w.Int64(f.training_rows);
    json_key(w, "training_missing");
    w.Int64(f.training_missing);
    const unsigned fields = feature_kind(f.type).metadata_fields();
    namespace mf = metadata_fields;
    if (fields & mf::image) {
      for (auto [k, v] : {std::pair<const char*, int64_t>{"height", f.height}, {"width", f.width},
                          {"num_channels", f.channels}}) {
        w.Key(k);
        w.Int64(v);
      }
      for (auto [k, vec] : {std::pair<const char*, const std::vector<double>*>{"channel_mean", &f.channel_mean},
                            {"channel_std", &f.channel_std}}) {
        w.Key(k);
        w.StartArray();
        for (double v : *vec) json_double(w, v);
        w.EndArray();
      }
    }
    if (fields & mf::statistics) {
      for (auto [k, v] : {std::pair<const char*, double>{"mean", f.mean}, {"std", f.std},
                          {"min", f.min}, {"max", f.max}, {"q1", f.q1}, {"q2", f.q2},
                          {"q3", f.q3}, {"fill_value", f.fill_value}}) {
        w.Key(k);
        json_double(w, v);
      }
    }
    if (fields & mf::vocabulary) {
      json_key(w, "idx2str");
      w.StartArray();
      for (const auto& s : f.idx2str) json_string(w, s);
      w.EndArray();
      json_key(w, "str2freq");
      w.StartArray();
      for (auto c : f.str2freq) w.Int64(c);
      w.EndArray();
    }
    if (fields & mf::sequence) {
      if (f.sequence_length > 0) {
        json_key(w, "sequence_length");
        w.Int64(f.sequence_length);
      }
      if (!f.tokenizer_model.empty()) {
        json_key(w, "tokenizer_model");
        json_string(w, base64_encode(f.tokenizer_model));
      }
      if (!f.pretrained_config.empty()) {
        json_key(w, "pretrained_config");
        json_string(w, f.pretrained_config);
      }
      if (!f.idf.empty()) {
        json_key(w, "str2idf");
        w.StartArray();
        for (double v : f.idf) json_double(w, v);
        w.EndArray();
      }
    }
    if (fields & mf::score_threshold) {
      json_key(w, "threshold");
      json_double(w, f.score_threshold);
    }
    if (fields & mf::labels) {
      json_key(w, "true_label");
      json_string(w, f.true_label);
      json_key(w, "false_label");
      json_string(w, f.false_label);
    }
    w.EndObject();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

MetadataMap metadata_from_json(const std::string& text, const std::string& source) {
  try {
    return metadata_from_json_unchecked(text, source);
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const ModelError*>(&e)) throw;
    throw ModelError(source + ": corrupt feature metadata (" + e.what() + ")");
  }
}

MetadataMap metadata_from_json_unchecked(const std::string& text, const std::string& source) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  if (d.HasParseError() || !d.IsObject())
    throw ModelError(source + ": corrupt feature metadata (not a JSON object)");
  MetadataMap out;
  auto bad = [&](const std::string& name, const char* what) {
    return ModelError(source + ": corrupt feature metadata for '" + name + "': " + what);
  };
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    FeatureMetadata f;
    f.name = it->name.GetString();
    const auto& o = it->value;
    if (!o.IsObject() || !o.HasMember("type") || !o["type"].IsString())
      throw bad(f.name, "missing 'type'");
    f.type = o["type"].GetString();
    if (o.HasMember("training_rows") && o["training_rows"].IsInt64())
      f.training_rows = o["training_rows"].GetInt64();
    if (o.HasMember("training_missing") && o["training_missing"].IsInt64())
      f.training_missing = o["training_missing"].GetInt64();
    const FeatureKind* kind = nullptr;
    if (const auto* k = feature_kinds().find(f.type)) kind = k->get();
    if (!kind) throw bad(f.name, ("unknown feature type '" + f.type + "'").c_str());
    const unsigned fields = kind->metadata_fields();
    namespace mf = metadata_fields;
    if (fields & mf::image) {
      auto dim = [&](const char* k, int64_t& v) {
        if (!o.HasMember(k) || !o[k].IsInt64() || o[k].GetInt64() < 1) throw bad(f.name, "missing image size");
        v = o[k].GetInt64();
      };
      dim("height", f.height), dim("width", f.width), dim("num_channels", f.channels);
      for (auto [k, vec] : {std::pair<const char*, std::vector<double>*>{"channel_mean", &f.channel_mean},
                            {"channel_std", &f.channel_std}})
        if (o.HasMember(k) && o[k].IsArray())
          for (const auto& v : o[k].GetArray()) vec->push_back(v.IsNumber() ? v.GetDouble() : 0.0);
    }
    if (fields & mf::statistics) {
      auto num = [&](const char* k, double& v) {
        if (!o.HasMember(k)) throw bad(f.name, "missing statistics");
        v = o[k].IsNumber() ? o[k].GetDouble() : std::nan("");
      };
      num("mean", f.mean), num("std", f.std), num("min", f.min), num("max", f.max);
      num("q1", f.q1), num("q2", f.q2), num("q3", f.q3), num("fill_value", f.fill_value);
    }
    if (fields & mf::vocabulary) {
      if (!o.HasMember("idx2str") || !o["idx2str"].IsArray()) throw bad(f.name, "missing idx2str");
      for (const auto& s : o["idx2str"].GetArray()) {
        if (!s.IsString()) throw bad(f.name, "idx2str holds a non-string");
        f.idx2str.emplace_back(s.GetString(), s.GetStringLength());
      }
      if (o.HasMember("str2freq") && o["str2freq"].IsArray())
        for (const auto& c : o["str2freq"].GetArray()) f.str2freq.push_back(c.IsInt64() ? c.GetInt64() : 0);
      f.index();
    }
    if (fields & mf::sequence) {
      if (o.HasMember("sequence_length") && o["sequence_length"].IsInt64())
        f.sequence_length = o["sequence_length"].GetInt64();
      if (o.HasMember("tokenizer_model")) {
        if (!o["tokenizer_model"].IsString() ||
            !base64_decode(o["tokenizer_model"].GetString(), f.tokenizer_model))
          throw bad(f.name, "tokenizer_model is not base64");
      }
      if (o.HasMember("pretrained_config")) {
        if (!o["pretrained_config"].IsString()) throw bad(f.name, "pretrained_config is not a string");
        f.pretrained_config.assign(o["pretrained_config"].GetString(), o["pretrained_config"].GetStringLength());
      }
      if (o.HasMember("str2idf") && o["str2idf"].IsArray())
        for (const auto& v : o["str2idf"].GetArray()) f.idf.push_back(v.IsNumber() ? v.GetDouble() : 0.0);
    }
    if (fields & mf::score_threshold)
      f.score_threshold = o.HasMember("threshold") && o["threshold"].IsNumber() ? o["threshold"].GetDouble() : std::nan("");
    if (fields & mf::labels) {
      if (o.HasMember("true_label") && o["true_label"].IsString())
        f.true_label = o["true_label"].GetString();
      if (o.HasMember("false_label") && o["false_label"].IsString())
        f.false_label = o["false_label"].GetString();
    }
    out.emplace(f.name, std::move(f));
  }
  return out;
}

}  // namespace kiln
