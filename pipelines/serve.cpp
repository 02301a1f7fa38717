// kiln serve: a trained model behind Ludwig's REST endpoints (POST /predict, POST /batch_predict),
// plus GET /health, GET /model and GET /metrics (Prometheus). Requests are parsed, checked and
// preprocessed on the request's thread; the Scorer gathers concurrent requests into micro-batches
// for the forward pass; the LiveMonitor folds windows of served rows into the model's monitor
// store. Every bad request gets a 4xx with {"error": "..."} naming the field; nothing a client
// sends can stop the server. SIGINT/SIGTERM stop accepting, let in-flight requests finish, write
// the open monitor window, and exit 0.
#include "util/json.h"  // first: configures RapidJSON

#include <httplib.h>
#include <pthread.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <signal.h>
#include <sys/socket.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>
#include <tuple>

#include "pipelines/live_monitor.h"
#include "pipelines/model_store.h"
#include "pipelines/pipelines.h"
#include "pipelines/scorer.h"
#include "util/error.h"
#include "util/strings.h"
#include "version.h"

namespace kiln {
namespace {

// A request the client got wrong: answered with `status` and {"error": message}.
struct RequestError : std::runtime_error {
  RequestError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

std::string error_json(const std::string& message) {
  rapidjson::StringBuffer sb;
  CompactJsonWriter w(sb);
  w.StartObject();
  json_key(w, "error");
  json_string(w, message);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

// Numbers are kept as the client wrote them (as a CSV field would be read), not converted to
// double and printed back.
rapidjson::Document parse_json(const std::string& body, const char* what) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseNumbersAsStringsFlag>(body.c_str(), body.size());
  if (d.HasParseError())
    throw RequestError(400, std::string("malformed JSON ") + what + " at character " +
                                std::to_string(d.GetErrorOffset() + 1) + ": " + rapidjson::GetParseError_En(d.GetParseError()));
  return d;
}

// A JSON value as a cell's text: strings and numbers as written, booleans spelled out, null (or
// "") missing. `where` names the value in the message of a list or object.
template <class Where>
std::string_view cell_text(const rapidjson::Value& v, const Where& where) {
  if (v.IsString()) return std::string_view(v.GetString(), v.GetStringLength());  // numbers too (kept as text)
  if (v.IsNull()) return {};
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  throw RequestError(400, where() + ": expected a string, number, boolean or null, got " +
                              (v.IsArray() ? "a list" : "an object"));
}

// Whether `s` is a JSON number as written (RFC 8259), so it can be written into a response as is.
bool json_number(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

bool is_json(const httplib::Request& req) {
  return req.get_header_value("Content-Type").rfind("application/json", 0) == 0;
}

// The request's form fields (URL-encoded or multipart), by name.
std::map<std::string, std::string> form_fields(const httplib::Request& req) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : req.params) out[k] = v;
  for (const auto& [k, f] : req.files) out[k] = f.content;
  return out;
}

// Whether a multipart field is an uploaded file (it has a file name), e.g. an image.
bool uploaded_file(const httplib::Request& req, const std::string& field) {
  auto it = req.files.find(field);
  return it != req.files.end() && !it->second.filename.empty();
}

// A Prometheus label value: backslash, quote and newline escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// What GET /metrics reports (Prometheus text exposition format 0.0.4).
class Metrics {
 public:
  static constexpr double kBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

  static std::string endpoint(const std::string& path) {
    for (const char* e : {"/predict", "/batch_predict", "/health", "/model", "/metrics"})
      if (path == e) return e;
    return "other";
  }

  void request(const std::string& path, int status, double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string e = endpoint(path);
    ++requests_[{e, status}];
    if (seconds < 0) return;  // refused before routing (unparsable request): no latency
    Histogram& h = latency_[e];
    if (h.counts.empty()) h.counts.assign(std::size(kBuckets), 0);
    for (size_t b = 0; b < std::size(kBuckets); ++b) h.counts[b] += seconds <= kBuckets[b];
    h.sum += seconds;
    ++h.count;
  }

