#include "automl/worker_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

extern char** environ;

namespace kiln {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

WorkerProcess::WorkerProcess(const std::vector<std::string>& args, const std::string& log_path) {
  int to[2], from[2];
  if (::pipe2(to, O_CLOEXEC) != 0) throw ModelError(std::string("cannot create pipes for a trial worker: ") + std::strerror(errno));
  UniqueFd to_read(to[0]), to_write(to[1]);
  if (::pipe2(from, O_CLOEXEC) != 0) throw ModelError(std::string("cannot create pipes for a trial worker: ") + std::strerror(errno));
  UniqueFd from_read(from[0]), from_write(from[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, to[0], 0);
  posix_spawn_file_actions_adddup2(&fa, from[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The worker checks its coordinator's pid at start (cli/main.cpp): given in its environment only,
  // never set in ours.
  std::vector<std::string> env_text;
  const std::string key = "KILN_COORDINATOR_PID=";
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, key.c_str(), key.size()) != 0) env_text.emplace_back(*e);
  env_text.push_back(key + std::to_string(::getpid()));
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw ModelError("cannot start a trial worker (" + args[0] + "): " + std::strerror(rc));
  ::fcntl(from_read.get(), F_SETFL, O_NONBLOCK);
  in_ = std::move(to_write);
  out_ = std::move(from_read);
}

WorkerProcess::~WorkerProcess() {
  in_.reset();
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

bool WorkerProcess::send(const std::string& line) {
  if (reaped_ || in_.get() < 0) return false;
  // A worker that exited makes the write fail with EPIPE, and raise SIGPIPE, whose default kills
  // the process. SIGPIPE is blocked for this thread during the write and a SIGPIPE the write
  // raised is consumed, so no process-wide signal disposition is needed (or changed).
  sigset_t pipe_only, old_mask, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  size_t done = 0;
  bool ok = true;
  while (done < line.size()) {
    const ssize_t n = ::write(in_.get(), line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (!ok && !was_pending) {
    const timespec no_wait{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return ok;
}

void WorkerProcess::read_lines(const std::function<void(const std::string&)>& on_line) {
  char chunk[4096];
  ssize_t n;
  while ((n = ::read(out_.get(), chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR)) {
    if (n < 0) continue;
    buf_.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf_.find('\n')) != std::string::npos) {
      const std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      on_line(line);
    }
  }
}

void WorkerProcess::signal(int sig) {
  if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

bool WorkerProcess::try_reap(int* term_signal) {
  if (reaped_) return true;
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  // ECHILD: no such child to wait for (SIGCHLD ignored by whoever started us: the kernel reaped
  // it): it is gone all the same, and its pid must not be signalled again.
  if (r < 0 && errno == ECHILD) status = 0;
  else if (r != pid_) return false;
  reaped_ = true;
  if (term_signal) *term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return true;
}

void WorkerProcess::close_and_wait() {
  in_.reset();
  if (!reaped_ && pid_ > 0) {
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  out_.reset();
}

namespace detail {

void wait_for_output(const std::vector<int>& fds, int timeout_ms) {
  std::vector<pollfd> p;
  for (int fd : fds) p.push_back({fd, POLLIN, 0});
  ::poll(p.data(), p.size(), timeout_ms);
}

void send_failed() { throw ModelError("cannot send work to a new trial worker process (it exited at start; see trials/workers.log)"); }

}  // namespace detail
}  // namespace kiln
