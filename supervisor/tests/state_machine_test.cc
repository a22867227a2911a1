#include "supervisor/state_machine.h"

#include <gtest/gtest.h>

namespace gantry::supervisor {
namespace {

using namespace std::chrono_literals;

ExitStatus code(int c) {
    return {ExitStatus::Kind::Exited, c, 0};
}
ExitStatus killed(int sig) {
    return {ExitStatus::Kind::Killed, 0, sig};
}

Machine in(State s) {
    Machine m;
    m.state = s;
    return m;
}

Policy always() {
    Policy p;
    p.restart = RestartPolicy::Always;
    p.backoff = {100ms, 1s, 10s};
    p.start_limit = {0, 10s};
    return p;
}

bool has(const Transition& t, ActionKind k) {
    for (const auto& a : t.actions) {
        if (a.kind == k) {
            return true;
        }
    }
    return false;
}

// Every (state, event) pair the machine reacts to, and where it goes.
struct Row {
    State from;
    EventKind event;
    Policy policy;
    State to;
    std::vector<ActionKind> actions;
};

TEST(StateMachine, TransitionTable) {
    Policy simple;  // restart no
    Policy notify;
    notify.notify = true;
    Policy health;
    health.has_health = true;
    Policy oneshot;
    oneshot.type = ServiceType::Oneshot;
    Policy timed = notify;  // notify with a start timeout and a watchdog
    timed.start_timeout = 90s;
    timed.watchdog = 10s;
    std::vector<Row> rows = {
        {State::Waiting, EventKind::DepsReady, simple, State::Starting, {ActionKind::Spawn}},
        {State::Waiting, EventKind::StopRequested, simple, State::Exited, {}},
        {State::Waiting,
         EventKind::StartRequested,
         simple,
         State::Waiting,
         {ActionKind::CheckDeps}},
        {State::Starting, EventKind::Spawned, simple, State::Running, {}},
        {State::Starting, EventKind::Spawned, health, State::Running, {ActionKind::StartHealth}},
        {State::Starting, EventKind::Spawned, notify, State::Starting, {}},
        {State::Starting, EventKind::Ready, notify, State::Running, {}},
        {State::Starting, EventKind::SpawnFailed, simple, State::Failed, {}},
        {State::Starting, EventKind::Exited, simple, State::Exited, {}},  // code 0
        {State::Starting,
         EventKind::StopRequested,
         simple,
         State::Stopping,
         {ActionKind::SendStop, ActionKind::ArmTimer}},
        {State::Running, EventKind::HealthOk, health, State::Healthy, {}},
        {State::Running, EventKind::HealthFail, health, State::Unhealthy, {}},
        {State::Running, EventKind::Exited, simple, State::Exited, {}},
        {State::Running, EventKind::Exited, health, State::Exited, {ActionKind::StopHealth}},
        {State::Running,
         EventKind::StopRequested,
         health,
         State::Stopping,
         {ActionKind::StopHealth, ActionKind::SendStop, ActionKind::ArmTimer}},
        {State::Healthy, EventKind::HealthFail, health, State::Unhealthy, {}},
        {State::Healthy, EventKind::Exited, health, State::Exited, {ActionKind::StopHealth}},
        {State::Healthy,
         EventKind::StopRequested,
         health,
         State::Stopping,
         {ActionKind::StopHealth, ActionKind::SendStop, ActionKind::ArmTimer}},
        {State::Unhealthy, EventKind::HealthOk, health, State::Healthy, {}},
        {State::Unhealthy, EventKind::Exited, health, State::Exited, {ActionKind::StopHealth}},
        {State::Unhealthy,
         EventKind::StopRequested,
         health,
         State::Stopping,
         {ActionKind::StopHealth, ActionKind::SendStop, ActionKind::ArmTimer}},
        {State::Stopping, EventKind::TimerFired, simple, State::Stopping, {ActionKind::SendKill}},
        {State::Stopping, EventKind::Exited, simple, State::Exited, {ActionKind::CancelTimer}},
        {State::Backoff, EventKind::TimerFired, simple, State::Starting, {ActionKind::Spawn}},
        {State::Backoff,
         EventKind::StopRequested,
         simple,
         State::Exited,
         {ActionKind::CancelTimer}},
        {State::Backoff,
         EventKind::StartRequested,
         simple,
         State::Waiting,
         {ActionKind::CancelTimer, ActionKind::CheckDeps}},
        {State::Exited, EventKind::StartRequested, simple, State::Waiting, {ActionKind::CheckDeps}},
        {State::Failed, EventKind::StartRequested, simple, State::Waiting, {ActionKind::CheckDeps}},
        {State::Running, EventKind::Exited, oneshot, State::Exited, {}},
        {State::Running, EventKind::Exited, always(), State::Backoff, {ActionKind::ArmTimer}},
        {State::Starting,
         EventKind::Spawned,
         timed,
         State::Starting,
         {ActionKind::ArmWatchdog, ActionKind::ArmTimer}},
        {State::Starting, EventKind::Ready, timed, State::Running, {ActionKind::CancelTimer}},
        {State::Starting,
         EventKind::TimerFired,
         timed,
         State::Stopping,
         {ActionKind::StopWatchdog, ActionKind::SendStop, ActionKind::ArmTimer}},
        {State::Starting,
         EventKind::Exited,
         timed,
         State::Exited,
         {ActionKind::CancelTimer, ActionKind::StopWatchdog}},
        {State::Starting,
         EventKind::WatchdogExpired,
         timed,
         State::Stopping,
         {ActionKind::StopWatchdog, ActionKind::SendStop, ActionKind::ArmTimer}},
        {State::Running,
         EventKind::WatchdogExpired,
         timed,
         State::Stopping,
         {ActionKind::StopWatchdog, ActionKind::SendStop, ActionKind::ArmTimer}},
        {State::Running, EventKind::Exited, timed, State::Exited, {ActionKind::StopWatchdog}},
        {State::Running,
         EventKind::StopRequested,
         timed,
         State::Stopping,
         {ActionKind::StopWatchdog, ActionKind::SendStop, ActionKind::ArmTimer}},
    };
    for (const auto& r : rows) {
        Transition t = step(in(r.from), r.policy, {r.event, code(0)}, 100s);
        SCOPED_TRACE(fmt::format("{} + {}", to_string(r.from), to_string(r.event)));
        EXPECT_TRUE(t.changed);
        EXPECT_EQ(to_string(t.next.state), to_string(r.to));
        std::vector<ActionKind> kinds;
        for (const auto& a : t.actions) {
            kinds.push_back(a.kind);
        }
        EXPECT_EQ(kinds, r.actions);
    }
}

TEST(StateMachine, IgnoredEventsChangeNothing) {
    Policy p;
    struct {
        State s;
        EventKind e;
    } ignored[] = {
        {State::Waiting, EventKind::Exited},
        {State::Waiting, EventKind::TimerFired},
        {State::Running, EventKind::Ready},
        {State::Running, EventKind::StartRequested},
        {State::Stopping, EventKind::StopRequested},
        {State::Stopping, EventKind::HealthOk},
        {State::Exited, EventKind::StopRequested},
        {State::Failed, EventKind::Exited},
        {State::Backoff, EventKind::Ready},
        {State::Healthy, EventKind::Spawned},
        {State::Starting, EventKind::TimerFired},
        {State::Exited, EventKind::WatchdogExpired},
        {State::Stopping, EventKind::WatchdogExpired},
    };
    for (const auto& i : ignored) {
        Transition t = step(in(i.s), p, {i.e}, 1s);
        EXPECT_FALSE(t.changed) << to_string(i.s) << " + " << to_string(i.e);
        EXPECT_EQ(t.next.state, i.s);
        EXPECT_TRUE(t.actions.empty());
    }
}

TEST(StateMachine, HealthyStaysHealthyWithoutChange) {
    Policy p;
    p.has_health = true;
    Transition t = step(in(State::Healthy), p, {EventKind::HealthOk}, 1s);
    EXPECT_EQ(t.next.state, State::Healthy);
    EXPECT_FALSE(t.changed);
}

TEST(StateMachine, SecondStopTimerDoesNotKillTwice) {
    Policy p;
    Machine m = in(State::Stopping);
    Transition t = step(m, p, {EventKind::TimerFired}, 1s);
    ASSERT_TRUE(has(t, ActionKind::SendKill));
    Transition t2 = step(t.next, p, {EventKind::TimerFired}, 2s);
    EXPECT_FALSE(t2.changed);
}

TEST(StateMachine, RestartPolicies) {
    Policy p;
    p.start_limit = {0, 1s};
    p.restart = RestartPolicy::No;
    EXPECT_EQ(step(in(State::Running), p, {EventKind::Exited, code(1)}, 1s).next.state,
              State::Failed);
    EXPECT_EQ(step(in(State::Running), p, {EventKind::Exited, code(0)}, 1s).next.state,
              State::Exited);
    p.restart = RestartPolicy::OnFailure;
    EXPECT_EQ(step(in(State::Running), p, {EventKind::Exited, code(0)}, 1s).next.state,
              State::Exited);
    EXPECT_EQ(step(in(State::Running), p, {EventKind::Exited, code(2)}, 1s).next.state,
              State::Backoff);
    EXPECT_EQ(step(in(State::Running), p, {EventKind::Exited, killed(9)}, 1s).next.state,
              State::Backoff);
    p.restart = RestartPolicy::Always;
    EXPECT_EQ(step(in(State::Running), p, {EventKind::Exited, code(0)}, 1s).next.state,
              State::Backoff);
    p.restart = RestartPolicy::UnlessStopped;
    EXPECT_EQ(step(in(State::Running), p, {EventKind::Exited, code(0)}, 1s).next.state,
              State::Backoff);
}

TEST(StateMachine, OnFailureGivesUpAfterN) {
    Policy p;
    p.restart = RestartPolicy::OnFailure;
    p.max_retries = 2;
    p.start_limit = {0, 1s};
    Machine m = in(State::Running);
    Duration now = 0s;
    for (int i = 0; i < 2; ++i) {
        m = step(m, p, {EventKind::Exited, code(1)}, now += 1s).next;
        ASSERT_EQ(m.state, State::Backoff);
        m = step(m, p, {EventKind::TimerFired}, now += 1s).next;
        m = step(m, p, {EventKind::Spawned}, now).next;
    }
    Transition t = step(m, p, {EventKind::Exited, code(1)}, now += 1s);
    EXPECT_EQ(t.next.state, State::Failed);
    EXPECT_NE(t.next.reason.find("gave up after 2 restarts"), std::string::npos) << t.next.reason;
}

// A fake clock walks a crash loop: delays double from initial to max, then reset after a
// run of reset_after.
TEST(Backoff, DoublesUpToMaxAndResetsAfterStableRun) {
    Policy p = always();
    Machine m = in(State::Waiting);
    Duration now = 0s;
    m = step(m, p, {EventKind::DepsReady}, now).next;
    m = step(m, p, {EventKind::Spawned}, now).next;
    std::vector<Duration> delays;
    for (int i = 0; i < 6; ++i) {
        Transition t = step(m, p, {EventKind::Exited, code(1)}, now += 10ms);
        ASSERT_EQ(t.next.state, State::Backoff);
        ASSERT_EQ(t.actions.size(), 1u);
        delays.push_back(t.actions[0].delay);
        m = t.next;
        m = step(m, p, {EventKind::TimerFired}, now += t.actions[0].delay).next;
        m = step(m, p, {EventKind::Spawned}, now).next;
    }
    std::vector<Duration> want = {100ms, 200ms, 400ms, 800ms, 1s, 1s};
    EXPECT_EQ(delays, want);
    EXPECT_EQ(m.restarts, 6);
    // Up for reset_after: the next failure starts over at initial.
    Transition t = step(m, p, {EventKind::Exited, code(1)}, now += 10s);
    EXPECT_EQ(t.actions.at(0).delay, 100ms);
}

TEST(Backoff, NextDelayEdges) {
    Policy p = always();
    EXPECT_EQ(next_delay(p, 0s, 0s, 1ms), 100ms);
    EXPECT_EQ(next_delay(p, 600ms, 0s, 1ms), 1s);
    EXPECT_EQ(next_delay(p, 1s, 0s, 9s), 1s);
    EXPECT_EQ(next_delay(p, 1s, 0s, 10s), 100ms);
    p.backoff = {0s, 0s, 10s};  // minimum backoff: restart at once
    EXPECT_EQ(next_delay(p, 0s, 0s, 1ms), 0s);
}

TEST(StartLimit, FailsWithClearReason) {
    Policy p = always();
    p.backoff = {0s, 0s, 10s};
    p.start_limit = {3, 10s};
    Machine m = in(State::Waiting);
    Duration now = 0s;
    m = step(m, p, {EventKind::DepsReady}, now).next;
    for (int i = 0; i < 2; ++i) {
        m = step(m, p, {EventKind::Spawned}, now).next;
        m = step(m, p, {EventKind::Exited, code(1)}, now += 1s).next;
        ASSERT_EQ(m.state, State::Backoff);
        m = step(m, p, {EventKind::TimerFired}, now).next;
    }
    m = step(m, p, {EventKind::Spawned}, now).next;
    Transition t = step(m, p, {EventKind::Exited, code(1)}, now += 1s);
    EXPECT_EQ(t.next.state, State::Failed);
    EXPECT_EQ(t.next.reason, "exited with code 1; start limit hit: 3 starts within 10s");
    // Starts older than the interval do not count.
    Machine old = m;
    Transition later = step(old, p, {EventKind::Exited, code(1)}, now + 20s);
    EXPECT_EQ(later.next.state, State::Backoff);
}

TEST(StateMachine, StartAfterFailureResetsCounters) {
    Machine m = in(State::Failed);
    m.restarts = 7;
    m.delay = 5s;
    m.starts = {1s, 2s};
    Transition t = step(m, always(), {EventKind::StartRequested}, 3s);
    EXPECT_EQ(t.next.restarts, 0);
    EXPECT_EQ(t.next.delay, 0s);
    EXPECT_TRUE(t.next.starts.empty());
}

TEST(StateMachine, OomReportedAsSuch) {
    Policy p;
    Transition t = step(in(State::Running), p, {EventKind::Exited, killed(9), true}, 1s);
    EXPECT_EQ(t.next.state, State::Failed);
    EXPECT_EQ(t.next.reason, "OOM-killed");
}

TEST(StateMachine, StoppedServiceDoesNotRestart) {
    Transition t = step(in(State::Stopping), always(), {EventKind::Exited, killed(15)}, 1s);
    EXPECT_EQ(t.next.state, State::Exited);
    EXPECT_EQ(t.next.reason, "stopped (killed by SIGTERM)");
}

// Issue 5: a notify service that never sends READY=1, walked on a fake clock: stop signal
// at start_timeout, SIGKILL after the grace period, then the restart policy as for a crash.
TEST(StartTimeout, StopsKillsAndRestartsPerPolicy) {
    Policy p = always();
    p.notify = true;
    p.start_timeout = 90s;
    p.stop_grace = 10s;
    Machine m = in(State::Waiting);
    Duration now = 0s;
    m = step(m, p, {EventKind::DepsReady}, now).next;
    Transition t = step(m, p, {EventKind::Spawned}, now);
    ASSERT_EQ(t.next.state, State::Starting);
    ASSERT_EQ(t.actions, (std::vector<Action>{{ActionKind::ArmTimer, 90s}}));
    m = t.next;
    t = step(m, p, {EventKind::TimerFired}, now += 90s);
    EXPECT_EQ(t.next.state, State::Stopping);
    EXPECT_EQ(t.next.reason, "no READY=1 within 1m30s");
    EXPECT_EQ(t.actions,
              (std::vector<Action>{{ActionKind::SendStop, 0s, 0}, {ActionKind::ArmTimer, 10s}}));
    m = t.next;
    t = step(m, p, {EventKind::TimerFired}, now += 10s);  // ignores SIGTERM
    EXPECT_EQ(t.actions, (std::vector<Action>{{ActionKind::SendKill}}));
    m = t.next;
    t = step(m, p, {EventKind::Exited, killed(SIGKILL)}, now);
    EXPECT_EQ(t.next.state, State::Backoff);
    EXPECT_EQ(t.next.reason, "no READY=1 within 1m30s (killed by SIGKILL); restarting in 100ms");
    EXPECT_EQ(t.next.restarts, 1);
    EXPECT_TRUE(has(t, ActionKind::ArmTimer));
    // The next run starts clean: READY=1 in time cancels the timer.
    m = step(t.next, p, {EventKind::TimerFired}, now += 100ms).next;
    EXPECT_TRUE(m.failure.empty());
    m = step(m, p, {EventKind::Spawned}, now).next;
    t = step(m, p, {EventKind::Ready}, now += 1s);
    EXPECT_EQ(t.next.state, State::Running);
    EXPECT_TRUE(has(t, ActionKind::CancelTimer));
}

TEST(StartTimeout, CleanExitAfterStopSignalIsStillAFailure) {
    Policy p;
    p.restart = RestartPolicy::OnFailure;
    p.notify = true;
    p.start_timeout = 5s;
    p.start_limit = {0, 1s};
    Machine m = in(State::Starting);
    m = step(m, p, {EventKind::TimerFired}, 5s).next;
    Transition t = step(m, p, {EventKind::Exited, code(0)}, 6s);
    EXPECT_EQ(t.next.state, State::Backoff);  // on-failure restarts it
    p.restart = RestartPolicy::No;
    t = step(m, p, {EventKind::Exited, code(0)}, 6s);
    EXPECT_EQ(t.next.state, State::Failed);
    EXPECT_EQ(t.next.reason, "no READY=1 within 5s (exited with code 0)");
}

TEST(StartTimeout, StopDuringFailureStopMeansNoRestart) {
    Policy p = always();
    p.notify = true;
    p.start_timeout = 5s;
    Machine m = step(in(State::Starting), p, {EventKind::TimerFired}, 5s).next;
    Transition t = step(m, p, {EventKind::StopRequested}, 6s);
    EXPECT_TRUE(t.changed);
    t = step(t.next, p, {EventKind::Exited, killed(SIGTERM)}, 7s);
    EXPECT_EQ(t.next.state, State::Exited);
}

TEST(StartTimeout, ZeroWaitsForever) {
    Policy p;
    p.notify = true;
    Transition t = step(in(State::Starting), p, {EventKind::Spawned}, 0s);
    EXPECT_TRUE(t.actions.empty());
    EXPECT_FALSE(step(t.next, p, {EventKind::TimerFired}, 1000s).changed);
}

TEST(Watchdog, MissAbortsThenRestarts) {
    Policy p = always();
    p.notify = true;
    p.watchdog = 10s;
    p.has_health = true;
    Machine m = in(State::Healthy);
    Transition t =
        step(m, p, {EventKind::WatchdogExpired, {}, false, "watchdog timeout: no WATCHDOG=1"}, 20s);
    EXPECT_EQ(t.next.state, State::Stopping);
    EXPECT_EQ(t.actions, (std::vector<Action>{{ActionKind::StopHealth},
                                              {ActionKind::StopWatchdog},
                                              {ActionKind::SendStop, 0s, SIGABRT},
                                              {ActionKind::ArmTimer, 10s}}));
    t = step(t.next, p, {EventKind::Exited, killed(SIGABRT)}, 21s);
    EXPECT_EQ(t.next.state, State::Backoff);
    EXPECT_EQ(t.next.reason,
              "watchdog timeout: no WATCHDOG=1 (killed by SIGABRT); restarting in 100ms");
}

}  // namespace
}  // namespace gantry::supervisor

