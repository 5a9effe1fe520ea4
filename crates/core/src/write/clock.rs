//! Where the writer reads the moment of recording.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::moment::truncate_to_micros;

/// The source of `recorded_at`: the system clock, or, with the `testing` feature, any function
/// of the test's choosing (a clock that steps backwards, say). Whatever it says, the writer
/// never lets `recorded_at` go back (SPEC §3): it records the later of the clock's reading and
/// the last recorded moment.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that answers whatever `now` does.
    #[cfg(feature = "testing")]
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock(Some(Arc::new(now)))
    }

    /// The moment now, to the microsecond (the precision of a record).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(match &self.0 {
            None => Utc::now(),
            Some(now) => now(),
        })
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_none() {
            "Clock::system()"
        } else {
            "Clock::from_fn(..)"
        })
    }
}
