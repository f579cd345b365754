//! Sync stages: free functions, options, Result handling, records.

use std::fmt;

#[derive(Debug)]
pub struct LoadError;

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("load failed")
    }
}

#[semtel::stage]
fn plain() {}

#[semtel::stage(name = "load-orders", pipeline = "orders", kind = sink, span_kind = client,
    fields(db.system.name = "sqlite", db.collection.name = table, "db.operation.name" = "INSERT"),
    records_in = rows.len(), records_out = *ret, bytes_in = rows.len() * 4, bytes_out = *ret * 4)]
fn load(table: &str, rows: &[u32]) -> Result<usize, LoadError> {
    if rows.is_empty() {
        return Err(LoadError);
    }
    Ok(rows.len())
}

#[semtel::stage(kind = transform, records_out = ret.len())]
fn double(rows: Vec<u32>) -> Vec<u32> {
    rows.into_iter().map(|r| r * 2).collect()
}

#[semtel::stage(kind = source)]
fn read(path: &str) -> std::io::Result<String> {
    let n: u32 = path.parse().map_err(|_| std::io::Error::other("bad"))?;
    Ok(n.to_string())
}

pub struct NotDisplay;

#[semtel::stage(result = false)]
fn opaque() -> Result<(), NotDisplay> {
    Ok(())
}

#[semtel::stage]
fn returns_ref(s: &str) -> &str {
    s
}

#[semtel::stage]
fn iter(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

// A body that returns a `&mut` borrowed from an argument (it moves the
// borrow out of the body's closure).
#[semtel::stage]
fn first(v: &mut Vec<u32>) -> &mut u32 {
    &mut v[0]
}

pub struct Rows {
    rows: Vec<u32>,
}

impl Rows {
    #[semtel::stage]
    fn rows_mut(&mut self) -> &mut Vec<u32> {
        &mut self.rows
    }
}

fn main() {
    plain();
    *first(&mut vec![1]) += 1;
    Rows { rows: vec![] }.rows_mut().push(1);
    let _ = load("orders", &[1, 2]);
    let _ = double(vec![1]);
    let _ = read("3");
    let _ = opaque();
    let _ = returns_ref("x");
    let _ = iter(3).count();
}
