//! What the container backend costs on this machine's Docker engine: making
//! the image (root filesystem, hash, import; then the reuse check), and a
//! registry container's life (network, volume, start, `/healthz`; then
//! freeze/thaw, kill/restart, partition/heal; then removal).
//!
//! `cargo bench --bench container` (prints one line per figure; exits 0
//! without an engine, saying so).

use std::path::Path;
use std::time::{Duration, Instant};

use rollback_drill::container::{Engine, image};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let engine = match Engine::connect() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("container bench skipped: {e}");
            return;
        }
    };
    let exe = std::env::var_os(image::EXE_ENV)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_rollback-drill").into());
    let t = Instant::now();
    let fs = image::rootfs(Path::new(&exe)).expect("rootfs");
    let rootfs = t.elapsed();
    println!(
        "container: root filesystem of {} ({} file(s), {:.1} MiB, {}): {}",
        exe.display(),
        fs.files.len(),
        fs.tar.len() as f64 / 1048576.0,
        if fs.is_static { "static" } else { "dynamic" },
        ms(rootfs)
    );
    let t = Instant::now();
    let first = engine.ensure_image(Path::new(&exe)).expect("image");
    println!(
        "container: ensure image ({}): {}",
        if first.created { "imported" } else { "reused" },
        ms(t.elapsed())
    );
    let t = Instant::now();
    let again = engine.ensure_image(Path::new(&exe)).expect("image");
    assert!(!again.created, "the second call reuses the image");
    println!(
        "container: ensure image again (reused): {}",
        ms(t.elapsed())
    );

    let tokens = "bench-token: platform_lead\n";
    let (mut start, mut freeze, mut crash, mut partition, mut remove) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..5 {
        let t = Instant::now();
        let c = engine.start_registry(&first, tokens).expect("registry");
        start.push(t.elapsed());
        let t = Instant::now();
        c.freeze().expect("freeze");
        c.thaw().expect("thaw");
        c.wait_healthy(Duration::from_secs(10)).expect("healthy");
        freeze.push(t.elapsed());
        let t = Instant::now();
        c.kill().expect("kill");
        c.restart().expect("restart");
        crash.push(t.elapsed());
        let t = Instant::now();
        c.disconnect().expect("disconnect");
        c.reconnect().expect("reconnect");
        c.wait_healthy(Duration::from_secs(10)).expect("healthy");
        partition.push(t.elapsed());
        let t = Instant::now();
        drop(c);
        remove.push(t.elapsed());
    }
    println!(
        "container: start to /healthz (network, volume, container), median of 5: {}",
        ms(median(start))
    );
    println!(
        "container: freeze + thaw + healthy, median of 5: {}",
        ms(median(freeze))
    );
    println!(
        "container: SIGKILL + restart + healthy, median of 5: {}",
        ms(median(crash))
    );
    println!(
        "container: disconnect + reconnect + healthy, median of 5: {}",
        ms(median(partition))
    );
    println!(
        "container: remove container, network and volume, median of 5: {}",
        ms(median(remove))
    );
    assert_eq!(engine.labelled().expect("list"), (0, 0, 0), "nothing left");
}
