// The pool that runs httplib's connection handlers: grows on demand up to a maximum (one thread per open
// connection, keep-alive included), so an idle server holds a few threads and a loaded one as many as it needs.
// At the maximum, a new connection waits for a thread; make_room() then asks one idle keep-alive connection to
// close and give its thread up (see connection.cc), so idle connections never starve a request.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rembert::server {

class GrowingThreadPool : public httplib::TaskQueue {
 public:
  explicit GrowingThreadPool(size_t max_threads) : max_threads_(max_threads < 1 ? 1 : max_threads) {}
  ~GrowingThreadPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back({std::move(fn), std::chrono::steady_clock::now()});
    if (jobs_.size() > idle_ + starting_ && threads_.size() < max_threads_) {
      ++starting_;  // counted as idle until it runs, so that make_room() does not see a job without a thread
      threads_.emplace_back([this] { loop(); });
    } else {
      cv_.notify_one();
    }
  }

  // Runs what is queued, then joins every thread.
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (shut_down_) return;
      shut_down_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // When the job this thread runs was queued: for a connection, about when it was accepted.
  static std::chrono::steady_clock::time_point job_queued_at() { return queued_at(); }

  // Called by an idle connection: true when a queued connection has no thread to run it and no other idle
  // connection has promised it one already; the caller then closes and so frees its thread.
  bool make_room() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (jobs_.size() <= idle_ + starting_ + making_room_) return false;
    ++making_room_;
    return true;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    --starting_;
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return !jobs_.empty() || shut_down_; });
      --idle_;
      if (jobs_.empty()) return;
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      if (making_room_ > 0) --making_room_;
      lock.unlock();
      queued_at() = job.queued_at;
      job.fn();
      lock.lock();
    }
  }

  struct Job {
    std::function<void()> fn;
    std::chrono::steady_clock::time_point queued_at;
  };
  static std::chrono::steady_clock::time_point& queued_at() {
    static thread_local std::chrono::steady_clock::time_point t;
    return t;
  }

  const size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  size_t starting_ = 0;     // threads created that have not reached loop() yet
  size_t making_room_ = 0;  // idle connections closing for queued jobs, not yet taken up
  bool shut_down_ = false;
};

}  // namespace rembert::server
