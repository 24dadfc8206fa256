//! Percentiles and rates over measured samples.

use std::time::Duration;

/// Milliseconds of `d` as a float, the unit every latency is reported in.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile (`p` in 0..=100) of samples sorted ascending;
/// 0 for no samples. Nearest-rank never invents a value between samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The figures reported for one set of latency samples (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    pub fn of(samples: &[f64]) -> Summary {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mean = if n == 0 {
            0.0
        } else {
            sorted.iter().sum::<f64>() / n as f64
        };
        Summary {
            n,
            p50: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied().unwrap_or(0.0),
            mean,
        }
    }
}

/// Operations per second; 0 when no time passed.
pub fn rate(count: usize, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s <= 0.0 {
        0.0
    } else {
        count as f64 / s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let cases: &[(&[f64], f64, f64)] = &[
            (&[], 50.0, 0.0),
            (&[7.0], 50.0, 7.0),
            (&[7.0], 99.0, 7.0),
            (&[1.0, 2.0], 50.0, 1.0),
            (&[1.0, 2.0], 99.0, 2.0),
            (&[1.0, 2.0, 3.0, 4.0], 50.0, 2.0),
            (&[1.0, 2.0, 3.0, 4.0], 75.0, 3.0),
            (&[1.0, 2.0, 3.0, 4.0], 0.0, 1.0),
            (&[1.0, 2.0, 3.0, 4.0], 100.0, 4.0),
            (&hundred, 50.0, 50.0),
            (&hundred, 99.0, 99.0),
            (&hundred, 99.9, 100.0),
        ];
        for (samples, p, want) in cases {
            assert_eq!(percentile(samples, *p), *want, "p{p} of {samples:?}");
        }
    }

    #[test]
    fn summary_sorts_and_drops_non_finite() {
        let s = Summary::of(&[3.0, f64::NAN, 1.0, 2.0, f64::INFINITY]);
        assert_eq!(
            s,
            Summary {
                n: 3,
                p50: 2.0,
                p99: 3.0,
                max: 3.0,
                mean: 2.0
            }
        );
        assert_eq!(Summary::of(&[]).n, 0);
        assert_eq!(Summary::of(&[]).max, 0.0);
    }

    #[test]
    fn rates() {
        assert_eq!(rate(1000, Duration::from_millis(500)), 2000.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
    }
}
