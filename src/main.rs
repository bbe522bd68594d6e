//! `rollback-drill`: parse the command line, run the command, exit with its
//! documented code. Everything else lives in the library.

use clap::Parser;
use rollback_drill::cli::{self, Cli};

fn main() -> std::process::ExitCode {
    let code = cli::main(Cli::parse());
    std::process::ExitCode::from(code as u8)
}
