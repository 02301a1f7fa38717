// One function per subcommand: flags (Ludwig's names) → a pipeline call.
#include "cli/commands.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "automl/automl.h"
#include "automl/hyperopt.h"
#include "automl/type_inference.h"
#include "config/config.h"
#include "config/schema.h"
#include "data/synthesize.h"
#include "monitor/monitor_store.h"
#include "pipelines/pipelines.h"
#include "report/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace po = boost::program_options;

namespace kiln {
namespace {

// Parses args; returns false (after printing help) when --help was given.
bool parse(const std::string& name, const std::string& usage, po::options_description& desc,
           const std::vector<std::string>& args, po::variables_map& vm,
           const std::vector<std::string>& required) {
  desc.add_options()("help,h", "show this help");
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: kiln " << name << " " << usage << "\n\n" << desc << "\n";
    return false;
  }
  po::notify(vm);
  for (const auto& r : required)
    if (!vm.count(r)) throw UsageError("missing --" + r + " (usage: kiln " + name + " " + usage + ")");
  return true;
}

int train_like(const std::vector<std::string>& args, const std::string& line, bool experiment) {
  const std::string name = experiment ? "experiment" : "train";
  TrainOptions o;
  o.command_line = line;
  po::options_description d("options");
  int seed = -1, epochs = 0;
  d.add_options()("config,c", po::value(&o.config_path), "model config (YAML)")(
      "dataset", po::value(&o.dataset), "data: CSV, TSV or JSON Lines")(
      "output_directory", po::value(&o.output_directory)->default_value("results"),
      "where the model directory and statistics go")(
      "resume", po::bool_switch(&o.resume), "continue from the last checkpoint in output_directory")(
      "overwrite", po::bool_switch(&o.overwrite),
      "replace the model (and its run's statistics) that output_directory already holds")(
      "random_seed", po::value(&seed), "seed (overrides the config's; default 42)")(
      "epochs", po::value(&epochs), "epochs to train (overrides the config's trainer.epochs and train_steps)")(
      "threads", po::value(&o.threads)->default_value(0), "CPU threads (0: config, else all cores)")(
      "skip_cache", "do not read or write the preprocessing cache")(
      "quiet,q", po::bool_switch(&o.quiet), "no progress output");
  po::variables_map vm;
  if (!parse(name, "--config model.yaml --dataset data.csv [options]", d, args, vm,
             {"config", "dataset"}))
    return 0;
  if (seed >= 0) o.random_seed = seed;
  if (vm.count("epochs")) {
    if (epochs < 1) throw UsageError("--epochs: expected at least 1, got " + std::to_string(epochs));
    o.epochs = epochs;
  }
  if (vm.count("skip_cache")) o.use_cache = false;
  return run_train(o, experiment);
}

bool score_flags(const std::string& name, const std::vector<std::string>& args, ScoreOptions& o,
                 bool with_split) {
  po::options_description d("options");
  d.add_options()("model_path,m", po::value(&o.model_path), "model directory (results/model)")(
      "dataset", po::value(&o.dataset), "data: CSV, TSV or JSON Lines")(
      "output_directory", po::value(&o.output_directory),
      "where outputs go (default: the model directory's parent)")(
      "threads", po::value(&o.threads)->default_value(0), "CPU threads (0: all cores)")(
      "batch_size,bs", po::value(&o.batch_size)->default_value(0), "rows per forward pass")(
      "quiet,q", po::bool_switch(&o.quiet), "less output");
  if (with_split)
    d.add_options()("split", po::value(&o.split)->default_value("full"),
                    "full | training | validation | test")(
        "fail_on_gate", po::bool_switch(&o.fail_on_gate),
        "exit with status 5 when a quality gate (slices.gates) fails");
  po::variables_map vm;
  return parse(name, "--model_path results/model --dataset data.csv [options]", d, args, vm,
               {"model_path", "dataset"});
}

}  // namespace

int cmd_train(const std::vector<std::string>& a, const std::string& l) {
  return train_like(a, l, false);
}
int cmd_experiment(const std::vector<std::string>& a, const std::string& l) {
  return train_like(a, l, true);
}

int cmd_evaluate(const std::vector<std::string>& args, const std::string&) {
  ScoreOptions o;
  if (!score_flags("evaluate", args, o, true)) return 0;
  return run_evaluate(o);
}

int cmd_predict(const std::vector<std::string>& args, const std::string&) {
  ScoreOptions o;
  if (!score_flags("predict", args, o, false)) return 0;
  return run_predict(o);
}

