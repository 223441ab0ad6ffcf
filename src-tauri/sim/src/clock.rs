//! Time and randomness for the simulated cluster. Both are injected so tests can pin them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the simulation reads the wall clock from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> SystemTime;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// RFC 3339 in UTC with second precision (`2026-11-26T10:00:00Z`), as Kubernetes writes
/// `metav1.Time`. Times before 1970 never occur here; they print as the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(t.max(UNIX_EPOCH)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{ts:.0}")
}

/// Parses the RFC 3339 forms Kubernetes writes (`Z` or an offset, optional fraction).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    s.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}

/// Age the way kubectl prints it (`5s`, `3m12s`, `4h`, `2d`).
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..600 => {
            let (m, r) = (s / 60, s % 60);
            if r == 0 {
                format!("{m}m")
            } else {
                format!("{m}m{r}s")
            }
        }
        600..10_800 => format!("{}m", s / 60),
        10_800..28_800 => {
            let (h, m) = (s / 3600, (s % 3600) / 60);
            if m == 0 {
                format!("{h}h")
            } else {
                format!("{h}h{m}m")
            }
        }
        28_800..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A small, seedable generator (SplitMix64): names, uids and traffic choices. Not for crypto.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }

    /// Seeded from the wall clock and the process id, for production use.
    pub fn from_entropy() -> Self {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        SimRng(t ^ (u64::from(std::process::id()) << 32))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Kubernetes' "safe" alphabet (no vowels, no look-alikes), as in generated name suffixes.
    pub fn suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let s = rfc3339(t);
        assert_eq!(parse_rfc3339(&s), Some(t));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2026-11-26T10:00:00+01:00"),
            parse_rfc3339("2026-11-26T09:00:00Z")
        );
        assert!(parse_rfc3339("garbage").is_none());
        assert!(parse_rfc3339("26 Nov 2026").is_none());
        // Fractions (MicroTime) and leap days parse to the exact instant.
        assert_eq!(
            parse_rfc3339("2026-11-26T10:00:00.123456Z"),
            Some(UNIX_EPOCH + Duration::new(1_795_687_200, 123_456_000))
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::new(951_782_400 + 3_661, 999_999_999)),
            "2000-02-29T01:01:01Z"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(Duration::from_secs(5)), "5s");
        assert_eq!(human_age(Duration::from_secs(190)), "3m10s");
        assert_eq!(human_age(Duration::from_secs(3 * 86_400)), "3d");
    }

    #[test]
    fn suffixes_use_the_safe_alphabet() {
        let mut r = SimRng::new(7);
        let s = r.suffix(5);
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_eq!(r.uuid().len(), 36);
    }
}
