//! The one error type of the build tool. Every variant renders as a sentence
//! that says what went wrong and, where we know it, what to do about it.

use std::fmt;
use std::io;
use std::process::ExitStatus;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// Bad command line.
    Usage(String),
    /// A program could not be started at all (usually: not installed).
    Spawn { program: String, source: io::Error },
    /// A program ran and exited unsuccessfully.
    Failed { command: String, status: ExitStatus },
    /// A program was stopped because it ran past its time limit.
    TimedOut { command: String, secs: u64 },
    /// A file-system operation failed.
    Io { context: String, source: io::Error },
    /// The machine lacks something we cannot install ourselves; the text says what to do.
    Setup(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}\n\n{}", crate::cli::USAGE),
            Error::Spawn { program, source } if source.kind() == io::ErrorKind::NotFound => {
                write!(f, "`{program}` was not found; install it or put it on PATH")
            }
            Error::Spawn { program, source } => write!(f, "could not start `{program}`: {source}"),
            Error::Failed { command, status } => match status.code() {
                Some(code) => write!(f, "`{command}` failed with exit code {code}"),
                None => write!(f, "`{command}` was killed ({status})"),
            },
            Error::TimedOut { command, secs } => {
                write!(f, "`{command}` did not finish within {secs} s and was stopped")
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Setup(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}