int cmd_serve(const std::vector<std::string>& args, const std::string&) {
  ServeOptions o;
  po::options_description d("options");
  d.add_options()("model_path,m", po::value(&o.model_path), "model directory (results/model)")(
      "host", po::value(&o.host)->default_value(o.host), "address to listen on")(
      "port", po::value(&o.port)->default_value(o.port), "port (0: any free port, printed on start)")(
      "threads", po::value(&o.threads)->default_value(0), "CPU threads of the forward pass (0: all cores)")(
      "http_threads", po::value(&o.http_threads)->default_value(o.http_threads),
      "connections served at once (each keep-alive connection holds a thread)")(
      "max_batch_size", po::value(&o.max_batch_size)->default_value(o.max_batch_size),
      "rows of concurrent requests run in one forward pass (1: no batching)")(
      "batch_timeout_us", po::value(&o.batch_timeout_us)->default_value(o.batch_timeout_us),
      "microseconds a request waits for others to join its forward pass")(
      "max_body_mb", po::value(&o.max_body_mb)->default_value(o.max_body_mb), "largest request body (413 above)")(
      "max_rows", po::value(&o.max_rows)->default_value(o.max_rows), "most rows in one /batch_predict request")(
      "read_timeout", po::value(&o.read_timeout_s)->default_value(o.read_timeout_s),
      "seconds a client may stay silent mid-request before it is disconnected")(
      "monitor_rows", po::value(&o.monitor_rows)->default_value(o.monitor_rows),
      "served rows per monitor window (written to the model's monitor store)")(
      "monitor_seconds", po::value(&o.monitor_seconds)->default_value(o.monitor_seconds),
      "seconds after its first row a monitor window closes")(
      "log_predictions", po::value(&o.log_predictions),
      "append every row's inputs and predictions to this JSON Lines file")(
      "log_max_mb", po::value(&o.log_max_mb)->default_value(o.log_max_mb),
      "size past which the predictions log is rotated (F.1 ... F.5 kept)");
  po::variables_map vm;
  if (!parse("serve", "--model_path results/model [--host 127.0.0.1] [--port 8000]", d, args, vm, {"model_path"}))
    return 0;
  if (o.port < 0 || o.port > 65535) throw UsageError("--port: expected 0 to 65535, got " + std::to_string(o.port));
  if (o.http_threads < 1) throw UsageError("--http_threads: expected at least 1");
  if (!(o.max_body_mb > 0)) throw UsageError("--max_body_mb: expected a positive number");
  if (o.max_rows < 1) throw UsageError("--max_rows: expected at least 1");
  if (o.max_batch_size < 1) throw UsageError("--max_batch_size: expected at least 1");
  if (o.batch_timeout_us < 0 || o.batch_timeout_us > 10000000)
    throw UsageError("--batch_timeout_us: expected 0 to 10000000 (10 s)");
  if (!(o.read_timeout_s > 0) || o.read_timeout_s > 3600) throw UsageError("--read_timeout: expected more than 0 and at most 3600 seconds");
  if (o.monitor_rows < 1) throw UsageError("--monitor_rows: expected at least 1");
  if (!(o.monitor_seconds > 0)) throw UsageError("--monitor_seconds: expected a positive number");
  if (!(o.log_max_mb > 0)) throw UsageError("--log_max_mb: expected a positive number");
  return run_serve(o);
}

int cmd_config(const std::vector<std::string>& args, const std::string&) {
  std::string path;
  bool validate = false, upgrade = false;
  po::options_description d("options");
  d.add_options()("config,c", po::value(&path), "model config (YAML)")(
      "validate", po::bool_switch(&validate), "only check the config")(
      "upgrade", po::bool_switch(&upgrade),
      "print the config with Ludwig's older syntax rewritten (each rewrite is a warning on stderr)");
  po::variables_map vm;
  if (!parse("config", "--config model.yaml [--validate | --upgrade]", d, args, vm, {"config"})) return 0;
  if (validate && upgrade) throw UsageError("--validate and --upgrade: give one of them");
  if (upgrade) {
    std::string text;
    try {
      text = read_file(path);
    } catch (const DataError& e) {
      throw ConfigError(e.what());
    }
    Config checked = parse_config(text, path);  // prints the rewrites; throws on what stays wrong
    (void)checked;
    YAML::Emitter e;
    e << load_config_yaml(text, path, nullptr);
    std::cout << e.c_str() << "\n";
    return 0;
  }
  Config c = load_config(path);
  if (validate) {
    // The hyperopt block is checked as `kiln hyperopt` would, so a config that passes here does
    // not fail there.
    const bool search = c.hyperopt && !c.hyperopt.IsNull();
    const size_t parameters = search ? check_hyperopt(path) : 0;
    std::cout << path << ": valid (" << c.input_features.size() << " inputs, "
              << c.output_features.size() << " outputs"
              << (search ? ", hyperopt: " + std::to_string(parameters) + " parameters" : std::string()) << ")\n";
  } else
    std::cout << config_to_yaml(c);
  return 0;
}