  // Rows scored, per slice, and each categorical output's predicted values overall and per slice.
  void scored(const Scored& s) {
    const int64_t n = static_cast<int64_t>(s.rows());
    const int64_t* rows = s.data.rows.data_ptr<int64_t>();
    // Counted before the lock is taken; only the sums are added under it.
    std::vector<int64_t> in_slice(s.data.slices.names.size(), 0);
    for (size_t k = 0; k < in_slice.size(); ++k) {
      const bool* m = s.data.slices.membership[static_cast<int64_t>(k)].data_ptr<bool>();
      for (int64_t i = 0; i < n; ++i) in_slice[k] += m[rows[i]];
    }
    std::map<std::tuple<std::string, std::string, std::string>, int64_t> predicted;
    for (const auto& c : s.columns) {
      if (c.numeric || c.name.size() < 12 || c.name.compare(c.name.size() - 12, 12, "_predictions") != 0) continue;
      const std::string out = c.name.substr(0, c.name.size() - 12);
      // Counted per value first: a large request has few distinct predicted values.
      std::map<std::pair<size_t, std::string_view>, int64_t> counts;  // (slice + 1 or 0 for all rows, value)
      for (int64_t i = 0; i < n; ++i) {
        const std::string_view v = c.values[static_cast<size_t>(i)];
        ++counts[{0, v}];
        for (size_t k = 0; k < s.data.slices.names.size(); ++k)
          if (s.data.slices.membership[static_cast<int64_t>(k)].data_ptr<bool>()[rows[i]]) ++counts[{k + 1, v}];
      }
      for (const auto& [key, count] : counts)
        predicted[{key.first ? s.data.slices.names[key.first - 1] : std::string(), out, std::string(key.second)}] += count;
    }
    std::lock_guard<std::mutex> lock(mu_);
    rows_ += n;
    for (size_t k = 0; k < in_slice.size(); ++k) slice_rows_[s.data.slices.names[k]] += in_slice[k];
    for (const auto& [key, count] : predicted) predicted_[key] += count;
  }

