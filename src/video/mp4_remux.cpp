#include "video/mp4_remux.hpp"

#include <spdlog/spdlog.h>

#include <cstring>
#include <fstream>
#include <memory>

#include "video/libav.hpp"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/mem.h>
}

namespace ds::video {

namespace {

// The files of a group read one after the other, as one fragmented MP4 stream.
class ChainReader {
 public:
  explicit ChainReader(std::vector<std::filesystem::path> files) : files_(std::move(files)) {}

  static int read(void* opaque, std::uint8_t* buf, int size) {
    auto* self = static_cast<ChainReader*>(opaque);
    while (true) {
      if (!self->in_.is_open()) {
        if (self->next_ >= self->files_.size()) return AVERROR_EOF;
        self->in_.open(self->files_[self->next_++], std::ios::binary);
        if (!self->in_) return AVERROR(EIO);
      }
      self->in_.read(reinterpret_cast<char*>(buf), size);
      auto got = static_cast<int>(self->in_.gcount());
      if (got > 0) return got;
      self->in_.close();
      self->in_.clear();
    }
  }

 private:
  std::vector<std::filesystem::path> files_;
  std::size_t next_ = 0;
  std::ifstream in_;
};

struct InputCloser {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct IoFreer {
  void operator()(AVIOContext* p) const {
    av_freep(&p->buffer);
    avio_context_free(&p);
  }
};
struct OutputFreer {
  void operator()(AVFormatContext* p) const {
    if (p->pb) avio_closep(&p->pb);
    avformat_free_context(p);
  }
};

bool same_parameters(const AVCodecParameters* a, const AVCodecParameters* b) {
  return a->codec_id == b->codec_id && a->width == b->width && a->height == b->height &&
         a->extradata_size == b->extradata_size &&
         (a->extradata_size == 0 || std::memcmp(a->extradata, b->extradata,
                                                static_cast<std::size_t>(a->extradata_size)) == 0);
}

}  // namespace

std::optional<std::string> remux_to_mp4(const std::vector<RemuxGroup>& groups,
                                        const std::filesystem::path& out_path) {
  auto fail = [&](std::string why) -> std::optional<std::string> {
    std::error_code ignored;
    std::filesystem::remove(out_path, ignored);
    return why;
  };
  AVFormatContext* raw_out = nullptr;
  int rc = avformat_alloc_output_context2(&raw_out, nullptr, "mp4", out_path.c_str());
  if (rc < 0 || !raw_out) return fail("mp4 muxer: " + libav::error_text(rc));
  std::unique_ptr<AVFormatContext, OutputFreer> out(raw_out);
  AVStream* out_stream = nullptr;
  AVCodecParameters* first_params = nullptr;
  std::int64_t next_dts = 0;  // in the output stream's time base, once the header is written
  libav::PacketPtr pkt(av_packet_alloc());

  for (const auto& group : groups) {
    std::vector<std::filesystem::path> files{group.init};
    files.insert(files.end(), group.segments.begin(), group.segments.end());
    ChainReader reader(std::move(files));
    constexpr int kBuffer = 64 << 10;
    auto* buffer = static_cast<std::uint8_t*>(av_malloc(kBuffer));
    std::unique_ptr<AVIOContext, IoFreer> io(
        avio_alloc_context(buffer, kBuffer, 0, &reader, &ChainReader::read, nullptr, nullptr));
    if (!io) {
      av_free(buffer);
      return fail("out of memory");
    }
    io->seekable = 0;
    AVFormatContext* raw_in = avformat_alloc_context();
    raw_in->pb = io.get();
    raw_in->flags |= AVFMT_FLAG_CUSTOM_IO;
    rc = avformat_open_input(&raw_in, nullptr, av_find_input_format("mp4"), nullptr);
    if (rc < 0) return fail("reading " + group.init.string() + ": " + libav::error_text(rc));
    std::unique_ptr<AVFormatContext, InputCloser> in(raw_in);
    if (in->nb_streams != 1) return fail("a recording has one video track");
    AVStream* in_stream = in->streams[0];
    if (!out_stream) {
      out_stream = avformat_new_stream(out.get(), nullptr);
      if (!out_stream) return fail("out of memory");
      if ((rc = avcodec_parameters_copy(out_stream->codecpar, in_stream->codecpar)) < 0) {
        return fail(libav::error_text(rc));
      }
      out_stream->codecpar->codec_tag = 0;
      out_stream->time_base = in_stream->time_base;
      if ((rc = avio_open(&out->pb, out_path.c_str(), AVIO_FLAG_WRITE)) < 0) {
        return fail("opening " + out_path.string() + ": " + libav::error_text(rc));
      }
      AVDictionary* opts = nullptr;
      av_dict_set(&opts, "movflags", "+faststart", 0);
      rc = avformat_write_header(out.get(), &opts);
      av_dict_free(&opts);
      if (rc < 0) return fail("mp4 header: " + libav::error_text(rc));
      first_params = out_stream->codecpar;
    } else if (!same_parameters(first_params, in_stream->codecpar)) {
      spdlog::warn("event=recording_remux_group_skipped init={} reason=\"codec parameters differ\"",
                   group.init.filename().string());
      continue;
    }
    std::optional<std::int64_t> offset;  // added to this group's timestamps (output time base)
    std::int64_t group_end = next_dts;
    while ((rc = av_read_frame(in.get(), pkt.get())) >= 0) {
      av_packet_rescale_ts(pkt.get(), in_stream->time_base, out_stream->time_base);
      if (pkt->dts == AV_NOPTS_VALUE) pkt->dts = pkt->pts;
      if (!offset) offset = next_dts - pkt->dts;
      pkt->dts += *offset;
      if (pkt->pts != AV_NOPTS_VALUE) pkt->pts += *offset;
      group_end = std::max(group_end, pkt->dts + std::max<std::int64_t>(pkt->duration, 1));
      pkt->stream_index = 0;
      pkt->pos = -1;
      if ((rc = av_interleaved_write_frame(out.get(), pkt.get())) < 0) {
        return fail("writing: " + libav::error_text(rc));
      }
    }
    if (rc != AVERROR_EOF) return fail("reading: " + libav::error_text(rc));
    next_dts = group_end;
  }
  if (!out_stream) return fail("no media");
  if ((rc = av_write_trailer(out.get())) < 0) return fail("mp4 trailer: " + libav::error_text(rc));
  return std::nullopt;
}

}  // namespace ds::video
