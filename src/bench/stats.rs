//! Latency percentiles: nearest rank over the measured samples, no interpolation, so every
//! figure printed is a time that was actually measured.

use std::time::Duration;

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of `samples`, which need not be sorted.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// [`percentile`] in milliseconds.
pub fn percentile_ms(samples: &[Duration], p: f64) -> Option<f64> {
    percentile(samples, p).map(|d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_unsorted_samples() {
        let samples: Vec<Duration> = (1..=20).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&samples, 50.0), Some(10.0));
        assert_eq!(percentile_ms(&samples, 95.0), Some(19.0));
        assert_eq!(percentile_ms(&samples, 100.0), Some(20.0));
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile_ms(&one, 50.0), Some(7.0));
        assert_eq!(percentile_ms(&one, 95.0), Some(7.0));
        assert_eq!(percentile_ms(&[], 95.0), None);
    }
}
