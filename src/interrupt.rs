//! Ctrl-C during live drills: the drill in progress stops at its next
//! wait, drills not started are skipped, the reports gathered so far are
//! written, and every server process and container is cleaned up before
//! the process exits (with code 130). Simulated runs keep the default
//! behaviour: they hold nothing to clean up.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Starts listening for SIGINT and SIGTERM (once per process).
pub fn install() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "warning: cannot watch for Ctrl-C ({e}): an interrupted run will not clean up"
            );
            return;
        }
    };
    // Register the handlers before returning, so no signal slips through.
    let handlers = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    });
    let (mut int, mut term) = match handlers {
        Ok(h) => h,
        Err(e) => {
            eprintln!(
                "warning: cannot watch for Ctrl-C ({e}): an interrupted run will not clean up"
            );
            return;
        }
    };
    std::thread::spawn(move || {
        rt.block_on(async {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        });
        eprintln!(
            "interrupted: stopping the drill, writing the reports gathered so far, cleaning up (Ctrl-C again to quit at once)"
        );
        REQUESTED.store(true, Ordering::SeqCst);
        rt.block_on(async {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        });
        eprintln!(
            "interrupted twice: quitting without cleaning up; the next container run removes what is left"
        );
        std::process::exit(130);
    });
}

/// Whether Ctrl-C (or SIGTERM) has been received.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}
