#include "worker/av_source.hpp"

#include <dlfcn.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <thread>

#include "video/libav.hpp"
#include "worker/input_policy.hpp"
#include "worker/latest_slot.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavdevice/version_major.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

namespace ds::worker {
namespace {

using Clock = std::chrono::steady_clock;

// -- RAII for the libav objects ------------------------------------------------------------
struct FormatCloser {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct DictFreer {
  void operator()(AVDictionary* p) const { av_dict_free(&p); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;

using video::libav::CodecPtr;
using video::libav::FramePtr;
using video::libav::PacketPtr;
using video::libav::SwsPtr;
std::string av_error(int code) { return video::libav::error_text(code); }

bool parse_side(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() &&
         (out == 0 || (out >= 16 && out <= 4096));
}

// Whether `fd` is a socket listening on `port`.
bool listens_on(int fd, int port) {
  int accepting = 0;
  socklen_t len = sizeof accepting;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) return false;
  sockaddr_storage addr{};
  len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port) == port;
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port) == port;
  }
  return false;
}

// What the interrupt callback looks at: the caller's cancel flag and the source's own stop;
// while a listener opens, also the publisher's stream name and the handshake deadline.
struct Interrupt {
  const std::atomic<bool>* cancel = nullptr;
  std::atomic<bool> stop{false};
  bool fired() const { return stop.load() || (cancel && cancel->load()); }

  // The fields below are used only on the opening thread, before the decoder thread starts.
  bool opening = false;
  std::string secret;              // redacted from libav's lines
  bool check_stream_name = false;  // RTMP with a secret
  bool wrong_name = false;         // libav saw a stream name other than the secret
  int listen_port = 0;             // 0: no handshake deadline
  Clock::duration handshake_timeout{};
  int listen_fd = -1;  // libav's listening socket, once found
  Clock::time_point deadline = Clock::time_point::max();
  bool timed_out = false;
  std::function<void()> on_listening;  // AvInputOptions::on_listening
  bool listening_told = false;

  bool dropping() const { return wrong_name || timed_out; }

  // libav checks for an interrupt only once it listens: for rtmp/tcp/http in ff_accept's poll
  // loop, after bind() and listen() (and the listening socket is then found here); for srt in
  // its wait after srt_listen(). So the first check of an open in listen mode is "bound".
  void tell_listening() {
    if (listening_told || !on_listening) return;
    if (listen_port != 0 && listen_fd < 0) return;
    listening_told = true;
    on_listening();
  }

  // libav gives no hook between its accept() and the RTMP handshake, but its listening socket
  // is in this process: found while it waits, and closed by libav as soon as it accepts. From
  // then on the publisher has `handshake_timeout` to be decoded.
  void watch_listener() {
    if (listen_port == 0 || deadline != Clock::time_point::max()) return;
    if (listen_fd < 0) {
      for (int fd = 3; fd < 1024; ++fd) {
        if (listens_on(fd, listen_port)) {
          listen_fd = fd;
          break;
        }
      }
    } else if (!listens_on(listen_fd, listen_port)) {
      deadline = Clock::now() + handshake_timeout;
    }
  }
};

// The Interrupt of the open running on this thread, for libav's log lines (which say when a
// publisher's stream name differs, and must not show the secret).
thread_local Interrupt* t_opening = nullptr;

int interrupt_cb(void* opaque) {
  auto* in = static_cast<Interrupt*>(opaque);
  if (in->fired()) return 1;
  if (!in->opening) return 0;
  if (in->wrong_name) return 1;
  in->watch_listener();
  in->tell_listening();
  if (Clock::now() > in->deadline) in->timed_out = true;
  return in->timed_out ? 1 : 0;
}

// Turns decoded frames into JPEGs of one size: swscale to BGR24, then OpenCV's encoder.
class JpegConverter {
 public:
  JpegConverter(FrameSize want, int quality) : want_(want), quality_(quality) {}

  std::string convert(const AVFrame& f) {
    FrameSize out = output_size(want_, f.width, f.height);
    sws_.reset(sws_getCachedContext(sws_.release(), f.width, f.height,
                                    static_cast<AVPixelFormat>(f.format), out.width, out.height,
                                    AV_PIX_FMT_BGR24, SWS_BILINEAR, nullptr, nullptr, nullptr));
    if (!sws_) return {};
    picture_.create(out.height, out.width, CV_8UC3);
    uint8_t* dst[4] = {picture_.data, nullptr, nullptr, nullptr};
    int dst_stride[4] = {static_cast<int>(picture_.step), 0, 0, 0};
    sws_scale(sws_.get(), f.data, f.linesize, 0, f.height, dst, dst_stride);
    std::vector<uchar> jpeg;
    if (!cv::imencode(".jpg", picture_, jpeg, {cv::IMWRITE_JPEG_QUALITY, quality_})) return {};
    return std::string(jpeg.begin(), jpeg.end());
  }

