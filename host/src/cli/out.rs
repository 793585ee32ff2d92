//! Standard output for the commands: lines and tables. A reader that goes away early
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

/// Prints `rows` under `titles`, each column as wide as its widest cell:
/// names, zones and ids have no fixed length, and a cell wider than a fixed
/// column would push every later cell of its row out of line.
pub(crate) fn print_table(titles: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = titles.iter().map(|t| t.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let titles: Vec<String> = titles.iter().map(|t| (*t).to_owned()).collect();
    outln!("{}", table_line(&titles, &widths));
    for row in rows {
        outln!("{}", table_line(row, &widths));
    }
}

/// `cells` padded to `widths`, two spaces apart, the last one unpadded so
/// that lines carry no trailing blanks.
fn table_line(cells: &[String], widths: &[usize]) -> String {
    let last = cells.len().saturating_sub(1);
    let padded: Vec<String> = cells
        .iter()
        .zip(widths)
        .enumerate()
        .map(|(i, (cell, width))| {
            if i == last {
                cell.clone()
            } else {
                format!("{cell:<width$}")
            }
        })
        .collect();
    padded.join("  ")
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` in UTC.
pub(crate) fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// `text` cut to `width` characters, marked with `…` when cut.
pub(crate) fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}