  std::string text(const Scorer& scorer, const LiveMonitor::Status& monitor, int64_t in_flight) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::ostringstream o;
    o << "# HELP kiln_requests_total HTTP requests answered, by endpoint and status.\n"
      << "# TYPE kiln_requests_total counter\n";
    for (const auto& [k, v] : requests_)
      o << "kiln_requests_total{endpoint=\"" << k.first << "\",status=\"" << k.second << "\"} " << v << "\n";
    o << "# HELP kiln_request_errors_total Requests answered with a 4xx or 5xx status, by endpoint and status.\n"
      << "# TYPE kiln_request_errors_total counter\n";
    for (const auto& [k, v] : requests_)
      if (k.second >= 400)
        o << "kiln_request_errors_total{endpoint=\"" << k.first << "\",status=\"" << k.second << "\"} " << v << "\n";
    o << "# HELP kiln_request_duration_seconds Time from routing a request to its answer, by endpoint.\n"
      << "# TYPE kiln_request_duration_seconds histogram\n";
    for (const auto& [e, h] : latency_) {
      for (size_t b = 0; b < std::size(kBuckets); ++b)
        o << "kiln_request_duration_seconds_bucket{endpoint=\"" << e << "\",le=\"" << format_double(kBuckets[b])
          << "\"} " << h.counts[b] << "\n";
      o << "kiln_request_duration_seconds_bucket{endpoint=\"" << e << "\",le=\"+Inf\"} " << h.count << "\n"
        << "kiln_request_duration_seconds_sum{endpoint=\"" << e << "\"} " << format_double(h.sum) << "\n"
        << "kiln_request_duration_seconds_count{endpoint=\"" << e << "\"} " << h.count << "\n";
    }
    o << "# HELP kiln_requests_in_flight Requests being answered now.\n# TYPE kiln_requests_in_flight gauge\n"
      << "kiln_requests_in_flight " << in_flight << "\n";
    o << "# HELP kiln_rows_scored_total Rows scored by /predict and /batch_predict.\n"
      << "# TYPE kiln_rows_scored_total counter\nkiln_rows_scored_total " << rows_ << "\n";
    o << "# HELP kiln_forward_passes_total Forward passes run (micro-batches and large requests).\n"
      << "# TYPE kiln_forward_passes_total counter\nkiln_forward_passes_total " << scorer.forward_passes() << "\n";
    o << "# HELP kiln_batch_rows Rows in the latest forward pass.\n"
      << "# TYPE kiln_batch_rows gauge\nkiln_batch_rows " << scorer.last_batch_rows() << "\n";
    o << "# HELP kiln_slice_rows_total Scored rows in each slice of the model's config.\n"
      << "# TYPE kiln_slice_rows_total counter\n";
    for (const auto& [slice, v] : slice_rows_) o << "kiln_slice_rows_total{slice=\"" << label(slice) << "\"} " << v << "\n";
    o << "# HELP kiln_predictions_total Predicted values of each categorical output, over all rows (slice \"\") and per slice.\n"
      << "# TYPE kiln_predictions_total counter\n";
    for (const auto& [k, v] : predicted_)
      o << "kiln_predictions_total{output=\"" << label(std::get<1>(k)) << "\",value=\"" << label(std::get<2>(k))
        << "\",slice=\"" << label(std::get<0>(k)) << "\"} " << v << "\n";
    o << "# HELP kiln_monitor_windows_total Windows of served rows written to the monitor store.\n"
      << "# TYPE kiln_monitor_windows_total counter\nkiln_monitor_windows_total " << monitor.windows << "\n";
    o << "# HELP kiln_drift_share Share of input features in drift alert in the latest monitor window, over all rows (slice \"\") and per slice.\n"
      << "# TYPE kiln_drift_share gauge\nkiln_drift_share{slice=\"\"} " << format_double(monitor.drift_share) << "\n";
    for (const auto& [slice, v] : monitor.slice_drift_share)
      o << "kiln_drift_share{slice=\"" << label(slice) << "\"} " << format_double(v) << "\n";
    return o.str();
  }

 private:
  struct Histogram {
    std::vector<int64_t> counts;  // cumulative per bucket
    double sum = 0;
    int64_t count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, Histogram> latency_;
  int64_t rows_ = 0;
  std::map<std::string, int64_t> slice_rows_;
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> predicted_;
};

class Server {
 public:
  Server(const ServeOptions& o, const Scorer& scorer, LiveMonitor& monitor)
      : o_(o), scorer_(scorer), monitor_(monitor) {}

  // One row: a JSON object {column: value} or form fields.
  std::shared_ptr<Table> one_row(const httplib::Request& req) const {
    std::vector<std::string_view> row;
    std::vector<std::string> columns;
    rapidjson::Document d;
    std::map<std::string, std::string> fields;
    if (is_json(req)) {
      d = parse_json(req.body, "body");
      if (!d.IsObject())
        throw RequestError(400, "expected a JSON object of input columns, e.g. {\"" + scorer_.input_columns()[0] + "\": ...}");
      columns = scorer_.request_columns([&](const std::string& c) { return d.HasMember(c.c_str()); });
      for (const auto& c : columns) {
        auto it = d.FindMember(c.c_str());
        if (it == d.MemberEnd()) throw RequestError(400, "missing input feature column '" + c + "'");
        row.push_back(cell_text(it->value, [&] { return "'" + c + "'"; }));
      }
    } else {
      fields = form_fields(req);
      columns = scorer_.request_columns([&](const std::string& c) { return fields.count(c) > 0; });
      for (const auto& c : columns) {
        auto it = fields.find(c);
        if (it == fields.end()) throw RequestError(400, "missing input feature column '" + c + "'");
        row.push_back(it->second);
      }
    }
    TableBuilder b("request", columns, 1);
    b.add_row(row.data());
    auto t = std::make_shared<Table>(b.take());
    // An uploaded file's field holds its bytes (an image is decoded from them, not opened by name).
    if (!is_json(req))
      for (auto& c : t->columns) c.holds_bytes = uploaded_file(req, c.name);
    return t;
  }

