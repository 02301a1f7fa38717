// Precompiled header shared by every target: libtorch's headers dominate build time.
#pragma once
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <string>
#include <vector>
