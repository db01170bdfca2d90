//! The one writer: a thread that owns the write connection and commits in groups.
//!
//! A durable commit (fsync) costs milliseconds, so committing once per request caps the
//! store at a few hundred writes per second. Instead every write is a command sent to this
//! thread. It takes the first command that arrives, plus every other one already waiting
//! (up to [`MAX_BATCH`]), runs them in ONE transaction, commits once, and only then answers
//! each caller with its own result.
//!
//! - A lone command is not delayed waiting for company: the batch is whatever is waiting.
//! - A command that fails (out of stock, a lost condition) does not disturb its batch-mates.
//!   Commands check before they write, so a failure normally wrote nothing, and the batch
//!   runs without a savepoint per command (a savepoint copies every page its command
//!   touches into a sub-journal: a tenth of the writer's time). A command that failed after
//!   writing (a broken invariant, a panic) is seen by SQLite's change counter: the whole
//!   transaction is rolled back and the batch runs again, each command in its own savepoint,
//!   so only the failed one's writes are undone. Commands are therefore closures that may
//!   run twice; only the last run's result is answered.
//! - A caller is answered only after the commit holding its write is durable; if the commit
//!   fails, every command of the batch gets the error and nothing of it was written. A
//!   commit that failed because the disk is full or the file read-only is `Unavailable`
//!   (503); the next batch simply tries again, so the store recovers by itself.
//! - The queue is bounded: when [`QUEUE_DEPTH`] commands already wait, a write is refused
//!   at once with `Overloaded` (503) rather than left waiting without limit.
//! - A command that panics is caught: its savepoint is rolled back, its caller gets an
//!   error, and the writer goes on. Should the writer thread itself die anyway, the
//!   process exits with status 70 (EX_SOFTWARE), so that a supervisor restarts it rather
//!   than a process living on that can never write again. Nothing acknowledged is lost
//!   either way: callers are answered only after their commit.
//! - Two kinds of commands: interactive ones (a placement, a webhook) and bulk ones (a
//!   chunk of a sweep). A batch takes every interactive command waiting, and bulk ones only
//!   after them: one when interactive commands are in the batch, up to [`MAX_BULK`] when
//!   none wait; an interactive command that arrives while bulk work runs joins the batch and
//!   ends it. A placement thus waits for at most one bulk command, however large the sweep.
//! - Checkpoints (copying the WAL back into the database file) are not the writer's work:
//!   SQLite's automatic checkpoint would run on this thread after a commit, with every
//!   caller of the next batch waiting for it. Instead a checkpointer thread with its own
//!   connection runs them beside the writer, when the WAL has grown by [`CHECKPOINT_PAGES`]
//!   (a large WAL also means a page rewritten by many batches is copied back once).

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use orderflow_core::ports::StoreError;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// Most commands one transaction takes. Bounds the latency a batch adds to its first member.
pub const MAX_BATCH: usize = 256;

/// Bulk commands one transaction takes when no interactive command waits (a sweep's chunks
/// are small, so that a placement waits little; many of them share a commit when none does).
pub const MAX_BULK: usize = 10;

/// Commands waiting for the writer; beyond this a write is refused as `Overloaded`.
pub const QUEUE_DEPTH: usize = 4096;

/// Pages in the WAL after which the checkpointer copies them back (32 MiB of 4 KiB pages).
pub const CHECKPOINT_PAGES: i32 = 8192;