namespace gantry::supervisor {
namespace {

// The image helper failed while the service waited in `waiting`: a failed start, so the
// restart policy decides, with the helper's error as the reason.
TEST(ImageWait, HelperFailureInWaitingFollowsRestartPolicy) {
    Event failed{EventKind::SpawnFailed, {}, false, "image x:1: manifest unknown"};
    auto t = step(in(State::Waiting), always(), failed, 1s);
    EXPECT_EQ(t.next.state, State::Backoff);
    EXPECT_TRUE(has(t, ActionKind::ArmTimer));
    EXPECT_NE(t.next.reason.find("manifest unknown"), std::string::npos) << t.next.reason;
    EXPECT_EQ(t.next.starts.size(), 1u);  // it counts toward the start limit
    Policy no;
    auto f = step(in(State::Waiting), no, failed, 1s);
    EXPECT_EQ(f.next.state, State::Failed);
    EXPECT_EQ(f.next.reason, "image x:1: manifest unknown");
}

// A restart whose image is not ready goes back to waiting and un-counts the start.
TEST(ImageWait, PendingAtSpawnWaitsWithoutCountingTheStart) {
    auto t0 = step(in(State::Backoff), always(), {EventKind::TimerFired}, 1s);
    ASSERT_EQ(t0.next.state, State::Starting);
    ASSERT_EQ(t0.next.starts.size(), 1u);
    auto t1 = step(t0.next, always(), {EventKind::ImagePending, {}, false, "pulling x:1"}, 1s);
    EXPECT_EQ(t1.next.state, State::Waiting);
    EXPECT_EQ(t1.next.reason, "pulling x:1");
    EXPECT_TRUE(t1.next.starts.empty());
    EXPECT_TRUE(t1.actions.empty());
    // Elsewhere the event means nothing.
    EXPECT_FALSE(step(in(State::Running), always(), {EventKind::ImagePending}, 1s).changed);
    EXPECT_FALSE(step(in(State::Exited), always(), {EventKind::SpawnFailed}, 1s).changed);
}

}  // namespace
}  // namespace gantry::supervisor
