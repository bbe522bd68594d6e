//! Exit codes of SPEC section 2, and which code each error means.

/// Exit codes of SPEC section 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Passed = 0,
    Failed = 1,
    Invalid = 2,
    Environment = 3,
    /// Ctrl-C or SIGTERM stopped a live run (reports so far were written).
    Interrupted = 130,
}

/// An error that knows its documented exit code: invalid input is 2, a
/// broken environment 3.
pub trait ExitCode {
    fn exit(&self) -> Exit;
}

/// Prints an error and gives its exit code.
pub fn fail<E: std::fmt::Display + ExitCode>(e: &E) -> Exit {
    eprintln!("error: {e}");
    e.exit()
}

impl ExitCode for crate::live::LiveError {
    fn exit(&self) -> Exit {
        match self {
            crate::live::LiveError::Unsupported(_) => Exit::Invalid,
            _ => Exit::Environment,
        }
    }
}

impl ExitCode for crate::server::ServeError {
    fn exit(&self) -> Exit {
        match self {
            crate::server::ServeError::Tokens(_) | crate::server::ServeError::NoStateDir => {
                Exit::Invalid
            }
            _ => Exit::Environment,
        }
    }
}

impl ExitCode for crate::faults::Unsupported {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
}

impl ExitCode for crate::report::ReportError {
    fn exit(&self) -> Exit {
        Exit::Environment
    }
}

impl ExitCode for crate::history::HistoryError {
    fn exit(&self) -> Exit {
        Exit::Environment
    }
}

impl ExitCode for crate::container::ContainerError {
    fn exit(&self) -> Exit {
        Exit::Environment
    }
}
