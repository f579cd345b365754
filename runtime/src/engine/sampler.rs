//! The sampling decision for a new stage span, as the SDK's samplers make
//! it.

use crate::config::{ParentBasedRoot, SamplerConfig};

/// The sampling decision for a new span with `trace_id` under `parent`.
/// `parent_sampled`: the parent's sampled flag, `None` for a root.
pub(super) fn sampled(
    sampler: SamplerConfig,
    trace_id: u128,
    parent_sampled: Option<bool>,
) -> bool {
    match (sampler, parent_sampled) {
        (SamplerConfig::AlwaysOn, _) => true,
        (SamplerConfig::AlwaysOff, _) => false,
        (SamplerConfig::TraceIdRatio(r), _) => ratio_sampled(r, trace_id),
        (SamplerConfig::ParentBased(_), Some(sampled)) => sampled,
        (SamplerConfig::ParentBased(root), None) => match root {
            ParentBasedRoot::AlwaysOn => true,
            ParentBasedRoot::AlwaysOff => false,
            ParentBasedRoot::TraceIdRatio(r) => ratio_sampled(r, trace_id),
        },
    }
}

/// The SDK's `TraceIdRatioBased` decision: the low 63 bits of the trace id
/// against the ratio.
fn ratio_sampled(ratio: f64, trace_id: u128) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    ((trace_id as u64) >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ids;
    use opentelemetry::trace::TraceId;

    #[test]
    fn ratio_sampling_matches_the_sdk() {
        use opentelemetry::trace::SpanKind;
        use opentelemetry_sdk::trace::SamplingDecision;
        use opentelemetry_sdk::trace::{Sampler, ShouldSample as _};
        for ratio in [0.0, 0.1, 0.5, 0.9, 1.0] {
            let sdk = Sampler::TraceIdRatioBased(ratio);
            for _ in 0..2000 {
                let trace_id = ids::trace_id();
                let ours = ratio_sampled(ratio, trace_id);
                let theirs = sdk.should_sample(
                    None,
                    TraceId::from(trace_id),
                    "x",
                    &SpanKind::Internal,
                    &[],
                    &[],
                );
                assert_eq!(
                    ours,
                    theirs.decision == SamplingDecision::RecordAndSample,
                    "ratio {ratio}, trace id {trace_id:032x}"
                );
            }
        }
    }
}
