// kiln serve: a trained model behind Ludwig's REST endpoints (POST /predict, POST /batch_predict),
// plus GET /health and GET /model. Requests are parsed, checked and preprocessed on the request's
// thread; the Scorer gathers concurrent requests into micro-batches for the forward pass. Every bad request gets a 4xx with {"error": "..."}
// naming the field; nothing a client sends can stop the server. SIGINT/SIGTERM stop accepting,
// let in-flight requests finish, and exit 0.
#include "util/json.h"  // first: configures RapidJSON

#include <httplib.h>
#include <pthread.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <signal.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

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

rapidjson::Document parse_json(const std::string& body, const char* what) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  if (d.HasParseError())
    throw RequestError(400, std::string("malformed JSON ") + what + " at character " +
                                std::to_string(d.GetErrorOffset() + 1) + ": " + rapidjson::GetParseError_En(d.GetParseError()));
  return d;
}

// A JSON value as a cell's text: strings as they are, numbers and booleans spelled out, null
// (or "") missing.
std::string cell_text(const rapidjson::Value& v, const std::string& where) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsNull()) return "";
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsNumber()) return format_double(v.GetDouble());
  throw RequestError(400, where + ": expected a string, number, boolean or null, got " +
                              (v.IsArray() ? "a list" : "an object"));
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

class Server {
 public:
  Server(const ServeOptions& o, const Scorer& scorer) : o_(o), scorer_(scorer) {}

  // One row: a JSON object {column: value} or form fields.
  std::shared_ptr<Table> one_row(const httplib::Request& req) const {
    std::vector<std::string> row;
    const auto& columns = scorer_.input_columns();
    if (is_json(req)) {
      rapidjson::Document d = parse_json(req.body, "body");
      if (!d.IsObject()) throw RequestError(400, "expected a JSON object of input columns, e.g. {\"" + columns[0] + "\": ...}");
      for (const auto& c : columns) {
        auto it = d.FindMember(c.c_str());
        if (it == d.MemberEnd()) throw RequestError(400, "missing input feature column '" + c + "'");
        row.push_back(cell_text(it->value, "'" + c + "'"));
      }
    } else {
      const auto fields = form_fields(req);
      for (const auto& c : columns) {
        auto it = fields.find(c);
        if (it == fields.end()) throw RequestError(400, "missing input feature column '" + c + "'");
        row.push_back(it->second);
      }
    }
    return std::make_shared<Table>(table_from_rows("request", columns, {row}));
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
    const auto& columns = scorer_.input_columns();
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
    std::vector<std::vector<std::string>> out(data.Size());
    for (rapidjson::SizeType r = 0; r < data.Size(); ++r) {
      const std::string where = "data[" + std::to_string(r) + "]";
      if (!data[r].IsArray() || data[r].Size() != d["columns"].Size())
        throw RequestError(400, where + ": expected a list of " + std::to_string(d["columns"].Size()) +
                                    " values (one per column)");
      for (size_t c = 0; c < columns.size(); ++c)
        out[r].push_back(cell_text(data[r][static_cast<rapidjson::SizeType>(index[c])], where + " '" + columns[c] + "'"));
    }
    return std::make_shared<Table>(table_from_rows("request", columns, out));
  }

  static void value(CompactJsonWriter& w, const PredictionColumn& c, size_t row) {
    double x;
    if (c.numeric && parse_double(c.values[row], x)) json_double(w, x);
    else json_string(w, c.values[row]);
  }

  std::string predict(const httplib::Request& req) const {
    const auto cols = scorer_.predict(one_row(req));
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

  std::string batch_predict(const httplib::Request& req) const {
    const auto cols = scorer_.predict(rows(req));
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

 private:
  const ServeOptions& o_;
  const Scorer& scorer_;
  std::atomic<int64_t> requests_{0};
};

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

  const int threads = resolve_threads(o.threads, 0);
  torch::set_num_threads(threads);
  Batching batching;
  batching.max_rows = o.max_batch_size, batching.timeout_us = o.batch_timeout_us;
  Scorer scorer(o.model_path, threads, batching);
  Server api(o, scorer);

  httplib::Server svr;
  svr.new_task_queue = [n = o.http_threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  svr.set_payload_max_length(static_cast<size_t>(o.max_body_mb * 1024 * 1024));
  svr.set_read_timeout(10);
  svr.set_write_timeout(10);
  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    api.answer(res, [] { return std::string("{\"status\":\"ok\"}"); });
  });
  svr.Get("/model", [&](const httplib::Request&, httplib::Response& res) {
    api.answer(res, [&] { return api.model_json(); });
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
    if (res.status == 404) message = "no endpoint " + req.method + " " + req.path + " (POST /predict, POST /batch_predict, GET /health, GET /model)";
    if (res.status == 413) message = "request body over " + format_double(o.max_body_mb) + " MB (--max_body_mb)";
    res.set_content(error_json(message), "application/json");
  });

  int port = o.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o.host);
    if (port < 0) throw UsageError("cannot listen on " + o.host);
  } else if (!svr.bind_to_port(o.host, port)) {
    throw UsageError("cannot listen on " + o.host + ":" + std::to_string(port) + " (in use, or not an address of this host)");
  }
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
  std::cerr << "kiln: stopped after " << api.requests() << " requests (" << scorer.forward_passes()
            << " forward passes)" << std::endl;
  return ok ? 0 : 1;
}

}  // namespace kiln
