//! Two metric kinds the crate does not have, encoded through its `EncodeMetric`: a fixed,
//! ordered table of series, and a seconds counter kept in whole units.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

use super::Labels;

/// A counter of seconds kept in whole `1/PER_SECOND` units in one `AtomicU64`: adding is one
/// `fetch_add` (the crate's `f64` counter is a compare-and-swap loop); a scrape divides.
#[derive(Debug, Default, Clone)]
pub(super) struct Seconds<const PER_SECOND: u64>(Arc<AtomicU64>);

impl<const PER_SECOND: u64> Seconds<PER_SECOND> {
    pub(super) fn add(&self, units: u64) {
        self.0.fetch_add(units, Ordering::Relaxed);
    }
}

impl<const PER_SECOND: u64> TypedMetric for Seconds<PER_SECOND> {
    const TYPE: MetricType = MetricType::Counter;
}

impl<const PER_SECOND: u64> EncodeMetric for Seconds<PER_SECOND> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let seconds = self.0.load(Ordering::Relaxed) as f64 / PER_SECOND as f64;
        encoder.encode_counter::<NoLabelSet, _, u64>(&seconds, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Series whose label sets are all known at start, written in the order given: a `Family`
/// without its lock and its unordered map. A request counts straight into its entry.
#[derive(Debug)]
pub(super) struct Fixed<const N: usize, M>(pub(super) Arc<[(Labels<N>, M)]>);

impl<const N: usize, M> Fixed<N, M> {
    pub(super) fn new(series: impl IntoIterator<Item = (Labels<N>, M)>) -> Self {
        Fixed(series.into_iter().collect())
    }
}

impl<const N: usize, M> Clone for Fixed<N, M> {
    fn clone(&self) -> Self {
        Fixed(self.0.clone())
    }
}

impl<const N: usize, M: TypedMetric> TypedMetric for Fixed<N, M> {
    const TYPE: MetricType = M::TYPE;
}

impl<const N: usize, M: EncodeMetric + TypedMetric> EncodeMetric for Fixed<N, M> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, metric) in self.0.iter() {
            metric.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}
