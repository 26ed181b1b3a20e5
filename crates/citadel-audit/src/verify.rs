//! Chain verification: recomputes every hash and link, checks signed checkpoints, and names the
//! first bad event and what is wrong with it.
//!
//! [`Verifier`] streams (it holds one event of look-ahead), so a log of any length verifies in
//! constant memory. When a link breaks, it diagnoses the tampering: an event whose stored hash was
//! computed for a different sequence number was renumbered, which tells insertion, deletion and
//! reordering apart.

use std::collections::VecDeque;
use std::fmt;

use crate::checkpoint::{Checkpoint, PublicKey};
use crate::event::{AuditEvent, GENESIS_HASH};

/// How far (in sequence numbers) a renumbered event is searched for when diagnosing a broken link.
const RENUMBER_SEARCH: u64 = 16;

/// Where the verified events start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStart {
    /// The whole chain: the first event must be seq 1 with the genesis `prev_hash`.
    Genesis,
    /// A segment (e.g. an export `--since`): the first event's `prev_hash` is taken as given.
    Anywhere,
}

/// What is wrong at the first bad position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The event's content does not match its hash (or it was re-hashed and the next link broke).
    Edited,
    /// One or more events are missing at this position.
    Deleted,
    /// This event was not in the original chain.
    Inserted,
    /// Events are out of their original order at this position.
    Reordered,
    /// A checkpoint's signature does not verify with the public key.
    BadCheckpointSignature,
    /// A correctly signed checkpoint names a head hash the chain does not have at that seq.
    CheckpointMismatch,
    /// The chain ends before a signed checkpoint's seq (events cut off the end).
    Truncated,
}

impl FailureKind {
    /// A short lowercase name, e.g. `edited`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Edited => "edited",
            FailureKind::Deleted => "deleted",
            FailureKind::Inserted => "inserted",
            FailureKind::Reordered => "reordered",
            FailureKind::BadCheckpointSignature => "bad_checkpoint_signature",
            FailureKind::CheckpointMismatch => "checkpoint_mismatch",
            FailureKind::Truncated => "truncated",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Sequence number of the first bad event (or of the checkpoint).
    pub seq: u64,
    /// What is wrong.
    pub kind: FailureKind,
    /// One human sentence with the evidence.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}: {}", self.seq, self.kind, self.detail)
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events accepted before the first failure (all of them when intact).
    pub events_verified: u64,
    /// Checkpoints whose signature and head matched.
    pub checkpoints_verified: u64,
    /// Seq of the last accepted event.
    pub last_seq: Option<u64>,
    /// Hash of the last accepted event.
    pub head_hash: Option<String>,
    /// The first problem, `None` when the chain is intact.
    pub failure: Option<Failure>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.failure.is_none()
    }
}

/// Verifies `events` (in the order given, which must be seq order) against `checkpoints`.
pub fn verify(
    events: impl IntoIterator<Item = AuditEvent>,
    checkpoints: Vec<Checkpoint>,
    public_key: &PublicKey,
    start: ChainStart,
) -> VerifyReport {
    let mut verifier = Verifier::new(public_key, checkpoints, start);
    for event in events {
        if !verifier.push(event) {
            break;
        }
    }
    verifier.finish()
}

/// Streaming verifier: [`Verifier::push`] events in seq order, then [`Verifier::finish`].
#[derive(Debug)]
pub struct Verifier {
    public_key: PublicKey,
    checkpoints: VecDeque<Checkpoint>,
    start: ChainStart,
    expected_seq: Option<u64>,
    prev_hash: Option<String>,
    prev_prev_hash: Option<String>,
    held: Option<AuditEvent>,
    events_verified: u64,
    checkpoints_verified: u64,
    failure: Option<Failure>,
}

impl Verifier {
    /// A verifier for a chain starting at `start`, with its checkpoints (any order).
    pub fn new(
        public_key: &PublicKey,
        mut checkpoints: Vec<Checkpoint>,
        start: ChainStart,
    ) -> Self {
        checkpoints.sort_by_key(|c| c.seq);
        let (expected_seq, prev_hash) = match start {
            ChainStart::Genesis => (Some(1), Some(GENESIS_HASH.to_owned())),
            ChainStart::Anywhere => (None, None),
        };
        Verifier {
            public_key: *public_key,
            checkpoints: checkpoints.into(),
            start,
            expected_seq,
            prev_hash,
            prev_prev_hash: None,
            held: None,
            events_verified: 0,
            checkpoints_verified: 0,
            failure: None,
        }
    }

