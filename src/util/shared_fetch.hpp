// A costly answer per key, fetched at most once per interval: callers within the interval of
// the last fetch get its answer, and callers that come while a fetch is under way wait for it
// and share it. Used for the pictures of streams homed on another node (api/streams_api.cpp):
// however many ask, a picture crosses Redis at most once per stream per interval.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "util/clock.hpp"

namespace ds {

template <class Value>
class SharedFetch {
 public:
  SharedFetch(const Clock& clock, std::int64_t interval_ms, std::size_t max_keys = 4096)
      : clock_(clock), interval_ms_(interval_ms), max_keys_(max_keys) {}

  // The answer for key: the last one when fetched less than the interval ago, the one being
  // fetched when a fetch is under way (waiting for it), otherwise fetch()'s, run here without
  // the lock. A fetch that throws lets the next caller try again and throws to its waiters too.
  std::shared_ptr<const Value> get(const std::string& key, const std::function<Value()>& fetch) {
    std::unique_lock lock(mutex_);
    for (;;) {
      auto& e = entries_[key];
      if (e.fetching) {
        auto round = e.round;
        done_.wait(lock, [&] {
          const auto& x = entries_[key];
          return !x.fetching || x.round != round;
        });
        const auto& x = entries_[key];
        if (x.failed_round == round) throw FetchFailed();
        if (x.value && x.done_round >= round) return x.value;
        continue;
      }
      if (e.value && clock_.now_ms() - e.fetched_ms < interval_ms_) return e.value;
      break;
    }
    auto& e = entries_[key];
    e.fetching = true;
    auto round = ++e.round;
    prune(clock_.now_ms());
    lock.unlock();
    std::shared_ptr<const Value> value;
    try {
      value = std::make_shared<const Value>(fetch());
    } catch (...) {
      lock.lock();
      auto& f = entries_[key];
      f.fetching = false;
      f.failed_round = round;
      done_.notify_all();
      throw;
    }
    lock.lock();
    auto& f = entries_[key];
    f.value = value;
    f.fetched_ms = clock_.now_ms();
    f.fetching = false;
    f.done_round = round;
    fetches_++;
    done_.notify_all();
    return value;
  }

  // Fetches run since the start (for /metrics and the tests).
  std::uint64_t fetches() const {
    std::lock_guard lock(mutex_);
    return fetches_;
  }

  struct FetchFailed : std::exception {
    const char* what() const noexcept override { return "shared fetch failed"; }
  };

 private:
  struct Entry {
    std::shared_ptr<const Value> value;
    std::int64_t fetched_ms = 0;
    bool fetching = false;
    std::uint64_t round = 0;  // fetches started for this key
    std::uint64_t done_round = 0;
    std::uint64_t failed_round = 0;
  };

  // Keys are few (streams homed elsewhere that someone asked about); past max_keys, the stale
  // ones go.
  void prune(std::int64_t now) {
    if (entries_.size() <= max_keys_) return;
    std::erase_if(entries_, [&](const auto& kv) {
      return !kv.second.fetching && now - kv.second.fetched_ms >= interval_ms_;
    });
  }

  const Clock& clock_;
  std::int64_t interval_ms_;
  std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::condition_variable done_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t fetches_ = 0;
};

}  // namespace ds