int cmd_synthesize_dataset(const std::vector<std::string>& args, const std::string&) {
  std::string path;
  SynthesizeOptions o;
  po::options_description d("options");
  d.add_options()("config,c", po::value(&path), "model config (YAML) whose features the rows fit")(
      "dataset_size,n", po::value(&o.rows)->default_value(100), "number of rows")(
      "output,o", po::value(&o.output), "the CSV file to write (images go to <name>_images/)")(
      "output_path", po::value(&o.output), "Ludwig's name of --output")(
      "random_seed", po::value(&o.seed)->default_value(42), "seed of the values");
  po::variables_map vm;
  if (!parse("synthesize_dataset", "--config model.yaml --dataset_size 1000 --output data.csv", d, args, vm,
             {"config"}))
    return 0;
  const Config c = load_config(path);
  synthesize_dataset(c, o);
  std::cerr << "kiln: wrote " << o.rows << " rows to " << o.output << "\n";
  return 0;
}

int cmd_describe(const std::vector<std::string>& args, const std::string&) {
  std::string what = "all";
  po::options_description d("options");
  d.add_options()("what", po::value(&what), "features | encoders | combiners | decoders | optimizers | all");
  po::positional_options_description pos;
  pos.add("what", 1);
  d.add_options()("help,h", "show this help");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).positional(pos).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << "usage: kiln describe [features|encoders|combiners|decoders|optimizers]\n";
    return 0;
  }
  static const std::vector<std::string> kinds = {"all",      "features", "encoders",
                                                 "combiners", "decoders", "optimizers"};
  bool ok = false;
  for (const auto& k : kinds) ok = ok || k == what;
  if (!ok) throw UsageError("unknown kind '" + what + "'" + suggest(what, kinds));
  auto options = [](const OptionsBase& o) {
    DocVisitor dv;
    o.describe(dv);
    for (const auto& it : dv.items)
      std::cout << "      " << it.key << " = " << it.default_value << "    " << it.doc
                << (it.limits.empty() ? std::string() : " (" + it.limits + ")") << "\n";
  };
  if (what == "all" || what == "features") {
    std::cout << "feature types:\n";
    for (const auto& [name, s] : feature_schemas().entries()) {
      std::cout << "  " << name << ": " << s.doc << " (encoder " << s.default_encoder
                << ", decoder " << s.default_decoder << ", loss " << s.default_loss
                << ", metrics " << join(s.metrics, " ") << ")\n    preprocessing:\n";
      options(*s.make_preprocessing(false));
    }
  }
  auto list = [&](const char* title, const Registry<ComponentSchema>& r) {
    std::cout << title << ":\n";
    for (const auto& [name, s] : r.entries()) {
      std::cout << "  " << name << ": " << s.doc << "\n";
      options(*s.make_options());
    }
  };
  if (what == "all" || what == "encoders") list("encoders", encoder_schemas());
  if (what == "all" || what == "combiners") list("combiners", combiner_schemas());
  if (what == "all" || what == "decoders") list("decoders", decoder_schemas());
  if (what == "all" || what == "optimizers") list("optimizers", optimizer_schemas());
  return 0;
}

int cmd_report(const std::vector<std::string>& args, const std::string&) {
  std::string dir = "results", format = "text", output;
  po::options_description d("options");
  d.add_options()("output_directory", po::value(&dir)->default_value("results"),
                  "the training run's output directory")(
      "format", po::value(&format)->default_value("text"), "text | json | html")(
      "output,o", po::value(&output), "write the report to this file instead of stdout");
  po::variables_map vm;
  if (!parse("report", "[--output_directory results] [--format text|json] [--output file]", d,
             args, vm, {}))
    return 0;
  std::string report = render_report(dir, format);
  if (output.empty() && format == "html") output = path_join(path_join(dir, "reports"), "report.html");
  if (output.empty()) {
    std::cout << report;
  } else {
    make_dirs(parent_dir(output));
    write_file_atomic(output, report);
    std::cerr << "kiln: wrote " << output << "\n";
  }
  return 0;
}

