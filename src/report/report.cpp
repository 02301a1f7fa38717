#include "util/json.h"  // first: configures RapidJSON
#include "report/report.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "monitor/monitor_store.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strings.h"

namespace kiln {
namespace {

rapidjson::Document load_json(const std::string& path, bool required) {
  rapidjson::Document d;
  if (!file_exists(path)) {
    if (required) throw ModelError(path + ": not found (run kiln train or experiment first)");
    d.SetObject();
    return d;
  }
  std::string text = read_file(path);
  d.Parse(text.c_str(), text.size());
  if (d.HasParseError() || !d.IsObject()) throw ModelError(path + ": corrupt JSON file");
  return d;
}

std::string num(const rapidjson::Value& v) {
  if (!v.IsNumber()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v.GetDouble());
  return buf;
}

}  // namespace

std::string render_report(const std::string& dir, const std::string& format) {
  auto desc = load_json(path_join(dir, "description.json"), true);
  auto train = load_json(path_join(dir, "training_statistics.json"), true);
  auto test = load_json(path_join(dir, "test_statistics.json"), false);
  if (format == "json") {
    rapidjson::Document out(rapidjson::kObjectType);
    auto& a = out.GetAllocator();
    out.AddMember("description", rapidjson::Value(desc, a), a);
    out.AddMember("training_statistics", rapidjson::Value(train, a), a);
    out.AddMember("test_statistics", rapidjson::Value(test, a), a);
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.SetIndent(' ', 1);
    w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
    out.Accept(w);
    return std::string(sb.GetString(), sb.GetSize()) + "\n";
  }
  if (format == "html") return render_html_report(dir);
  if (format != "text")
    throw UsageError("--format: unknown format '" + format + "'; expected text, json or html");
  std::ostringstream ss;
  auto str = [&](const char* k) {
    return desc.HasMember(k) && desc[k].IsString() ? std::string(desc[k].GetString()) : "-";
  };
  ss << "Kiln report: " << dir << "\n\n";
  ss << "dataset      " << str("dataset") << " (checksum " << str("dataset_checksum") << ")\n";
  if (desc.HasMember("split_rows")) {
    const auto& s = desc["split_rows"];
    ss << "rows         " << s["training"].GetInt64() << " training, "
       << s["validation"].GetInt64() << " validation, " << s["test"].GetInt64() << " test";
    if (desc.HasMember("dropped_rows")) ss << " (" << desc["dropped_rows"].GetInt64() << " dropped)";
    ss << "\n";
  }
  if (desc.HasMember("num_parameters"))
  {
    ss << "parameters   " << desc["num_parameters"].GetInt64();
    if (desc.HasMember("num_trainable_parameters") &&
        desc["num_trainable_parameters"].GetInt64() != desc["num_parameters"].GetInt64())
      ss << " (" << desc["num_trainable_parameters"].GetInt64() << " trainable)";
    ss << "\n";
  }
  if (desc.HasMember("epochs"))
    ss << "epochs       " << desc["epochs"].GetInt() << " (best " << desc["best_epoch"].GetInt()
       << " by validation " << str("validation_field") << " " << str("validation_metric")
       << ")\n";
  if (desc.HasMember("timings")) {
    const auto& t = desc["timings"];
    ss << "time         preprocessing " << num(t["preprocess_s"]) << "s, training "
       << num(t["train_s"]) << "s, total " << num(t["total_s"]) << "s\n";
  }

  // Learning curves: one row per epoch, the watched metric on each split.
  std::string field = str("validation_field"), metric = str("validation_metric");
  auto series = [&](const char* split, const std::string& f, const std::string& m)
      -> const rapidjson::Value* {
    if (!train.HasMember(split)) return nullptr;
    const auto& s = train[split];
    if (!s.HasMember(f.c_str()) || !s[f.c_str()].HasMember(m.c_str())) return nullptr;
    return &s[f.c_str()][m.c_str()];
  };
  const auto* tl = series("training", "combined", "loss");
  const auto* vm = series("validation", field, metric);
  const auto* tm = series("test", field, metric);
  if (tl) {
    ss << "\nlearning curve (" << field << " " << metric << ")\n";
    ss << "  epoch  train loss  validation        test\n";
    for (rapidjson::SizeType i = 0; i < tl->Size(); ++i) {
      char line[128];
      std::snprintf(line, sizeof line, "  %5u  %10s  %10s  %10s\n", i + 1, num((*tl)[i]).c_str(),
                    vm && i < vm->Size() ? num((*vm)[i]).c_str() : "-",
                    tm && i < tm->Size() ? num((*tm)[i]).c_str() : "-");
      ss << line;
    }
  }
  if (test.MemberCount() > 0) {
    ss << "\ntest metrics\n";
    for (auto& out : test.GetObject()) {
      const std::string name = out.name.GetString();
      if (!out.value.IsObject() || name == "slices" || name == "gates") continue;
      ss << "  " << out.name.GetString() << ":";
      for (auto& m : out.value.GetObject())
        if (m.value.IsNumber()) ss << "  " << m.name.GetString() << " " << num(m.value);
      ss << "\n";
      if (out.value.HasMember("confusion_matrix") && out.value.HasMember("labels")) {
        const auto& labels = out.value["labels"];
        const auto& cm = out.value["confusion_matrix"];
        ss << "    confusion matrix (rows: true, columns: predicted)\n    ";
        char cell[64];
        std::snprintf(cell, sizeof cell, "%14s", "");
        ss << cell;
        for (auto& l : labels.GetArray()) {
          std::snprintf(cell, sizeof cell, " %12.12s", l.GetString());
          ss << cell;
        }
        ss << "\n";
        for (rapidjson::SizeType i = 0; i < cm.Size(); ++i) {
          std::snprintf(cell, sizeof cell, "    %14.14s", labels[i].GetString());
          ss << cell;
          for (auto& v : cm[i].GetArray()) {
            std::snprintf(cell, sizeof cell, " %12lld", static_cast<long long>(v.GetInt64()));
            ss << cell;
          }
          ss << "\n";
        }
      }
    }
  }
  if (test.HasMember("slices") && test["slices"].IsObject()) {
    ss << "\nslices (test split)\n";
    for (auto& sl : test["slices"].GetObject()) {
      ss << "  " << sl.name.GetString() << " (" << sl.value["size"].GetInt64() << " rows):";
      for (auto& out : sl.value.GetObject())
        if (out.value.IsObject())
          for (auto& m : out.value.GetObject())
            if (m.value.IsNumber() && std::string(m.name.GetString()) != "loss")
              ss << "  " << m.name.GetString() << " " << num(m.value);
      ss << "\n";
    }
  }
  if (test.HasMember("gates") && test["gates"].IsArray()) {
    ss << "\ngates\n";
    for (auto& g : test["gates"].GetArray())
      ss << "  " << (g["skipped"].GetBool() ? "SKIP" : g["passed"].GetBool() ? "PASS" : "FAIL") << "  "
         << g["gate"].GetString() << "\n";
  }
  auto drift = load_json(path_join(dir, "drift.json"), false);
  if (drift.HasMember("features") && drift["features"].IsArray()) {
    ss << "\ndrift (last predict, " << drift["rows"].GetInt64() << " rows; drift share "
       << num(drift["drift_share"]) << ")\n";
    for (auto& f : drift["features"].GetArray()) {
      char line[160];
      std::snprintf(line, sizeof line, "  %-28.28s %-8s psi %8s  %s\n", f["name"].GetString(),
                    f["status"].GetString(), num(f["psi"]).c_str(),
                    f.HasMember("ks") ? ("ks " + num(f["ks"])).c_str()
                    : f.HasMember("unseen_rate") ? ("unseen " + num(f["unseen_rate"])).c_str() : "");
      ss << line;
    }
  }
  auto found = load_json(path_join(path_join(dir, "reports"), "slices.json"), false);
  if (found.HasMember("slices") && found["slices"].IsArray()) {
    ss << "\ndiscovered slices (SliceLine on " << found["output_feature"].GetString() << ")\n";
    for (auto& sl : found["slices"].GetArray())
      ss << "  score " << num(sl["score"]) << "  rows " << sl["size"].GetInt64() << "  error "
         << num(sl["error"]) << "  " << sl["where"].GetString() << "\n";
  }
  const std::string store = path_join(path_join(dir, "model"), "monitor.sqlite");
  if (file_exists(store)) ss << "\nmonitor trends\n" << MonitorStore(store).trend(10);
  return ss.str();
}

}  // namespace kiln
