//! Table-driven tests of the scale-to-zero machine. Each case is a script of `(time, event, expected actions)`
//! steps against one machine; time is a plain number of milliseconds (the clock is paused: only the script moves
//! it), so timeouts and idleness are exact.

use super::*;

const IDLE: Millis = 300_000;

fn config() -> Config {
    Config { idle_after: IDLE, max_held: 3, hold_timeout: 30_000 }
}

/// Short names for the script.
fn req(id: u64) -> Event {
    Event::Request { id }
}
fn idle(last: Option<Millis>) -> Event {
    Event::Idle { last_request: last }
}
fn timeout(id: u64) -> Action {
    Action::Refuse { id, why: Refusal::Timeout, retry_after_s: RETRY_AFTER_S }
}
fn full(id: u64) -> Action {
    Action::Refuse { id, why: Refusal::QueueFull, retry_after_s: RETRY_AFTER_S }
}

/// Runs `script` on a new machine and checks every step's actions and the final phase.
#[track_caller]
fn check(name: &str, script: &[(Millis, Event, &[Action])], phase: Phase) {
    let mut machine = Machine::new(config());
    for (step, (at, event, expected)) in script.iter().enumerate() {
        let got = machine.step(*event, *at);
        assert_eq!(got, *expected, "{name}: step {step} ({event:?} at {at} ms)");
    }
    assert_eq!(machine.phase(), phase, "{name}: final phase");
}

#[test]
#[rustfmt::skip]
fn idle_zero_waking_ready() {
    use Action::*;
    check("an app never ready is never idle (it is still starting, or failing)", &[
        (10 * IDLE, idle(None), &[]),
    ], Phase::Serving);
    check("idle for less than idleAfter stays serving", &[
        (0, Event::Ready, &[]),
        (IDLE - 1, idle(None), &[]),
        (IDLE + 10_000, idle(Some(20_000)), &[]),
    ], Phase::Serving);
    check("idle for idleAfter goes to zero, once", &[
        (0, Event::Ready, &[]),
        (IDLE, idle(None), &[ScaleToZero { idle_ms: IDLE }]),
        (IDLE + 1_000, idle(None), &[]),
    ], Phase::Zero);
    check("idleness counts from the last request, or from the first ready instance", &[
        (3_000, Event::Ready, &[]),
        (4_000, Event::Ready, &[]),
        (IDLE + 2_999, idle(None), &[]),
        (IDLE + 5_000, idle(Some(5_000)), &[ScaleToZero { idle_ms: IDLE }]),
    ], Phase::Zero);
    check("a request at zero is held and wakes the app; ready forwards it and reports the cold start", &[
        (0, Event::Ready, &[]),
        (IDLE, idle(None), &[ScaleToZero { idle_ms: IDLE }]),
        (IDLE, Event::Replicas(0), &[]),
        (400_000, req(1), &[Hold(1), Wake]),
        (400_100, req(2), &[Hold(2)]),
        (400_650, Event::Ready, &[Woke { cold_start_ms: 650, released: 2 }, Forward(1), Forward(2)]),
        (400_700, req(3), &[Hold(3)]),
        (400_800, Event::Ready, &[Forward(3)]),
    ], Phase::Serving);
    check("a woken app is not idle at once: idleness counts from the wake", &[
        (0, Event::Replicas(0), &[]),
        (1_000_000, req(1), &[Hold(1), Wake]),
        (1_000_500, Event::Ready, &[Woke { cold_start_ms: 500, released: 1 }, Forward(1)]),
        (1_000_500 + IDLE - 1, idle(Some(1_000_000)), &[]),
        (1_000_500 + IDLE, idle(Some(1_000_000)), &[ScaleToZero { idle_ms: IDLE }]),
    ], Phase::Zero);
}

