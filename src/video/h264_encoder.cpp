#include "video/h264_encoder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "video/annexb.hpp"
#include "video/libav.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace ds::video {
namespace {

constexpr int kMinSide = 16;
// x264 would insert an IDR after this many pictures on its own; the keyframe rules decide by
// time instead, so it is never reached in practice (2 s is 60 pictures at 30 fps).
constexpr int kGopFrames = 1 << 16;

using video::libav::CodecPtr;
using video::libav::FramePtr;
using video::libav::PacketPtr;
using video::libav::SwsPtr;
std::string av_error(int code) { return video::libav::error_text(code); }

Error failed(std::string code, std::string message) {
  return {ErrorKind::kInternal, std::move(code), std::move(message)};
}

// swscale wants the plain formats with the range said apart; the JPEG ("J") ones are full range.
struct Source {
  AVPixelFormat format;
  bool full_range;
};
Source source_of(const AVFrame& f) {
  auto format = static_cast<AVPixelFormat>(f.format);
  switch (format) {
    case AV_PIX_FMT_YUVJ420P:
      return {AV_PIX_FMT_YUV420P, true};
    case AV_PIX_FMT_YUVJ422P:
      return {AV_PIX_FMT_YUV422P, true};
    case AV_PIX_FMT_YUVJ444P:
      return {AV_PIX_FMT_YUV444P, true};
    case AV_PIX_FMT_YUVJ440P:
      return {AV_PIX_FMT_YUV440P, true};
    case AV_PIX_FMT_YUVJ411P:
      return {AV_PIX_FMT_YUV411P, true};
    default:
      return {format, f.color_range == AVCOL_RANGE_JPEG || format == AV_PIX_FMT_GRAY8};
  }
}

struct ScalerKey {
  int src_w = 0;
  int src_h = 0;
  AVPixelFormat src_format = AV_PIX_FMT_NONE;
  bool full_range = false;
  int dst_w = 0;
  int dst_h = 0;
  bool operator==(const ScalerKey&) const = default;
};

}  // namespace

