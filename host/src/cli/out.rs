//! Standard output for the commands. A reader that goes away early
//! (`switchyard deliveries list | head`) silences the rest of the output
//! instead of causing a panic; the command still finishes its work (a
//! replay of many ids replays them all) and exits with its own status.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output has no reader left.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `line` and a newline to standard output.
pub(crate) fn line(line: std::fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"));
    match written {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::BrokenPipe => CLOSED.store(true, Ordering::Relaxed),
        Err(err) => {
            CLOSED.store(true, Ordering::Relaxed);
            eprintln!("error: cannot write to standard output: {err}");
        }
    }
}

/// `println!` for the commands' output; see [`line`].
macro_rules! outln {
    () => {
        $crate::cli::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}

pub(crate) use outln;
