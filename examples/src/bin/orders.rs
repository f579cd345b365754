//! The orders pipeline: run it with no collector and its telemetry is
//! rendered on the terminal; set `OTEL_EXPORTER_OTLP_ENDPOINT` to export it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _telemetry = semtel::builder()
        .service_name("orders")
        .service_version(env!("CARGO_PKG_VERSION"))
        .init()?;
    let dir = std::env::temp_dir().join(format!("semtel-orders-{}", std::process::id()));
    let summary = semtel_examples::orders::run(&semtel_examples::orders::RunConfig::new(&dir))?;
    println!("{summary}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
