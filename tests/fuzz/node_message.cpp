// Fuzzes what one node accepts from another over Redis (cluster::RedisBus::receive), both layers:
// the seal's framing (cluster/seal, the bytes as they come) and the node-message decoder behind
// it (the bytes sealed here first with the cluster's key, as a node would send them). The first
// input byte picks the channel (a node's calls, two streams, the ready line, broadcasts) and the
// layer; the bus is never started (a call's reply goes to a link that is down and is dropped).
// Whatever arrives, nothing crashes, and nothing that was not sealed with the key is ever acted
// on.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "cluster/redis_bus.hpp"

namespace {

using namespace ds;

constexpr const char* kSecret = "fuzzing cluster secret";
constexpr const char* kChannels[] = {"ds:n:fuzz", "ds:c:alice", "ds:ready", "ds:c:bob"};

struct Target {
  ManualClock clock;
  cluster::Seal peer{kSecret, "peer", clock};
  cluster::RedisBus* bus = nullptr;
  bool acted = false;  // an event or call reached this node's services

  Target() {
    cluster::RedisBusConfig config;
    config.address.port = 1;  // never connected: start() is not called
    config.node_id = "fuzz";
    config.secret = kSecret;
    bus = new cluster::RedisBus(config, clock);  // lives as long as the process
    live::ClusterEvents events;
    events.result = [this](const live::FrameResult& r) {
      acted = true;
      DS_FUZZ_CHECK(r.jpeg != nullptr, r.username);
    };
    events.text = [this](const std::string&, const live::Bytes& t) {
      acted = true;
      DS_FUZZ_CHECK(t != nullptr, "text");
    };
    events.frames_ready = [] {};
    events.supersede = [this](long long session, std::uint64_t) {
      acted = true;
      DS_FUZZ_CHECK(session > 0, "supersede");
    };
    bus->listen(std::move(events));
    bus->serve_calls([this](const live::Call& c) -> live::Call {
      acted = true;
      return {{{"echo", c.header}}, c.body};
    });
  }
};

Target& target() {
  static Target t;
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto& t = target();
  t.clock.advance_ms(1);  // the replay cache forgets what is older than 10 s
  // Bit 4 picks the broadcast channel; bits 0-1 the others.
  std::string_view channel = (data[0] & 16) ? "ds:all" : kChannels[data[0] & 3];
  bool seal_here = data[0] & 4;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string payload = seal_here ? t.peer.seal(channel, rest) : std::string(rest);
  t.acted = false;
  auto before = t.bus->stats();
  t.bus->receive(channel, payload);
  if (!seal_here && channel != "ds:ready") {
    // Bytes nobody sealed: dropped and counted, never acted on.
    auto after = t.bus->stats();
    DS_FUZZ_CHECK(!t.acted, rest);
    DS_FUZZ_CHECK(after.dropped_forged + after.dropped_stale + after.dropped_replayed ==
                      before.dropped_forged + before.dropped_stale + before.dropped_replayed + 1,
                  rest);
  }
  // The registry's entries (not sealed: Lua reads them) go through their own decoder.
  (void)cluster::wire::parse_announced(rest);
  return 0;
}