#[test]
#[rustfmt::skip]
fn bounds_queue_and_timeout() {
    use Action::*;
    check("past the queue a request is refused at once; the wake goes on", &[
        (0, Event::Replicas(0), &[]),
        (10, req(1), &[Hold(1), Wake]),
        (20, req(2), &[Hold(2)]),
        (30, req(3), &[Hold(3)]),
        (40, req(4), &[full(4)]),
        (900, Event::Ready, &[Woke { cold_start_ms: 890, released: 3 }, Forward(1), Forward(2), Forward(3)]),
    ], Phase::Serving);
    check("held past the timeout: 503, oldest first, on the next event", &[
        (0, Event::Replicas(0), &[]),
        (1_000, req(1), &[Hold(1), Wake]),
        (2_000, req(2), &[Hold(2)]),
        (30_999, Event::Tick, &[]),
        (31_000, Event::Tick, &[timeout(1)]),
        (32_000, req(3), &[timeout(2), Hold(3)]),
        (33_000, Event::Ready, &[Woke { cold_start_ms: 32_000, released: 1 }, Forward(3)]),
    ], Phase::Serving);
    check("a timed-out slot frees the queue for the next request", &[
        (0, Event::Replicas(0), &[]),
        (0, req(1), &[Hold(1), Wake]),
        (0, req(2), &[Hold(2)]),
        (0, req(3), &[Hold(3)]),
        (30_000, req(4), &[timeout(1), timeout(2), timeout(3), Hold(4)]),
    ], Phase::Waking { since: 0 });
}

#[test]
#[rustfmt::skip]
fn serving_and_replica_changes() {
    use Action::*;
    check("serving without a ready instance (starting, crashed): hold, no wake", &[
        (5, req(1), &[Hold(1)]),
        (700, Event::Ready, &[Forward(1)]),
    ], Phase::Serving);
    check("scaled to zero by hand with requests held: wake for them", &[
        (5, req(1), &[Hold(1)]),
        (10, Event::Replicas(0), &[Wake]),
        (300, Event::Ready, &[Woke { cold_start_ms: 295, released: 1 }, Forward(1)]),
    ], Phase::Serving);
    check("scaled up by someone else at zero: serving, idle only after its instance was ready", &[
        (0, Event::Replicas(0), &[]),
        (500_000, Event::Replicas(2), &[]),
        (500_000 + IDLE, idle(None), &[]),
        (600_000, Event::Ready, &[]),
        (600_000 + IDLE - 1, idle(None), &[]),
        (600_000 + IDLE, idle(None), &[ScaleToZero { idle_ms: IDLE }]),
    ], Phase::Zero);
    check("a wake in progress ignores the replica count until an instance is ready", &[
        (0, Event::Replicas(0), &[]),
        (100, req(1), &[Hold(1), Wake]),
        (150, Event::Replicas(0), &[]),
        (200, Event::Replicas(1), &[]),
        // Not idle while waking; the held request timed out long ago, which this event reports.
        (200 + IDLE, idle(None), &[timeout(1)]),
    ], Phase::Waking { since: 100 });
    check("no idleness while requests are held", &[
        (0, Event::Ready, &[]),
        (IDLE, req(1), &[Hold(1)]),
        (IDLE + 1, idle(None), &[]),
    ], Phase::Serving);
    check("ready at zero with nothing held: serving, no cold start to report", &[
        (0, Event::Replicas(0), &[]),
        (50, Event::Ready, &[]),
    ], Phase::Serving);
}

#[test]
fn deadlines() {
    let mut m = Machine::new(config());
    assert_eq!(m.next_deadline(), None);
    m.step(Event::Replicas(0), 0);
    m.step(req(7), 1_000);
    m.step(req(8), 5_000);
    assert_eq!((m.held(), m.next_deadline()), (2, Some(31_000)));
    m.step(Event::Tick, 31_000);
    assert_eq!((m.held(), m.next_deadline()), (1, Some(35_000)));
}

#[test]
#[rustfmt::skip]
fn wake_decisions() {
    let cases = [
        // (current, min, max, replicas)
        (0, 0, 5, Some(1)),
        (0, 0, 1, Some(1)),
        (0, 2, 5, Some(2)),
        (1, 0, 5, None),
        (3, 0, 5, None),
    ];
    for (current, min, max, replicas) in cases {
        let w = wake("web", current, min, max);
        assert_eq!(w.replicas, replicas, "wake at {current} in {min}..{max}: {}", w.reason);
    }
    assert_eq!(
        wake("web", 0, 0, 5).reason,
        "a request arrived for 'web' at zero replicas; the load balancer holds it → scale 0→1 (cold start)"
    );
    assert_eq!(wake("web", 2, 0, 5).reason, "app 'web' already wants 2 replicas");
}
