#include "metrics/metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <cmath>

namespace kiln {

double OutputMetrics::value(const std::string& name) const {
  for (const auto& [k, v] : values())
    if (k == name) return v;
  return std::nan("");
}

static double safe_div(double a, double b) { return b == 0 ? 0.0 : a / b; }

void OutputMetrics::update(const torch::Tensor& logits, const torch::Tensor& target,
                           double loss_sum) {
  const int64_t n = logits.size(0);
  auto rows = torch::full({n}, n > 0 ? loss_sum / n : 0.0, torch::kFloat64);
  add(prepare(logits, target, rows), nullptr);
}

static torch::Tensor row_loss(const torch::Tensor& l) {
  return l.detach().reshape({-1}).to(torch::kFloat64).contiguous();
}

PreparedBatch NumberMetrics::prepare(const torch::Tensor& logits, const torch::Tensor& target,
                                     const torch::Tensor& row_losses) const {
  PreparedBatch p;
  p.a = (logits.detach().reshape({-1}).to(torch::kFloat64) * scale_ + shift_).contiguous();
  p.b = (target.detach().reshape({-1}).to(torch::kFloat64) * scale_ + shift_).contiguous();
  p.loss = row_loss(row_losses);
  p.rows = p.a.size(0);
  return p;
}

void NumberMetrics::add(const PreparedBatch& p, const bool* mask) {
  const double* pred = p.a.data_ptr<double>();
  const double* y = p.b.data_ptr<double>();
  const double* l = p.loss.data_ptr<double>();
  for (int64_t i = 0; i < p.rows; ++i) {
    if (mask && !mask[i]) continue;
    double d = pred[i] - y[i];
    n_ += 1, sse_ += d * d, sae_ += std::fabs(d), sum_y_ += y[i], sum_y2_ += y[i] * y[i];
    loss_ += l[i];
  }
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

PreparedBatch BinaryMetrics::prepare(const torch::Tensor& logits, const torch::Tensor& target,
                                     const torch::Tensor& row_losses) const {
  PreparedBatch p;
  p.a = torch::sigmoid(logits.detach().reshape({-1}).to(torch::kFloat32)).contiguous();
  p.b = target.detach().reshape({-1}).to(torch::kFloat32).contiguous();
  p.loss = row_loss(row_losses);
  p.rows = p.a.size(0);
  return p;
}

void BinaryMetrics::add(const PreparedBatch& p, const bool* mask) {
  const float* pp = p.a.data_ptr<float>();
  const float* yy = p.b.data_ptr<float>();
  const double* l = p.loss.data_ptr<double>();
  for (int64_t i = 0; i < p.rows; ++i) {
    if (mask && !mask[i]) continue;
    bool pred = pp[i] >= threshold_, truth = yy[i] >= 0.5f;
    tp_ += pred && truth, fp_ += pred && !truth, tn_ += !pred && !truth, fn_ += !pred && truth;
    scores_.emplace_back(pp[i], truth);
    sorted_ = false, auc_valid_ = false;
    loss_ += l[i];
  }
}

void BinaryMetrics::merge(const OutputMetrics& o) {
  const auto& x = dynamic_cast<const BinaryMetrics&>(o);
  tp_ += x.tp_, fp_ += x.fp_, tn_ += x.tn_, fn_ += x.fn_, loss_ += x.loss_;
  scores_.insert(scores_.end(), x.scores_.begin(), x.scores_.end());
  sorted_ = false, auc_valid_ = false;
}

// LSD radix sort on the float key (4 passes of 8 bits over an order-preserving uint32 image):
// exact like std::sort, several times faster on the millions of scores evaluate collects.
static void radix_sort_scores(std::vector<std::pair<float, uint8_t>>& v) {
  const size_t n = v.size();
  if (n < 256) {
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first < b.first; });
    return;
  }
  auto key = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // negatives reversed, below positives
  };
  std::vector<std::pair<float, uint8_t>> tmp(n);
  auto* src = &v;
  auto* dst = &tmp;
  for (int shift = 0; shift < 32; shift += 8) {
    size_t count[257] = {0};
    for (const auto& x : *src) count[((key(x.first) >> shift) & 0xFF) + 1]++;
    for (int i = 0; i < 256; ++i) count[i + 1] += count[i];
    for (const auto& x : *src) (*dst)[count[(key(x.first) >> shift) & 0xFF]++] = x;
    std::swap(src, dst);
  }
  // four passes: the result is back in v
}