 private:
  FrameSize want_;
  int quality_;
  SwsPtr sws_;
  cv::Mat picture_;
};

class AvSource final : public FrameSource {
 public:
  AvSource(AvInputOptions options, std::unique_ptr<Interrupt> interrupt, FormatPtr format,
           CodecPtr codec, int stream, bool pace, bool seekable)
      : options_(std::move(options)),
        interrupt_(std::move(interrupt)),
        format_(std::move(format)),
        codec_(std::move(codec)),
        stream_(stream),
        pace_(pace),
        seekable_(seekable),
        decoder_([this] { decode_loop(); }) {}

  ~AvSource() override {
    interrupt_->stop = true;
    decoder_.join();
  }

  std::optional<std::string> take() override { return slot_.take(); }
  bool exhausted() const override { return slot_.exhausted(); }
  std::int64_t dropped() const override { return slot_.dropped(); }
  std::string failure() const override { return slot_.failure(); }

 private:
  void decode_loop() {
    PacketPtr packet(av_packet_alloc());
    FramePtr frame(av_frame_alloc());
    held_.reset(av_frame_alloc());
    std::string failure;
    bool ended = false;
    bool rewind = false;  // --loop: the end of a file was drained, start it again
    while (!ended && !interrupt_->fired()) {
      int r = av_read_frame(format_.get(), packet.get());
      if (r == AVERROR(EAGAIN)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (r < 0) {
        if (r != AVERROR_EOF && r != AVERROR_EXIT && !interrupt_->fired()) {
          if (options_.listen) {
            left_ = av_error(r);  // the publisher stopped (or its line broke): not a failure
          } else {
            failure = "reading " + options_.url + ": " + av_error(r);
          }
        }
        rewind = r == AVERROR_EOF && options_.loop && seekable_;
        ended = !rewind;
        avcodec_send_packet(codec_.get(), nullptr);  // drain what the decoder holds
      } else if (packet->stream_index != stream_) {
        av_packet_unref(packet.get());
        continue;
      } else {
        r = avcodec_send_packet(codec_.get(), packet.get());
        av_packet_unref(packet.get());
        if (r < 0 && r != AVERROR(EAGAIN)) {
          note_bad_packet(r);  // corrupt: skip it, the next keyframe repairs the picture
          continue;
        }
      }
      for (;;) {
        r = avcodec_receive_frame(codec_.get(), frame.get());
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) break;
        if (r < 0) {
          note_bad_packet(r);
          break;
        }
        on_frame(frame.get());
        av_frame_unref(frame.get());
      }
      if (rewind) {
        rewind = false;
        avcodec_flush_buffers(codec_.get());
        paced_once_ = false;
        r = av_seek_frame(format_.get(), -1,
                          format_->start_time == AV_NOPTS_VALUE ? 0 : format_->start_time,
                          AVSEEK_FLAG_BACKWARD);
        if (r < 0) {
          failure = "cannot go back to the start of " + options_.url + ": " + av_error(r);
          ended = true;
        }
      }
    }
    // The newest picture a throttle held back is the last one of the input: send it too.
    if (!interrupt_->fired() && held_->data[0]) publish(held_.get());
    spdlog::info("event=input_ended url={} decoded={} converted={} bad_packets={}{}{}",
                 options_.url, decoded_, slot_.puts(), bad_packets_,
                 failure.empty() ? "" : " error=\"" + failure + "\"",
                 left_.empty() ? "" : " publisher_left=\"" + left_ + "\"");
    slot_.finish(std::move(failure));
  }

  void note_bad_packet(int code) {
    ++bad_packets_;
    if (bad_packets_ == 1 || bad_packets_ % 100 == 0) {
      spdlog::warn("event=bad_packet count={} error=\"{}\"", bad_packets_, av_error(code));
    }
  }

  void on_frame(AVFrame* f) {
    ++decoded_;
    if (pace_) wait_for_timestamp(f);
    if (interrupt_->fired()) return;
    // Convert at most two pictures per sender tick: the rest would only be dropped.
    auto now = Clock::now();
    auto min_gap = std::chrono::duration<double>(0.5 / options_.fps);
    if (converted_once_ && now - last_convert_ < min_gap) {
      av_frame_unref(held_.get());
      av_frame_ref(held_.get(), f);
      return;
    }
    av_frame_unref(held_.get());
    publish(f);
  }

