#pragma once
#include <string>
#include <vector>

namespace kiln {

using CommandFn = int (*)(const std::vector<std::string>& args, const std::string& command_line);

struct Command {
  std::string name, help;
  CommandFn run;
};

int cmd_train(const std::vector<std::string>&, const std::string&);
int cmd_experiment(const std::vector<std::string>&, const std::string&);
int cmd_evaluate(const std::vector<std::string>&, const std::string&);
int cmd_predict(const std::vector<std::string>&, const std::string&);
int cmd_serve(const std::vector<std::string>&, const std::string&);
int cmd_config(const std::vector<std::string>&, const std::string&);
int cmd_synthesize_dataset(const std::vector<std::string>&, const std::string&);
int cmd_describe(const std::vector<std::string>&, const std::string&);
int cmd_report(const std::vector<std::string>&, const std::string&);
int cmd_monitor(const std::vector<std::string>&, const std::string&);
int cmd_slices(const std::vector<std::string>&, const std::string&);
int cmd_init_config(const std::vector<std::string>&, const std::string&);
int cmd_hyperopt(const std::vector<std::string>&, const std::string&);
int cmd_automl(const std::vector<std::string>&, const std::string&);
int cmd_trial_worker(const std::vector<std::string>&, const std::string&);

}  // namespace kiln
