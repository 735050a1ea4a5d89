// Wake-ups for the sessions of one event loop: a processed frame reaches every viewer of a
// channel in one pass, and each of them has to be woken on its own loop to start its write.
// One asio::post per viewer is an operation allocated on the fanning thread and freed on the
// loop (no per-thread cache recycles it), a lock of the loop's queue and a dispatch each. Here
// the sessions are collected under one lock and the loop is posted to once per batch; the
// vectors keep their capacity, so a frame costs no allocation per viewer.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <mutex>
#include <vector>

namespace ds::net {

class Ready {
 public:
  virtual ~Ready() = default;
  // Runs on the loop the ReadyQueue belongs to.
  virtual void on_ready() = 0;
};

// One per io_context: asio::use_service<ReadyQueue>(ioc).
class ReadyQueue : public boost::asio::io_context::service {
 public:
  static inline boost::asio::execution_context::id id;

  explicit ReadyQueue(boost::asio::io_context& ioc)
      : boost::asio::io_context::service(ioc), ioc_(ioc) {}

  // Thread-safe. r->on_ready() runs on the loop, after what the loop already had queued.
  void push(std::shared_ptr<Ready> r) {
    bool post = false;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      pending_.push_back(std::move(r));
      post = !posted_;
      posted_ = true;
    }
    if (post) boost::asio::post(ioc_, [this] { drain(); });
  }

  // Sessions waiting for the next pass (tests).
  std::size_t pending() {
    std::lock_guard lock(mutex_);
    return pending_.size();
  }

 private:
  void drain() {
    {
      std::lock_guard lock(mutex_);
      running_.swap(pending_);
      posted_ = false;
    }
    for (auto& r : running_) r->on_ready();
    running_.clear();  // the capacity stays for the next batch
  }

  // The io_context is going away: the sessions held here are released while the services
  // their sockets need still exist (this service was registered after them, so it is shut
  // down first).
  void shutdown() override {
    std::vector<std::shared_ptr<Ready>> released;
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
      released.swap(pending_);
    }
    running_.clear();
  }

  boost::asio::io_context& ioc_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Ready>> pending_;
  std::vector<std::shared_ptr<Ready>> running_;  // only touched on the loop
  bool posted_ = false;
  bool stopped_ = false;
};

}  // namespace ds::net
