#include <algorithm>
#include <cmath>

#include "worker/backend.hpp"

namespace ds::worker {

JobParams params_from_json(const nlohmann::json& params) {
  JobParams out;
  if (!params.is_object()) return out;
  for (const auto& [key, value] : params.items()) {
    if (key == "prompt") {
      if (value.is_string()) out.prompt = value.get<std::string>();
    } else if (key == "strength") {
      if (value.is_number()) {
        double s = value.get<double>();
        if (std::isfinite(s)) out.strength = std::clamp(s, 0.0, 1.0);
      }
    } else if (key == "seed") {
      if (value.is_number_integer()) {
        out.seed = value.get<std::int64_t>();
      } else if (value.is_number_float()) {
        double s = value.get<double>();
        if (std::isfinite(s) && std::abs(s) < 9.0e18) out.seed = static_cast<std::int64_t>(s);
      }
    } else {
      out.extra[key] = value;
    }
  }
  return out;
}

}  // namespace ds::worker