thread_local! {
    /// Pages in the WAL after the writer thread's last commit, as SQLite's WAL hook reports.
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

/// SQLite's WAL hook, called on the committing (writer) thread after each commit.
fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// Exit status when the writer thread dies: EX_SOFTWARE from sysexits.h.
const EXIT_WRITER_DIED: i32 = 70;

/// Why a batch's commit failed, kept with its kind so each caller gets the right error.
#[derive(Debug)]
pub(crate) struct CommitFailure {
    transient: bool,
    message: String,
}

impl CommitFailure {
    fn from_sqlite(e: &rusqlite::Error) -> Self {
        Self {
            transient: crate::passes(e),
            message: e.to_string(),
        }
    }

    fn to_store_error(&self) -> StoreError {
        let why = std::io::Error::other(format!("commit failed: {}", self.message));
        if self.transient {
            StoreError::unavailable(why)
        } else {
            StoreError::backend(why)
        }
    }
}

/// A write to run inside the writer's transaction.
trait Command: Send {
    /// Run against the connection (again, if the batch is run again). `false`: it failed.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answer the caller once the batch's fate is known (`commit` is its result).
    fn finish(self: Box<Self>, commit: Result<(), &CommitFailure>);
    /// Work that may wait behind interactive commands (see the module's notes).
    fn bulk(&self) -> bool;
}

struct Job<T, F> {
    bulk: bool,
    work: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Command for Job<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        // A panic is this command's failure, not the writer's: its writes are undone and
        // the batch goes on.
        let work = &mut self.work;
        let result = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|panic| {
            let what = panic_message(panic.as_ref());
            tracing::error!(panic = what, "a write command panicked; rolled back");
            Err(backend_error(format!("write command panicked: {what}")))
        });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &CommitFailure>) {
        let answer = match (self.result, commit) {
            // A failed command wrote nothing either way: its own error is the answer.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(failure)) => Err(failure.to_store_error()),
            (None, Ok(())) => Err(backend_error("command was not run".into())),
        };
        // The caller may have gone away (request cancelled); its write stands regardless.
        let _ = self.reply.send(answer);
    }

    fn bulk(&self) -> bool {
        self.bulk
    }
}

fn backend_error(msg: String) -> StoreError {
    StoreError::backend(std::io::Error::other(msg))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic")
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
        Self::spawn_with(conn, None)
    }

    /// [`Writer::spawn`] on a WAL database at `db`, with checkpoints on a thread of their
    /// own rather than on the writer's (see the module's notes).
    pub fn spawn_checkpointed(
        conn: Connection,
        db: PathBuf,
    ) -> std::io::Result<(Self, thread::JoinHandle<()>)> {
        // Replaces SQLite's automatic checkpoint (itself a WAL hook): from now on only the
        // checkpointer checkpoints.
        conn.wal_hook(Some(note_wal_pages));
        // One request pending is enough: a checkpoint copies everything committed so far.
        let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
        thread::Builder::new()
            .name("sqlite-checkpointer".into())
            .spawn(move || checkpointer(&db, &asked))?;
        Self::spawn_with(conn, Some(ask))
    }

    fn spawn_with(
        conn: Connection,
        checkpoints: Option<std::sync::mpsc::SyncSender<()>>,
    ) -> std::io::Result<(Self, thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let stats = Arc::new(WriterStats::default());
        let counters = stats.clone();
        let handle = thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let run = || run(conn, rx, &counters, checkpoints.as_ref());
                if let Err(panic) = catch_unwind(AssertUnwindSafe(run)) {
                    // Commands' panics are caught in `Job::run`; reaching this is a bug in
                    // the writer itself. Without a writer the process can never write again:
                    // exit so that a supervisor starts a fresh one.
                    tracing::error!(
                        panic = panic_message(panic.as_ref()),
                        "the store's writer thread died; exiting"
                    );
                    std::process::exit(EXIT_WRITER_DIED);
                }
            })?;
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
    /// The error `work` returned (its writes rolled back); `Overloaded` when
    /// [`QUEUE_DEPTH`] commands already wait (nothing sent); `Unavailable` when the commit
    /// failed for a cause that passes (disk full, read-only); `Backend` when it failed
    /// otherwise or the writer has stopped.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let answer = self.send(work, false)?;
        answer
            .await
            .map_err(|_| backend_error("the writer stopped before answering".into()))?
    }

    /// Run each of `works` as a bulk command (taken after interactive ones; see the module's
    /// notes), all sent at once, and return their results in order once committed. Each
    /// has its own fate: a command refused because the queue is full gets `Overloaded`.
    pub async fn write_bulk<T, F>(&self, works: Vec<F>) -> Vec<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let sent: Vec<_> = works.into_iter().map(|w| self.send(w, true)).collect();
        let mut results = Vec::with_capacity(sent.len());
        for answer in sent {
            results.push(match answer {
                Ok(answer) => answer.await.unwrap_or_else(|_| {
                    Err(backend_error("the writer stopped before answering".into()))
                }),
                Err(e) => Err(e),
            });
        }
        results
    }

    fn send<T, F>(&self, work: F, bulk: bool) -> Result<Answer<T>, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            bulk,
            work,
            result: None,
            reply,
        });
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => backend_error("the writer has stopped".into()),
        })?;
        Ok(answer)
    }
}

type Answer<T> = oneshot::Receiver<Result<T, StoreError>>;