    /// Feeds the next event; returns `false` once a failure has been found (further events are ignored).
    pub fn push(&mut self, event: AuditEvent) -> bool {
        if self.failure.is_some() {
            return false;
        }
        if let Some(held) = self.held.take() {
            self.check(&held, Some(&event));
        }
        self.held = Some(event);
        self.failure.is_none()
    }

    /// Records that the next event (at `seq`) could not even be read, e.g. a database row edited
    /// into an invalid value: that event counts as edited unless an earlier failure comes first.
    pub fn push_unreadable(&mut self, seq: u64, detail: impl Into<String>) {
        if self.failure.is_some() {
            return;
        }
        if let Some(held) = self.held.take() {
            self.check(&held, None);
        }
        if self.failure.is_none() {
            self.fail(seq, FailureKind::Edited, detail.into());
        }
    }

    /// Checks the last event and the checkpoints beyond the chain, and reports.
    pub fn finish(mut self) -> VerifyReport {
        if let Some(held) = self.held.take() {
            if self.failure.is_none() {
                self.check(&held, None);
            }
        }
        if self.failure.is_none() {
            self.check_checkpoints_past_the_end();
        }
        VerifyReport {
            events_verified: self.events_verified,
            checkpoints_verified: self.checkpoints_verified,
            last_seq: self
                .expected_seq
                .and_then(|s| s.checked_sub(1))
                .filter(|_| self.events_verified > 0),
            head_hash: self.prev_hash.filter(|_| self.events_verified > 0),
            failure: self.failure,
        }
    }

    fn fail(&mut self, seq: u64, kind: FailureKind, detail: String) {
        self.failure = Some(Failure { seq, kind, detail });
    }

    fn check(&mut self, event: &AuditEvent, next: Option<&AuditEvent>) {
        if self.start == ChainStart::Anywhere && self.expected_seq.is_none() {
            self.expected_seq = Some(event.seq);
            self.prev_hash = Some(event.prev_hash.clone());
        }
        let expected = self.expected_seq.unwrap_or(1);
        let prev_hash = self.prev_hash.clone().unwrap_or_default();
        if let Some((kind, seq, detail)) = self.diagnose(event, next, expected, &prev_hash) {
            self.fail(seq, kind, detail);
            return;
        }
        self.events_verified += 1;
        self.prev_prev_hash = Some(prev_hash);
        self.prev_hash = Some(event.hash.clone());
        self.expected_seq = Some(expected + 1);
        self.check_checkpoints_up_to(event);
    }

    /// `None` when `event` is the correct event at `expected`; otherwise what is wrong.
    fn diagnose(
        &self,
        event: &AuditEvent,
        next: Option<&AuditEvent>,
        expected: u64,
        prev_hash: &str,
    ) -> Option<(FailureKind, u64, String)> {
        if event.seq < expected {
            return Some((
                FailureKind::Reordered,
                expected,
                format!(
                    "event seq {} appears where seq {expected} belongs",
                    event.seq
                ),
            ));
        }
        if event.seq > expected {
            if next.is_some_and(|n| n.seq == expected) {
                return Some((
                    FailureKind::Reordered,
                    expected,
                    format!("event seq {} appears before seq {expected}", event.seq),
                ));
            }
            return Some((
                FailureKind::Deleted,
                expected,
                format!("events {expected}..{} are missing", event.seq - 1),
            ));
        }
        let hash_ok = event.compute_hash() == event.hash;
        let link_ok = event.prev_hash == prev_hash;
        match (hash_ok, link_ok) {
            (true, true) => None,
            (false, true) => Some((
                FailureKind::Edited,
                expected,
                "the event's content does not match its hash".to_owned(),
            )),
            _ => Some(self.diagnose_broken_link(event, next, expected, hash_ok)),
        }
    }

