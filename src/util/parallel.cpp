#include "util/parallel.h"

#include <dlfcn.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <vector>

namespace kiln {
namespace {

// torch's kernels use OpenMP (libgomp on Debian); its per-thread thread count is set on each pool
// worker through the runtime libtorch loaded (found at run time: no link to a second runtime).
void single_threaded_kernels() {
  using SetThreads = void (*)(int);
  static const auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set) set(1);
}

thread_local bool t_in_task = false;
thread_local int t_scope_threads = 1;
std::atomic<ThreadUsageProbe*> g_probe{nullptr};

// One loop handed to the pool: its workers and the caller claim indices until none are left.
struct Job {
  const std::function<void(size_t)>* fn = nullptr;
  size_t n = 0;
  std::atomic<size_t> next{0};
  int helpers_wanted = 0;  // pool workers that may still join
  int helpers_active = 0;  // pool workers working on it now
  std::vector<std::exception_ptr> errors;

  void work() {
    for (size_t i; (i = next++) < n;) {
      if (auto* p = g_probe.load()) p->note();
      try {
        (*fn)(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  }
};

class Pool {
 public:
  static Pool& shared() {
    static Pool* pool = new Pool;  // never destroyed: workers may outlive static destructors
    return *pool;
  }

  void run(Job& job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(workers_.size()) < job.helpers_wanted) workers_.emplace_back([this] { loop(); });
      jobs_.push_back(&job);
    }
    wake_.notify_all();
    t_in_task = true;
    job.work();
    t_in_task = false;
    std::unique_lock<std::mutex> lock(mutex_);
    jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), &job), jobs_.end());  // nobody joins now
    done_.wait(lock, [&] { return job.helpers_active == 0; });
  }

 private:
  void loop() {
    t_in_task = true;
    single_threaded_kernels();  // torch kernels inside a task: this thread only
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return !jobs_.empty(); });
      Job* job = jobs_.front();
      if (--job->helpers_wanted <= 0) jobs_.pop_front();
      ++job->helpers_active;
      lock.unlock();
      job->work();
      lock.lock();
      --job->helpers_active;
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  std::deque<Job*> jobs_;
};

}  // namespace

void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn) {
  Job job;
  job.fn = &fn;
  job.n = n;
  job.errors.resize(n);
  const size_t use = std::min<size_t>(static_cast<size_t>(std::max(1, threads)), n);
  if (use <= 1 || t_in_task) {
    job.work();  // on this thread
  } else {
    job.helpers_wanted = static_cast<int>(use) - 1;
    Pool::shared().run(job);
  }
  for (auto& e : job.errors)
    if (e) std::rethrow_exception(e);
}

ThreadScope::ThreadScope(int threads) : saved_(t_scope_threads) { t_scope_threads = std::max(1, threads); }
ThreadScope::~ThreadScope() { t_scope_threads = saved_; }
int ThreadScope::current() { return t_in_task ? 1 : t_scope_threads; }

ThreadUsageProbe::ThreadUsageProbe() { g_probe.store(this); }
ThreadUsageProbe::~ThreadUsageProbe() { g_probe.store(nullptr); }
size_t ThreadUsageProbe::threads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ids_.size();
}
void ThreadUsageProbe::note() {
  std::lock_guard<std::mutex> lock(mutex_);
  ids_.insert(std::this_thread::get_id());
}

}  // namespace kiln
