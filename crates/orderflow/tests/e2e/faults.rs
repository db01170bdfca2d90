//! Storage faults on the real binary and a real filesystem: the data dir lives on a small
//! tmpfs this test mounts, which it then fills. The server must answer
//! `503` with `Retry-After` (writing nothing), say so on `/healthz`, recover by itself when
//! the cause goes away, and have lost no acknowledged order.
//!
//! Mounting needs root, which the test command has on this project's machines; where
//! mounting fails the test fails, saying why: it never skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, TestApp};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill it, which needs root (the test command runs \
             as root on this project's machines): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fill the filesystem with one file until it refuses a byte more.
fn fill(path: &Path) -> PathBuf {
    let filler = path.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // The last partial chunk may have left a few bytes; take them too.
    while f.write_all(&[0]).is_ok() {}
    filler
}

async fn place(app: &TestApp) -> reqwest::Response {
    app.client
        .post(app.url("/order"))
        .json(&serde_json::json!({ "userId": "u", "productId": "p" }))
        .send()
        .await
        .unwrap()
}

/// Place orders until one is refused; returns the ids acknowledged and the refusal.
async fn place_until_refused(
    app: &TestApp,
    acked: &mut Vec<String>,
) -> (StatusCode, Option<String>, Value) {
    for _ in 0..50_000 {
        let r = place(app).await;
        let status = r.status();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = r.json().await.unwrap();
        if status == StatusCode::CREATED {
            acked.push(body["orderId"].as_str().unwrap().to_owned());
            continue;
        }
        return (status, retry_after, body);
    }
    panic!("50,000 orders were accepted on a full disk");
}

async fn wait_healthy(app: &TestApp, want: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, _) = app.get("/healthz").await;
        if s == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz stayed {s}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_all_there(app: &TestApp, acked: &[String]) {
    for id in acked {
        let (s, o) = app.get(&format!("/order/{id}")).await;
        assert_eq!(s, StatusCode::OK, "acknowledged order {id} lost: {o}");
    }
    // I1/I2 over the one product: every acknowledged order (1 unit, all pending) is
    // locked, and nothing else is.
    let (stock, locked) = app.product("p").await;
    assert_eq!(locked, acked.len() as i64);
    assert_eq!(stock + locked, 1_000_000);
}

#[tokio::test]
async fn a_full_disk_answers_503_and_the_server_recovers_by_itself() {
    let fs = Tmpfs::mount("6m");
    let data = fs.path().join("data");
    let mut app = TestApp::spawn_in(&data, Options::default().no_scheduled_sweeps()).await;
    app.stock("p", 1_000_000).await;
    let mut acked = Vec::new();
    for _ in 0..20 {
        assert_eq!(place(&app).await.status(), StatusCode::CREATED);
    }
    // The 20 above are acknowledged too; collect them through the listing.
    let (_, page) = app.get("/orders?limit=500").await;
    for o in page["orders"].as_array().unwrap() {
        acked.push(o["orderId"].as_str().unwrap().to_owned());
    }

    // Disk full.
    let filler = fill(fs.path());
    let (status, retry_after, body) = place_until_refused(&app, &mut acked).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(retry_after.is_some(), "503 without Retry-After");
    wait_healthy(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    // Reads go on meanwhile.
    let (s, _) = app.get(&format!("/order/{}", acked[0])).await;
    assert_eq!(s, StatusCode::OK);
    // Space comes back: so does the server, without a restart.
    std::fs::remove_file(&filler).unwrap();
    wait_healthy(&app, StatusCode::OK).await;
    let r = place(&app).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    acked.push(
        r.json::<Value>().await.unwrap()["orderId"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    assert_all_there(&app, &acked).await;

    // And across a kill -9 and a restart, every acknowledged order is still there.
    app.kill_9();
    let app = TestApp::spawn_in(&data, Options::default().no_scheduled_sweeps()).await;
    assert_all_there(&app, &acked).await;
    drop(app);
}