    fn diagnose_broken_link(
        &self,
        event: &AuditEvent,
        next: Option<&AuditEvent>,
        expected: u64,
        hash_ok: bool,
    ) -> (FailureKind, u64, String) {
        match original_seq(event) {
            Some(orig) if orig < expected => {
                if self.prev_prev_hash.as_deref() == Some(event.prev_hash.as_str()) {
                    (
                        FailureKind::Inserted,
                        expected - 1,
                        format!("event {} is not in the chain: event {expected} (originally {orig}) links past it", expected - 1),
                    )
                } else {
                    (
                        FailureKind::Inserted,
                        expected,
                        format!("event was renumbered from {orig}: events were inserted before it"),
                    )
                }
            }
            Some(orig) => {
                let next_belongs_here = next.is_some_and(|n| n.compute_hash_with_seq(expected) == n.hash);
                if next_belongs_here {
                    (
                        FailureKind::Reordered,
                        expected,
                        format!("event {expected} holds the event originally at {orig}"),
                    )
                } else {
                    (
                        FailureKind::Deleted,
                        expected,
                        format!("event {expected} was originally {orig}: the events before it were deleted and the rest renumbered"),
                    )
                }
            }
            None if hash_ok && expected > 1 => (
                FailureKind::Edited,
                expected - 1,
                format!("event {expected} links to a different hash: event {} was altered and re-hashed", expected - 1),
            ),
            None if hash_ok => (
                FailureKind::Edited,
                expected,
                "the first event does not start from the genesis hash".to_owned(),
            ),
            None => (
                FailureKind::Edited,
                expected,
                "neither the event's hash nor its link to the previous event match".to_owned(),
            ),
        }
    }

    fn check_checkpoints_up_to(&mut self, event: &AuditEvent) {
        while let Some(cp) = self.checkpoints.front() {
            if cp.seq > event.seq {
                break;
            }
            let cp = cp.clone();
            self.checkpoints.pop_front();
            if !cp.verify_signature(&self.public_key) {
                self.fail(
                    cp.seq,
                    FailureKind::BadCheckpointSignature,
                    bad_signature_detail(&cp),
                );
                return;
            }
            if cp.seq == event.seq && cp.head_hash != event.hash {
                self.fail(
                    cp.seq,
                    FailureKind::CheckpointMismatch,
                    format!(
                        "signed checkpoint says head {} but the chain has {}",
                        cp.head_hash, event.hash
                    ),
                );
                return;
            }
            // A checkpoint before the first event of a segment can only be checked for its signature.
            if cp.seq == event.seq {
                self.checkpoints_verified += 1;
            }
        }
    }

    fn check_checkpoints_past_the_end(&mut self) {
        let next_seq = self.expected_seq.unwrap_or(1);
        while let Some(cp) = self.checkpoints.pop_front() {
            if !cp.verify_signature(&self.public_key) {
                self.fail(
                    cp.seq,
                    FailureKind::BadCheckpointSignature,
                    bad_signature_detail(&cp),
                );
                return;
            }
            if cp.seq >= next_seq {
                self.fail(
                    next_seq,
                    FailureKind::Truncated,
                    format!(
                        "the chain ends at seq {} but a signed checkpoint covers seq {}",
                        next_seq.saturating_sub(1),
                        cp.seq
                    ),
                );
                return;
            }
        }
    }
}

fn bad_signature_detail(cp: &Checkpoint) -> String {
    format!(
        "checkpoint signature (key id {}) does not verify with the public key",
        cp.key_id
    )
}