/// Copy the WAL back into the database whenever asked, on a connection of its own. A
/// PASSIVE checkpoint never waits for the writer nor stops it: it copies what was committed
/// when it began, and the writer starts the WAL over once everything in it was copied.
fn checkpointer(db: &std::path::Path, asked: &std::sync::mpsc::Receiver<()>) {
    let conn = match Connection::open(db) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "checkpointer: cannot open the database; the WAL grows until restart");
            return;
        }
    };
    // Until the writer is gone (it drops the sender).
    while asked.recv().is_ok() {
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match done {
            Ok((log, copied)) => tracing::debug!(log, copied, "checkpoint"),
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; the next one tries again"),
        }
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Command>>,
    stats: &WriterStats,
    checkpoints: Option<&std::sync::mpsc::SyncSender<()>>,
) {
    let mut batch: Vec<Box<dyn Command>> = Vec::with_capacity(MAX_BATCH);
    // Bulk commands taken from the channel, waiting for a batch with room for them.
    let mut bulk: VecDeque<Box<dyn Command>> = VecDeque::new();
    loop {
        if bulk.is_empty() {
            // Nothing to do: wait for a command (none left once every handle is gone).
            match rx.blocking_recv() {
                Some(first) => sort(first, &mut batch, &mut bulk),
                None => break,
            }
        }
        let commit = commit_batch(&conn, &mut rx, &mut batch, &mut bulk);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .commands
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Err(e) = &commit {
            tracing::error!(error = %e, commands = batch.len(), "group commit failed");
        }
        if let Some(ask) = checkpoints
            && WAL_PAGES.get() >= CHECKPOINT_PAGES
        {
            // Full: a checkpoint is already asked for and will copy this commit too.
            let _ = ask.try_send(());
        }
        let failure = commit.as_ref().err().map(CommitFailure::from_sqlite);
        for cmd in batch.drain(..) {
            cmd.finish(failure.as_ref().map_or(Ok(()), Err));
        }
    }
    tracing::debug!("sqlite writer stopped");
}

/// Run one statement through the statement cache: these run several times per batch, so
/// they are parsed once per connection, not once per command.
pub(crate) fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Interactive commands into the batch, bulk ones to wait their turn.
fn sort(
    cmd: Box<dyn Command>,
    batch: &mut Vec<Box<dyn Command>>,
    bulk: &mut VecDeque<Box<dyn Command>>,
) {
    if cmd.bulk() {
        bulk.push_back(cmd);
    } else {
        batch.push(cmd);
    }
}

/// Whether a command that failed left writes behind: SQLite counts every row a statement
/// changed. Commands check before they write, so a failure normally changed nothing; a
/// transaction SQLite rolled back by itself (some I/O errors do) counts as dirty too.
pub(crate) fn left_writes(conn: &Connection, changes_before: u64) -> bool {
    conn.total_changes() != changes_before || conn.is_autocommit()
}

/// How a batch's first run ended.
enum Run {
    /// Every command ran; failed ones changed nothing.
    Clean,
    /// A command failed after writing: the transaction must be undone.
    Dirty,
}

/// One transaction: every interactive command waiting (also those that arrive meanwhile),
/// and bulk commands after them: one if the batch holds interactive commands, else up to
/// [`MAX_BULK`] until one arrives. Run without savepoints; should a command fail after
/// writing, the transaction is rolled back and the same commands run again, each in its
/// own savepoint (see the module's notes).
fn commit_batch(
    conn: &Connection,
    rx: &mut mpsc::Receiver<Box<dyn Command>>,
    batch: &mut Vec<Box<dyn Command>>,
    bulk: &mut VecDeque<Box<dyn Command>>,
) -> rusqlite::Result<()> {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        // Answer at least one command with the failure: waiting bulk work must not make
        // the writer spin on a BEGIN that keeps failing.
        if batch.is_empty() {
            batch.extend(bulk.pop_front());
        }
        return Err(e);
    }
    let result = match run_batch(conn, rx, batch, bulk) {
        Ok(Run::Clean) => exec(conn, "COMMIT"),
        Ok(Run::Dirty) => {
            tracing::warn!(
                commands = batch.len(),
                "a write failed after writing; running its batch again, each in a savepoint"
            );
            rollback(conn)
                .and_then(|()| exec(conn, "BEGIN IMMEDIATE"))
                .and_then(|()| run_each_in_savepoint(conn, batch))
                .and_then(|()| exec(conn, "COMMIT"))
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = rollback(conn);
    }
    result
}

