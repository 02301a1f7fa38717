// kiln_loadgen: a closed-loop HTTP load generator for the serving benchmark (bench/run_serve_bench.py).
// `--concurrency` clients, each on its own keep-alive connection, send requests back to back until
// `--requests` have been sent in all; bodies are taken in turn from a file (one body per line), or
// are multipart uploads of the files a list names. Prints one JSON object: requests, errors,
// seconds, throughput (requests/s) and latency percentiles in milliseconds.
//
//   kiln_loadgen --port P --path /predict --bodies rows.jsonl --content_type application/json
//                --concurrency 8 --requests 2000 [--warmup 50]      (one command line)
//   kiln_loadgen --port P --path /predict --upload_field image_path --upload_list files.txt ...
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1", path = "/predict", bodies, content_type = "application/json";
  std::string upload_field, upload_list;
  int port = 0, concurrency = 1;
  long requests = 1000, warmup = 20;
};

std::vector<std::string> lines(const std::string& file) {
  std::ifstream in(file);
  if (!in) {
    std::cerr << "kiln_loadgen: cannot read " << file << "\n";
    std::exit(2);
  }
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

std::string slurp(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = std::atoi(v.c_str());
    else if (k == "--path") o.path = v;
    else if (k == "--bodies") o.bodies = v;
    else if (k == "--content_type") o.content_type = v;
    else if (k == "--upload_field") o.upload_field = v;
    else if (k == "--upload_list") o.upload_list = v;
    else if (k == "--concurrency") o.concurrency = std::atoi(v.c_str());
    else if (k == "--requests") o.requests = std::atol(v.c_str());
    else if (k == "--warmup") o.warmup = std::atol(v.c_str());
    else {
      std::cerr << "kiln_loadgen: unknown option " << k << "\n";
      return 64;
    }
  }
  if (o.port <= 0 || o.concurrency < 1 || o.requests < 1 || (o.bodies.empty() == o.upload_list.empty())) {
    std::cerr << "usage: kiln_loadgen --port P [--path /predict] (--bodies F [--content_type T] | "
                 "--upload_field NAME --upload_list F) [--concurrency C] [--requests N] [--warmup W]\n";
    return 64;
  }
  std::vector<std::string> bodies;
  std::vector<std::pair<std::string, std::string>> uploads;  // (file name, bytes)
  if (!o.bodies.empty()) bodies = lines(o.bodies);
  else
    for (const auto& f : lines(o.upload_list)) uploads.emplace_back(f.substr(f.rfind('/') + 1), slurp(f));
  const size_t kinds = bodies.empty() ? uploads.size() : bodies.size();
  if (kinds == 0) {
    std::cerr << "kiln_loadgen: no request bodies\n";
    return 2;
  }

  auto send = [&](httplib::Client& c, size_t k) {
    if (!bodies.empty()) {
      auto r = c.Post(o.path.c_str(), bodies[k % kinds], o.content_type.c_str());
      return r && r->status == 200;
    }
    const auto& upload = uploads[k % kinds];
    httplib::MultipartFormDataItems items = {{o.upload_field, upload.second, upload.first, "application/octet-stream"}};
    auto r = c.Post(o.path.c_str(), items);
    return r && r->status == 200;
  };

  std::atomic<long> next{0}, errors{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(o.concurrency));
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  for (int t = 0; t < o.concurrency; ++t)
    threads.emplace_back([&, t] {
      httplib::Client c(o.host, o.port);
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);
      c.set_read_timeout(60);
      for (long w = 0; w < o.warmup / o.concurrency + 1; ++w) send(c, static_cast<size_t>(t + w));
      ++ready;
      while (!go) std::this_thread::yield();
      auto& mine = latencies[static_cast<size_t>(t)];
      for (long k; (k = next++) < o.requests;) {
        const auto t0 = std::chrono::steady_clock::now();
        const bool ok = send(c, static_cast<size_t>(k));
        mine.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!ok) ++errors;
      }
    });
  while (ready < o.concurrency) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = std::chrono::steady_clock::now();
  go = true;
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))]; };
  std::printf("{\"requests\": %zu, \"errors\": %ld, \"seconds\": %.4f, \"throughput\": %.1f, "
              "\"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"max_ms\": %.4f}\n",
              all.size(), errors.load(), seconds, static_cast<double>(all.size()) / seconds, pct(0.5), pct(0.9),
              pct(0.99), all.back());
  return errors.load() ? 1 : 0;
}