/// The sequence number the event's stored hash was computed for, if it is near (but not) its own.
fn original_seq(event: &AuditEvent) -> Option<u64> {
    (1..=RENUMBER_SEARCH).find_map(|d| {
        [event.seq.checked_sub(d), event.seq.checked_add(d)]
            .into_iter()
            .flatten()
            .find(|&s| s > 0 && event.compute_hash_with_seq(s) == event.hash)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::signer;
    use crate::checkpoint::Signer;
    use crate::event::tests::{chain, fixed_time};
    use crate::event::{Actor, EventDraft};
    use serde_json::json;

    fn checkpoints(s: &Signer, events: &[AuditEvent], at: &[u64]) -> Vec<Checkpoint> {
        at.iter()
            .map(|&seq| {
                let e = &events[usize::try_from(seq).unwrap() - 1];
                s.sign(seq, &e.hash, fixed_time(seq)).unwrap()
            })
            .collect()
    }

    fn run(events: Vec<AuditEvent>, cps: Vec<Checkpoint>, s: &Signer) -> VerifyReport {
        verify(events, cps, &s.public_key(), ChainStart::Genesis)
    }

    fn failure(report: &VerifyReport) -> (u64, FailureKind) {
        let f = report.failure.as_ref().expect("expected a failure");
        (f.seq, f.kind)
    }

    fn renumber(events: &mut [AuditEvent], by: i64) {
        for e in events {
            e.seq = e.seq.checked_add_signed(by).unwrap();
        }
    }

    #[test]
    fn intact_chain_with_checkpoints_verifies() {
        let s = signer();
        let events = chain(25);
        let cps = checkpoints(&s, &events, &[10, 20, 25]);
        let r = run(events.clone(), cps, &s);
        assert!(r.is_intact(), "{r:?}");
        assert_eq!(r.events_verified, 25);
        assert_eq!(r.checkpoints_verified, 3);
        assert_eq!(r.last_seq, Some(25));
        assert_eq!(r.head_hash.as_deref(), Some(events[24].hash.as_str()));
    }

    #[test]
    fn empty_chain_without_checkpoints_is_intact() {
        let s = signer();
        let r = run(vec![], vec![], &s);
        assert!(r.is_intact());
        assert_eq!(r.last_seq, None);
    }

    #[test]
    fn edited_event_is_named() {
        let s = signer();
        let mut events = chain(10);
        events[4].params = json!({"name": "mallory"});
        let r = run(events, vec![], &s);
        assert_eq!(failure(&r), (5, FailureKind::Edited));
        assert_eq!(r.events_verified, 4);
    }

    #[test]
    fn edited_and_rehashed_event_is_named() {
        let s = signer();
        let mut events = chain(10);
        events[4].actor_name = "mallory".into();
        events[4].hash = events[4].compute_hash();
        assert_eq!(failure(&run(events, vec![], &s)), (5, FailureKind::Edited));
    }

    #[test]
    fn edited_last_event_is_named() {
        let s = signer();
        let mut events = chain(10);
        events[9].outcome = crate::Outcome::Denied;
        assert_eq!(failure(&run(events, vec![], &s)), (10, FailureKind::Edited));
    }

    #[test]
    fn deleted_event_leaves_a_gap() {
        let s = signer();
        let mut events = chain(10);
        events.remove(4);
        let r = run(events, vec![], &s);
        assert_eq!(failure(&r), (5, FailureKind::Deleted));
    }

    #[test]
    fn deleted_first_event_is_named() {
        let s = signer();
        let mut events = chain(3);
        events.remove(0);
        assert_eq!(failure(&run(events, vec![], &s)), (1, FailureKind::Deleted));
    }

    #[test]
    fn deleted_event_with_renumbering_is_named() {
        let s = signer();
        let mut events = chain(10);
        events.remove(4);
        renumber(&mut events[4..], -1);
        assert_eq!(failure(&run(events, vec![], &s)), (5, FailureKind::Deleted));
    }

    #[test]
    fn inserted_forged_event_is_named() {
        let s = signer();
        let mut events = chain(10);
        let forged = EventDraft::new(&Actor::principal("x", "mallory"), "r", "grant.create")
            .seal(5, &events[3].hash, fixed_time(5))
            .unwrap();
        renumber(&mut events[4..], 1);
        events.insert(4, forged);
        let r = run(events, vec![], &s);
        assert_eq!(failure(&r), (5, FailureKind::Inserted));
    }

    #[test]
    fn inserted_event_with_bad_hash_is_caught_at_its_seq() {
        let s = signer();
        let mut events = chain(10);
        let mut forged = events[3].clone();
        forged.seq = 5;
        forged.prev_hash = events[3].hash.clone();
        renumber(&mut events[4..], 1);
        events.insert(4, forged);
        assert_eq!(failure(&run(events, vec![], &s)).0, 5);
    }

    #[test]
    fn swapped_contents_are_reordered() {
        let s = signer();
        let mut events = chain(10);
        events.swap(4, 5);
        events[4].seq = 5;
        events[5].seq = 6;
        assert_eq!(
            failure(&run(events, vec![], &s)),
            (5, FailureKind::Reordered)
        );
    }

    #[test]
    fn swapped_lines_are_reordered() {
        let s = signer();
        let mut events = chain(10);
        events.swap(4, 5);
        assert_eq!(
            failure(&run(events, vec![], &s)),
            (5, FailureKind::Reordered)
        );
    }

    #[test]
    fn duplicated_line_is_reordered() {
        let s = signer();
        let mut events = chain(6);
        let dup = events[2].clone();
        events.insert(3, dup);
        assert_eq!(
            failure(&run(events, vec![], &s)),
            (4, FailureKind::Reordered)
        );
    }

    #[test]
    fn bad_checkpoint_signature_is_named() {
        let s = signer();
        let events = chain(10);
        let mut cps = checkpoints(&s, &events, &[4, 8]);
        cps[1].signature = "00".repeat(64);
        let r = run(events, cps, &s);
        assert_eq!(failure(&r), (8, FailureKind::BadCheckpointSignature));
        assert_eq!(r.checkpoints_verified, 1);
    }

    #[test]
    fn checkpoint_from_another_key_is_rejected() {
        let s = signer();
        let events = chain(5);
        let cps = checkpoints(&signer(), &events, &[5]);
        assert_eq!(
            failure(&run(events, cps, &s)),
            (5, FailureKind::BadCheckpointSignature)
        );
    }

    #[test]
    fn consistently_rewritten_chain_fails_at_the_checkpoint() {
        let s = signer();
        let original = chain(10);
        let cps = checkpoints(&s, &original, &[3, 8]);
        let mut events = original;
        events[4].reason = Some("rewritten".into());
        let mut prev = events[3].hash.clone();
        for e in &mut events[4..] {
            e.prev_hash = prev;
            e.hash = e.compute_hash();
            prev = e.hash.clone();
        }
        let r = run(events, cps, &s);
        assert_eq!(failure(&r), (8, FailureKind::CheckpointMismatch));
        assert_eq!(r.checkpoints_verified, 1);
    }

    #[test]
    fn chain_cut_before_the_last_checkpoint_is_truncated() {
        let s = signer();
        let mut events = chain(10);
        let cps = checkpoints(&s, &events, &[5, 10]);
        events.truncate(7);
        let r = run(events, cps, &s);
        assert_eq!(failure(&r), (8, FailureKind::Truncated));
        assert_eq!(r.events_verified, 7);
    }

    #[test]
    fn empty_chain_with_a_checkpoint_is_truncated() {
        let s = signer();
        let cps = checkpoints(&s, &chain(3), &[3]);
        assert_eq!(failure(&run(vec![], cps, &s)), (1, FailureKind::Truncated));
    }

    #[test]
    fn forged_checkpoint_past_the_end_is_a_bad_signature() {
        let s = signer();
        let events = chain(3);
        let mut cps = checkpoints(&s, &events, &[3]);
        cps[0].seq = 9;
        assert_eq!(
            failure(&run(events, cps, &s)),
            (9, FailureKind::BadCheckpointSignature)
        );
    }

    #[test]
    fn segment_verifies_from_anywhere_but_not_from_genesis() {
        let s = signer();
        let events = chain(10);
        let cps = checkpoints(&s, &events, &[2, 6, 10]);
        let segment: Vec<_> = events[4..].to_vec();
        let r = verify(
            segment.clone(),
            cps.clone(),
            &s.public_key(),
            ChainStart::Anywhere,
        );
        assert!(r.is_intact(), "{r:?}");
        assert_eq!(r.checkpoints_verified, 2);
        assert_eq!(failure(&run(segment, cps, &s)), (1, FailureKind::Deleted));
    }

    #[test]
    fn unreadable_event_is_edited_unless_an_earlier_failure_exists() {
        let s = signer();
        let events = chain(6);
        let mut v = Verifier::new(&s.public_key(), vec![], ChainStart::Genesis);
        for e in events[..4].iter().cloned() {
            assert!(v.push(e));
        }
        v.push_unreadable(5, "bad outcome");
        let r = v.finish();
        assert_eq!(failure(&r), (5, FailureKind::Edited));
        assert_eq!(r.events_verified, 4);

        let mut events = chain(6);
        events[2].action = "x".into();
        let mut v = Verifier::new(&s.public_key(), vec![], ChainStart::Genesis);
        for e in events[..4].iter().cloned() {
            v.push(e);
        }
        v.push_unreadable(5, "bad outcome");
        assert_eq!(failure(&v.finish()), (3, FailureKind::Edited));
    }

    #[test]
    fn first_failure_wins_over_later_ones() {
        let s = signer();
        let mut events = chain(10);
        let mut cps = checkpoints(&s, &events, &[9]);
        cps[0].signature = "00".repeat(64);
        events[2].action = "x".into();
        events.remove(6);
        assert_eq!(failure(&run(events, cps, &s)), (3, FailureKind::Edited));
    }
}
