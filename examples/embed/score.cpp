// score MODEL_DIR DATA.csv: prints the model's predictions for every row of the CSV (the same
// columns and values as `kiln predict`), after checking that rows given one by one as column →
// value maps, from several threads at once, get the same answers as the whole file.
#include <kiln/kiln.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

namespace {

// A minimal CSV split, for the one-row-at-a-time half of the example (no quoted fields in it).
std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string f;
  while (std::getline(ss, f, ',')) out.push_back(f);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: score MODEL_DIR DATA.csv\n";
    return 64;
  }
  try {
    const kiln::Model model = kiln::Model::load(argv[1]);
    std::ifstream in(argv[2]);
    if (!in) throw std::runtime_error(std::string(argv[2]) + ": cannot open");
    std::stringstream text;
    text << in.rdbuf();

    // The whole file in one call.
    const kiln::Predictions all = model.predict_csv(text.str());

    // The same rows one at a time as column → value maps, four threads at once.
    std::istringstream lines(text.str());
    std::string line;
    std::getline(lines, line);
    const std::vector<std::string> header = fields(line);
    std::vector<kiln::Row> rows;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      const auto values = fields(line);
      kiln::Row row;
      for (size_t c = 0; c < header.size() && c < values.size(); ++c) row[header[c]] = values[c];
      rows.push_back(row);
    }
    const std::string first = all.columns().front().name;
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t)
      workers.emplace_back([&, t] {
        for (size_t r = t; r < rows.size(); r += 4)
          if (model.predict({rows[r]}).text(0, first) != all.text(r, first)) ++mismatches[t];
      });
    for (auto& w : workers) w.join();
    int bad = 0;
    for (int m : mismatches) bad += m;
    if (bad) {
      std::cerr << "score: " << bad << " rows scored one at a time differ from the whole file\n";
      return 1;
    }
    std::cout << all.to_csv();
    std::cerr << "score: " << all.rows() << " rows, model outputs:";
    for (const auto& o : model.output_features()) std::cerr << " " << o;
    std::cerr << " (kiln " << kiln::version() << ")\n";
  } catch (const kiln::KilnError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return e.exit_code();
  }
  return 0;
}
