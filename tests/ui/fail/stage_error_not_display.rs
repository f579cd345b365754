struct Opaque;

#[semtel::stage]
fn load() -> Result<(), Opaque> {
    Ok(())
}

fn main() {}
