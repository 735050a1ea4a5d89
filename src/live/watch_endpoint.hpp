// /ws/watch/<username>: a viewer. No authentication; the viewer is added to the hub's fan-out
// and only listens. The streamer watching their own output is not counted as audience.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "auth/auth_service.hpp"
#include "live/endpoint.hpp"
#include "live/hub.hpp"
#include "live/peer.hpp"
#include "live/style_service.hpp"
#include "live/video_hub.hpp"
#include "store/users.hpp"

namespace ds::live {

// One viewer's connection.
struct WatchContext {
  std::string username;  // canonical
  bool audience = true;  // false for the streamer's own preview
  Bytes styles;          // the style queue when the connection was accepted
  // Many nodes: the state its home announced, and whether styles was asked of that home.
  std::optional<StreamState> announced;
  bool styles_from_home = false;
  // `?video=h264` on a node that encodes video: the viewer gets H.264 units (VideoHub).
  bool video = false;
};

class WatchEndpoint {
 public:
  // styles may be null (no style requests); video null: no video (`serve --video off`), a
  // viewer asking for it gets JPEG frames.
  WatchEndpoint(Hub& hub, auth::AuthService& auth, StyleService* styles, VideoHub* video = nullptr);

  // The streamer of a canonical username (domain::canonical_username), if there is one.
  // Blocking (database).
  std::optional<store::User> find_streamer(const std::string& name);

  // Blocking (database): 4404 for no such streamer, 1008 (unsupported_video) for a video
  // option other than h264. May throw when the database is away.
  Connected<WatchContext> connect(const ConnectRequest& req);

  // Joins the fan-out (state, count and latest frame at once), then the style queue.
  void on_open(WatchContext& ctx, const std::shared_ptr<Peer>& self);
  // Viewers only listen: whatever they send is ignored.
  void on_message(WatchContext&, const std::shared_ptr<Peer>&, bool, std::string&&) {}
  void on_closed(WatchContext& ctx, Peer& self);

 private:
  Hub& hub_;
  auth::AuthService& auth_;
  StyleService* styles_;
  VideoHub* video_;
};

}  // namespace ds::live
