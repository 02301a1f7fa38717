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

// The helper threads a top-level loop may still take, shared with the loops nested in its tasks:
// together they never use more threads than the top-level loop was given.
struct Budget {
  int free = 0;  // guarded by the pool's mutex
};

thread_local Budget* t_budget = nullptr;  // the budget of the loop whose task this thread runs
thread_local int t_task_threads = 0;      // that loop's thread count (0: not in a task)
thread_local int t_scope_threads = 1;
// The live ThreadUsageProbe (tests), read under its mutex so a probe is never used after it ends.
std::atomic<bool> g_probing{false};
std::mutex g_probe_mutex;
ThreadUsageProbe* g_probe = nullptr;

// One loop handed to the pool: its caller and the helpers it gets claim indices until none are left.
struct Job {
  const std::function<void(size_t)>* fn = nullptr;
  size_t n = 0;
  int threads = 1;
  int max_helpers = 0;  // pool workers it may take: its own thread count less the caller
  Budget* budget = nullptr;
  std::atomic<size_t> next{0};
  int helpers = 0;  // pool workers working on it now (guarded by the pool's mutex)
  std::vector<std::exception_ptr> errors;

  // Runs tasks on this thread until none are left, as part of this loop.
  void work() {
    Budget* saved_budget = t_budget;
    const int saved_threads = t_task_threads;
    t_budget = budget, t_task_threads = threads;
    const bool probing = g_probing.load();
    if (probing) {
      std::lock_guard<std::mutex> lock(g_probe_mutex);
      if (g_probe) g_probe->enter();
    }
    for (size_t i; (i = next++) < n;) {
      try {
        (*fn)(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
    if (probing) {
      std::lock_guard<std::mutex> lock(g_probe_mutex);
      if (g_probe) g_probe->leave();
    }
    t_budget = saved_budget, t_task_threads = saved_threads;
  }
};

class Pool {
 public:
  static Pool& shared() {
    static Pool* pool = new Pool;  // never destroyed: workers may outlive static destructors
    return *pool;
  }

  void run(Job& job, int workers_needed) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(workers_.size()) < workers_needed) workers_.emplace_back([this] { loop(); });
      jobs_.push_back(&job);
    }
    wake_.notify_all();
    job.work();
    std::unique_lock<std::mutex> lock(mutex_);
    jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), &job), jobs_.end());  // nobody joins now
    done_.wait(lock, [&] { return job.helpers == 0; });
  }

  // A free helper slot for this thread's loop right now (then a nested loop is worth queueing).
  bool has_free(Budget* b) {
    std::lock_guard<std::mutex> lock(mutex_);
    return b->free > 0;
  }

 private:
  // A queued job with work left whose budget has a helper slot.
  Job* joinable() {
    for (Job* j : jobs_)
      if (j->budget->free > 0 && j->helpers < j->max_helpers && j->next.load() < j->n) return j;
    return nullptr;
  }

  void loop() {
    single_threaded_kernels();  // torch kernels inside a task: this thread only
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      Job* job = nullptr;
      wake_.wait(lock, [&] { return (job = joinable()) != nullptr; });
      --job->budget->free;
      ++job->helpers;
      lock.unlock();
      job->work();
      lock.lock();
      ++job->budget->free;
      --job->helpers;
      done_.notify_all();
      wake_.notify_all();  // the freed slot may let a worker join another loop of this budget
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
  // A loop inside another loop's task shares that loop's threads.
  if (t_task_threads > 0) threads = std::min(threads, t_task_threads);
  job.threads = std::max(1, threads);
  const size_t use = std::min<size_t>(static_cast<size_t>(job.threads), n);
  Budget root;
  if (t_budget) {
    job.budget = t_budget;
  } else {
    root.free = static_cast<int>(use) - 1;
    job.budget = &root;
  }
  job.max_helpers = static_cast<int>(use) - 1;
  if (use <= 1 || (t_budget && !Pool::shared().has_free(t_budget)))
    job.work();  // on this thread alone
  else
    Pool::shared().run(job, job.max_helpers);
  for (auto& e : job.errors)
    if (e) std::rethrow_exception(e);
}

ThreadScope::ThreadScope(int threads) : saved_(t_scope_threads) { t_scope_threads = std::max(1, threads); }
ThreadScope::~ThreadScope() { t_scope_threads = saved_; }
int ThreadScope::current() { return t_task_threads > 0 ? t_task_threads : t_scope_threads; }

ThreadUsageProbe::ThreadUsageProbe() {
  std::lock_guard<std::mutex> lock(g_probe_mutex);
  g_probe = this;
  g_probing = true;
}
ThreadUsageProbe::~ThreadUsageProbe() {
  std::lock_guard<std::mutex> lock(g_probe_mutex);
  g_probe = nullptr;
  g_probing = false;
}
size_t ThreadUsageProbe::threads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return most_;
}
void ThreadUsageProbe::enter() {  // called under g_probe_mutex
  std::lock_guard<std::mutex> lock(mutex_);
  ++depth_[std::this_thread::get_id()];
  most_ = std::max(most_, depth_.size());
}
void ThreadUsageProbe::leave() {  // called under g_probe_mutex
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = depth_.find(std::this_thread::get_id());
  if (it != depth_.end() && --it->second == 0) depth_.erase(it);
}

}  // namespace kiln
