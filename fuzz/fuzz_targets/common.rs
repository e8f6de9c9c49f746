//! What the fuzz targets share: the shipped bundle, loaded once.

use std::sync::OnceLock;

/// The shipped bundle's snapshot.
pub fn snapshot() -> &'static teamgate::Snapshot {
    static CELL: OnceLock<teamgate::Snapshot> = OnceLock::new();
    CELL.get_or_init(|| {
        teamgate::Bundle::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .load()
            .expect("the shipped bundle loads")
    })
}
