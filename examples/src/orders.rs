//! Smoke version; replaced by the full orders pipeline below.
fn main() -> Result<(), semtel::Error> {
    let _telemetry = semtel::builder().service_name("orders").init()?;
    let meter = semtel::meter("orders");
    let records = meter
        .u64_counter("pipeline.records")
        .with_unit("{record}")
        .build();
    let span = tracing::info_span!("run", pipeline.name = "orders");
    let _g = span.enter();
    for stage in ["extract", "transform", "load"] {
        let s = tracing::info_span!("stage", pipeline.stage.name = stage);
        let _e = s.enter();
        tracing::info!(records = 3, "stage done");
        records.add(
            3,
            &[opentelemetry::KeyValue::new("pipeline.stage.name", stage)],
        );
    }
    Ok(())
}