  // Ludwig's batch: {"columns": [...], "data": [[...], ...]} as the body or the form field `dataset`.
  std::shared_ptr<Table> rows(const httplib::Request& req) const {
    std::string text = req.body;
    if (!is_json(req)) {
      const auto fields = form_fields(req);
      auto it = fields.find("dataset");
      if (it == fields.end()) throw RequestError(400, "missing form field 'dataset' (or send a JSON body)");
      text = it->second;
    }
    rapidjson::Document d = parse_json(text, "dataset");
    if (!d.IsObject() || !d.HasMember("columns") || !d["columns"].IsArray() || !d.HasMember("data") ||
        !d["data"].IsArray())
      throw RequestError(400, "expected {\"columns\": [...], \"data\": [[...], ...]}");
    std::map<std::string, size_t> given;
    for (rapidjson::SizeType i = 0; i < d["columns"].Size(); ++i) {
      if (!d["columns"][i].IsString()) throw RequestError(400, "columns[" + std::to_string(i) + "]: expected a column name");
      given[d["columns"][i].GetString()] = i;
    }
    const auto columns = scorer_.request_columns([&](const std::string& c) { return given.count(c) > 0; });
    std::vector<size_t> index;
    for (const auto& c : columns) {
      auto it = given.find(c);
      if (it == given.end()) throw RequestError(400, "missing input feature column '" + c + "' in columns");
      index.push_back(it->second);
    }
    const auto& data = d["data"];
    if (static_cast<int64_t>(data.Size()) > o_.max_rows)
      throw RequestError(413, std::to_string(data.Size()) + " rows; at most " + std::to_string(o_.max_rows) +
                                  " per request (--max_rows)");
    TableBuilder b("request", columns, data.Size());
    std::vector<std::string_view> row(columns.size());
    for (rapidjson::SizeType r = 0; r < data.Size(); ++r) {
      auto where = [&] { return "data[" + std::to_string(r) + "]"; };
      if (!data[r].IsArray() || data[r].Size() != d["columns"].Size())
        throw RequestError(400, where() + ": expected a list of " + std::to_string(d["columns"].Size()) +
                                    " values (one per column)");
      for (size_t c = 0; c < columns.size(); ++c)
        row[c] = cell_text(data[r][static_cast<rapidjson::SizeType>(index[c])], [&] { return where() + " '" + columns[c] + "'"; });
      b.add_row(row.data());
    }
    return std::make_shared<Table>(b.take());
  }

  // A prediction: numbers as JSON numbers (written as the text kiln predict writes), else a string.
  static void value(CompactJsonWriter& w, const PredictionColumn& c, size_t row) {
    const std::string& v = c.values[row];
    double x;
    if (c.numeric && json_number(v)) w.RawValue(v.data(), v.size(), rapidjson::kNumberType);
    else if (c.numeric && parse_double(v, x)) json_double(w, x);  // nan, inf: null
    else json_string(w, v);
  }

  // Scores a request's table; the metrics and the monitor see its rows.
  std::vector<PredictionColumn> score(std::shared_ptr<Table> t) {
    Scored s = scorer_.score(std::move(t));
    metrics_.scored(s);
    monitor_.record(s);
    return std::move(s.columns);
  }

  std::string predict(const httplib::Request& req) {
    const auto cols = score(one_row(req));
    rapidjson::StringBuffer sb;
    CompactJsonWriter w(sb);
    w.StartObject();
    for (const auto& c : cols) {
      json_key(w, c.name);
      value(w, c, 0);
    }
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
  }

