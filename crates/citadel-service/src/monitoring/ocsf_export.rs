//! The audit log as OCSF lines for a SIEM ([`citadel_monitor::ocsf`]), once or followed: after
//! the events already there, new ones are polled for and written as they are appended, until
//! the caller stops or the reader goes away.

use std::future::Future;
use std::io::{self, Write};
use std::time::Duration;

use citadel_core::Privilege;
use futures::TryStreamExt;
use serde_json::json;
use time::OffsetDateTime;

use crate::{Citadel, Context, Error, Result, SecurableRef};

/// Which events an OCSF export starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditStart {
    /// The first event.
    #[default]
    Beginning,
    /// The first event at or after this time.
    Since(OffsetDateTime),
    /// The event after this sequence number (the `metadata.sequence` of the last line a SIEM
    /// received), to resume a stream.
    AfterSeq(u64),
}

/// Whether a write failed because the reader went away (`| head`, a closed socket).
fn reader_gone(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

impl Citadel {
    /// Writes the audit events from `start` on to `out` as OCSF, one JSON object per line. With
    /// `follow`, keeps polling every `follow` for new events (re-checking the caller's privilege
    /// each time) until `stop` resolves or `out` is closed, both clean ends. Needs `MANAGE` on
    /// the metastore; the export is audited when it starts. Returns the number of events written.
    pub async fn audit_export_ocsf<W: Write>(
        &self,
        ctx: &Context,
        start: AuditStart,
        follow: Option<Duration>,
        stop: impl Future<Output = ()>,
        mut out: W,
    ) -> Result<u64> {
        const ACTION: &str = "audit.export";
        let metastore = SecurableRef::metastore();
        self.authorize_read(ctx, ACTION, Privilege::Manage, &metastore)
            .await?;
        let (mut next_seq, since) = match start {
            AuditStart::Beginning => (1, None),
            AuditStart::AfterSeq(seq) => (seq.saturating_add(1), None),
            AuditStart::Since(t) => (1, Some(citadel_audit::event::format_time(t)?)),
        };
        let event = ctx.event(ACTION).with_params(json!({
            "format": "ocsf",
            "since": since,
            "from_seq": next_seq,
            "follow_secs": follow.map(|d| d.as_secs_f64().to_string()),
        }));
        self.store.audit(event).await?;
        let write_error = |source: io::Error| Error::Audit(source.into());
        let mut stop = std::pin::pin!(stop);
        let mut written = 0u64;
        loop {
            let mut events = self.store.audit_stream(next_seq);
            while let Some(event) = events.try_next().await? {
                next_seq = event.seq.saturating_add(1);
                if since.as_ref().is_some_and(|since| event.time < *since) {
                    continue;
                }
                let line = citadel_monitor::ocsf::from_audit_event(&event);
                let wrote = serde_json::to_writer(&mut out, &line)
                    .map_err(io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                match wrote {
                    Ok(()) => written += 1,
                    Err(err) if reader_gone(&err) => return Ok(written),
                    Err(err) => return Err(write_error(err)),
                }
            }
            drop(events);
            match out.flush() {
                Ok(()) => {}
                Err(err) if reader_gone(&err) => return Ok(written),
                Err(err) => return Err(write_error(err)),
            }
            let Some(every) = follow else {
                return Ok(written);
            };
            tokio::select! {
                () = &mut stop => return Ok(written),
                () = tokio::time::sleep(every) => {}
            }
            self.authorize_read(ctx, ACTION, Privilege::Manage, &metastore)
                .await?;
        }
    }
}
