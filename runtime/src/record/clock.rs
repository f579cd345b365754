//! A cheap monotonic clock for the per-call path, anchored to wall time.
//!
//! On x86-64 with an invariant TSC (every current server CPU, and virtual
//! machines that expose `constant_tsc`/`nonstop_tsc`) a reading is one
//! `rdtsc`, about a third of `Instant::now()` through the vDSO. The tick rate
//! is calibrated against `Instant` when the clock is first used and refined by
//! the collector thread as time passes ([`refine`]), so the conversion to
//! nanoseconds gets more exact the longer the process runs; it also realigns
//! the anchor with the system clock, so timestamps follow NTP adjustments as
//! `SystemTime` does. Elsewhere a tick is a nanosecond of `Instant` since the
//! anchor.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The wall and monotonic time the clock was anchored at, and its source.
#[derive(Debug)]
struct Anchor {
    instant: Instant,
    ticks: u64,
    tsc: bool,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();
/// Nanoseconds per tick, as `f64` bits.
static NANOS_PER_TICK: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds since the Unix epoch at the anchor tick, as last aligned with
/// the system clock by [`refine`].
static WALL_AT_ANCHOR: AtomicU64 = AtomicU64::new(0);

/// How long the first calibration watches both clocks.
const FIRST_CALIBRATION: Duration = Duration::from_micros(500);

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        let tsc = tsc::usable();
        let instant = Instant::now();
        let wall = SystemTime::now();
        let ticks = if tsc { tsc::read() } else { 0 };
        WALL_AT_ANCHOR.store(epoch_nanos(wall), Ordering::Relaxed);
        let anchor = Anchor {
            instant,
            ticks,
            tsc,
        };
        if tsc {
            // A short first calibration; `refine` lengthens the baseline.
            let mut now = Instant::now();
            let limit = instant + FIRST_CALIBRATION * 4;
            while now.duration_since(instant) < FIRST_CALIBRATION && now < limit {
                std::hint::spin_loop();
                now = Instant::now();
            }
            store_rate(&anchor, tsc::read(), now);
        } else {
            NANOS_PER_TICK.store(1f64.to_bits(), Ordering::Relaxed);
        }
        anchor
    })
}

fn store_rate(anchor: &Anchor, ticks: u64, now: Instant) {
    let elapsed_ticks = ticks.saturating_sub(anchor.ticks);
    if elapsed_ticks == 0 {
        return;
    }
    let nanos = now.duration_since(anchor.instant).as_nanos() as f64;
    let rate = nanos / elapsed_ticks as f64;
    if rate.is_finite() && rate > 0.0 {
        NANOS_PER_TICK.store(rate.to_bits(), Ordering::Relaxed);
    }
}

/// Makes sure the clock is anchored and calibrated (at most 0.5 ms, once).
pub(crate) fn start() {
    anchor();
}

/// Recalibrates the tick rate over the whole time since the anchor; called
/// by the collector thread, off the per-call path.
pub(crate) fn refine() {
    let a = anchor();
    if a.tsc {
        store_rate(a, tsc::read(), Instant::now());
    }
    // Follow the system clock (NTP steps and slews, a suspended VM): the
    // epoch time of the anchor tick, as the system clock says now.
    let wall = epoch_nanos(SystemTime::now());
    let since = nanos_between(a.ticks, now()) as u64;
    WALL_AT_ANCHOR.store(wall.saturating_sub(since), Ordering::Relaxed);
}

fn epoch_nanos(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The current tick. Call [`start`] once before relying on it.
#[inline]
pub(crate) fn now() -> u64 {
    match ANCHOR.get() {
        Some(a) if a.tsc => tsc::read(),
        Some(a) => a.instant.elapsed().as_nanos() as u64,
        None => anchor().ticks,
    }
}

/// Seconds between two ticks.
#[inline]
pub(crate) fn seconds_between(start: u64, end: u64) -> f64 {
    nanos_between(start, end) * 1e-9
}

#[inline]
fn nanos_between(start: u64, end: u64) -> f64 {
    end.saturating_sub(start) as f64 * f64::from_bits(NANOS_PER_TICK.load(Ordering::Relaxed))
}

/// Converts ticks to nanoseconds since the Unix epoch with the rate and the
/// anchor as they are now, read once for many ticks (a batch being
/// encoded): each conversion is then an integer multiply and a shift.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnixNanos {
    ticks: u64,
    wall: u64,
    /// Nanoseconds per tick in fixed point, [`UnixNanos::SHIFT`] bits of
    /// fraction: exact to well under a nanosecond over days.
    mult: u64,
}

