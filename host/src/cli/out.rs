//! Standard output for the commands. A reader that goes away early
//! (`switchyard deliveries list | head`) ends the command quietly with
//! success, as a closed pipe ends any Unix tool, instead of a panic.

use std::io::{ErrorKind, Write};

/// Writes `line` and a newline to standard output.
pub(crate) fn line(line: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"));
    match written {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(err) => {
            eprintln!("error: cannot write to standard output: {err}");
            std::process::exit(1);
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
