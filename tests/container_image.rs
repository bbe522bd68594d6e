//! The registry image on a real engine: imported once from our own
//! binary, reused after, and nothing ever pulled; a static build is one file.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::docker::{EXE, ONE_AT_A_TIME, assert_clean, engine, run_cli};

struct LoggingProxy {
    path: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl LoggingProxy {
    fn start(upstream: &str) -> LoggingProxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&path).expect("bind the proxy socket");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (upstream, log2) = (upstream.to_string(), Arc::clone(&log));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = UnixStream::connect(&upstream) else {
                    continue;
                };
                let log = Arc::clone(&log2);
                let (mut c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                // client → engine, logging request lines
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64 * 1024];
                    let mut pending = Vec::new();
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        for line in String::from_utf8_lossy(&pending).lines() {
                            let method = line.split(' ').next().unwrap_or("");
                            if ["GET", "POST", "PUT", "DELETE", "HEAD"].contains(&method)
                                && line.ends_with("HTTP/1.1")
                            {
                                log.lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(line.into());
                            }
                        }
                        let keep = pending.len().saturating_sub(512);
                        pending.drain(..keep);
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        LoggingProxy {
            path,
            log,
            _dir: dir,
        }
    }
}

fn engine_socket() -> Option<String> {
    let host = rollback_drill::container::engine_host();
    host.strip_prefix("unix://").map(str::to_string)
}

/// `docker images -q` for our repository: the image ids there are.
fn our_images(engine_sock: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["-H", &format!("unix://{engine_sock}")])
        .args(["images", "-q", rollback_drill::container::image::REPO])
        .output()
        .expect("the docker CLI runs");
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn the_image_is_imported_once_reused_after_and_nothing_is_pulled() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(engine) = engine() else { return };
    let Some(sock) = engine_socket() else {
        eprintln!("SKIPPED: the engine is not on a unix socket; the proxy test needs one");
        return;
    };
    // A fresh binary (a copy with one byte appended past the ELF image)
    // gets an image of its own, so this test sees the first import.
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("rollback-drill");
    let mut bytes = std::fs::read(EXE).expect("the binary");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos()
        .to_le_bytes();
    bytes.extend_from_slice(&stamp);
    std::fs::write(&exe, &bytes).expect("copy");
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let proxy = LoggingProxy::start(&sock);
    let host = format!("unix://{}", proxy.path.display());
    let env = [
        ("DOCKER_HOST", host.as_str()),
        ("ROLLBACK_DRILL_CONTAINER_EXE", exe.to_str().expect("utf-8")),
    ];
    // Each run its own report folder: live timings vary by an evaluation
    // interval, which the drift check against the first run would flag.
    let reports = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let args = |run: usize| {
        [
            "run",
            "fixtures/container/registry-crash.yaml",
            "--backend",
            "container",
            "--time-scale",
            "60",
            "--report-dir",
            reports[run].path().to_str().expect("utf-8"),
        ]
    };
    let before = our_images(&sock);
    let first = run_cli(&args(0), &env);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("(imported,"), "{stderr}");
    let after_first = our_images(&sock);
    assert_eq!(after_first.len(), before.len() + 1, "one new image");
    let second = run_cli(&args(1), &env);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("(reused,"), "{stderr}");
    assert_eq!(
        our_images(&sock),
        after_first,
        "the second run made no image"
    );
    let log = proxy.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        log.iter()
            .any(|l| l.contains("/images/create?") && l.contains("fromSrc=-")),
        "the import went through the proxy: {log:#?}"
    );
    let registry_contact: Vec<_> = log
        .iter()
        .filter(|l| {
            l.contains("fromImage=")
                || l.contains("/push")
                || l.contains("/distribution/")
                || l.contains("/auth")
                || l.contains("/images/search")
        })
        .collect();
    assert!(
        registry_contact.is_empty(),
        "requests that contact an image registry: {registry_contact:?}"
    );
    // Remove this test's image: it is of no use to anyone else.
    let mine: Vec<_> = after_first.iter().filter(|i| !before.contains(i)).collect();
    for id in mine {
        let _ = Command::new("docker")
            .args(["-H", &format!("unix://{sock}"), "rmi", "-f", id])
            .output();
    }
    assert_clean(&engine);
}

#[test]
fn a_static_build_makes_a_one_file_image() {
    let fs = rollback_drill::container::image::rootfs(Path::new(EXE)).expect("rootfs");
    if fs.is_static {
        assert_eq!(fs.files, vec!["/rollback-drill".to_string()]);
    } else {
        // Dynamic builds carry their loader and libraries; CI builds static.
        assert!(fs.files.len() > 1, "{:?}", fs.files);
        assert!(
            fs.files.iter().any(|f| f.contains("libc.so")),
            "{:?}",
            fs.files
        );
        if std::env::var_os("CI").is_some() {
            panic!("CI builds the static binary (crt-static), but {EXE} is dynamic");
        }
        eprintln!("NOTE: {EXE} is a dynamic build; the one-file image is checked in CI");
    }
}
