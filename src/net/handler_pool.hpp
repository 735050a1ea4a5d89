// Memory for the asynchronous operations of the viewer path, recycled per thread.
//
// A frame written to a viewer allocates Asio's socket operation, which holds the whole Beast
// handler chain and a 64-entry buffer array: about 1.5 KiB. Asio 1.74 recycles one block of at
// most 1020 bytes per thread, and glibc's per-thread cache stops at 1032 bytes, so it went
// through malloc's slow path (and its consolidation) once per frame per viewer. Here freed blocks
// go to a small per-thread list by size class and are handed out again; the io threads both
// allocate and free them, so the lists stay balanced.
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <utility>
#include <vector>

namespace ds::net {

class HandlerPool {
 public:
  static constexpr std::size_t kGranule = 256;
  static constexpr std::size_t kClasses = 16;  // blocks up to 4 KiB; larger go to operator new
  static constexpr std::size_t kMaxCachedPerClass = 512;

  static HandlerPool& local() {
    thread_local HandlerPool pool;
    return pool;
  }

  HandlerPool() = default;
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;
  ~HandlerPool() {
    for (auto& list : free_)
      for (void* p : list) ::operator delete(p);
  }

  void* allocate(std::size_t bytes) {
    ++allocations_;
    if (bytes == 0 || bytes > kGranule * kClasses) return ::operator new(bytes);
    auto& list = free_[class_of(bytes)];
    if (list.empty()) return ::operator new(block_size(bytes));
    void* p = list.back();
    list.pop_back();
    return p;
  }

  void deallocate(void* p, std::size_t bytes) noexcept {
    if (bytes == 0 || bytes > kGranule * kClasses) return ::operator delete(p);
    auto& list = free_[class_of(bytes)];
    if (list.size() >= kMaxCachedPerClass) return ::operator delete(p);
    if (list.capacity() == 0) {
      try {
        list.reserve(kMaxCachedPerClass);
      } catch (...) {
        return ::operator delete(p);
      }
    }
    list.push_back(p);
  }

  // Blocks asked of this pool so far (tests: proof that a handler's operations come from it).
  std::size_t allocations() const { return allocations_; }
  std::size_t cached() const {
    std::size_t n = 0;
    for (const auto& list : free_) n += list.size();
    return n;
  }

  static std::size_t class_of(std::size_t bytes) { return (bytes - 1) / kGranule; }
  static std::size_t block_size(std::size_t bytes) { return (class_of(bytes) + 1) * kGranule; }

 private:
  std::array<std::vector<void*>, kClasses> free_;
  std::size_t allocations_ = 0;
};

// A stateless allocator over the calling thread's HandlerPool; every instance is equal, so a
// block may be freed on another thread than the one that allocated it.
template <class T>
struct PooledAllocator {
  using value_type = T;
  PooledAllocator() noexcept = default;
  template <class U>
  PooledAllocator(const PooledAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(HandlerPool::local().allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    HandlerPool::local().deallocate(p, n * sizeof(T));
  }
  template <class U>
  bool operator==(const PooledAllocator<U>&) const noexcept {
    return true;
  }
};

// A completion handler whose operations (Asio's and Beast's) are allocated from the pool:
// Asio and Beast take a handler's `allocator_type` for every operation they allocate for it.
template <class Handler>
class Pooled {
 public:
  using allocator_type = PooledAllocator<void>;
  explicit Pooled(Handler h) : handler_(std::move(h)) {}
  allocator_type get_allocator() const noexcept { return {}; }
  template <class... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  Handler handler_;
};

template <class Handler>
Pooled<Handler> pooled(Handler h) {
  return Pooled<Handler>(std::move(h));
}

}  // namespace ds::net
