//! Small pure helpers shared by the core: stable hashing, timestamps, variable names.

use std::time::{SystemTime, UNIX_EPOCH};

/// FNV-1a, 64 bit: stable across builds and platforms (unlike `DefaultHasher`), which matters
/// because its output is written into project names and labels.
pub fn stable_hash(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in data {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The first `n` hex digits of [`stable_hash`].
pub fn short_hash(data: &[u8], n: usize) -> String {
    let full = format!("{:016x}", stable_hash(data));
    full[..n.min(16)].to_string()
}

/// The first 16 hex digits (64 bits) of the SHA-256 of `data`: a session directory's identity
/// in its Compose project name, long enough that crafted collisions stay out of reach.
pub fn dir_id(data: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// A UTC civil date-time split into its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl UtcTime {
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self::from_unix_millis(d.as_millis() as i64)
    }

    /// Howard Hinnant's days-to-civil algorithm.
    pub fn from_unix_millis(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let millis = ms.rem_euclid(1000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        UtcTime {
            year,
            month,
            day,
            hour: (sod / 3600) as u32,
            minute: (sod % 3600 / 60) as u32,
            second: (sod % 60) as u32,
            millis,
        }
    }

    /// Milliseconds since the Unix epoch of an RFC 3339 UTC time as [`Self::rfc3339`] writes it
    /// (`2026-02-06T12:30:45.123Z`; the fraction is optional). `None` for anything else.
    pub fn parse_unix_millis(text: &str) -> Option<i64> {
        let t = text.strip_suffix('Z')?;
        let (date, time) = t.split_once('T')?;
        let mut d = date.splitn(3, '-').map(str::parse::<i64>);
        let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let mut h = hms.splitn(3, ':').map(str::parse::<i64>);
        let (hh, mm, ss) = (h.next()?.ok()?, h.next()?.ok()?, h.next()?.ok()?);
        let millis: i64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
        if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        // Howard Hinnant's days-from-civil algorithm.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + millis)
    }

    /// RFC 3339 with milliseconds, e.g. `2026-02-06T12:30:45.123Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// A form that is valid in git branch names and directory names:
    /// `2026-02-06T12-30-45`.
    pub fn slug(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// `my-api` → `MY_API`: upper-case, every non-alphanumeric character turned into `_`.
/// Whether `name` can be a POSIX shell variable: a letter or `_`, then letters, digits, `_`.
/// A service whose name starts with a digit (`1db`) gives variables that are not (`1DB_PORT`):
/// dotenv readers and Compose read them, `sh` does not.
pub fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn env_name(service: &str) -> String {
    service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `1.2 MB`-style sizes (powers of 1000, as `du --si`).
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Whether `name` is a valid DNS name: labels of 1–63 bytes of `[a-z0-9-]` (either case), not
/// starting or ending with `-`, at most 253 bytes in all.
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_names() {
        for ok in ["WEB_PORT", "_X", "A1", "MY_API_8080_PORT"] {
            assert!(is_shell_name(ok), "{ok}");
        }
        for bad in ["1DB_PORT", "", "A-B", "A.B", "É"] {
            assert!(!is_shell_name(bad), "{bad}");
        }
        assert!(!is_shell_name(&env_name("1db")));
        assert!(is_shell_name(&env_name("my-api.v2")));
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: project names derived from it must not change between releases.
        assert_eq!(short_hash(b"/tmp/a", 8), short_hash(b"/tmp/a", 8));
        // SHA-256("abc") starts ba7816bf8f01cfea.
        assert_eq!(dir_id(b"abc"), "ba7816bf8f01cfea");
        assert_eq!(format!("{:016x}", stable_hash(b"")), "cbf29ce484222325");
        assert_eq!(format!("{:016x}", stable_hash(b"a")), "af63dc4c8601ec8c");
    }

    #[test]
    fn civil_time() {
        let t = UtcTime::from_unix_millis(1_770_381_045_123);
        assert_eq!(t.rfc3339(), "2026-02-06T12:30:45.123Z");
        assert_eq!(t.slug(), "2026-02-06T12-30-45");
        assert_eq!(
            UtcTime::from_unix_millis(0).rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            UtcTime::from_unix_millis(951_782_400_000).rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
        for ms in [0, 1_770_381_045_123, 951_782_400_000, 4_102_444_799_999] {
            let text = UtcTime::from_unix_millis(ms).rfc3339();
            assert_eq!(UtcTime::parse_unix_millis(&text), Some(ms), "{text}");
        }
        assert_eq!(
            UtcTime::parse_unix_millis("2026-02-06T12:30:45Z"),
            Some(1_770_381_045_000)
        );
        assert_eq!(UtcTime::parse_unix_millis("2026-13-06T12:30:45Z"), None);
        assert_eq!(UtcTime::parse_unix_millis("yesterday"), None);
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("my-api"), "MY_API");
        assert_eq!(env_name("db.main_1"), "DB_MAIN_1");
    }
}
