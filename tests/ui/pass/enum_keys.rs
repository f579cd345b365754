//! Registry keys whose values are enums take the enum or, as semantic-convention
//! enums are open, a plain string; in `#[stage]` fields and in the derive.
use semtel::conventions::attribute::{DB_SYSTEM_NAME, DbSystemName, SERVER_PORT};
use semtel::{Telemetry, stage};

#[derive(Telemetry)]
struct Target {
    #[telemetry(key = DB_SYSTEM_NAME)]
    system: DbSystemName,
    #[telemetry(key = SERVER_PORT)]
    port: u16,
}

#[stage(fields([DB_SYSTEM_NAME] = DbSystemName::Postgresql, [SERVER_PORT] = port))]
fn connect(port: u16) {}

#[stage(fields([DB_SYSTEM_NAME] = "duckdb"))]
fn embedded() {}

fn main() {
    let t = Target { system: DbSystemName::Postgresql, port: 5432 };
    assert_eq!(semtel::Telemetry::attributes(&t).len(), 2);
    connect(5432);
    embedded();
}
