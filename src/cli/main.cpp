// kiln: one thin entry point. Parses the subcommand's flags (Ludwig's names), calls a pipeline,
// and maps typed errors to one line on stderr and an exit code.
#include <c10/util/Exception.h>
#include <yaml-cpp/exceptions.h>

#include <dlfcn.h>
#include <signal.h>
#include <sys/prctl.h>
#include <malloc.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "config/schema.h"
#include "util/error.h"
#include "util/strings.h"
#include "version.h"

namespace kiln {
namespace {

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"train", "train a model from a config and a dataset", cmd_train},
      {"experiment", "train, then evaluate on the test split", cmd_experiment},
      {"evaluate", "compute metrics of a trained model on a dataset", cmd_evaluate},
      {"predict", "write predictions of a trained model for a dataset", cmd_predict},
      {"serve", "answer predictions over HTTP (Ludwig's /predict and /batch_predict)", cmd_serve},
      {"config", "print the fully resolved config, or only check it (--validate)", cmd_config},
      {"hyperopt", "search hyperparameters and architectures (config's hyperopt block) under a time budget", cmd_hyperopt},
      {"automl", "infer a config from a dataset and a target, then search it under a time budget", cmd_automl},
      {"_trial", "", cmd_trial_worker},
      {"init_config", "infer a config from a dataset and a target column (types with reasons)", cmd_init_config},
      {"synthesize_dataset", "write rows that fit a config's features (a CSV, and PNG files for images)", cmd_synthesize_dataset},
      {"describe", "list registered feature types, encoders, combiners, decoders", cmd_describe},
      {"report", "print a report of a training run (text or json)", cmd_report},
      {"slices", "slices find: the top-k slices where the model errs most (SliceLine)", cmd_slices},
      {"monitor", "trend of each slice's metrics and drift across evaluate/predict runs", cmd_monitor},
  };
  return list;
}

void print_usage(std::ostream& out) {
  out << "kiln " << KILN_VERSION << ": declarative deep learning (Ludwig-compatible configs)\n\n"
      << "usage: kiln <command> [options]    (kiln <command> --help for its options)\n\n"
      << "commands:\n";
  for (const auto& c : commands()) {
    if (c.name[0] == '_') continue;  // internal (hyperopt trial workers)
    std::string name = c.name;
    name.resize(std::max<size_t>(name.size() + 2, 12), ' ');
    out << "  " << name << c.help << "\n";
  }
}

}  // namespace
}  // namespace kiln

// Training allocates and frees the same large activation buffers every step. glibc serves blocks
// over 128 KiB (up to 32 MiB, dynamically) with fresh mmap()s, so every step page-faults them in
// again: on the spam_assassin text model that was a third of the wall time, spent in the kernel.
// Keeping every block in the heap and never trimming it makes freed buffers reusable at once
// (peak memory stays allocated to the process, as with a caching allocator).
void tune_malloc() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

// OpenBLAS (libtorch's BLAS on Debian) picks its kernels from the CPU model when it loads; 0.3.21
// does not know recent Xeons (e.g. model 207) and falls back to its generic "Prescott" SSE3
// kernels, which made an FT-Transformer epoch 1.7x slower here. When that happens on a CPU with
// AVX-512 or AVX2, name the matching kernel family and have OpenBLAS choose again, before any BLAS
// call (its dynamic-arch entry points are exported). Child processes inherit the choice through
// OPENBLAS_CORETYPE; a value the user set is left alone.
void pick_blas_kernels() {
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  using CoreName = char* (*)();
  using Hook = void (*)();
  auto corename = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  auto quit = reinterpret_cast<Hook>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
  auto init = reinterpret_cast<Hook>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
  if (!corename || !quit || !init) return;
  const char* core = corename();
  if (!core || std::string(core) != "Prescott") return;
  __builtin_cpu_init();
  const char* better = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                       : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                         : nullptr;
  if (!better) return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  quit();
  init();
}

// A hyperopt trial worker dies with its coordinator, even one killed while this process was still
// starting (the death signal survives exec; a changed parent means the coordinator is gone).
void bind_to_coordinator(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "_trial") return;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (const char* p = std::getenv("KILN_COORDINATOR_PID"))
    if (getppid() != static_cast<pid_t>(std::atol(p))) _exit(1);
}

int main(int argc, char** argv) {
  // Past a file size limit (ulimit -f), a write fails with EFBIG and Kiln reports it, removes the
  // temporary file and exits with one line, instead of being killed with a core dump.
  ::signal(SIGXFSZ, SIG_IGN);
  bind_to_coordinator(argc, argv);
  pick_blas_kernels();
  tune_malloc();
  using namespace kiln;
  if (argc < 2) {
    print_usage(std::cerr);
    return 64;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    std::cout << "kiln " << KILN_VERSION << " (" << KILN_GIT_HASH << ", libtorch "
              << TORCH_VERSION << ")\n";
    return 0;
  }
  try {
    register_builtins();
    for (const auto& c : commands()) {
      if (c.name != cmd) continue;
      std::vector<std::string> args(argv + 2, argv + argc);
      std::string line = "kiln";
      for (int i = 1; i < argc; ++i) line += std::string(" ") + argv[i];
      return c.run(args, line);
    }
    std::vector<std::string> names;
    for (const auto& c : commands())
      if (c.name[0] != '_') names.push_back(c.name);
    std::cerr << "kiln: unknown command '" << cmd << "'" << suggest(cmd, names)
              << " (kiln --help lists them)\n";
    return 64;
  } catch (const UsageError& e) {
    std::cerr << "kiln " << cmd << ": " << e.what() << "\n";
    return e.exit_code();
  } catch (const KilnError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const boost::program_options::error& e) {
    std::cerr << "kiln " << cmd << ": " << e.what() << " (kiln " << cmd << " --help)\n";
    return 64;
  } catch (const c10::Error& e) {
    std::string m = e.what_without_backtrace();
    std::cerr << "error: internal tensor error: " << m.substr(0, m.find('\n')) << "\n";
    return 70;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 70;
  }
}
