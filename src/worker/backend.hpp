// A model backend: turns one camera JPEG into one processed JPEG for a job's style params.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/expected.hpp"

namespace ds::worker {

// The style parameters a job carries (protocol: job.params).
struct JobParams {
  std::string prompt;
  double strength = 0.6;  // 0 = the original frame, 1 = the full look
  std::int64_t seed = 0;
  nlohmann::json extra = nlohmann::json::object();  // every other key, e.g. "steps"
};

// Reads job.params leniently: missing or mistyped keys keep their defaults, strength is clamped
// to [0, 1], and keys this struct does not name go to `extra`.
JobParams params_from_json(const nlohmann::json& params);

// Where the time of one process() (or process_batch()) call went, in milliseconds.
struct Timings {
  double decode_ms = 0;
  double infer_ms = 0;
  double encode_ms = 0;
};

// One job of a batch: its input JPEG and style params (both outlive the call).
struct BatchItem {
  std::string_view jpeg;
  const JobParams* params = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Returns the processed JPEG, or an Error for an undecodable input.
  virtual Expected<std::string> process(std::string_view jpeg, const JobParams& params) = 0;
  // The same, also saying where the time went; by default it all counts as inference.
  virtual Expected<std::string> process_timed(std::string_view jpeg, const JobParams& params,
                                              Timings& timings);
  // Several streams' frames in one model call (a `batch`): one answer per item, in order.
  // timings cover the whole call. By default the items run one after another.
  virtual std::vector<Expected<std::string>> process_batch(std::span<const BatchItem> items,
                                                           Timings& timings);
};

// The OpenCV stylisation backend (no model weights). process() keeps no mutable state, so one
// instance may be shared by several threads. `simulate_ms` sleeps that long per model call, on
// top of the real work, to stand in for a model's latency; a batch of k frames sleeps
// simulate_ms + simulate_batch_extra_ms * (k - 1), like a batched GPU model.
std::unique_ptr<Backend> make_cpu_backend(int simulate_ms = 0, int simulate_batch_extra_ms = 0);

}  // namespace ds::worker
