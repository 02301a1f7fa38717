#pragma once
// A bounded map that forgets its least recently used entry: process-wide caches in library code
// (the prepared-data cache of hyperopt's workers) must not grow with the number of distinct keys.
#include <cstddef>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

namespace kiln {

template <class K, class V>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}
  // A copy of the value (and it becomes the most recent), or nullopt.
  std::optional<V> get(const K& key) {
    std::lock_guard<std::mutex> guard(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }
  void put(const K& key, V value) {
    std::lock_guard<std::mutex> guard(mutex_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (capacity_ == 0) return;
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    while (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }
  size_t size() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return order_.size();
  }

 private:
  size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::pair<K, V>> order_;  // most recent first
  std::map<K, typename std::list<std::pair<K, V>>::iterator> index_;
};

}  // namespace kiln
