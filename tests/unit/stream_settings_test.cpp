#include "domain/stream_settings.hpp"

#include <gtest/gtest.h>

using namespace ds;
using namespace ds::domain;

TEST(StreamSettingsPatch, AnEmptyPatchChangesNothing) {
  StreamSettings s;
  s.base_style = "pencil";
  auto r = apply_settings_patch(s, {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->base_style, "pencil");
  EXPECT_EQ(r->style_policy, StylePolicy::kAuto);
  EXPECT_EQ(r->style_slot_seconds, 30);
  EXPECT_EQ(r->strength, 60);
  EXPECT_TRUE(r->comments_enabled);
}

TEST(StreamSettingsPatch, OnlyTheNamedFieldsChange) {
  StreamSettingsPatch p;
  p.comments_enabled = false;
  p.style_policy = "approve";
  p.strength = 0.255;
  auto r = apply_settings_patch({}, p);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->comments_enabled);
  EXPECT_TRUE(r->styles_enabled);
  EXPECT_EQ(r->style_policy, StylePolicy::kApprove);
  EXPECT_EQ(r->strength, 26);  // percent, rounded
  EXPECT_EQ(r->style_slot_seconds, 30);
}

TEST(StreamSettingsPatch, PolicyIsAutoOrApprove) {
  StreamSettingsPatch p;
  p.style_policy = "manual";
  auto r = apply_settings_patch({}, p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(r.error().code, "invalid_policy");
  p.style_policy = "auto";
  EXPECT_EQ(apply_settings_patch({}, p)->style_policy, StylePolicy::kAuto);
}

TEST(StreamSettingsPatch, SlotIsFiveToSixHundredSeconds) {
  for (long long v : {4LL, 601LL, -1LL}) {
    StreamSettingsPatch p;
    p.style_slot_seconds = v;
    auto r = apply_settings_patch({}, p);
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error().code, "invalid_slot");
  }
  for (long long v : {5LL, 600LL}) {
    StreamSettingsPatch p;
    p.style_slot_seconds = v;
    EXPECT_EQ(apply_settings_patch({}, p)->style_slot_seconds, v);
  }
}

TEST(StreamSettingsPatch, BaseStyleIsTrimmedTextUpTo200Characters) {
  StreamSettingsPatch p;
  p.base_style = "  charcoal  ";
  EXPECT_EQ(apply_settings_patch({}, p)->base_style, "charcoal");
  p.base_style = "";
  EXPECT_EQ(apply_settings_patch({}, p)->base_style, "");
  p.base_style = std::string(201, 'a');
  auto r = apply_settings_patch({}, p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_style");
  p.base_style = "bad \xff utf8";
  EXPECT_EQ(apply_settings_patch({}, p).error().code, "invalid_style");
}

TEST(StreamSettingsPatch, StrengthIsZeroToOne) {
  for (double v : {-0.01, 1.01}) {
    StreamSettingsPatch p;
    p.strength = v;
    auto r = apply_settings_patch({}, p);
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error().code, "invalid_strength");
  }
  StreamSettingsPatch p;
  p.strength = 1.0;
  EXPECT_EQ(apply_settings_patch({}, p)->strength, 100);
  p.strength = 0.0;
  EXPECT_EQ(apply_settings_patch({}, p)->strength, 0);
}