  void publish(const AVFrame* f) {
    converted_once_ = true;
    last_convert_ = Clock::now();
    std::string jpeg = converter_.convert(*f);
    if (jpeg.empty()) {
      spdlog::warn("event=convert_failed width={} height={} format={}", f->width, f->height,
                   f->format);
      return;
    }
    slot_.put(std::move(jpeg));
  }

  // --realtime: hold each frame until its timestamp is due on the wall clock.
  void wait_for_timestamp(const AVFrame* f) {
    int64_t ts = f->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE) return;
    double t = static_cast<double>(ts) * av_q2d(format_->streams[stream_]->time_base);
    auto now = Clock::now();
    auto due = pace_start_ + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(t - pace_base_));
    // First frame, a timestamp going back, or more than a second late or early: start again.
    if (!paced_once_ || t < pace_base_ || now > due + std::chrono::seconds(1) ||
        due > now + std::chrono::seconds(1)) {
      paced_once_ = true;
      pace_base_ = t;
      pace_start_ = now;
      return;
    }
    while (!interrupt_->fired() && Clock::now() < due) {
      auto left = due - Clock::now();
      std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(50)));
    }
  }

  AvInputOptions options_;
  std::unique_ptr<Interrupt> interrupt_;  // format_'s interrupt callback points at it
  FormatPtr format_;
  CodecPtr codec_;
  int stream_;
  bool pace_;
  bool seekable_;
  LatestSlot slot_;
  JpegConverter converter_{options_.size, options_.quality};
  FramePtr held_;  // the newest decoded frame the throttle did not convert yet
  bool converted_once_ = false;
  Clock::time_point last_convert_;
  bool paced_once_ = false;
  double pace_base_ = 0;
  Clock::time_point pace_start_;
  std::int64_t decoded_ = 0;
  std::int64_t bad_packets_ = 0;
  std::string left_;     // listen mode: how the publisher's line ended
  std::thread decoder_;  // last: starts after every other member exists
};

void redact(std::string& text, const std::string& secret) {
  if (secret.empty()) return;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "***");
  }
}

void libav_log(void* avcl, int level, const char* fmt, va_list vl) {
  Interrupt* opening = t_opening;
  if (opening && std::string_view(fmt).starts_with("Unexpected stream ")) {
    // The RTMP publisher's stream name is not the listener's: libav only warns (and the line
    // shows the secret). With a secret that drops the publisher; without one any name is fine.
    if (opening->check_stream_name) opening->wrong_name = true;
    spdlog::debug("event=libav msg=\"the publisher's stream name is not the listener's\"");
    return;
  }
  // What libav says while an open is given up on purpose (a signal, a dropped publisher) is
  // not news: "Cannot open connection tcp://…?listen" after SIGTERM, for one.
  bool quiet = opening && (opening->fired() || opening->dropping());
  int shown = quiet ? AV_LOG_DEBUG : level;
  if (shown > av_log_get_level()) return;
  char buf[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, fmt, vl, buf, sizeof buf, &print_prefix);
  std::string text(buf);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  if (opening) redact(text, opening->secret);
  if (shown <= AV_LOG_ERROR) {
    spdlog::warn("event=libav level=error msg=\"{}\"", text);
  } else if (shown <= AV_LOG_WARNING) {
    spdlog::info("event=libav level=warning msg=\"{}\"", text);
  } else {
    spdlog::debug("event=libav msg=\"{}\"", text);
  }
}

// Marks the open in progress on this thread for libav_log.
class OpeningScope {
 public:
  explicit OpeningScope(Interrupt& in) : in_(in) {
    in_.opening = true;
    t_opening = &in_;
  }
  ~OpeningScope() {
    in_.opening = false;
    t_opening = nullptr;
  }
  OpeningScope(const OpeningScope&) = delete;
  OpeningScope& operator=(const OpeningScope&) = delete;

 private:
  Interrupt& in_;
};

}  // namespace

Expected<FrameSize> parse_frame_size(std::string_view text) {
  auto x = text.find_first_of("xX");
  FrameSize size;
  if (x == std::string_view::npos || !parse_side(text.substr(0, x), size.width) ||
      !parse_side(text.substr(x + 1), size.height) || (size.width == 0 && size.height == 0)) {
    return bad_request(
        "--size must be WIDTHxHEIGHT, each 16..4096 (or one of them 0 to keep "
        "the aspect ratio), e.g. 640x480, not \"" +
            std::string(text) + "\"",
        "bad_size");
  }
  return size;
}

