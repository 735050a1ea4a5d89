// The messages (a job or a batch) a worker holds, in the order they arrived: assembled from a
// header and its JPEGs, worked through one at a time, cancelled while they wait
// (docs/protocol.md, "Slots" and "Batches"). Pure: no I/O, no clock, no threads.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "live/protocol.hpp"

namespace ds::worker {

class JobQueue {
 public:
  // One job of a message with its input JPEG.
  struct Item {
    live::wire::JobHeader header;
    std::string jpeg;
  };
  // What became of a binary message.
  struct Arrival {
    enum class Kind {
      kUnexpected,  // no header waits for a JPEG: ignored
      kPartial,     // a batch waits for more JPEGs
      kQueued,      // the message is complete and held
      kRefused,     // complete, but the worker holds as many as it may: answer each job busy
      kCancelled,   // complete, but each of its jobs was cancelled while its JPEGs came
    };
    Kind kind = Kind::kUnexpected;
    std::vector<Item> refused;  // the jobs to answer busy (kRefused)
  };

  // slots as announced in hello. A worker with more than one slot may be sent one message
  // more (a cancel can cross the start of its job), so it holds up to slots + 1; with one
  // slot, a second message is refused as before.
  explicit JobQueue(int slots);

  // A `job` (one header) or `batch` header: its JPEGs follow. Returns the headers of a
  // message still waiting for JPEGs, which is given up (the server broke the protocol).
  std::vector<live::wire::JobHeader> on_header(std::vector<live::wire::JobHeader> jobs);
  Arrival on_binary(std::string jpeg);
  // A cancel from the server: true when it named a job that has not started, which is dropped
  // and must be answered `cancelled`. A started, finished or unknown job: false, ignored.
  bool cancel(const nlohmann::json& job_id);

  // The oldest held message, when none is being worked on and one waits: it is now started
  // (cancels no longer touch it). Its cancelled jobs are left out; it is never empty.
  std::optional<std::vector<Item>> start_next();
  // The started message has been answered; its slot is free.
  void finish();

  bool working() const { return working_; }
  // Messages held: the one being worked on and those waiting.
  std::size_t held() const { return waiting_.size() + (working_ ? 1 : 0); }
  std::size_t capacity() const { return capacity_; }
  // A new connection starts empty (the server forgot the old one's jobs). A message being
  // worked on stays counted until finish().
  void clear_waiting();

 private:
  std::size_t capacity_;
  bool working_ = false;
  std::deque<std::vector<Item>> waiting_;
  // The message whose JPEGs are arriving: its headers, and the JPEGs so far.
  std::vector<Item> assembling_;
  std::vector<bool> cancelled_;  // per job of assembling_
  std::size_t images_ = 0;
};

}  // namespace ds::worker
