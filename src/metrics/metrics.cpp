#include "metrics/metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace kiln {

double OutputMetrics::value(const std::string& name) const {
  for (const auto& [k, v] : values())
    if (k == name) return v;
  return std::nan("");
}

static double safe_div(double a, double b) { return b == 0 ? 0.0 : a / b; }

void NumberMetrics::update(const torch::Tensor& logits, const torch::Tensor& target,
                           double loss_sum) {
  auto p = logits.detach().reshape({-1}).to(torch::kFloat64) * scale_ + shift_;
  auto y = target.detach().reshape({-1}).to(torch::kFloat64) * scale_ + shift_;
  auto d = p - y;
  n_ += static_cast<double>(y.size(0));
  sse_ += (d * d).sum().item<double>();
  sae_ += d.abs().sum().item<double>();
  sum_y_ += y.sum().item<double>();
  sum_y2_ += (y * y).sum().item<double>();
  loss_ += loss_sum;
}

void NumberMetrics::merge(const OutputMetrics& o) {
  const auto& x = dynamic_cast<const NumberMetrics&>(o);
  n_ += x.n_, sse_ += x.sse_, sae_ += x.sae_, sum_y_ += x.sum_y_, sum_y2_ += x.sum_y2_;
  loss_ += x.loss_;
}

MetricValues NumberMetrics::values() const {
  double mse = safe_div(sse_, n_);
  double sst = sum_y2_ - safe_div(sum_y_ * sum_y_, n_);
  return {{"loss", safe_div(loss_, n_)},
          {"mean_squared_error", mse},
          {"mean_absolute_error", safe_div(sae_, n_)},
          {"root_mean_squared_error", std::sqrt(mse)},
          {"r2", sst > 0 ? 1.0 - sse_ / sst : 0.0}};
}

void BinaryMetrics::update(const torch::Tensor& logits, const torch::Tensor& target,
                           double loss_sum) {
  auto prob = torch::sigmoid(logits.detach().reshape({-1}).to(torch::kFloat32)).contiguous();
  auto y = target.detach().reshape({-1}).to(torch::kFloat32).contiguous();
  const float* pp = prob.data_ptr<float>();
  const float* yy = y.data_ptr<float>();
  for (int64_t i = 0; i < prob.size(0); ++i) {
    bool pred = pp[i] >= threshold_, truth = yy[i] >= 0.5f;
    tp_ += pred && truth, fp_ += pred && !truth, tn_ += !pred && !truth, fn_ += !pred && truth;
    scores_.emplace_back(pp[i], truth);
  }
  loss_ += loss_sum;
}

void BinaryMetrics::merge(const OutputMetrics& o) {
  const auto& x = dynamic_cast<const BinaryMetrics&>(o);
  tp_ += x.tp_, fp_ += x.fp_, tn_ += x.tn_, fn_ += x.fn_, loss_ += x.loss_;
  scores_.insert(scores_.end(), x.scores_.begin(), x.scores_.end());
}

// Rank-sum (Mann-Whitney) AUC; tied scores get their average rank.
double BinaryMetrics::roc_auc() const {
  auto s = scores_;
  std::sort(s.begin(), s.end(), [](auto& a, auto& b) { return a.first < b.first; });
  double pos = 0, rank_sum = 0;
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    while (j < s.size() && s[j].first == s[i].first) ++j;
    double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k)
      if (s[k].second) rank_sum += avg_rank, pos += 1;
    i = j;
  }
  double neg = static_cast<double>(s.size()) - pos;
  if (pos == 0 || neg == 0) return std::nan("");
  return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg);
}

MetricValues BinaryMetrics::values() const {
  double n = static_cast<double>(tp_ + fp_ + tn_ + fn_);
  return {{"loss", safe_div(loss_, n)},
          {"accuracy", safe_div(tp_ + tn_, n)},
          {"precision", safe_div(tp_, tp_ + fp_)},
          {"recall", safe_div(tp_, tp_ + fn_)},
          {"specificity", safe_div(tn_, tn_ + fp_)},
          {"roc_auc", roc_auc()}};
}