Expected<std::pair<std::string, std::string>> parse_input_option(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return bad_request("--input-option must be key=value (e.g. rtsp_transport=tcp), not \"" +
                           std::string(text) + "\"",
                       "bad_input_option");
  }
  return std::pair{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

FrameSize output_size(FrameSize want, int in_w, int in_h) {
  if (in_w <= 0 || in_h <= 0) return {want.width ? want.width : 2, want.height ? want.height : 2};
  auto even = [](double v) { return std::max(2, static_cast<int>(v / 2.0 + 0.5) * 2); };
  if (want.width == 0) want.width = even(static_cast<double>(want.height) * in_w / in_h);
  if (want.height == 0) want.height = even(static_cast<double>(want.width) * in_h / in_w);
  return want;
}

// libavdevice (v4l2, lavfi, x11grab, ...) brings about 150 more shared libraries (libavfilter,
// SDL, X11, JACK, speech synthesis...): linked into the binary, it cost every `serve` about
// 30 MB of memory and its start-up, for the one subcommand that reads devices. So it is loaded
// here, when push --input first opens an input; without it, files and network inputs work.
void register_devices() {
  std::string soname = "libavdevice.so." + std::to_string(LIBAVDEVICE_VERSION_MAJOR);
  void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    spdlog::warn("event=libav_devices_unavailable error=\"{}\"", dlerror());
    return;
  }
  using RegisterAll = void (*)();
  if (auto fn = reinterpret_cast<RegisterAll>(dlsym(lib, "avdevice_register_all"))) fn();
}

void route_libav_logs() {
  av_log_set_level(spdlog::should_log(spdlog::level::debug) ? AV_LOG_VERBOSE : AV_LOG_WARNING);
  av_log_set_callback(libav_log);
}