int cmd_slices(const std::vector<std::string>& args, const std::string&) {
  if (args.empty() || args[0] != "find")
    throw UsageError("expected 'kiln slices find --model_path M --dataset D [options]'");
  FindSlicesOptions o;
  po::options_description d("options");
  d.add_options()("model_path,m", po::value(&o.model_path), "model directory (results/model)")(
      "dataset", po::value(&o.dataset), "labelled data to look for problem slices in")(
      "k", po::value(&o.k)->default_value(10), "how many slices to report")(
      "max_level", po::value(&o.max_level)->default_value(3), "most conditions per slice")(
      "min_support", po::value(&o.min_support)->default_value(32), "fewest rows per slice")(
      "alpha", po::value(&o.alpha)->default_value(0.95), "weight of error against size (0..1]")(
      "output_feature", po::value(&o.output_feature), "output whose errors count (default: the validation field)")(
      "output,o", po::value(&o.output), "JSON file (default: <run>/reports/slices.json)")(
      "threads", po::value(&o.threads)->default_value(0), "CPU threads (0: all cores)")(
      "quiet,q", po::bool_switch(&o.quiet), "less output");
  po::variables_map vm;
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (!parse("slices find", "--model_path results/model --dataset data.csv [options]", d, rest, vm,
             {"model_path", "dataset"}))
    return 0;
  if (o.k < 1) throw UsageError("--k: expected at least 1");
  if (o.max_level < 1) throw UsageError("--max_level: expected at least 1");
  if (o.min_support < 1) throw UsageError("--min_support: expected at least 1");
  if (!(o.alpha > 0 && o.alpha <= 1)) throw UsageError("--alpha: expected a value in (0, 1]");
  return run_find_slices(o);
}

int cmd_init_config(const std::vector<std::string>& args, const std::string&) {
  std::string dataset, target, output, partial;
  bool with_hyperopt = false;
  double time_limit_s = 600;
  po::options_description d("options");
  d.add_options()("hyperopt", po::bool_switch(&with_hyperopt),
                  "add the automl search space (hyperopt block) of the feature mix")(
      "time_limit_s", po::value(&time_limit_s)->default_value(600), "with --hyperopt: the budget")(
      "dataset", po::value(&dataset), "CSV or TSV data")(
      "target", po::value(&target), "the column to predict")(
      "config,c", po::value(&partial), "a partial config whose features and keys override the inferred ones")(
      "output,o", po::value(&output), "write the config here (default: stdout)");
  po::variables_map vm;
  if (!parse("init_config", "--dataset data.csv --target column [--config partial.yaml] [--output config.yaml]",
             d, args, vm, {"dataset", "target"}))
    return 0;
  std::string user;
  if (!partial.empty()) {
    try {
      user = read_file(partial);
    } catch (const DataError& e) {
      throw ConfigError(e.what());
    }
  }
  InferredConfig r = infer_config(dataset, target, user, partial);
  size_t w = 6;
  for (const auto& c : r.columns) w = std::max(w, c.column.size());
  std::cerr << "column" << std::string(w - 6 + 2, ' ') << "type      reason\n";
  for (const auto& c : r.columns) {
    std::string type = c.type.empty() ? "excluded" : c.type;
    if (c.column == target) type += " (target)";
    std::cerr << c.column << std::string(w - c.column.size() + 2, ' ') << type
              << std::string(type.size() < 10 ? 10 - type.size() : 1, ' ') << c.reason << "\n";
  }
  if (!r.unsupported_types.empty())
    std::cerr << "kiln: note: feature types " << join(r.unsupported_types, ", ")
              << " are not implemented in this build yet; kiln train rejects them until they are\n";
  if (with_hyperopt) r.yaml = automl_config(r, user, time_limit_s, nullptr);
  if (output.empty()) {
    std::cout << r.yaml;
  } else {
    make_dirs(parent_dir(output));
    write_file_atomic(output, r.yaml);
    std::cerr << "kiln: wrote " << output << "\n";
  }
  return 0;
}

