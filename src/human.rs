//! Sizes, rates and durations as people read them: the one copy.
//!
//! The screen, the headless peer and the error messages all say sizes and
//! times; with one formatter they say them the same way (`387 MiB` in a
//! refusal and in the Downloads pane alike). Binary units, since RFC files
//! and `--max-download` are counted in KiB and MiB: whole numbers and
//! anything from 100 up without decimals, one decimal otherwise.

use std::fmt;
use std::time::Duration;

const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/// A byte count for people: `512 bytes`, `1.5 KiB`, `387 MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

/// The value of `n` in its unit (`None` below 1 KiB), and the unit's index.
fn scaled(n: u64) -> Option<(f64, usize)> {
    if n < 1024 {
        return None;
    }
    let (mut value, mut unit) = (n as f64 / 1024.0, 0);
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    Some((value, unit))
}

/// `value` with the decimals the house rule gives it.
fn number(value: f64) -> String {
    if value >= 100.0 || value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match scaled(self.0) {
            None => write!(f, "{} byte{}", self.0, if self.0 == 1 { "" } else { "s" }),
            Some((value, unit)) => write!(f, "{} {}", number(value), UNITS[unit]),
        }
    }
}

/// `received` of `total`, both in the total's unit: `40/100 KiB`,
/// `1.5/3 MiB`, `512/1000 bytes`.
pub fn size_pair(received: u64, total: u64) -> String {
    match scaled(total) {
        None => format!("{received}/{total} bytes"),
        Some((value, unit)) => {
            let div = 1024f64.powi(unit as i32 + 1);
            format!("{}/{} {}", number(received as f64 / div), number(value), UNITS[unit])
        }
    }
}

/// Bytes per second: `38.1 KiB/s`.
pub fn rate(bytes_per_sec: f64) -> String {
    let n = bytes_per_sec.max(0.0) as u64;
    match scaled(n) {
        None => format!("{n} B/s"),
        Some((value, unit)) => format!("{} {}/s", number(value), UNITS[unit]),
    }
}

/// A duration for people: `120 ms`, `2.5 s`, `4 min 05 s`, `2 h 03 min`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if secs < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{} min {:02} s", secs / 60, secs % 60)
    } else {
        format!("{} h {:02} min", secs / 3600, secs / 60 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        let cases = [
            (0, "0 bytes"),
            (1, "1 byte"),
            (1023, "1023 bytes"),
            (1024, "1 KiB"),
            (1536, "1.5 KiB"),
            (39_014, "38.1 KiB"),
            (3 * 1024 * 1024, "3 MiB"),
            (256 * 1024 * 1024, "256 MiB"),
            (405_623_566, "387 MiB"),
            (5 * 1024 * 1024 * 1024 / 2, "2.5 GiB"),
        ];
        for (n, want) in cases {
            assert_eq!(Size(n).to_string(), want, "{n}");
        }
    }

    #[test]
    fn pairs_rates_and_durations() {
        assert_eq!(size_pair(40_960, 102_400), "40/100 KiB");
        assert_eq!(size_pair(1536 * 1024, 3 << 20), "1.5/3 MiB");
        assert_eq!(size_pair(512, 1000), "512/1000 bytes");
        assert_eq!(rate(20_480.0), "20 KiB/s");
        assert_eq!(rate(812.4), "812 B/s");
        assert_eq!(duration(Duration::from_millis(120)), "120 ms");
        assert_eq!(duration(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(duration(Duration::from_secs(245)), "4 min 05 s");
        assert_eq!(duration(Duration::from_secs(7380)), "2 h 03 min");
    }
}
