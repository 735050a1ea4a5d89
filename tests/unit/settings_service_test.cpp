#include "live/settings_service.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "live/protocol.hpp"
#include "store/streams.hpp"
#include "temp_database.hpp"

using namespace ds;

namespace {

// Records the text events the hub sends; stands in for a socket.
struct RecordingPeer : live::Peer {
  std::vector<nlohmann::json> texts;
  void send_text(live::Bytes t) override { texts.push_back(nlohmann::json::parse(*t)); }
  void send_frame(live::Bytes, live::Bytes, bool) override {}
  void close(int, std::string) override {}
  std::vector<nlohmann::json> events(const std::string& type) const {
    std::vector<nlohmann::json> out;
    for (const auto& t : texts) {
      if (t["type"] == type) out.push_back(t);
    }
    return out;
  }
};

struct SettingsServiceTest : ::testing::Test {
  ds::test::TempDatabase tmp;
  ManualClock clock;
  live::Hub hub{clock};
  live::StyleService styles{tmp.db(), hub, clock};
  live::SettingsService settings{tmp.db(), hub, styles};
  store::User streamer;
  std::shared_ptr<RecordingPeer> watcher = std::make_shared<RecordingPeer>();

  void SetUp() override {
    streamer.username = "alice";
    streamer.email = "alice@example.com";
    streamer.display_name = "Alice";
    streamer.created_ms = clock.now_ms();
    streamer.id =
        tmp.db().write([&](soci::session& sql) { return store::insert_user(sql, streamer); });
    hub.add_viewer("alice", watcher);
  }

  void open_stream() {
    auto id = tmp.db().write([&](soci::session& sql) {
      return store::insert_stream_session(sql, streamer.id, clock.now_ms());
    });
    auto stream = hub.open_stream({id, streamer.id, "alice", "Alice", {"", 0.6, id}});
    ASSERT_TRUE(stream);
    styles.on_stream_event(live::StreamOpened{"alice", streamer.id, id, false, stream});
  }
};

}  // namespace

TEST_F(SettingsServiceTest, DefaultsUntilSaved) {
  auto s = settings.get(streamer.id);
  EXPECT_TRUE(s.comments_enabled);
  EXPECT_EQ(s.style_policy, domain::StylePolicy::kAuto);
  EXPECT_EQ(s.strength, 60);
}

TEST_F(SettingsServiceTest, UpdateSavesAndTellsViewers) {
  domain::StreamSettingsPatch p;
  p.style_policy = "approve";
  p.base_style = "pencil";
  auto saved = settings.update(streamer, p);
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->style_policy, domain::StylePolicy::kApprove);
  auto again = settings.get(streamer.id);
  EXPECT_EQ(again.style_policy, domain::StylePolicy::kApprove);
  EXPECT_EQ(again.base_style, "pencil");
  auto events = watcher->events("settings");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["settings"]["style_policy"], "approve");
  EXPECT_EQ(events[0]["settings"]["base_style"], "pencil");
  EXPECT_DOUBLE_EQ(events[0]["settings"]["strength"].get<double>(), 0.6);
  // The style queue heard of it too (the offline channel's state changes at once).
  ASSERT_FALSE(watcher->events("styles").empty());
  EXPECT_EQ(watcher->events("styles").back()["styles"]["policy"], "approve");
}

TEST_F(SettingsServiceTest, RefusedChangeSavesAndSendsNothing) {
  auto sent = watcher->texts.size();
  domain::StreamSettingsPatch p;
  p.base_style = "pencil";
  p.strength = 2.0;
  auto r = settings.update(streamer, p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_strength");
  EXPECT_EQ(settings.get(streamer.id).base_style, "");
  EXPECT_EQ(watcher->texts.size(), sent);
}

TEST_F(SettingsServiceTest, NewBaseStyleGoesIntoWorkerJobsOfALiveStream) {
  open_stream();
  domain::StreamSettingsPatch p;
  p.base_style = "charcoal";
  p.strength = 0.3;
  ASSERT_TRUE(settings.update(streamer, p));
  auto snap = hub.snapshot("alice");
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->style.prompt, "charcoal");
  EXPECT_DOUBLE_EQ(snap->style.strength, 0.3);
}

TEST(SettingsJson, ShowsPolicyAsTextAndStrengthAsAFraction) {
  domain::StreamSettings s;
  s.style_policy = domain::StylePolicy::kApprove;
  s.strength = 25;
  auto j = live::settings_json(s);
  EXPECT_EQ(j["style_policy"], "approve");
  EXPECT_DOUBLE_EQ(j["strength"].get<double>(), 0.25);
  auto event = nlohmann::json::parse(*live::wire::encode_settings(j));
  EXPECT_EQ(event["type"], "settings");
  EXPECT_EQ(event["settings"], j);
}
