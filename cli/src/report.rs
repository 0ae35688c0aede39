//! Printing errors the way users expect: `error: …` and its causes below, no debug formatting.

#![allow(clippy::print_stderr)]

/// Prints `error: <message>` and each cause on its own `  caused by:` line.
pub fn error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    let mut last = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        // Skip causes whose text the previous level already showed.
        if !last.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        last = text;
    }
}