  std::string batch_predict(const httplib::Request& req) {
    const auto cols = score(rows(req));
    const size_t n = cols.empty() ? 0 : cols[0].values.size();
    rapidjson::StringBuffer sb;
    CompactJsonWriter w(sb);
    w.StartObject();
    w.Key("index");
    w.StartArray();
    for (size_t r = 0; r < n; ++r) w.Uint64(r);
    w.EndArray();
    w.Key("columns");
    w.StartArray();
    for (const auto& c : cols) json_string(w, c.name);
    w.EndArray();
    w.Key("data");
    w.StartArray();
    for (size_t r = 0; r < n; ++r) {
      w.StartArray();
      for (const auto& c : cols) value(w, c, r);
      w.EndArray();
    }
    w.EndArray();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
  }

  std::string model_json() const {
    const Config& c = scorer_.model().config;
    rapidjson::StringBuffer sb;
    CompactJsonWriter w(sb);
    w.StartObject();
    json_key(w, "model_path");
    json_string(w, scorer_.model_path());
    json_key(w, "kiln_version");
    json_string(w, KILN_VERSION);
    json_key(w, "format_version");
    w.Int(kModelFormatVersion);
    for (const auto* list : {&c.input_features, &c.output_features}) {
      json_key(w, list == &c.input_features ? "input_features" : "output_features");
      w.StartArray();
      for (const auto& f : *list) {
        w.StartObject();
        json_key(w, "name");
        json_string(w, f.name);
        json_key(w, "type");
        json_string(w, f.type);
        json_key(w, "column");
        json_string(w, f.column);
        w.EndObject();
      }
      w.EndArray();
    }
    json_key(w, "config");
    json_string(w, config_to_yaml(c));
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
  }

  // Runs `body` and answers with its JSON, or with the error's status and message.
  template <class F>
  void answer(httplib::Response& res, F&& body) {
    ++requests_;
    try {
      res.set_content(body(), "application/json");
    } catch (const RequestError& e) {
      res.status = e.status;
      res.set_content(error_json(e.what()), "application/json");
    } catch (const DataError& e) {  // a value the model cannot read: names the row and feature
      res.status = 400;
      res.set_content(error_json(e.what()), "application/json");
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(error_json(std::string("internal error: ") + e.what()), "application/json");
    }
  }

  int64_t requests() const { return requests_.load(); }
  Metrics& metrics() { return metrics_; }
  std::string metrics_text() const { return metrics_.text(scorer_, monitor_.status(), in_flight_.load()); }
  std::atomic<int64_t>& in_flight() { return in_flight_; }

