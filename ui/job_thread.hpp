// A panel's job on a native worker thread, and the jobs a panel has let go of. Three UI jobs run
// this way: the Models tab's evaluation (ui/models_eval.cpp), the Robot panel's cell run
// (ui/robot_panel.cpp) and a lesson's cell sweep (ui/lesson_panel.cpp). The job's thread runs its
// steps, asks `cancelled()` between them and publishes what it has (a copy of its report, the rows
// so far, the finished job) under a mutex, with its progress in atomics; the UI thread copies that
// each frame and never waits for a step. A job the panel no longer wants (Cancel, a new choice) goes
// to a RetiredJobs list, cancelled (its thread leaves after its current step); it is joined on a
// later frame, once it has finished, so the UI never blocks. No thread is detached: the destructor
// asks the thread to stop and joins it (at most one step's wait), so a report that goes away takes
// its threads with it.
//
// In the browser (Emscripten without pthreads) there are no threads: `start` is not compiled there,
// so a report's worker stays empty and each panel runs its job's steps over frames on the UI thread
// instead (its own loop: the budget per frame differs from job to job), with the same step function.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>
#if !defined(__EMSCRIPTEN__)
#include <thread>
#endif

namespace stacklab::ui {

// What every job's thread has, whatever it publishes: the thread, the cancel and finished flags
// and the progress. Not a job on its own: JobThread<Result> below is. RetiredJobs keeps jobs through
// this base, so it needs no Result (ui/app.hpp names JobThread<RobotJob> with RobotJob incomplete).
class JobThreadBase {
public:
    JobThreadBase(const JobThreadBase&) = delete;
    JobThreadBase& operator=(const JobThreadBase&) = delete;

    // Worker side.
    bool cancelled() const { return cancel_; }
    void set_progress(long done, long total) {
        total_ = total;
        done_ = done;
    }

    // UI side.
    void cancel() { cancel_ = true; }
    bool finished() const { return finished_; }
    long progress_done() const { return done_; }
    long progress_total() const { return total_; }

protected:
    JobThreadBase() = default;
    ~JobThreadBase() = default;  // JobThread's destructor joins the thread first
    void join() {
#if !defined(__EMSCRIPTEN__)
        if (thread_.joinable()) thread_.join();
#endif
    }

    std::atomic<long> done_{0}, total_{0};
    std::atomic<bool> cancel_{false}, finished_{false};
#if !defined(__EMSCRIPTEN__)
    std::thread thread_;
#endif
};

// One job's thread and what it published. Worker side: cancelled, publish, update, set_progress.
// UI side: cancel, finished, progress_*, take_newer, read, take.
template <class Result>
class JobThread : public JobThreadBase {
public:
    JobThread() = default;
    ~JobThread() {
        cancel();
        join();
    }

#if !defined(__EMSCRIPTEN__)
    // Runs `body(job)` on a new thread; finished() turns true when it returns. The body must not
    // throw (each job turns its errors into its result).
    template <class Body>
    static std::shared_ptr<JobThread> start(Body body) {
        auto job = std::make_shared<JobThread>();
        JobThread* self = job.get();  // outlives the thread: the destructor joins it first
        job->thread_ = std::thread([self, body = std::move(body)]() mutable {
            body(*self);
            self->finished_ = true;
        });
        return job;
    }
#endif

    // Worker side.
    void publish(Result r) {
        std::lock_guard<std::mutex> lock(mutex_);
        result_ = std::move(r);
        ++version_;
    }
    template <class F>
    void update(F&& change) {  // changes the published result in place (appends a row, ...)
        std::lock_guard<std::mutex> lock(mutex_);
        change(result_);
        ++version_;
    }

    // UI side.
    // A copy of the published result if it changed since the last call (nothing otherwise).
    std::optional<Result> take_newer() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (version_ == taken_) return std::nullopt;
        taken_ = version_;
        return result_;
    }
    template <class F>
    void read(F&& look) const {  // looks at the published result under the lock
        std::lock_guard<std::mutex> lock(mutex_);
        look(static_cast<const Result&>(result_));
    }
    // Once finished(): joins the thread (it has left the body) and hands the result over.
    Result take() {
        join();
        return std::move(result_);
    }

private:
    mutable std::mutex mutex_;
    Result result_;     // under mutex_
    long version_ = 0;  // bumped on each publish (under mutex_)
    long taken_ = 0;    // the version take_newer copied last (UI thread only)
};

// Jobs a panel has let go of while their thread may still be in a step: kept (alive) until it has
// left, then released (which joins it at once) by prune(), called every frame.
class RetiredJobs {
public:
    // Takes `running` (if any) over, cancelled: it stops after its current step.
    template <class Result>
    void retire(std::shared_ptr<JobThread<Result>>& running) {
        if (!running) return;
        running->cancel();
        jobs_.push_back(std::move(running));
    }
    void prune() {
        jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [](const auto& j) { return j->finished(); }), jobs_.end());
    }
    size_t size() const { return jobs_.size(); }
    bool empty() const { return jobs_.empty(); }

private:
    std::vector<std::shared_ptr<JobThreadBase>> jobs_;
};

}  // namespace stacklab::ui
