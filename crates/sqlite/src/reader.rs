//! Read connections. In WAL mode readers see the last commit and never wait for the
//! writer, so reads run on their own connections on tokio's blocking threads.
//!
//! Written by hand rather than with a pool crate: it is a stack of idle connections behind
//! a mutex, opened on demand, and that is all this needs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use orderflow_core::ports::StoreError;
use rusqlite::{Connection, OpenFlags};

/// Idle connections kept for reuse; more may be open at once under load.
const MAX_IDLE: usize = 8;

#[derive(Debug, Clone)]
pub(crate) struct Readers {
    path: Arc<PathBuf>,
    // Held only to push or pop a connection, never across a query.
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path: Arc::new(path),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Run `f` on a read connection, off the async threads.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match this.idle.lock().expect("reader pool poisoned").pop() {
                Some(c) => c,
                None => open_read(&this.path).map_err(crate::db)?,
            };
            let result = f(&conn);
            let mut idle = this.idle.lock().expect("reader pool poisoned");
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(StoreError::backend)?
    }
}

fn open_read(path: &PathBuf) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}
