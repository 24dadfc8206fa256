//! Ages as kubectl prints them: apimachinery's `duration.HumanDuration`
//! (AGE columns) and `ShortHumanDuration`, rebuilt on Go's integer rules.

use chrono::TimeDelta;

const SECOND: i128 = 1_000_000_000;
const MINUTE: i128 = 60 * SECOND;
const HOUR: i128 = 60 * MINUTE;

fn nanos(d: TimeDelta) -> i128 {
    // TimeDelta holds whole seconds plus nanoseconds; i128 never overflows.
    i128::from(d.num_seconds()) * SECOND + i128::from(d.subsec_nanos())
}

/// The 2–3 significant figure form used for AGE: `5s`, `3m10s`, `70m`,
/// `3h4m`, `47h`, `2d3h`, `40d`, `2y31d`, `9y`. A clock skew of up to one
/// second reads as `0s`; anything further in the future is `<invalid>`.
pub fn human_duration(d: TimeDelta) -> String {
    let d = nanos(d);
    // Go truncates toward zero, as Rust's integer division does.
    let seconds = d / SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d / MINUTE;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / HOUR;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        format!("{hours}h{m}m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        format!("{}d{}h", hours / 24, h)
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        format!("{}y{}d", hours / 24 / 365, dy)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// The one-unit form: `5s`, `12m`, `3h`, `40d`, `3y`.
pub fn short_human_duration(d: TimeDelta) -> String {
    let d = nanos(d);
    let seconds = d / SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = d / MINUTE;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = d / HOUR;
    if hours < 24 {
        format!("{hours}h")
    } else if hours < 24 * 365 {
        format!("{}d", hours / 24)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: i64) -> TimeDelta {
        TimeDelta::milliseconds(n)
    }
    fn s(n: i64) -> TimeDelta {
        TimeDelta::seconds(n)
    }
    fn m(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }
    fn h(n: i64) -> TimeDelta {
        TimeDelta::hours(n)
    }

    #[test]
    fn human_duration_matches_apimachinery() {
        let cases: &[(TimeDelta, &str)] = &[
            (s(-3), "<invalid>"),
            (s(-2), "<invalid>"),
            (ms(-1999), "0s"),
            (s(-1), "0s"),
            (ms(-500), "0s"),
            (s(0), "0s"),
            (ms(999), "0s"),
            (s(1), "1s"),
            (s(5), "5s"),
            (s(59), "59s"),
            (s(70), "70s"),
            (ms(119_999), "119s"),
            (s(120), "2m"),
            (s(190), "3m10s"),
            (s(599), "9m59s"),
            (s(600), "10m"),
            (s(601), "10m"),
            (m(12), "12m"),
            (m(70), "70m"),
            (m(179), "179m"),
            (m(180), "3h"),
            (m(184), "3h4m"),
            (m(479), "7h59m"),
            (h(8), "8h"),
            (h(47), "47h"),
            (h(48), "2d"),
            (h(49), "2d1h"),
            (h(51), "2d3h"),
            (h(7 * 24 + 23), "7d23h"),
            (h(8 * 24), "8d"),
            (h(8 * 24 + 2), "8d"),
            (h(40 * 24), "40d"),
            (h(367 * 24), "367d"),
            (h(365 * 2 * 24 - 1), "729d"),
            (h(365 * 2 * 24), "2y"),
            (h(365 * 2 * 24 + 25), "2y1d"),
            (h(365 * 3 * 24 + 31 * 24), "3y31d"),
            (h(365 * 8 * 24 - 1), "7y364d"),
            (h(365 * 8 * 24 + 2), "8y"),
            (h(365 * 100 * 24), "100y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(*d), *want, "{d:?}");
        }
    }

    #[test]
    fn short_human_duration_matches_apimachinery() {
        let cases: &[(TimeDelta, &str)] = &[
            (s(-2), "<invalid>"),
            (s(-1), "0s"),
            (s(0), "0s"),
            (s(59), "59s"),
            (s(60), "1m"),
            (s(190), "3m"),
            (m(59), "59m"),
            (m(60), "1h"),
            (h(23), "23h"),
            (h(24), "1d"),
            (h(51), "2d"),
            (h(364 * 24 + 23), "364d"),
            (h(365 * 24), "1y"),
            (h(365 * 3 * 24 + 100), "3y"),
        ];
        for (d, want) in cases {
            assert_eq!(short_human_duration(*d), *want, "{d:?}");
        }
    }
}
