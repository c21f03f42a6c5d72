//! The one home of stdout: every document and line tapctl prints goes through here. A closed
//! stdout (`tapctl logs | head`) ends the process quietly with exit 0, as ripgrep and the
//! coreutils do, instead of a panic.

use std::io::{ErrorKind, Write};

/// Prints `text` as it is and flushes.
pub fn text(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = written {
        closed(&e);
    }
}

/// Prints one line (a newline is added).
pub fn line(line: &str) {
    text(&format!("{line}\n"));
}

/// Prints one JSON document on one line.
pub fn json(doc: &serde_json::Value) {
    line(&doc.to_string());
}

fn closed(e: &std::io::Error) -> ! {
    if e.kind() == ErrorKind::BrokenPipe {
        // The reader has what it wanted.
        std::process::exit(0);
    }
    eprintln!("tapctl: error: cannot write to stdout: {e}");
    std::process::exit(1);
}
