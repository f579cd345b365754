//! The bucket boundaries the semantic conventions recommend for the
//! families' duration histograms.

/// The explicit bucket boundaries the semantic conventions recommend for a
/// duration histogram, by metric name (`None`: the SDK's defaults).
///
/// ```
/// let b = semtel::integrations::boundaries("db.client.operation.duration").unwrap();
/// assert_eq!(b.first(), Some(&0.001));
/// ```
#[must_use]
pub fn boundaries(metric: &str) -> Option<&'static [f64]> {
    /// `http.*.request.duration`, `messaging.*.duration`, `rpc.*.call.duration`.
    const REQUEST: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ];
    /// `db.client.operation.duration`.
    const DB: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
    match metric {
        "db.client.operation.duration" => Some(DB),
        "http.client.request.duration"
        | "http.server.request.duration"
        | "messaging.client.operation.duration"
        | "messaging.process.duration"
        | "rpc.client.call.duration"
        | "rpc.server.call.duration" => Some(REQUEST),
        _ => None,
    }
}
