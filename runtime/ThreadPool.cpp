//===- ThreadPool.cpp - Parallel loops for the CPU kernels ----------------===//

#include "runtime/ThreadPool.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace moa::runtime {

namespace {

class Pool {
public:
  Pool() {
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    if (const char *env = std::getenv("MOA_NUM_THREADS"))
      threads = std::max(1, std::atoi(env));
    for (unsigned i = 1; i < threads; ++i)
      workers.emplace_back([this, i] { work(i); });
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    for (std::thread &worker : workers)
      worker.join();
  }

  void run(int64_t n, const std::function<void(int64_t, int64_t)> &function) {
    const int64_t chunks =
        std::min<int64_t>(n, static_cast<int64_t>(workers.size()) + 1);
    std::unique_lock<std::mutex> busy(callMutex, std::try_to_lock);
    if (chunks <= 1 || !busy.owns_lock()) {
      function(0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      body = &function;
      size = n;
      parts = chunks;
      pending = chunks - 1;
      ++generation;
    }
    wake.notify_all();
    function(0, n / chunks);
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [this] { return pending == 0; });
    body = nullptr;
  }

private:
  void work(int64_t index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      wake.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping)
        return;
      seen = generation;
      if (index >= parts)
        continue;
      const auto *function = body;
      const int64_t begin = size * index / parts;
      const int64_t end = size * (index + 1) / parts;
      lock.unlock();
      (*function)(begin, end);
      lock.lock();
      if (--pending == 0)
        done.notify_one();
    }
  }

  std::vector<std::thread> workers;
  std::mutex callMutex; // one parallel loop at a time
  std::mutex mutex;
  std::condition_variable wake, done;
  const std::function<void(int64_t, int64_t)> *body = nullptr;
  int64_t size = 0, parts = 0, pending = 0;
  uint64_t generation = 0;
  bool stopping = false;
};

Pool &pool() {
  static Pool instance;
  return instance;
}

} // namespace

void parallelFor(int64_t n,
                 const std::function<void(int64_t begin, int64_t end)> &body) {
  if (n <= 0)
    return;
  pool().run(n, body);
}

} // namespace moa::runtime