 private:
  const ServeOptions& o_;
  const Scorer& scorer_;
  LiveMonitor& monitor_;
  Metrics metrics_;
  std::atomic<int64_t> requests_{0}, in_flight_{0};
};

// When this thread's current request was routed (httplib answers each request on one thread).
thread_local std::chrono::steady_clock::time_point request_start;
thread_local bool request_routed = false;

}  // namespace

int run_serve(const ServeOptions& o) {
  // SIGINT / SIGTERM go to one thread that stops the server; every other thread blocks them. The
  // mask is set first: threads started later (torch's, the batching thread, httplib's pool)
  // inherit it.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Batching batching;
  batching.max_rows = o.max_batch_size, batching.timeout_us = o.batch_timeout_us;
  Scorer scorer(o.model_path, o.threads, batching);
  torch::set_num_threads(scorer.threads());
  LiveMonitorOptions mo;
  mo.window_rows = o.monitor_rows, mo.window_seconds = o.monitor_seconds;
  mo.log_path = o.log_predictions, mo.log_max_bytes = static_cast<int64_t>(o.log_max_mb * 1024 * 1024);
  LiveMonitor monitor(scorer, mo);
  Server api(o, scorer, monitor);

  httplib::Server svr;
  svr.new_task_queue = [n = o.http_threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  svr.set_payload_max_length(static_cast<size_t>(o.max_body_mb * 1024 * 1024));
  svr.set_read_timeout(std::chrono::duration<double>(o.read_timeout_s));
  svr.set_write_timeout(10);
  // A keep-alive connection holds one of the --http_threads: it is closed after 1000 requests (so
  // that clients beyond that many connections get their turn) or 5 s idle. httplib's default of 5
  // requests made every client reconnect all the time.
  svr.set_keep_alive_max_count(1000);
  // An answer is written in two parts (headers, body): without TCP_NODELAY, Nagle's algorithm holds
  // the body until the client's delayed ACK, 40 ms later.
  svr.set_tcp_nodelay(true);
  svr.set_keep_alive_timeout(5);
  svr.set_pre_routing_handler([&](const httplib::Request&, httplib::Response&) {
    request_start = std::chrono::steady_clock::now();
    request_routed = true;
    ++api.in_flight();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
    double seconds = -1;
    if (request_routed) {
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - request_start).count();
      request_routed = false;
      --api.in_flight();
    }
    api.metrics().request(req.path, res.status, seconds);
  });
  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    api.answer(res, [] { return std::string("{\"status\":\"ok\"}"); });
  });
  svr.Get("/model", [&](const httplib::Request&, httplib::Response& res) {
    api.answer(res, [&] { return api.model_json(); });
  });
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(api.metrics_text(), "text/plain; version=0.0.4");
  });
  svr.Post("/predict", [&](const httplib::Request& req, httplib::Response& res) {
    api.answer(res, [&] { return api.predict(req); });
  });
  svr.Post("/batch_predict", [&](const httplib::Request& req, httplib::Response& res) {
    api.answer(res, [&] { return api.batch_predict(req); });
  });
  // Statuses httplib sets itself (404, 413 body too large, 400 unparsable request) get a JSON body too.
  svr.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 404) message = "no endpoint " + req.method + " " + req.path + " (POST /predict, POST /batch_predict, GET /health, GET /model, GET /metrics)";
    if (res.status == 413) message = "request body over " + format_double(o.max_body_mb) + " MB (--max_body_mb)";
    if (res.status == 400) message = "malformed or incomplete HTTP request (or the client sent nothing for --read_timeout " + format_double(o.read_timeout_s) + " s)";
    res.set_content(error_json(message), "application/json");
  });

  // cpp-httplib listens with a backlog of 5 (a build-time constant of Debian's library): 64 clients
  // connecting at once saw dropped SYNs and a 1 s retransmission. The listening socket is captured
  // when it is created and listened on again with a deep backlog after the bind.
  int listening = -1;
  svr.set_socket_options([&](socket_t sock) {
    httplib::default_socket_options(sock);
    listening = sock;
  });
  int port = o.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o.host);
    if (port < 0) throw UsageError("cannot listen on " + o.host);
  } else if (!svr.bind_to_port(o.host, port)) {
    throw UsageError("cannot listen on " + o.host + ":" + std::to_string(port) + " (in use, or not an address of this host)");
  }
  if (listening >= 0) ::listen(listening, SOMAXCONN);
  std::atomic<bool> done{false};
  std::thread stopper([&] {
    const timespec tick{0, 200 * 1000 * 1000};
    while (!done.load()) {
      if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) {
        svr.stop();
        return;
      }
    }
  });
  std::cerr << "kiln: serving " << o.model_path << " on http://" << o.host << ":" << port << " (Ctrl-C stops)"
            << std::endl;
  const bool ok = svr.listen_after_bind();
  done = true;
  stopper.join();
  monitor.flush();  // the open window goes to the monitor store before the stop line
  const auto seen = monitor.status();
  std::cerr << "kiln: stopped after " << api.requests() << " requests (" << scorer.forward_passes()
            << " forward passes; " << seen.windows << " monitor windows)" << std::endl;
  return ok ? 0 : 1;
}

}  // namespace kiln
