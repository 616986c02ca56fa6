//! Fetching named models without the network: a loopback HTTP server inside the test
//! serves random-weight checkpoints in the official format (tests/data/small) behind a
//! redirect, breaks one transfer midway (which must be resumed with a Range request),
//! serves an HTML page or a 404 instead of a checkpoint (clear error, nothing left in the
//! cache), and `mvs fetch` / `--model official-v1` / resolve work end to end.

use multiverseg::named::{self, FetchOptions, FetchProgress};
use multiverseg::{ErrorKind, Weights};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

const MVS: &str = "MultiverSeg_v1_nf256_res128.pt";
const SP: &str = "ScribblePrompt_unet_v1_nf192_res128.pt";

fn small() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../multiverseg/tests/data/small")
}

/// What the server did, for the assertions.
#[derive(Default)]
struct Log {
    /// (path, Range header) of every request.
    requests: Vec<(String, Option<String>)>,
    /// Body bytes sent per file name.
    sent: HashMap<String, usize>,
}

struct Server {
    base: String,
    log: Arc<Mutex<Log>>,
}

/// Serves `/r/NAME` (302 to `/f/NAME`), `/f/NAME` (the file, with Range support; the first
/// full transfer of each name in `break_once` stops halfway), `/html/NAME` (an HTML page)
/// and 404 for anything else, one request per connection.
fn serve(files: HashMap<String, Vec<u8>>, break_once: &[&str]) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Log::default()));
    let state = Arc::new((
        files,
        Mutex::new(
            break_once
                .iter()
                .map(|s| s.to_string())
                .collect::<HashSet<_>>(),
        ),
    ));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (state, log) = (state.clone(), log2.clone());
            std::thread::spawn(move || handle(stream, &state.0, &state.1, &log));
        }
    });
    Server { base, log }
}

fn handle(
    mut stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    break_once: &Mutex<HashSet<String>>,
    log: &Mutex<Log>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    log.lock()
        .unwrap()
        .requests
        .push((path.clone(), range.clone()));
    let name = path.rsplit('/').next().unwrap_or("").to_string();
    let send = |s: &mut TcpStream, head: String, body: &[u8]| {
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(body);
    };
    if let Some(rest) = path.strip_prefix("/r/") {
        let head = format!("HTTP/1.1 302 Found\r\nLocation: /f/{rest}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return send(&mut stream, head, b"");
    }
    if path.starts_with("/html/") {
        let body = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>";
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        return send(&mut stream, head, body);
    }
    let Some(bytes) = files.get(&name).filter(|_| path.starts_with("/f/")) else {
        let head =
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string();
        return send(&mut stream, head, b"");
    };
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let (head, body) = if start > 0 {
        (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len() - 1,
                bytes.len(),
                bytes.len() - start
            ),
            &bytes[start..],
        )
    } else {
        (
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            ),
            &bytes[..],
        )
    };
    // A broken transfer: the announced length, half the bytes, then the connection closes.
    let body = if start == 0 && break_once.lock().unwrap().remove(&name) {
        &body[..body.len() / 2]
    } else {
        body
    };
    log.lock()
        .unwrap()
        .sent
        .entry(name)
        .and_modify(|n| *n += body.len())
        .or_insert(body.len());
    send(&mut stream, head, body);
}

fn official_files() -> HashMap<String, Vec<u8>> {
    HashMap::from([
        (
            MVS.to_string(),
            std::fs::read(small().join("mvs.pt")).unwrap(),
        ),
        (
            SP.to_string(),
            std::fs::read(small().join("sp.pt")).unwrap(),
        ),
    ])
}

