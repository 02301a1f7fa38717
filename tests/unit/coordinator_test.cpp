// The hyperopt coordinator's parts that stand alone: the worker line protocol (each formatter the
// inverse of its parser; anything else is not a message) and the worker pool (processes reaped
// and replaced; a worker that dies while busy reported once, with its signal).
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "automl/trial_protocol.h"
#include "automl/worker_pool.h"
#include "util/error.h"

using namespace kiln;

TEST_CASE("trial protocol: commands round-trip, with and without a re-ranking fold") {
  TrialCommand c;
  c.config_path = "/out/trials/trial_3/config.yaml";
  c.output_directory = "/out/trials/trial 3";  // spaces are fine, tabs are not
  c.deadline_ms = 1234567890123;
  c.resume = true;
  const std::string line = format_command(c);
  CHECK(line == "/out/trials/trial_3/config.yaml\t/out/trials/trial 3\t1234567890123\t1\n");
  auto back = parse_command(line.substr(0, line.size() - 1));
  REQUIRE(back);
  CHECK(back->config_path == c.config_path);
  CHECK(back->output_directory == c.output_directory);
  CHECK(back->deadline_ms == c.deadline_ms);
  CHECK(back->resume);
  CHECK(back->cv_folds == 0);

  c.resume = false;
  c.cv_folds = 5, c.cv_fold = 4, c.cv_seed = static_cast<uint64_t>(int64_t{-7});  // random_state may be negative
  back = parse_command(format_command(c).substr(0, format_command(c).size() - 1));
  REQUIRE(back);
  CHECK(!back->resume);
  CHECK(back->cv_folds == 5);
  CHECK(back->cv_fold == 4);
  CHECK(back->cv_seed == c.cv_seed);
}

TEST_CASE("trial protocol: a path the line cannot carry is refused; malformed commands are not commands") {
  TrialCommand c;
  c.config_path = "a.yaml";
  c.output_directory = "out\tdir";
  CHECK_THROWS_WITH_AS(format_command(c),
                       "out\tdir: a trial path cannot hold a tab or a line break (choose another --output_directory)",
                       ModelError);
  c.output_directory = "out\ndir";
  CHECK_THROWS_AS(format_command(c), ModelError);
  for (const char* bad : {"", "a.yaml", "a.yaml\tout\t12", "a.yaml\tout\tx\t0", "a.yaml\tout\t12\t2",
                          "\tout\t12\t0", "a.yaml\tout\t12\t0\t5:5:1", "a.yaml\tout\t12\t0\t1:0:1",
                          "a.yaml\tout\t12\t0\t5:1", "a.yaml\tout\t12\t0\t5:1:-3",
                          "a.yaml\tout\t12\t0\t5:1:99999999999999999999", "a.yaml\tout\t12\t0\t5:1:2\textra"})
    CHECK_MESSAGE(!parse_command(bad), bad);
}

TEST_CASE("trial protocol: reports round-trip, NaN included; other output is not a report") {
  auto epoch = parse_report(format_report(EpochReport{3, 0.8125, 1.5}));
  REQUIRE(epoch);
  const auto& e = std::get<EpochReport>(*epoch);
  CHECK(e.epoch == 3);
  CHECK(e.value == 0.8125);
  CHECK(e.eval_seconds == 1.5);
  CHECK(format_report(EpochReport{1, std::nan(""), 0.25}) == "epoch 1 nan 0.25\n");
  CHECK(std::isnan(std::get<EpochReport>(*parse_report("epoch 1 nan 0.25")).value));

  EndReport end{7, 5, 0.1 + 0.2, true, 12.75};
  auto back = parse_report(format_report(end));
  REQUIRE(back);
  const auto& b = std::get<EndReport>(*back);
  CHECK(b.epochs == 7);
  CHECK(b.best_epoch == 5);
  CHECK(b.best_value == 0.1 + 0.2);  // exact: the shortest round-tripping text
  CHECK(b.interrupted);
  CHECK(b.seconds == 12.75);
  CHECK(std::holds_alternative<FailedReport>(*parse_report(format_report(FailedReport{}))));

  for (const char* other : {"", "epoch", "epoch 0 0.5 1", "epoch x 0.5 1", "epoch 1 0.5", "epoch 1 abc 1",
                            "end 1 1 0.5 2 3", "end 1 1 0.5 0", "failed now", "kiln: warning: something",
                            "epoch 99999999999 0.5 1"})
    CHECK_MESSAGE(!parse_report(other), other);
}

namespace {

struct Job {
  int id = 0;
};

// Polls until `done` or about 10 s.
template <class Pool, class Done>
void poll_until(Pool& pool, Done done, std::vector<std::string>& lines, std::vector<int>& deaths) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < until)
    pool.poll(
        50,
        [&](typename Pool::Slot& s, const std::string& line, bool) {
          lines.push_back(std::to_string(s.job ? s.job->id : -1) + ":" + line);
          s.job.reset();  // the line ends the job
        },
        [&](typename Pool::Slot& s, int sig) {
          deaths.push_back(sig);
          s.job.reset();
        });
}

}  // namespace

TEST_CASE("worker pool: lines reach idle workers; a worker gone while idle is replaced, not an error") {
  // Each worker answers one line, then exits: every job after the first finds its idle worker gone.
  WorkerPool<Job> pool({"/bin/sh", "-c", "read l; echo \"got $l\""}, "/dev/null");
  std::vector<std::string> lines;
  std::vector<int> deaths;
  for (int i = 1; i <= 3; ++i) {
    pool.start("job" + std::to_string(i) + "\n", Job{i});
    poll_until(pool, [&] { return lines.size() == static_cast<size_t>(i); }, lines, deaths);
    // let the worker exit, so the next start meets a dead idle worker (reaped or not yet)
    poll_until(pool, [&] { return false; }, lines, deaths);
  }
  CHECK(lines == std::vector<std::string>{"1:got job1", "2:got job2", "3:got job3"});
  CHECK(deaths.empty());  // they exited idle: no job was lost
  CHECK(pool.busy() == 0);
  pool.shutdown();
}

TEST_CASE("worker pool: a worker that dies during a job is reported once with its signal; the pool goes on") {
  WorkerPool<Job> pool({"/bin/sh", "-c", "while read l; do if [ \"$l\" = die ]; then kill -9 $$; fi; echo \"ok $l\"; done"},
                       "/dev/null");
  std::vector<std::string> lines;
  std::vector<int> deaths;
  pool.start("a\n", Job{1});
  poll_until(pool, [&] { return lines.size() == 1; }, lines, deaths);
  pool.start("die\n", Job{2});
  poll_until(pool, [&] { return deaths.size() == 1; }, lines, deaths);
  CHECK(deaths == std::vector<int>{SIGKILL});
  CHECK(pool.busy() == 0);
  pool.start("b\n", Job{3});  // a new worker
  poll_until(pool, [&] { return lines.size() == 2; }, lines, deaths);
  CHECK(lines == std::vector<std::string>{"1:ok a", "3:ok b"});
  CHECK(deaths.size() == 1);
  pool.shutdown();
}

TEST_CASE("worker pool: a program that cannot start is a clear error") {
  WorkerPool<Job> pool({"/nonexistent/kiln"}, "/dev/null");
  CHECK_THROWS_WITH_AS(pool.start("x\n", Job{1}), doctest::Contains("cannot start a trial worker (/nonexistent/kiln)"),
                       ModelError);
}