void BinaryMetrics::sort_scores() const {
  if (sorted_) return;
  radix_sort_scores(scores_);
  sorted_ = true;
}

// Rank-sum (Mann-Whitney) AUC; tied scores get their average rank.
double BinaryMetrics::roc_auc() const {
  if (auc_valid_) return auc_;
  sort_scores();
  const auto& s = scores_;
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
  auc_ = pos == 0 || neg == 0 ? std::nan("") : (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg);
  auc_valid_ = true;
  return auc_;
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
  // Scores sorted once; each threshold then reads a suffix (descending sweep).
  sort_scores();
  const auto& sorted = scores_;
  size_t i = sorted.size();
  double tp = 0, fp = 0;
  for (int k = 0; k <= 100; ++k) {
    double t = 1.0 - k / 100.0;
    for (; i > 0 && sorted[i - 1].first >= t; --i) (sorted[i - 1].second ? tp : fp) += 1;
    thr.push_back(t), tpr.push_back(safe_div(tp, pos)), fpr.push_back(safe_div(fp, neg));
  }
  std::vector<double> precision;  // at the same thresholds; recall = true_positive_rate
  {
    size_t j = sorted.size();
    double tp2 = 0, fp2 = 0;
    for (int k = 0; k <= 100; ++k) {
      double t = 1.0 - k / 100.0;
      for (; j > 0 && sorted[j - 1].first >= t; --j) (sorted[j - 1].second ? tp2 : fp2) += 1;
      precision.push_back(tp2 + fp2 > 0 ? tp2 / (tp2 + fp2) : 1.0);
    }
  }
  for (auto [name, v] : {std::pair<const char*, std::vector<double>*>{"false_positive_rate", &fpr},
                         {"true_positive_rate", &tpr}, {"thresholds", &thr}}) {
    w.Key(name);
    w.StartArray();
    for (double x : *v) json_double(w, x);
    w.EndArray();
  }
  w.EndObject();
  w.Key("precision_recall_curve");
  w.StartObject();
  for (auto [name, v] : {std::pair<const char*, std::vector<double>*>{"precision", &precision},
                         {"recall", &tpr}, {"thresholds", &thr}}) {
    w.Key(name);
    w.StartArray();
    for (double x : *v) json_double(w, x);
    w.EndArray();
  }
  w.EndObject();
}

PreparedBatch CategoryMetrics::prepare(const torch::Tensor& logits, const torch::Tensor& target,
                                       const torch::Tensor& row_losses) const {
  PreparedBatch p;
  auto l = logits.detach();
  p.b = target.detach().reshape({-1}).to(torch::kInt64).contiguous();
  p.a = l.argmax(1).contiguous();
  int64_t k = std::min<int64_t>(top_k_, l.size(1));
  auto topk = std::get<1>(l.topk(k, 1));
  p.c = (topk == p.b.unsqueeze(1)).any(1).contiguous();  // true label among the top k
  p.loss = row_loss(row_losses);
  p.rows = p.a.size(0);
  return p;
}

void CategoryMetrics::add(const PreparedBatch& p, const bool* mask) {
  const int64_t C = static_cast<int64_t>(labels_.size());
  const int64_t* pred = p.a.data_ptr<int64_t>();
  const int64_t* y = p.b.data_ptr<int64_t>();
  const bool* hit = p.c.data_ptr<bool>();
  const double* l = p.loss.data_ptr<double>();
  for (int64_t i = 0; i < p.rows; ++i) {
    if (mask && !mask[i]) continue;
    ++n_;
    if (y[i] < 0) {
      ++unseen_;
      continue;
    }
    confusion_[y[i] * C + pred[i]]++;
    correct_ += y[i] == pred[i];
    hits_ += hit[i];
    loss_ += l[i];
  }
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
