//! The store contract suite against the SQLite adapter, each case on a fresh database file.

use std::sync::Arc;

use orderflow_core::ports::OrderStore;
use orderflow_sqlite::SqliteStore;
use tempfile::TempDir;

async fn fresh_sqlite_store() -> (Arc<dyn OrderStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    (Arc::new(store), dir)
}

orderflow_core::store_contract_suite!(fresh_sqlite_store);