AvOpenResult open_av_source(const AvInputOptions& options, const std::atomic<bool>& cancel) {
  AvOpenResult result;
  static const bool registered = [] {
    avformat_network_init();
    register_devices();  // v4l2, lavfi, x11grab, ...
    // The publish secret's check reads libav's lines: they come here even when the caller did
    // not route_libav_logs() (which also sets the level).
    av_log_set_callback(libav_log);
    return true;
  }();
  (void)registered;
  const AVInputFormat* input_format = nullptr;
  if (!options.format.empty()) {
    input_format = av_find_input_format(options.format.c_str());
    if (!input_format) {
      result.status = AvOpenStatus::kBadUsage;
      result.message = "unknown --input-format \"" + options.format +
                       "\" (`ffmpeg -formats` lists the demuxers)";
      return result;
    }
  }
  ListenPlan plan;
  if (options.listen) {
    auto planned = listen_plan(options.url, options.publish_secret);
    if (!planned) {
      result.status = AvOpenStatus::kBadUsage;
      result.message = planned.error().message;
      return result;
    }
    plan = std::move(*planned);
  }
  InputPolicy policy = input_policy(options.url, options.format);
  if (!input_format && !policy.format.empty()) {
    input_format = av_find_input_format(policy.format.c_str());
  }
  AVDictionary* raw_dict = nullptr;
  for (const auto& kv : options.options)
    av_dict_set(&raw_dict, kv.first.c_str(), kv.second.c_str(), 0);
  for (const auto& [key, value] : plan.options) {
    // The passphrase is the secret's; listen/mode may be given by hand.
    av_dict_set(&raw_dict, key.c_str(), value.c_str(),
                key == "passphrase" ? 0 : AV_DICT_DONT_OVERWRITE);
  }
  if (options.listen || options.url.find("://") != std::string::npos) {
    // A live network input: probe half a second, not libavformat's 5 s (an FLV stream from
    // OBS or ffmpeg would otherwise start 5 s late). --input-option analyzeduration=… wins.
    av_dict_set(&raw_dict, "analyzeduration", "500000", AV_DICT_DONT_OVERWRITE);
  }
  std::unique_ptr<AVDictionary, DictFreer> dict(raw_dict);

  auto interrupt = std::make_unique<Interrupt>();
  interrupt->cancel = &cancel;
  interrupt->secret = options.publish_secret;
  interrupt->check_stream_name = plan.check_stream_name;
  if (options.listen) interrupt->on_listening = options.on_listening;
  if (plan.handshake_deadline) {
    InputUrl u = parse_input_url(options.url);
    interrupt->listen_port = u.port ? u.port : u.scheme == "rtmp" ? 1935 : 80;
    interrupt->handshake_timeout = options.handshake_timeout;
  }
  std::optional<OpeningScope> opening(std::in_place, *interrupt);
  AVFormatContext* raw = avformat_alloc_context();
  raw->interrupt_callback.callback = interrupt_cb;
  raw->interrupt_callback.opaque = interrupt.get();
  // Only the input's own protocol stack and containers: a playlist or manifest that comes
  // over the network cannot make libav open file: or another URL (--input-option may widen it).
  raw->protocol_whitelist = av_strdup(policy.protocol_whitelist.c_str());
  if (!policy.format_whitelist.empty()) {
    raw->format_whitelist = av_strdup(policy.format_whitelist.c_str());
  }
  const std::string& open_url = options.listen ? plan.open_url : options.url;
  AVDictionary* d = dict.release();
  int r = avformat_open_input(&raw, open_url.c_str(), input_format, &d);
  dict.reset(d);
  auto give_up = [&](std::string message) {
    if (cancel.load()) {
      result.status = AvOpenStatus::kCancelled;
      result.message = std::move(message);
    } else if (interrupt->wrong_name) {
      result.status = AvOpenStatus::kPublisherDropped;
      result.message = "a publisher sent the wrong stream name (not the --publish-secret)";
    } else if (interrupt->timed_out) {
      result.status = AvOpenStatus::kPublisherDropped;
      result.message = "a publisher sent no picture within " +
                       std::to_string(options.handshake_timeout.count()) + " ms";
    } else {
      result.status = AvOpenStatus::kFailed;
      result.message = std::move(message);
    }
    return std::move(result);
  };
  if (r < 0) {  // avformat_open_input freed the context
    return give_up("cannot open " + options.url + ": " + av_error(r));
  }
  FormatPtr format(raw);
  for (const AVDictionaryEntry* e = av_dict_get(dict.get(), "", nullptr, AV_DICT_IGNORE_SUFFIX); e;
       e = av_dict_get(dict.get(), "", e, AV_DICT_IGNORE_SUFFIX)) {
    spdlog::warn("event=unused_input_option key={} (the input does not know it)", e->key);
  }
  r = avformat_find_stream_info(format.get(), nullptr);
  if (r < 0) return give_up("cannot read the streams of " + options.url + ": " + av_error(r));
  const AVCodec* decoder = nullptr;
  int stream = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (stream == AVERROR_STREAM_NOT_FOUND) {
    result.message = options.url + " has no video stream";
    return result;
  }
  if (stream < 0 || !decoder) {
    result.message = "no decoder for the video of " + options.url + ": " + av_error(stream);
    return result;
  }
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (static_cast<int>(i) != stream) format->streams[i]->discard = AVDISCARD_ALL;
  }
  CodecPtr codec(avcodec_alloc_context3(decoder));
  avcodec_parameters_to_context(codec.get(), format->streams[stream]->codecpar);
  codec->flags |= AV_CODEC_FLAG_LOW_DELAY;
  codec->thread_type = FF_THREAD_SLICE;  // frame threads would delay every picture
  codec->thread_count = 0;
  r = avcodec_open2(codec.get(), decoder, nullptr);
  if (r < 0) {
    result.message = "cannot open the " + std::string(decoder->name) + " decoder for " +
                     options.url + ": " + av_error(r);
    return result;
  }
  bool seekable = format->pb && (format->pb->seekable & AVIO_SEEKABLE_NORMAL) != 0;
  bool lavfi = std::string_view(format->iformat->name) == "lavfi";
  bool pace = options.pacing == Pacing::kOn ||
              (options.pacing == Pacing::kAuto && !options.listen && (seekable || lavfi));
  const AVCodecParameters* par = format->streams[stream]->codecpar;
  FrameSize out = output_size(options.size, par->width, par->height);
  if (options.loop && !seekable) {
    spdlog::warn("event=loop_ignored url={} reason=\"not a file: cannot go back\"", options.url);
  }
  spdlog::info(
      "event=input_opened url={} format={} codec={} width={} height={} out={}x{} "
      "realtime={}",
      options.url, format->iformat->name, decoder->name, par->width, par->height, out.width,
      out.height, pace);
  opening.reset();  // before the decoder thread reads the interrupt
  result.status = AvOpenStatus::kOk;
  result.source = std::make_unique<AvSource>(options, std::move(interrupt), std::move(format),
                                             std::move(codec), stream, pace, seekable);
  return result;
}

}  // namespace ds::worker