int cmd_monitor(const std::vector<std::string>& args, const std::string&) {
  std::string model_path;
  int last = 10;
  po::options_description d("options");
  d.add_options()("model_path,m", po::value(&model_path), "model directory (results/model)")(
      "last", po::value(&last)->default_value(10), "how many of the latest runs to show");
  po::variables_map vm;
  if (!parse("monitor", "--model_path results/model [--last 10]", d, args, vm, {"model_path"}))
    return 0;
  const std::string store = path_join(model_path, "monitor.sqlite");
  if (!file_exists(store))
    throw ModelError(store + ": no monitor history yet (kiln evaluate or predict records runs)");
  std::cout << MonitorStore(store).trend(last);
  return 0;
}

int cmd_hyperopt(const std::vector<std::string>& args, const std::string& line) {
  HyperoptOptions o;
  o.command_line = line;
  po::options_description d("options");
  d.add_options()("config,c", po::value(&o.config_path), "model config with a hyperopt block (YAML)")(
      "dataset", po::value(&o.dataset), "data: CSV, TSV or JSON Lines")(
      "output_directory", po::value(&o.output_directory)->default_value("results"),
      "where best_model, the trial store, leaderboard and reports go")(
      "time_limit_s", po::value(&o.time_limit_s)->default_value(0),
      "hard budget in seconds (overrides hyperopt.executor.time_budget_s)")(
      "workers", po::value(&o.workers)->default_value(0),
      "concurrent trials (0: executor.max_concurrent_trials, else cores / cpu_resources_per_trial)")(
      "threads", po::value(&o.threads)->default_value(0), "CPU threads shared by the workers (0: all cores)")(
      "resume", po::bool_switch(&o.resume), "continue the study in output_directory (finished trials are kept)")(
      "skip_cache", "do not share preprocessing through a cache")(
      "quiet,q", po::bool_switch(&o.quiet), "no progress output");
  po::variables_map vm;
  if (!parse("hyperopt", "--config model.yaml --dataset data.csv [options]", d, args, vm, {"config", "dataset"}))
    return 0;
  if (vm.count("skip_cache")) o.use_cache = false;
  if (o.time_limit_s < 0) throw UsageError("--time_limit_s: expected seconds > 0");
  if (o.workers < 0) throw UsageError("--workers: expected at least 1");
  return run_hyperopt(o);
}

int cmd_trial_worker(const std::vector<std::string>& args, const std::string&) {
  TrialWorkerOptions o;
  std::string cache_dir;
  po::options_description d("options");
  d.add_options()("config", po::value(&o.config_path))("dataset", po::value(&o.dataset))(
      "output_directory", po::value(&o.output_directory))("threads", po::value(&o.threads)->default_value(1))(
      "deadline_ms", po::value(&o.deadline_ms)->default_value(0))("resume", po::bool_switch(&o.resume))(
      "cache_dir", po::value(&o.cache_dir))("skip_cache", "")("serve", po::bool_switch(&o.serve));
  po::variables_map vm;
  if (!parse("_trial", "(started by kiln hyperopt)", d, args, vm, {"dataset"})) return 0;
  if (!o.serve && (o.config_path.empty() || o.output_directory.empty()))
    throw UsageError("_trial: --config and --output_directory are needed without --serve");
  if (vm.count("skip_cache")) o.use_cache = false;
  return run_trial_worker(o);
}

int cmd_automl(const std::vector<std::string>& args, const std::string& line) {
  AutomlOptions o;
  o.command_line = line;
  po::options_description d("options");
  d.add_options()("dataset", po::value(&o.dataset), "CSV or TSV data")("target", po::value(&o.target),
                                                                      "the column to predict")(
      "time_limit_s", po::value(&o.time_limit_s)->default_value(600), "hard budget in seconds for the whole run")(
      "output_directory", po::value(&o.output_directory)->default_value("results"),
      "where best_model, best_config.yaml, the leaderboard and reports go")(
      "config,c", po::value(&o.user_config), "a partial config: its features and keys override the inferred ones, "
                                             "and the parameters it sets leave the search")(
      "workers", po::value(&o.workers)->default_value(0), "concurrent trials (0: one per core)")(
      "threads", po::value(&o.threads)->default_value(0), "CPU threads shared by the workers (0: all cores)")(
      "resume", po::bool_switch(&o.resume), "continue the study in output_directory")(
      "quiet,q", po::bool_switch(&o.quiet), "no progress output");
  po::variables_map vm;
  if (!parse("automl", "--dataset data.csv --target column [--time_limit_s 600] [options]", d, args, vm,
             {"dataset", "target"}))
    return 0;
  if (!(o.time_limit_s > 0)) throw UsageError("--time_limit_s: expected seconds > 0");
  return run_automl(o);
}

}  // namespace kiln
