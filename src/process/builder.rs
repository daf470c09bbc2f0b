//! [`SubprocessBuilder`]: what to run and where its standard streams go.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

use super::reaper::Reaper;
use super::Subprocess;
use crate::error::{Error, Result};
use crate::reactor::Handle;
use crate::stream::{IoStream, Socket, StreamOptions};

impl Subprocess {
    /// A builder for running `program`; see [`SubprocessBuilder`].
    pub fn builder(program: impl AsRef<OsStr>) -> SubprocessBuilder {
        SubprocessBuilder::new(program)
    }
}

/// Where one of a child's standard streams goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redirect {
    /// The parent's own stream (the default, as [`Command`]'s).
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// A pipe, handed back as a non-blocking [`IoStream`] (Tornado's `Subprocess.STREAM`).
    Stream,
}

impl Redirect {
    fn stdio(self) -> Stdio {
        match self {
            Redirect::Inherit => Stdio::inherit(),
            Redirect::Null => Stdio::null(),
            Redirect::Stream => Stdio::piped(),
        }
    }
}

/// Builds and spawns a [`Subprocess`]: a [`Command`] plus where each standard stream goes
/// and the [`StreamOptions`] of the pipes.
///
/// ```
/// use squall::process::{Redirect, Subprocess};
/// let builder = Subprocess::builder("sh")
///     .args(["-c", "cat"])
///     .stdin(Redirect::Stream)
///     .stdout(Redirect::Stream)
///     .stderr(Redirect::Null);
/// # let _ = builder;
/// ```
#[derive(Debug)]
pub struct SubprocessBuilder {
    command: Command,
    stdin: Redirect,
    stdout: Redirect,
    stderr: Redirect,
    stream_options: StreamOptions,
}

impl SubprocessBuilder {
    /// Runs `program` (looked up in `PATH` as [`Command::new`] does).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self::from_command(Command::new(program))
    }

    /// Starts from a prepared [`Command`] (for settings this builder does not expose).
    /// Its stdin, stdout and stderr are replaced by this builder's [`Redirect`]s.
    pub fn from_command(command: Command) -> Self {
        SubprocessBuilder {
            command,
            stdin: Redirect::Inherit,
            stdout: Redirect::Inherit,
            stderr: Redirect::Inherit,
            stream_options: StreamOptions::default(),
        }
    }

    /// Adds one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Sets an environment variable of the child.
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs the child in `dir`.
    #[must_use]
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Where the child's stdin comes from (default [`Redirect::Inherit`]).
    #[must_use]
    pub fn stdin(mut self, to: Redirect) -> Self {
        self.stdin = to;
        self
    }

    /// Where the child's stdout goes (default [`Redirect::Inherit`]).
    #[must_use]
    pub fn stdout(mut self, to: Redirect) -> Self {
        self.stdout = to;
        self
    }

    /// Where the child's stderr goes (default [`Redirect::Inherit`]).
    #[must_use]
    pub fn stderr(mut self, to: Redirect) -> Self {
        self.stderr = to;
        self
    }

    /// Buffer limits and idle timeout of the pipe streams. The read buffer's bound is what
    /// holds back a child that writes faster than it is read: the stream takes from the
    /// pipe only what a pending read needs, and the child blocks on a full pipe.
    #[must_use]
    pub fn stream_options(mut self, options: StreamOptions) -> Self {
        self.stream_options = options;
        self
    }

    /// Starts the child and registers its exit watcher and pipes with the loop.
    ///
    /// # Errors
    /// [`Error::Io`] when the program cannot be started (not found, not executable, ...);
    /// its message names the program. [`Error::Io`] too if a pipe or the watcher cannot be
    /// registered; the child is then killed and reaped.
    pub fn spawn(mut self, handle: &Handle) -> Result<Subprocess> {
        let program = self.command.get_program().to_string_lossy().into_owned();
        self.command
            .stdin(self.stdin.stdio())
            .stdout(self.stdout.stdio())
            .stderr(self.stderr.stdio());
        let mut child = self.command.spawn().map_err(|e| {
            Error::from(std::io::Error::new(
                e.kind(),
                format!("cannot start {program:?}: {e}"),
            ))
        })?;
        let pid = child.id();
        let stdin = child.stdin.take().map(OwnedFd::from);
        let stdout = child.stdout.take().map(OwnedFd::from);
        let stderr = child.stderr.take().map(OwnedFd::from);
        // The reaper owns the child from here on: any failure below still reaps it.
        let reaper = Reaper::start(handle, child)?;
        let stream = |fd: Option<OwnedFd>| -> Result<Option<IoStream>> {
            fd.map(|fd| {
                IoStream::with_options(
                    handle,
                    Socket::Pipe(File::from(fd)),
                    self.stream_options.clone(),
                )
            })
            .transpose()
        };
        let streams = (|| Ok::<_, Error>((stream(stdin)?, stream(stdout)?, stream(stderr)?)))();
        match streams {
            Ok((stdin, stdout, stderr)) => Ok(Subprocess {
                pid,
                stdin,
                stdout,
                stderr,
                reaper,
            }),
            Err(e) => {
                let _ = reaper.kill();
                Err(e)
            }
        }
    }
}
