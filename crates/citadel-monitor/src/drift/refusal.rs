//! Telling a model's refusal from an answer, for the refusal rate.
//!
//! The inference log keeps no finish reason, so a refusal is recognized by its words: a
//! completion whose opening (its first [`OPENING_CHARS`] characters, lower-cased, curly
//! apostrophes straightened) contains one of [`REFUSAL_PHRASES`]. This is a heuristic for
//! English-speaking models: it misses refusals in other languages or other words, and counts an
//! answer that opens with "I'm sorry, …" as one. What matters for drift is that the same rule
//! is applied to the baseline and to the window, so a change in the rate is still a change in
//! behaviour. Guardrail blocks are not refusals: they are counted by the block rate.

/// How much of a completion's beginning is searched: refusals say so at once.
pub const OPENING_CHARS: usize = 160;

/// Phrases that open a refusal.
pub const REFUSAL_PHRASES: &[&str] = &[
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i can't do that",
    "i cannot do that",
    "i won't",
    "i will not",
    "i'm not able to",
    "i am not able to",
    "i'm unable to",
    "i am unable to",
    "i'm sorry, but",
    "i am sorry, but",
    "sorry, but i can",
    "i apologize, but",
    "as an ai",
];

/// Whether `completion` reads as a refusal (see the module documentation).
pub fn is_refusal(completion: &str) -> bool {
    let opening: String = completion
        .chars()
        .take(OPENING_CHARS)
        .flat_map(char::to_lowercase)
        .map(|c| if c == '\u{2019}' { '\'' } else { c })
        .collect();
    REFUSAL_PHRASES
        .iter()
        .any(|phrase| opening.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_from_answers() {
        assert!(is_refusal("I’m sorry, but I can’t help with that."));
        assert!(is_refusal("  I cannot assist with creating malware."));
        assert!(is_refusal("As an AI language model, I won't do that."));
        assert!(!is_refusal("Sure! Here is the summary of the ticket."));
        assert!(!is_refusal(""));
        // Only the opening counts: an answer that quotes a refusal later is an answer.
        let late = format!("{} I cannot help", "word ".repeat(40));
        assert!(!is_refusal(&late));
    }
}