Expected<Ok> check_settings(const EncoderSettings& s) {
  auto bad = [](std::string why) -> Expected<Ok> {
    return bad_request(std::move(why), "bad_settings");
  };
  if (s.crf < 0 || s.crf > 51) return bad("crf must be 0..51");
  if (s.max_kbps < 0) return bad("max_kbps must be 0 (no cap) or more");
  if (s.max_kbps > 0 && (s.buffer_ms < 100 || s.buffer_ms > 10'000)) {
    return bad("buffer_ms must be 100..10000");
  }
  if (s.preset.empty()) return bad("preset is empty");
  if (s.keyframes.max_interval.count() <= 0 || s.keyframes.slow_gap.count() <= 0) {
    return bad("keyframe intervals must be positive");
  }
  if (s.nominal_fps < 1 || s.nominal_fps > 240) return bad("nominal_fps must be 1..240");
  if (s.max_side < kMinSide || s.max_side > 8192) return bad("max_side must be 16..8192");
  if (s.threads < 1 || s.threads > 16) return bad("threads must be 1..16");
  return Ok{};
}

struct H264Encoder::Impl {
  EncoderSettings settings;
  KeyframePolicy policy;
  CodecPtr jpeg_decoder;
  FramePtr decoded{av_frame_alloc()};
  PacketPtr jpeg_packet{av_packet_alloc()};
  SwsPtr sws;
  ScalerKey sws_key;
  CodecPtr encoder;  // null until the first picture, and after reset()
  FramePtr yuv;
  PacketPtr out{av_packet_alloc()};
  int width = 0;
  int height = 0;
  std::int64_t base_ms = 0;  // the timestamp of the encoder's first picture: its pts 0
  std::optional<std::int64_t> last_pts;
  std::string codec;
  std::int64_t opens = 0;
  double interval_s;  // between pictures, smoothed: what the bitrate cap is scaled by

  explicit Impl(EncoderSettings s)
      : settings(std::move(s)), policy(settings.keyframes), interval_s(1.0 / settings.nominal_fps) {
    if (auto ok = check_settings(settings); !ok) throw std::invalid_argument(ok.error().message);
    const AVCodec* mjpeg = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
    if (!mjpeg) throw std::runtime_error("libavcodec has no MJPEG decoder");
    jpeg_decoder.reset(avcodec_alloc_context3(mjpeg));
    jpeg_decoder->thread_count = 1;
    if (avcodec_open2(jpeg_decoder.get(), mjpeg, nullptr) < 0) {
      throw std::runtime_error("cannot open the MJPEG decoder");
    }
    if (!decoded || !jpeg_packet || !out) throw std::bad_alloc();
  }

  Expected<Ok> decode(std::string_view jpeg) {
    if (jpeg.empty()) return bad_request("the picture is empty", "bad_jpeg");
    av_packet_unref(jpeg_packet.get());
    // av_new_packet pads the copy as libavcodec's readers require.
    if (av_new_packet(jpeg_packet.get(), static_cast<int>(jpeg.size())) < 0) throw std::bad_alloc();
    std::memcpy(jpeg_packet->data, jpeg.data(), jpeg.size());
    av_frame_unref(decoded.get());
    int r = avcodec_send_packet(jpeg_decoder.get(), jpeg_packet.get());
    if (r >= 0) r = avcodec_receive_frame(jpeg_decoder.get(), decoded.get());
    if (r < 0) {
      avcodec_flush_buffers(jpeg_decoder.get());
      return bad_request("the JPEG picture does not decode: " + av_error(r), "bad_jpeg");
    }
    return Ok{};
  }

  // The bitrate cap in x264's terms. The zerolatency tune makes x264 take every picture for
  // 1/nominal_fps of a second (its variable-frame-rate mode would hold each picture back until
  // the next one comes, to learn its duration), so its VBV refills by maxrate/nominal_fps per
  // picture. Scaling maxrate by the pictures' own interval (smoothed) makes that refill
  // max_kbps times the real time between pictures: the cap holds per second at any rate, and a
  // slow model's pictures get a slow model's budget. x264 takes a new cap between pictures.
  void set_cap(AVCodecContext& ctx) const {
    if (settings.max_kbps <= 0) return;
    double per_second = settings.max_kbps * 1000.0;
    double per_picture = per_second * interval_s;
    ctx.rc_max_rate = static_cast<std::int64_t>(per_picture * settings.nominal_fps);
    ctx.rc_buffer_size = static_cast<int>(
        std::max(per_second * settings.buffer_ms / 1000.0, 2.0 * per_picture));  // bits
  }

  // Called with each picture's timestamp before it is encoded.
  void follow_rate(std::int64_t pts_ms) {
    if (!last_pts) return;
    double gap = std::clamp(static_cast<double>(pts_ms - *last_pts) / 1000.0, 1.0 / 240, 1.0);
    interval_s = 0.5 * interval_s + 0.5 * gap;
    if (!encoder || settings.max_kbps <= 0) return;
    auto before = static_cast<double>(encoder->rc_max_rate);
    double now = settings.max_kbps * 1000.0 * interval_s * settings.nominal_fps;
    // Small changes are not worth a reconfiguration of x264.
    if (std::abs(now - before) > 0.05 * before) set_cap(*encoder);
  }

  Expected<CodecPtr> open_encoder(int w, int h) {
    const AVCodec* x264 = avcodec_find_encoder_by_name("libx264");
    if (!x264) return failed("no_encoder", "libavcodec was built without libx264");
    CodecPtr ctx(avcodec_alloc_context3(x264));
    if (!ctx) throw std::bad_alloc();
    ctx->width = w;
    ctx->height = h;
    ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    ctx->color_range = AVCOL_RANGE_MPEG;
    ctx->colorspace = AVCOL_SPC_SMPTE170M;  // swscale's default matrix, BT.601
    ctx->time_base = AVRational{1, 1000};   // pts in milliseconds: variable frame rate
    ctx->framerate = AVRational{settings.nominal_fps, 1};
    ctx->gop_size = kGopFrames;
    ctx->max_b_frames = 0;
    ctx->thread_count = settings.threads;
    set_cap(*ctx);
    void* opts = ctx->priv_data;
    bool baseline = settings.profile == H264Profile::kConstrainedBaseline;
    if (av_opt_set(opts, "preset", settings.preset.c_str(), 0) < 0 ||
        av_opt_set(opts, "tune", "zerolatency", 0) < 0 ||
        av_opt_set(opts, "profile", baseline ? "baseline" : "high", 0) < 0 ||
        av_opt_set_double(opts, "crf", settings.crf, 0) < 0 ||
        av_opt_set_int(opts, "forced-idr", 1, 0) < 0 ||
        // SPS and PPS in front of every IDR (x264's default, said so it stays true).
        av_opt_set(opts, "x264-params", "repeat-headers=1", 0) < 0) {
      return failed("encode_failed", "libx264 refused an option");
    }
    int r = avcodec_open2(ctx.get(), x264, nullptr);
    if (r < 0) return failed("encode_failed", "cannot open libx264: " + av_error(r));
    return ctx;
  }

  // The scaler from this picture's format and size to the encoder's. The ranges are set
  // before sws_init_context: set afterwards (sws_setColorspaceDetails), a same-size YUV 4:2:0
  // conversion keeps the plain-copy path it chose at init and full-range JPEG levels would
  // reach the limited-range stream unchanged (crushed blacks, clipped whites).
  Expected<Ok> converter_for(const AVFrame& f, int w, int h) {
    Source src = source_of(f);
    ScalerKey key{f.width, f.height, src.format, src.full_range, w, h};
    if (sws && key == sws_key) return Ok{};
    sws.reset(sws_alloc_context());
    if (!sws) throw std::bad_alloc();
    SwsContext* c = sws.get();
    if (av_opt_set_int(c, "srcw", f.width, 0) < 0 || av_opt_set_int(c, "srch", f.height, 0) < 0 ||
        av_opt_set_int(c, "src_format", src.format, 0) < 0 ||
        av_opt_set_int(c, "src_range", src.full_range ? 1 : 0, 0) < 0 ||
        av_opt_set_int(c, "dstw", w, 0) < 0 || av_opt_set_int(c, "dsth", h, 0) < 0 ||
        av_opt_set_int(c, "dst_format", AV_PIX_FMT_YUV420P, 0) < 0 ||
        av_opt_set_int(c, "dst_range", 0, 0) < 0 ||
        av_opt_set_int(c, "sws_flags", SWS_BILINEAR, 0) < 0 ||
        sws_init_context(c, nullptr, nullptr) < 0) {
      sws.reset();
      return bad_request("the picture's pixel format cannot be converted", "bad_jpeg");
    }
    sws_key = key;
    return Ok{};
  }

  Expected<AccessUnit> encode(std::string_view jpeg, std::int64_t pts_ms) {
    if (last_pts && pts_ms <= *last_pts) {
      return bad_request("the picture's timestamp is not after the previous one's",
                         "stale_timestamp");
    }
    if (auto ok = decode(jpeg); !ok) return ok.error();
    const AVFrame& f = *decoded;
    if (f.width > settings.max_side || f.height > settings.max_side) {
      return Error{ErrorKind::kTooLarge, "too_large", "the picture is larger than max_side"};
    }
    int w = f.width & ~1;
    int h = f.height & ~1;
    if (w < kMinSide || h < kMinSide) {
      return bad_request("the picture is smaller than 16x16", "bad_jpeg");
    }
    if (auto ok = converter_for(f, w, h); !ok) return ok.error();
    if (!encoder || w != width || h != height) {
      auto opened = open_encoder(w, h);
      if (!opened) return opened.error();
      FramePtr frame(av_frame_alloc());
      if (!frame) throw std::bad_alloc();
      frame->format = AV_PIX_FMT_YUV420P;
      frame->width = w;
      frame->height = h;
      if (av_frame_get_buffer(frame.get(), 0) < 0) throw std::bad_alloc();
      encoder = std::move(*opened);
      yuv = std::move(frame);
      width = w;
      height = h;
      base_ms = pts_ms;
      policy.reset();
      codec.clear();
      ++opens;
    }
    if (av_frame_make_writable(yuv.get()) < 0) throw std::bad_alloc();
    sws_scale(sws.get(), f.data, f.linesize, 0, f.height, yuv->data, yuv->linesize);

    follow_rate(pts_ms);
    bool key = policy.wants_keyframe(pts_ms);
    yuv->pts = pts_ms - base_ms;
    yuv->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    int r = avcodec_send_frame(encoder.get(), yuv.get());
    if (r >= 0) r = avcodec_receive_packet(encoder.get(), out.get());
    if (r < 0) {
      // Whatever x264 holds now is suspect: the next picture opens a fresh encoder.
      encoder.reset();
      return failed("encode_failed", "libx264: " + av_error(r));
    }
    AccessUnit unit;
    unit.data.assign(reinterpret_cast<const char*>(out->data), static_cast<std::size_t>(out->size));
    unit.pts_ms = out->pts + base_ms;
    unit.keyframe = (out->flags & AV_PKT_FLAG_KEY) != 0;
    av_packet_unref(out.get());
    for (const NalUnit& nal : split_annexb(unit.data)) {
      if (nal.type == static_cast<std::uint8_t>(NalType::kSps)) unit.config = true;
    }
    if (unit.config) {
      if (auto c = avc_codec_string(unit.data)) codec = *c;
    }
    unit.codec = codec;
    unit.width = w;
    unit.height = h;
    policy.encoded(pts_ms, unit.keyframe);
    last_pts = pts_ms;
    return unit;
  }
};

H264Encoder::H264Encoder(EncoderSettings settings)
    : impl_(std::make_unique<Impl>(std::move(settings))) {}
H264Encoder::~H264Encoder() = default;

Expected<AccessUnit> H264Encoder::encode_jpeg(std::string_view jpeg, std::int64_t pts_ms) {
  return impl_->encode(jpeg, pts_ms);
}

void H264Encoder::reset() {
  impl_->encoder.reset();
  impl_->last_pts.reset();
  impl_->policy.reset();
}

int H264Encoder::width() const { return impl_->encoder ? impl_->width : 0; }
int H264Encoder::height() const { return impl_->encoder ? impl_->height : 0; }
std::int64_t H264Encoder::opens() const { return impl_->opens; }

}  // namespace ds::video