/// Roll the open transaction back, if SQLite has not already.
fn rollback(conn: &Connection) -> rusqlite::Result<()> {
    if conn.is_autocommit() {
        return Ok(());
    }
    exec(conn, "ROLLBACK")
}

/// The first run of a batch, gathering commands as it goes; stops at a dirty failure.
fn run_batch(
    conn: &Connection,
    rx: &mut mpsc::Receiver<Box<dyn Command>>,
    batch: &mut Vec<Box<dyn Command>>,
    bulk: &mut VecDeque<Box<dyn Command>>,
) -> rusqlite::Result<Run> {
    let (mut ran, mut bulk_ran) = (0, 0);
    loop {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => sort(cmd, batch, bulk),
                Err(_) => break,
            }
        }
        for cmd in &mut batch[ran..] {
            let before = conn.total_changes();
            if !cmd.run(conn) && left_writes(conn, before) {
                return Ok(Run::Dirty);
            }
        }
        ran = batch.len();
        let interactive = batch.len() > bulk_ran;
        if batch.len() >= MAX_BATCH || bulk_ran >= MAX_BULK || (interactive && bulk_ran > 0) {
            return Ok(Run::Clean);
        }
        match bulk.pop_front() {
            Some(cmd) => {
                batch.push(cmd);
                bulk_ran += 1;
            }
            None => return Ok(Run::Clean),
        }
    }
}

