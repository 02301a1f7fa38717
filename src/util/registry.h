#pragma once
// One small registry reused for feature types, encoders, combiners, decoders and optimizers.
// Entries are added by explicit calls listed in builtins.cpp (never static initialisers, which
// vanish under static linking).
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln {

template <class Entry>
class Registry {
 public:
  void add(const std::string& name, Entry entry) {
    if (!entries_.emplace(name, std::move(entry)).second)
      throw std::logic_error("registry: '" + name + "' registered twice");
  }
  const Entry* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : entries_) out.push_back(k);
    return out;
  }
  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  std::map<std::string, Entry> entries_;
};

}  // namespace kiln
