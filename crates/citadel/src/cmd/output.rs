//! Terminal output: tables for people, JSON for programs, and one-line errors.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde::Serialize;

/// An error and its causes on one line, without repeating a cause the message already contains,
/// with secrets and credential shapes masked.
pub fn one_line(err: &anyhow::Error) -> String {
    citadel_redact::redact(&chain_line(err)).into_owned()
}

fn chain_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string().replace('\n', " ");
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Prints rows as a table.
pub fn table<const N: usize>(headers: [&str; N], rows: impl IntoIterator<Item = [String; N]>) {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers);
    let mut empty = true;
    for row in rows {
        table.add_row(row);
        empty = false;
    }
    if empty {
        println!("(none)");
    } else {
        println!("{table}");
    }
}

/// Prints a value as pretty JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    print_text(&serde_json::to_string_pretty(value)?)
}

/// Prints `text` and a newline; a reader that went away (`| head`) is not an error.
pub fn print_text(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

/// Formats a timestamp for tables: RFC 3339 to the second, UTC.
pub fn time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Formats an optional timestamp, `-` when absent.
pub fn opt_time(t: Option<time::OffsetDateTime>) -> String {
    t.map(time).unwrap_or_else(|| "-".to_owned())
}