/// The careful run: each command in a savepoint, rolled back alone when it fails.
fn run_each_in_savepoint(
    conn: &Connection,
    batch: &mut [Box<dyn Command>],
) -> rusqlite::Result<()> {
    for cmd in batch {
        exec(conn, "SAVEPOINT cmd")?;
        if !cmd.run(conn) {
            exec(conn, "ROLLBACK TO cmd")?;
        }
        exec(conn, "RELEASE cmd")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let (w, _) = Writer::spawn(conn).unwrap();
        (dir, w)
    }

    fn rows(dir: &tempfile::TempDir) -> Vec<i64> {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        let mut st = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[tokio::test]
    async fn a_panicking_command_is_rolled_back_and_the_writer_goes_on() {
        let (dir, w) = writer();
        let panicked: Result<(), _> = w
            .write(|c| {
                c.execute("INSERT INTO t VALUES (1)", []).unwrap();
                panic!("a bug in one command");
            })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Backend(_))),
            "{panicked:?}"
        );
        w.write(|c| c.execute("INSERT INTO t VALUES (2)", []).map_err(crate::db))
            .await
            .unwrap();
        assert_eq!(
            rows(&dir),
            vec![2],
            "the panicking command's insert was rolled back"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_writes_at_once_and_drains() {
        let (dir, w) = writer();
        // Hold the writer inside a command until released.
        let (release, blocker) = hold(&w).await;
        let mut waiting = Vec::new();
        for i in 0..QUEUE_DEPTH as i64 {
            let w = w.clone();
            waiting.push(tokio::spawn(async move {
                w.write(move |c| {
                    c.execute("INSERT INTO t VALUES (?1)", [i])
                        .map_err(crate::db)
                })
                .await
            }));
        }
        while w.waiting() < QUEUE_DEPTH {
            tokio::task::yield_now().await;
        }
        let refused = w.write(|_| Ok(())).await;
        assert!(
            matches!(refused, Err(StoreError::Overloaded)),
            "{refused:?}"
        );
        release.send(()).unwrap();
        blocker.await.unwrap();
        for t in waiting {
            t.await.unwrap().unwrap();
        }
        assert_eq!(
            rows(&dir).len(),
            QUEUE_DEPTH,
            "every accepted write committed"
        );
        // And it takes writes again.
        w.write(|_| Ok(())).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_interactive_command_waits_for_at_most_one_bulk_command() {
        let (_dir, w) = writer();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (release, blocker) = hold(&w).await;
        let before = w.stats().batches.load(Ordering::Relaxed);
        // A sweep's chunks are sent first, a placement after them.
        let chunks: Vec<_> = (0..5)
            .map(|i| {
                let log = log.clone();
                move |_: &Connection| {
                    log.lock().unwrap().push(format!("bulk {i}"));
                    Ok(())
                }
            })
            .collect();
        let sweep = tokio::spawn({
            let w = w.clone();
            async move { w.write_bulk(chunks).await }
        });
        while w.waiting() < 5 {
            tokio::task::yield_now().await;
        }
        let place = tokio::spawn({
            let (w, log) = (w.clone(), log.clone());
            async move {
                w.write(move |_| {
                    log.lock().unwrap().push("placement".to_owned());
                    Ok(())
                })
                .await
            }
        });
        while w.waiting() < 6 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap();
        place.await.unwrap().unwrap();
        assert!(sweep.await.unwrap().iter().all(Result::is_ok));
        assert_eq!(
            log.lock().unwrap()[..2],
            ["placement".to_owned(), "bulk 0".to_owned()],
            "the placement ran first, and was committed with one chunk"
        );
        // The held batch, the placement with one chunk, the other four together.
        assert_eq!(w.stats().batches.load(Ordering::Relaxed) - before, 3);
    }

    /// Hold the writer in a command until the returned sender is dropped or sent to, so
    /// that every write sent meanwhile lands in the next batch.
    async fn hold(w: &Writer) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (entered_tx, entered) = oneshot::channel();
        let mut entered_tx = Some(entered_tx);
        let held = tokio::spawn({
            let w = w.clone();
            async move {
                w.write(move |_| {
                    if let Some(tx) = entered_tx.take() {
                        let _ = tx.send(());
                    }
                    let _ = gate.recv();
                    Ok(())
                })
                .await
                .unwrap();
            }
        });
        entered.await.unwrap();
        (release, held)
    }

    /// Three commands in one batch: insert 1, insert 2 and then fail (`dirty`) or fail
    /// before writing, insert 3. Returns their answers and how often the first one ran.
    async fn batch_with_a_failure(w: &Writer, dirty: bool) -> (Vec<Result<(), StoreError>>, usize) {
        let (release, held) = hold(w).await;
        let runs = Arc::new(AtomicU64::new(0));
        let insert = |x: i64| {
            move |c: &Connection| {
                c.execute("INSERT INTO t VALUES (?1)", [x])
                    .map(|_| ())
                    .map_err(crate::db)
            }
        };
        let first = tokio::spawn({
            let (w, runs, insert) = (w.clone(), runs.clone(), insert(1));
            async move {
                w.write(move |c| {
                    runs.fetch_add(1, Ordering::Relaxed);
                    insert(c)
                })
                .await
            }
        });
        while w.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        let failing = tokio::spawn({
            let w = w.clone();
            async move {
                w.write(move |c| {
                    if dirty {
                        c.execute("INSERT INTO t VALUES (2)", [])
                            .map_err(crate::db)?;
                    }
                    Err::<(), _>(StoreError::Conflict)
                })
                .await
            }
        });
        while w.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        let third = tokio::spawn({
            let (w, insert) = (w.clone(), insert(3));
            async move { w.write(insert).await }
        });
        while w.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        let before = w.stats().batches.load(Ordering::Relaxed);
        release.send(()).unwrap();
        held.await.unwrap();
        let answers = vec![
            first.await.unwrap(),
            failing.await.unwrap(),
            third.await.unwrap(),
        ];
        assert_eq!(
            w.stats().batches.load(Ordering::Relaxed) - before,
            2,
            "the held batch, then the three together"
        );
        (answers, runs.load(Ordering::Relaxed) as usize)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_command_that_fails_before_writing_leaves_its_batch_alone() {
        let (dir, w) = writer();
        let (answers, runs) = batch_with_a_failure(&w, false).await;
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        assert!(matches!(answers[1], Err(StoreError::Conflict)));
        assert_eq!(rows(&dir), vec![1, 3]);
        assert_eq!(runs, 1, "no second run of the batch");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_command_that_fails_after_writing_is_undone_alone() {
        let (dir, w) = writer();
        let (answers, runs) = batch_with_a_failure(&w, true).await;
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        assert!(matches!(answers[1], Err(StoreError::Conflict)));
        assert_eq!(
            rows(&dir),
            vec![1, 3],
            "the failed command's insert was undone"
        );
        assert_eq!(runs, 2, "the batch ran again, each command in a savepoint");
    }

    #[test]
    fn errors_that_pass_are_unavailable_the_rest_backend() {
        let fail = |code| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into()))
        };
        for code in [
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_READONLY,
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_BUSY,
        ] {
            assert!(matches!(crate::db(fail(code)), StoreError::Unavailable(_)));
        }
        assert!(matches!(
            crate::db(fail(rusqlite::ffi::SQLITE_CORRUPT)),
            StoreError::Backend(_)
        ));
    }
}