void BinaryMetrics::write_details(JsonWriter& w) const {
  w.Key("confusion_matrix");  // rows: true label (false, true); columns: predicted
  w.StartArray();
  w.StartArray(), w.Int64(tn_), w.Int64(fp_), w.EndArray();
  w.StartArray(), w.Int64(fn_), w.Int64(tp_), w.EndArray();
  w.EndArray();
  w.Key("labels");
  w.StartArray();
  for (const auto& l : labels_) json_string(w, l);
  w.EndArray();
  // ROC curve at up to 101 thresholds, for reports.
  w.Key("roc_curve");
  w.StartObject();
  std::vector<double> fpr, tpr, thr;
  double pos = static_cast<double>(tp_ + fn_), neg = static_cast<double>(tn_ + fp_);
  for (int k = 0; k <= 100; ++k) {
    double t = 1.0 - k / 100.0;
    double tp = 0, fp = 0;
    for (const auto& [s, y] : scores_)
      if (s >= t) (y ? tp : fp) += 1;
    thr.push_back(t), tpr.push_back(safe_div(tp, pos)), fpr.push_back(safe_div(fp, neg));
  }
  for (auto [name, v] : {std::pair<const char*, std::vector<double>*>{"false_positive_rate", &fpr},
                         {"true_positive_rate", &tpr}, {"thresholds", &thr}}) {
    w.Key(name);
    w.StartArray();
    for (double x : *v) json_double(w, x);
    w.EndArray();
  }
  w.EndObject();
}

void CategoryMetrics::update(const torch::Tensor& logits, const torch::Tensor& target,
                             double loss_sum) {
  auto l = logits.detach();
  auto y = target.detach().reshape({-1}).to(torch::kInt64).contiguous();
  auto pred = l.argmax(1).contiguous();
  const int64_t C = static_cast<int64_t>(labels_.size());
  int k = std::min<int64_t>(top_k_, l.size(1));
  auto topk = std::get<1>(l.topk(k, 1)).contiguous();
  const int64_t* yy = y.data_ptr<int64_t>();
  const int64_t* pp = pred.data_ptr<int64_t>();
  const int64_t* tk = topk.data_ptr<int64_t>();
  for (int64_t i = 0; i < y.size(0); ++i) {
    ++n_;
    if (yy[i] < 0) {
      ++unseen_;
      continue;
    }
    confusion_[yy[i] * C + pp[i]]++;
    correct_ += yy[i] == pp[i];
    for (int j = 0; j < k; ++j) hits_ += tk[i * k + j] == yy[i];
  }
  loss_ += loss_sum;
}

void CategoryMetrics::merge(const OutputMetrics& o) {
  const auto& x = dynamic_cast<const CategoryMetrics&>(o);
  for (size_t i = 0; i < confusion_.size(); ++i) confusion_[i] += x.confusion_[i];
  n_ += x.n_, correct_ += x.correct_, hits_ += x.hits_, unseen_ += x.unseen_, loss_ += x.loss_;
}

MetricValues CategoryMetrics::values() const {
  double counted = static_cast<double>(n_ - unseen_);
  return {{"loss", safe_div(loss_, counted)},
          {"accuracy", safe_div(correct_, n_)},
          {"hits_at_k", safe_div(hits_, n_)}};
}

void CategoryMetrics::write_details(JsonWriter& w) const {
  const size_t C = labels_.size();
  w.Key("confusion_matrix");  // rows: true label; columns: predicted (order of "labels")
  w.StartArray();
  for (size_t i = 0; i < C; ++i) {
    w.StartArray();
    for (size_t j = 0; j < C; ++j) w.Int64(confusion_[i * C + j]);
    w.EndArray();
  }
  w.EndArray();
  w.Key("labels");
  w.StartArray();
  for (const auto& l : labels_) json_string(w, l);
  w.EndArray();
  w.Key("unseen_label_rows");
  w.Int64(unseen_);
  w.Key("per_class_stats");
  w.StartObject();
  for (size_t c = 0; c < C; ++c) {
    double tp = static_cast<double>(confusion_[c * C + c]), row = 0, col = 0;
    for (size_t j = 0; j < C; ++j) row += confusion_[c * C + j], col += confusion_[j * C + c];
    double precision = safe_div(tp, col), recall = safe_div(tp, row);
    json_key(w, labels_[c]);
    w.StartObject();
    w.Key("precision"), json_double(w, precision);
    w.Key("recall"), json_double(w, recall);
    w.Key("f1_score"), json_double(w, safe_div(2 * precision * recall, precision + recall));
    w.Key("support"), w.Int64(static_cast<int64_t>(row));
    w.EndObject();
  }
  w.EndObject();
}

}  // namespace kiln
