//! The service's one clock: Unix seconds, injected everywhere a timestamp is taken (storage,
//! the API, batch issuance), so that a test sets the time in one place.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Unix seconds "now". Cheap to clone; every clone reads the same source.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock, never going back within the process: when the system time steps
    /// back (an NTP correction, an operator), it reads the latest time it gave until the
    /// system time passes it again, so that certificates and records are never stamped
    /// before ones this process already stamped.
    pub fn system() -> Clock {
        Clock(Arc::new(|| monotonic(system_now())))
    }

    /// A clock that always reads `unix_seconds` (tests, reproducible runs).
    pub fn fixed(unix_seconds: i64) -> Clock {
        Clock(Arc::new(move || unix_seconds))
    }

    /// A clock read from a function (e.g. a test's adjustable time).
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}

fn system_now() -> i64 {
    vaxpass_verifier::Timestamp::now().unix_seconds()
}

/// The latest of `now` and every earlier answer of the process's system clock.
fn monotonic(now: i64) -> i64 {
    static LATEST: AtomicI64 = AtomicI64::new(i64::MIN);
    let before = LATEST.fetch_max(now, Ordering::Relaxed);
    before.max(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_clock_never_goes_back() {
        let now = system_now();
        assert_eq!(monotonic(now), now);
        // The system time steps back an hour: the clock stays where it was.
        assert_eq!(monotonic(now - 3_600), now);
        assert_eq!(monotonic(now + 1), now + 1);
        assert!(Clock::system().now() > now);
    }

    #[test]
    fn clones_read_the_same_source() {
        let t = Arc::new(AtomicI64::new(1_700_000_000));
        let seen = Arc::clone(&t);
        let clock = Clock::from_fn(move || seen.load(Ordering::Relaxed));
        let copy = clock.clone();
        t.store(1_800_000_000, Ordering::Relaxed);
        assert_eq!(copy.now(), 1_800_000_000);
        assert_eq!(clock.now(), 1_800_000_000);
        assert_eq!(Clock::fixed(42).now(), 42);
    }

    #[test]
    fn the_system_clock_is_after_2025() {
        assert!(Clock::system().now() > 1_735_689_600);
    }
}