/// `named::fetch` of `name` into `cache` from `mirror`, without progress.
fn fetch(
    name: &str,
    cache: &Path,
    mirror: impl Into<String>,
) -> multiverseg::Result<named::FetchReport> {
    named::fetch(
        name,
        FetchOptions {
            cache_dir: Some(cache.to_path_buf()),
            mirror: Some(mirror.into()),
            ..Default::default()
        },
    )
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mvs-fetch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn fetch_follows_redirects_resumes_and_converts() {
    let files = official_files();
    let server = serve(files.clone(), &[MVS]);
    let cache = temp("ok");
    let mut last: HashMap<String, (u64, Option<u64>)> = HashMap::new();
    let mut progress = |p: &FetchProgress| {
        last.insert(p.file_name.to_string(), (p.done, p.total));
    };
    let report = named::fetch(
        "official-v1",
        FetchOptions {
            cache_dir: Some(cache.clone()),
            mirror: Some(format!("{}/r/", server.base)),
            progress: Some(&mut progress),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!report.cached);
    assert_eq!(
        report.path,
        cache.join("official-v1").join("model.safetensors")
    );
    // Only the weights file stays: no checkpoint, no .part.
    assert_eq!(listing(&cache.join("official-v1")), ["model.safetensors"]);
    // The converted weights are what `mvs convert` makes of the same checkpoints.
    let got = Weights::load(&report.path).unwrap();
    let want =
        Weights::from_checkpoints(&small().join("mvs.pt"), Some(&small().join("sp.pt"))).unwrap();
    assert_eq!(got.tensors.len(), want.tensors.len());
    for (k, t) in &want.tensors {
        assert_eq!(got.tensors[k].data, t.data, "{k}");
    }
    assert_eq!(
        got.metadata.get("source").map(String::as_str),
        Some("official-v1")
    );
    assert_eq!(report.sha256, sha256(&std::fs::read(&report.path).unwrap()));
    for f in &report.files {
        let bytes = &files[&f.file_name];
        assert_eq!(f.sha256, sha256(bytes), "{}", f.file_name);
        assert_eq!(f.bytes, bytes.len() as u64);
        assert_eq!(
            last[&f.file_name],
            (f.bytes, Some(f.bytes)),
            "final progress"
        );
    }
    let log = server.log.lock().unwrap();
    // The broken transfer was resumed where it stopped, not restarted.
    let n = files[MVS].len();
    let resumed = log
        .requests
        .iter()
        .any(|(p, r)| p.ends_with(MVS) && r.as_deref() == Some(&*format!("bytes={}-", n / 2)));
    assert!(
        resumed,
        "no Range request resumed at byte {}: {:?}",
        n / 2,
        log.requests
    );
    assert_eq!(
        log.sent[MVS], n,
        "bytes sent for the broken file: resumed, not restarted"
    );
    assert!(
        log.requests.iter().any(|(p, _)| p.starts_with("/r/")),
        "redirect used"
    );
    drop(log);

    // A second fetch finds it in the cache and downloads nothing.
    let before = server.log.lock().unwrap().requests.len();
    let again = fetch("official-v1", &cache, format!("{}/r", server.base)).unwrap();
    assert!(again.cached && again.files.is_empty());
    assert_eq!(again.sha256, report.sha256);
    assert_eq!(server.log.lock().unwrap().requests.len(), before);
    assert_eq!(
        named::resolve("official-v1", Some(&cache)).unwrap(),
        report.path
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn an_html_page_or_a_404_is_a_clear_error_and_leaves_nothing() {
    let server = serve(official_files(), &[]);
    let cache = temp("html");
    let e = fetch("official-v1", &cache, format!("{}/html", server.base)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Format, "{}", e.message);
    assert!(
        e.message.contains("HTML page") && e.message.contains(MVS),
        "{}",
        e.message
    );
    assert!(
        listing(&cache.join("official-v1")).is_empty(),
        "{:?}",
        listing(&cache.join("official-v1"))
    );

    let e = fetch("official-v0", &cache, format!("{}/nothing", server.base)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io, "{}", e.message);
    assert!(e.message.contains("HTTP 404"), "{}", e.message);
    assert!(
        e.message
            .contains("/nothing/MultiverSeg_v0_nf256_res128.pt"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("by hand") && e.message.contains("dropbox.com"),
        "{}",
        e.message
    );
    assert!(listing(&cache.join("official-v0")).is_empty());
    // Checkpoints of the wrong network (the UNet served as the MultiverSegNet).
    let swapped = HashMap::from([
        (MVS.to_string(), official_files()[SP].clone()),
        (SP.to_string(), official_files()[SP].clone()),
    ]);
    let server = serve(swapped, &[]);
    let e = fetch("official-v1", &cache, format!("{}/f", server.base)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Format, "{}", e.message);
    assert!(
        e.message.contains("not the expected checkpoints"),
        "{}",
        e.message
    );
    assert!(listing(&cache.join("official-v1")).is_empty());
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn offline_unknown_and_not_fetched_errors_say_what_to_do() {
    let cache = temp("offline");
    // Nothing listens on port 1 of the loopback: connection refused, as offline.
    let e = fetch("official-v1", &cache, "http://127.0.0.1:1").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io, "{}", e.message);
    assert!(
        e.message
            .contains("http://127.0.0.1:1/MultiverSeg_v1_nf256_res128.pt"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("by hand") && e.message.contains("mvs convert"),
        "{}",
        e.message
    );

    let e = named::resolve("official-v1", Some(&cache)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("mvs fetch official-v1"), "{}", e.message);
    let e = named::resolve("official-v9", Some(&cache)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(
        e.message.contains("official-v1, official-v0"),
        "{}",
        e.message
    );
    let e = fetch("official-v1", &cache, "ftp://example.org").unwrap_err();
    assert!(e.message.starts_with("mirror:"), "{}", e.message);
    let _ = std::fs::remove_dir_all(&cache);
}

fn mvs(args: &[&str], cache: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mvs"))
        .args(args)
        .env("MVS_CACHE_DIR", cache)
        .env_remove("MVS_MODEL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), text)
}

#[test]
fn mvs_fetch_then_model_by_name() {
    let server = serve(official_files(), &[]);
    let cache = temp("cli");
    let ex = small().join("../example/image_0.png");
    let out = cache.join("mask.png");
    let predict = [
        "predict",
        "--image",
        ex.to_str().unwrap(),
        "--model",
        "official-v1",
        "--pos",
        "32,32",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ];
    let (ok, text) = mvs(&predict, &cache);
    assert!(!ok && text.contains("mvs fetch official-v1"), "{text}");
    let mirror = format!("{}/r", server.base);
    let (ok, text) = mvs(&["fetch", "official-v1", "--mirror", &mirror], &cache);
    assert!(ok, "{text}");
    assert!(
        text.contains("sha256") && text.contains("Apache-2.0"),
        "{text}"
    );
    let (ok, text) = mvs(&["fetch", "--list"], &cache);
    assert!(
        ok && text.contains("cached:") && text.contains("not fetched"),
        "{text}"
    );
    let (ok, text) = mvs(&predict, &cache);
    assert!(ok, "{text}");
    assert!(out.exists());
    let mut bytes = Vec::new();
    std::fs::File::open(&out)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));
    let _ = std::fs::remove_dir_all(&cache);
}
