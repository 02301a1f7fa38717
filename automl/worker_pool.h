#pragma once
// The hyperopt coordinator's trial workers: processes of this binary (`kiln _trial --serve`) that
// read one trial per line on stdin and report on stdout (automl/trial_protocol.h). A worker stays
// up between trials, so its start-up and the data it read are paid once. The pool owns the
// processes and their pipes: a worker found dead is reaped and replaced, and its trial (if it had
// one) is handed back to the caller as over; nothing outlives the pool.
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

// A file descriptor closed when it goes out of scope.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

// One worker process and its pipes.
class WorkerProcess {
 public:
  // Starts args[0] with args; its stderr appends to log_path; its environment is ours plus
  // KILN_COORDINATOR_PID (ours is never changed). Throws ModelError when it cannot start.
  WorkerProcess(const std::vector<std::string>& args, const std::string& log_path);
  // A worker not yet reaped is killed and reaped: no process outlives its owner.
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool reaped() const { return reaped_; }
  // Writes one line; false when the worker cannot take it (it exited: its pipe is closed).
  bool send(const std::string& line);
  // Reads what the worker printed so far without blocking; on_line gets each complete line.
  void read_lines(const std::function<void(const std::string&)>& on_line);
  // Signals the worker, unless it was reaped (its pid may belong to another process by then).
  void signal(int sig);
  // Reaps the worker if it exited: true then, with term_signal the signal that killed it (0: none).
  bool try_reap(int* term_signal);
  // Closes its stdin (an idle worker exits) and waits for it.
  void close_and_wait();
  int output_fd() const { return out_.get(); }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd in_, out_;  // its stdin (we write), its stdout (we read, non-blocking)
  std::string buf_;    // an incomplete last line
};

namespace detail {
void wait_for_output(const std::vector<int>& fds, int timeout_ms);  // poll(2) for readable fds
[[noreturn]] void send_failed();
}  // namespace detail

// Up to any number of workers, each with at most one job (the caller's record of the trial it
// runs). Slots are stable in memory while they exist.
template <class Job>
class WorkerPool {
 public:
  struct Slot {
    std::unique_ptr<WorkerProcess> process;
    std::optional<Job> job;
  };
  WorkerPool(std::vector<std::string> args, std::string log_path)
      : args_(std::move(args)), log_path_(std::move(log_path)) {}

  // Hands `line` to an idle worker, or to a new one when every worker is busy. An idle worker
  // that exited meanwhile is reaped and replaced; only a new worker that cannot take the line
  // is an error (ModelError).
  Slot& start(const std::string& line, Job job) {
    for (auto it = slots_.begin(); it != slots_.end();) {
      Slot& s = **it;
      if (s.job) {
        ++it;
        continue;
      }
      if (s.process->send(line)) {
        s.job = std::move(job);
        return s;
      }
      it = slots_.erase(it);  // gone while idle: the destructor reaps it
    }
    auto s = std::make_unique<Slot>();
    s->process = std::make_unique<WorkerProcess>(args_, log_path_);
    if (!s->process->send(line)) detail::send_failed();
    s->job = std::move(job);
    slots_.push_back(std::move(s));
    return *slots_.back();
  }

  size_t busy() const {
    size_t n = 0;
    for (const auto& s : slots_) n += s->job.has_value();
    return n;
  }
  template <class F>
  void for_each_busy(F&& f) {
    for (auto& s : slots_)
      if (s->job) f(*s);
  }

  // Waits up to timeout_ms for output. Each line a worker printed goes to on_line(slot, line,
  // alive); a worker that exited is reaped: its last lines (alive = false), then on_death(slot,
  // term_signal) if it still had a job, and it leaves the pool.
  void poll(int timeout_ms, const std::function<void(Slot&, const std::string&, bool)>& on_line,
            const std::function<void(Slot&, int)>& on_death);

  // Idle workers exit when their input closes; waits for every worker.
  void shutdown() {
    for (auto& s : slots_) s->process->close_and_wait();
    slots_.clear();
  }

 private:
  std::vector<std::string> args_;
  std::string log_path_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

template <class Job>
void WorkerPool<Job>::poll(int timeout_ms, const std::function<void(Slot&, const std::string&, bool)>& on_line,
                           const std::function<void(Slot&, int)>& on_death) {
  std::vector<int> fds;
  for (auto& s : slots_) fds.push_back(s->process->output_fd());
  detail::wait_for_output(fds, timeout_ms);
  for (auto& s : slots_) s->process->read_lines([&](const std::string& l) { on_line(*s, l, true); });
  for (auto it = slots_.begin(); it != slots_.end();) {
    Slot& s = **it;
    int term_signal = 0;
    if (!s.process->try_reap(&term_signal)) {
      ++it;
      continue;
    }
    s.process->read_lines([&](const std::string& l) { on_line(s, l, false); });
    if (s.job) on_death(s, term_signal);
    it = slots_.erase(it);
  }
}

}  // namespace kiln
