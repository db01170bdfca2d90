//! Read connections. In WAL mode readers see the last commit and never wait for the
//! writer, so reads run on their own connections on tokio's blocking threads.
//!
//! At most [`MAX_READERS`] reads run at once; the others wait (asynchronously) for one to
//! end. Without that bound, 64 concurrent requests opened a connection for most reads and
//! closed it after: each open parses the schema, prepares its statements again and starts
//! with a cold page cache (a callgrind profile of placing orders found two opens per order).
//! Two cores gain nothing from more reads at once.
//!
//! Written by hand rather than with a pool crate: it is a stack of idle connections behind
//! a mutex, opened on demand, and a semaphore; that is all this needs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use orderflow_core::ports::StoreError;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

/// Reads at once, and so read connections open (each opened on first need, then kept).
pub const MAX_READERS: usize = 8;

#[derive(Debug, Clone)]
pub(crate) struct Readers {
    path: Arc<PathBuf>,
    // Held only to push or pop a connection, never across a query.
    idle: Arc<Mutex<Vec<Connection>>>,
    running: Arc<Semaphore>,
    /// Connections opened (the tests count them).
    #[cfg(test)]
    opened: Arc<std::sync::atomic::AtomicUsize>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path: Arc::new(path),
            idle: Arc::new(Mutex::new(Vec::with_capacity(MAX_READERS))),
            running: Arc::new(Semaphore::new(MAX_READERS)),
            #[cfg(test)]
            opened: Arc::default(),
        }
    }

    /// Run `f` on a read connection, off the async threads.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let this = self.clone();
        let turn = self
            .running
            .clone()
            .acquire_owned()
            .await
            .expect("the readers' semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let conn = match this.idle.lock().expect("reader pool poisoned").pop() {
                Some(c) => c,
                None => {
                    #[cfg(test)]
                    this.opened
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    open_read(&this.path).map_err(crate::db)?
                }
            };
            let result = f(&conn);
            // Never more than MAX_READERS connections: one per turn.
            this.idle.lock().expect("reader pool poisoned").push(conn);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_reads_at_once_share_a_few_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)")
            .unwrap();
        let readers = Readers::new(path);
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads: Vec<_> = (0..64)
            .map(|_| {
                let (readers, now, most) = (readers.clone(), now.clone(), most.clone());
                tokio::spawn(async move {
                    readers
                        .read(move |conn| {
                            let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(at_once, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            now.fetch_sub(1, Ordering::SeqCst);
                            conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
                                .map_err(crate::db)
                        })
                        .await
                })
            })
            .collect();
        for r in reads {
            assert_eq!(r.await.unwrap().unwrap(), 0);
        }
        assert!(most.load(Ordering::SeqCst) <= MAX_READERS);
        let opened = readers.opened.load(Ordering::SeqCst);
        assert!(
            opened <= MAX_READERS,
            "{opened} connections were opened for 64 reads"
        );
    }
}
