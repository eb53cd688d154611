// A scheduler worker without CAF 0.17's per-resume logging cast.
//
// CAF's worker loop (caf/scheduler/worker.hpp) runs, before every actor
// resume, CAF_PUSH_AID_FROM_PTR(dynamic_cast<abstract_actor*>(job)): it
// records the actor's id for log lines. Debian's libcaf defines
// CAF_LOG_LEVEL (to QUIET), so the macro is compiled in and the cast runs
// although nothing is ever logged: a cross-cast from resumable to
// abstract_actor through virtual bases, about 1,100 instructions per resume,
// 7% of a light HTTP recommend's server instructions (5-6 resumes each;
// docs/benchmarks.md, "The scheduler's per-resume cast").
//
// lean_worker<Policy> is CAF 0.17.6's worker<Policy> line for line without
// that push (and without the thread-local actor id it set, read only by
// CAF's logger). The coordinators rtrec installs (query_lane.hpp,
// lean_scheduler.hpp) run it through an explicit specialization of
// caf::scheduler::worker for their own policy types, declared right after
// each policy, so no translation unit can see the policy without it.
//
// Tied to CAF 0.17's worker interface (checked against 0.17.6, the version
// Debian 12 ships): revisit on a CAF upgrade.
#pragma once

#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/coordinator.hpp>

#include <cstddef>
#include <thread>

namespace rtrec {

template <class Policy>
class lean_worker : public caf::execution_unit {
 public:
  using job_ptr = caf::resumable*;
  using coordinator_ptr = caf::scheduler::coordinator<Policy>*;
  using policy_data = typename Policy::worker_data;

  lean_worker(std::size_t worker_id, coordinator_ptr parent, const policy_data& init,
              std::size_t throughput)
      : caf::execution_unit(&parent->system()),
        max_throughput_(throughput),
        id_(worker_id),
        parent_(parent),
        data_(init) {}

  lean_worker(const lean_worker&) = delete;
  lean_worker& operator=(const lean_worker&) = delete;

  void start() {
    auto* self = this;
    this_thread_ = std::thread{[self] {
      caf::logger::set_current_actor_system(&self->system());
      caf::detail::set_thread_name("caf.multiplexer");
      self->system().thread_started();
      self->run();
      self->system().thread_terminates();
    }};
  }

  /// Enqueues a job from another thread.
  void external_enqueue(job_ptr job) { policy_.external_enqueue(this, job); }

  /// Enqueues a job from the job this worker runs.
  void exec_later(job_ptr job) override { policy_.internal_enqueue(this, job); }

  coordinator_ptr parent() { return parent_; }
  std::size_t id() const { return id_; }
  std::thread& get_thread() { return this_thread_; }
  policy_data& data() { return data_; }
  std::size_t max_throughput() { return max_throughput_; }

 private:
  void run() {
    caf::logger::set_current_actor_system(&system());
    for (;;) {
      auto* job = policy_.dequeue(this);
      policy_.before_resume(this, job);
      auto res = job->resume(this, max_throughput_);
      policy_.after_resume(this, job);
      switch (res) {
        case caf::resumable::resume_later:
          policy_.resume_job_later(this, job);
          break;
        case caf::resumable::done:
          policy_.after_completion(this, job);
          intrusive_ptr_release(job);
          break;
        case caf::resumable::awaiting_message:
          intrusive_ptr_release(job);
          break;
        case caf::resumable::shutdown_execution_unit:
          policy_.after_completion(this, job);
          policy_.before_shutdown(this);
          return;
      }
    }
  }

  std::size_t max_throughput_;
  std::thread this_thread_;
  std::size_t id_;
  coordinator_ptr parent_;
  policy_data data_;
  Policy policy_;
};

}  // namespace rtrec

/// Makes caf::scheduler::worker<POLICY> a lean_worker<POLICY>. Use right
/// after POLICY's definition, at global scope.
#define RTREC_LEAN_WORKER(POLICY)                                                    \
  template <>                                                                      \
  class caf::scheduler::worker<POLICY> : public ::rtrec::lean_worker<POLICY> {     \
   public:                                                                         \
    using ::rtrec::lean_worker<POLICY>::lean_worker;                               \
  }
