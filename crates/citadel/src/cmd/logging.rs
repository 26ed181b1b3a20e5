//! Logs to stderr through the redaction layer: every line passes through `citadel_redact`, so a
//! secret value loaded in this process or a credential-shaped string never reaches the log.

use std::io::{self, Write};

use citadel_service::env;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the stderr logger, filtered by `$CITADEL_LOG` (default `warn`).
pub fn init() {
    let filter = env::var(env::LOG).unwrap_or_else(|| "warn".to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(RedactingStderr)
        .with_target(true)
        .try_init();
}

/// Makes a [`RedactingWriter`] per log event.
#[derive(Debug, Clone, Copy)]
pub struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter<io::StderrLock<'static>>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(io::stderr().lock())
    }
}

/// Redacts each buffer before passing it on. The formatter writes one whole event per call, so a
/// secret is never split across two writes.
#[derive(Debug)]
pub struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(citadel_redact::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_redacted() {
        citadel_redact::register_secret("log-canary-93b1c0");
        let mut out = RedactingWriter(Vec::new());
        out.write_all(b"GET https://u:pw12345@h/x?token=abc failed: log-canary-93b1c0\n")
            .unwrap();
        let text = String::from_utf8(out.0).unwrap();
        assert_eq!(
            text,
            "GET https://[REDACTED]@h/x?token=[REDACTED] failed: [REDACTED]\n"
        );
    }
}