impl UnixNanos {
    const SHIFT: u32 = 52;

    /// The conversion as the clock stands.
    pub(crate) fn current() -> Self {
        let a = anchor();
        let rate = f64::from_bits(NANOS_PER_TICK.load(Ordering::Relaxed));
        Self {
            ticks: a.ticks,
            wall: WALL_AT_ANCHOR.load(Ordering::Relaxed),
            // Exact: a rate below 4096 ns per tick (any counter above
            // 250 kHz) keeps all of its 53 bits here.
            mult: (rate * (1u64 << Self::SHIFT) as f64) as u64,
        }
    }

    /// `tick` as a `SystemTime`.
    pub(crate) fn system_time(&self, tick: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_nanos(self.at(tick))
    }

    /// Nanoseconds since the Unix epoch at `tick`.
    #[inline]
    pub(crate) fn at(&self, tick: u64) -> u64 {
        let since = u128::from(tick.saturating_sub(self.ticks)) * u128::from(self.mult);
        self.wall.saturating_add((since >> Self::SHIFT) as u64)
    }
}

#[cfg(target_arch = "x86_64")]
mod tsc {
    /// Whether the TSC ticks at a constant rate in every power state
    /// (CPUID 8000_0007h, EDX bit 8), so it can serve as a clock.
    pub(super) fn usable() -> bool {
        let max_extended = core::arch::x86_64::__cpuid(0x8000_0000).eax;
        max_extended >= 0x8000_0007 && core::arch::x86_64::__cpuid(0x8000_0007).edx & (1 << 8) != 0
    }

    #[inline]
    #[allow(unsafe_code)]
    pub(super) fn read() -> u64 {
        // SAFETY: `rdtsc` reads a register; it touches no memory and exists on
        // every x86-64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod tsc {
    pub(super) fn usable() -> bool {
        false
    }

    pub(super) fn read() -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_to_the_time_that_passed() {
        start();
        let t0 = now();
        let i0 = Instant::now();
        while i0.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let t1 = now();
        let i1 = i0.elapsed();
        refine();
        let measured = seconds_between(t0, t1);
        let expected = i1.as_secs_f64();
        assert!(
            (measured - expected).abs() < expected * 0.05,
            "{measured} s by ticks, {expected} s by Instant"
        );
        let wall = UnixNanos::current()
            .system_time(t1)
            .duration_since(UnixNanos::current().system_time(t0))
            .unwrap();
        assert!((wall.as_secs_f64() - measured).abs() < 1e-6);
    }

    #[test]
    fn fixed_point_conversion_matches_the_rate() {
        start();
        let rate = f64::from_bits(NANOS_PER_TICK.load(Ordering::Relaxed));
        let conv = UnixNanos::current();
        // Up to a day of a 4 GHz counter.
        for ticks in [0u64, 1, 1_000, 3_000_000_000, 86_400 * 4_000_000_000] {
            let expected = ticks as f64 * rate;
            let got = (conv.at(conv.ticks + ticks) - conv.wall) as f64;
            // The shift drops under 1 ns; the multiplier, truncated to
            // `SHIFT` fraction bits, is short by under one unit of the last
            // bit per tick (0.08 ns a day at 4 GHz); `expected` itself is
            // rounded once.
            let bound = 1.0
                + ticks as f64 / (1u64 << UnixNanos::SHIFT) as f64
                + expected * 2.0 * f64::EPSILON;
            assert!(
                (got - expected).abs() <= bound,
                "{ticks} ticks: {got} ns against {expected} (bound {bound})"
            );
        }
        // A tick before the anchor is the anchor's time, not a wrap.
        assert_eq!(conv.at(conv.ticks.saturating_sub(5)), conv.wall);
    }

    #[test]
    fn wall_time_is_near_the_system_clock() {
        start();
        let wall = UnixNanos::current().system_time(now());
        let sys = SystemTime::now();
        let diff = match sys.duration_since(wall) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(diff < Duration::from_millis(50), "{diff:?}");
    }
}
