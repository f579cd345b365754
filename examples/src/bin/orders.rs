//! The orders pipeline: run it with no collector and its telemetry is
//! rendered on the terminal; set `OTEL_EXPORTER_OTLP_ENDPOINT` to export it.
//! Set `ORDERS_POSTGRES` to a PostgreSQL connection string to load the
//! orders there instead of into a SQLite file, and `ORDERS_KAFKA_BROKERS`
//! to Kafka brokers (`host:port,…`) to hand them over through Kafka.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _telemetry = semtel::builder()
        .service_name("orders")
        .service_version(env!("CARGO_PKG_VERSION"))
        .init()?;
    let dir = std::env::temp_dir().join(format!("semtel-orders-{}", std::process::id()));
    let mut config = semtel_examples::orders::RunConfig::new(&dir);
    config.postgres = std::env::var("ORDERS_POSTGRES").ok();
    config.kafka = std::env::var("ORDERS_KAFKA_BROKERS").ok();
    let summary = semtel_examples::orders::run(&config)?;
    println!("{summary}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
