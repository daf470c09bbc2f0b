//! The request duration histogram: an observation is three relaxed atomic additions
//! (`prometheus_client`'s `Histogram` locks a mutex for each), exposed in the same
//! OpenMetrics form.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds (seconds) of the buckets. The duration is read from the reactor's coarse
/// clock (a few milliseconds' resolution), so the first bucket is 5 ms.
const BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// [`BOUNDS`] in nanoseconds, for comparing without floating point.
const BOUNDS_NANOS: [u64; 11] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A histogram of durations over [`BOUNDS`] (and `+Inf`). Clones share the counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct DurationHistogram {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    /// Counts one observation of `d`.
    pub(crate) fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NANOS
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(BOUNDS.len());
        let c = &self.inner;
        c.buckets[i].fetch_add(1, Relaxed);
        c.count.fetch_add(1, Relaxed);
        c.sum_nanos.fetch_add(nanos, Relaxed);
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let c = &self.inner;
        let mut buckets = [(f64::INFINITY, 0); BOUNDS.len() + 1];
        for (i, (bound, n)) in buckets.iter_mut().enumerate() {
            *bound = BOUNDS.get(i).copied().unwrap_or(f64::INFINITY);
            *n = c.buckets[i].load(Relaxed);
        }
        // Summed from the buckets read, so the exposition is consistent with them.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = c.sum_nanos.load(Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    #[test]
    fn bounds_agree_in_both_units() {
        for (s, n) in BOUNDS.iter().zip(BOUNDS_NANOS) {
            assert_eq!((s * 1e9).round() as u64, n);
        }
    }

    #[test]
    fn observations_land_in_their_bucket_and_encode_cumulatively() {
        let h = DurationHistogram::default();
        for ms in [0, 5, 6, 30, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut r = Registry::default();
        r.register("d", "durations", h.clone());
        let mut text = String::new();
        encode(&mut text, &r).unwrap();
        for line in [
            "# TYPE d histogram",
            "d_sum 20.041",
            "d_count 5",
            "d_bucket{le=\"0.005\"} 2",
            "d_bucket{le=\"0.01\"} 3",
            "d_bucket{le=\"0.025\"} 3",
            "d_bucket{le=\"0.05\"} 4",
            "d_bucket{le=\"10.0\"} 4",
            "d_bucket{le=\"+Inf\"} 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}
