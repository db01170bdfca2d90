//! The one writer: a thread that owns the write connection and commits in groups.
//!
//! A durable commit (fsync) costs milliseconds, so committing once per request caps the
//! store at a few hundred writes per second. Instead every write is a command sent to this
//! thread. It takes the first command that arrives, plus every other one already waiting
//! (up to [`MAX_BATCH`]), runs each inside its own savepoint of ONE transaction, commits
//! once, and only then answers each caller with its own result.
//!
//! - A lone command is not delayed waiting for company: the batch is whatever is waiting.
//! - A command that fails (out of stock, a lost condition) rolls back to its savepoint and
//!   does not disturb its batch-mates.
//! - A caller is answered only after the commit holding its write is durable; if the commit
//!   fails, every command of the batch gets the error and nothing of it was written.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use orderflow_core::ports::StoreError;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// Most commands one transaction takes. Bounds the latency a batch adds to its first member.
pub const MAX_BATCH: usize = 256;

/// Commands waiting for the writer; senders wait when it is full (back-pressure).
const QUEUE_DEPTH: usize = 4096;

/// A write to run inside the writer's transaction.
trait Command: Send {
    /// Run against the connection, inside a savepoint. `false`: roll the savepoint back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answer the caller once the batch's fate is known (`commit` is its result).
    fn finish(self: Box<Self>, commit: Result<(), &str>);
}

struct Job<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Command for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let work = self.work.take().expect("a command runs once");
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let answer = match (self.result, commit) {
            // A failed command wrote nothing either way: its own error is the answer.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(why)) => Err(backend_error(format!("commit failed: {why}"))),
            (None, Ok(())) => Err(backend_error("command was not run".into())),
        };
        // The caller may have gone away (request cancelled); its write stands regardless.
        let _ = self.reply.send(answer);
    }
}

fn backend_error(msg: String) -> StoreError {
    StoreError::backend(std::io::Error::other(msg))
}

/// What the writer has done so far (for metrics and tests).
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed (or attempted), one per batch.
    pub batches: AtomicU64,
    /// Commands run, across all batches.
    pub commands: AtomicU64,
}

/// The handle callers use to send writes. Cheap to clone; the thread stops when the last
/// handle is dropped, after finishing what was already sent.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Box<dyn Command>>,
    stats: Arc<WriterStats>,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Start the writer thread on `conn`. Returns the handle and the thread, which ends
    /// once every handle is dropped and the commands already sent are committed.
    pub fn spawn(conn: Connection) -> std::io::Result<(Self, thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let stats = Arc::new(WriterStats::default());
        let counters = stats.clone();
        let handle = thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx, &counters))?;
        Ok((Self { tx, stats }, handle))
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Commands sent and not yet taken by the writer.
    pub fn waiting(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Run `work` in the writer's next transaction and return its result once committed.
    ///
    /// # Errors
    /// The error `work` returned (its writes rolled back), or `Backend` when the commit
    /// failed or the writer has stopped.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            work: Some(work),
            result: None,
            reply,
        });
        self.tx
            .send(job)
            .await
            .map_err(|_| backend_error("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| backend_error("the writer stopped before answering".into()))?
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Command>>, stats: &WriterStats) {
    let mut batch: Vec<Box<dyn Command>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let commit = commit_batch(&conn, &mut batch);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .commands
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Err(e) = &commit {
            tracing::error!(error = %e, commands = batch.len(), "group commit failed");
        }
        let why = commit.as_ref().map_err(|e| e.to_string());
        for cmd in batch.drain(..) {
            cmd.finish(why.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
    tracing::debug!("sqlite writer stopped");
}

/// Run one statement through the statement cache: these run several times per batch, so
/// they are parsed once per connection, not once per command.
pub(crate) fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// One transaction for the whole batch, one savepoint per command.
fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Command>]) -> rusqlite::Result<()> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let result = (|| {
        for cmd in batch.iter_mut() {
            exec(conn, "SAVEPOINT cmd")?;
            if !cmd.run(conn) {
                exec(conn, "ROLLBACK TO cmd")?;
            }
            exec(conn, "RELEASE cmd")?;
        }
        exec(conn, "COMMIT")
    })();
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}
