//! Placeholder: the groups benchmark.
fn main() {}
