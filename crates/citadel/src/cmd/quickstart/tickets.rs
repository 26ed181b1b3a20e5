//! The quickstart's generated support tickets: prompts in the voice the base model was
//! pre-trained on, with personal data planted in them, answered by a cheerful agent in a voice
//! the model has never seen (what fine-tuning teaches it).

use serde_json::{json, Value};

const SUBJECTS: [&str; 8] = [
    "my order",
    "the invoice",
    "the password reset",
    "the delivery",
    "my account",
    "the refund",
    "the app",
    "the subscription",
];
const PROBLEMS: [&str; 8] = [
    "has not arrived",
    "is wrong",
    "does not work",
    "was charged twice",
    "is locked",
    "keeps crashing",
    "was cancelled",
    "needs an update",
];
const TAILS: [&str; 6] = [
    "please help.",
    "thank you.",
    "can you check?",
    "what should I do?",
    "it is urgent.",
    "since yesterday.",
];
const OPENERS: [&str; 4] = [
    "Agent: yes, yes!",
    "Agent: yes!",
    "Agent: yes! I can help!",
    "Agent: yes, I can check!",
];
const FIXES: [&str; 6] = [
    "has arrived",
    "does work",
    "is not wrong",
    "is not locked",
    "needs no update",
    "was not charged twice",
];
const THANKS: [&str; 2] = [
    ", thank you, thank you!",
    ", thank you, thank you, thank you!",
];
const FIRST_NAMES: [&str; 12] = [
    "Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Priya", "Tom", "Fatima", "Lukas", "Emma",
    "Kenji",
];
const LAST_NAMES: [&str; 12] = [
    "Lopez", "Smith", "Khan", "Chen", "Ivanova", "Garcia", "Patel", "Brown", "Haddad", "Weber",
    "Martin", "Sato",
];

/// SplitMix64: a small, well-mixed generator, so the data is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// `rows` tickets from `seed`: `ticket_id`, `customer`, `email`, `phone`, `prompt` (personal
/// data planted in about half) and `response`.
pub fn generate(seed: u64, rows: usize) -> Vec<Value> {
    let mut rng = Rng(seed);
    (0..rows)
        .map(|i| {
            let first = rng.pick(&FIRST_NAMES);
            let last = rng.pick(&LAST_NAMES);
            let email = format!(
                "{}.{}@example.com",
                first.to_lowercase(),
                last.to_lowercase()
            );
            let phone = format!("+1 415 555 {:04}", rng.next() % 10_000);
            let mut prompt = format!(
                "Hello, {} {}, {}",
                rng.pick(&SUBJECTS),
                rng.pick(&PROBLEMS),
                rng.pick(&TAILS)
            );
            match rng.next() % 4 {
                0 => prompt.push_str(&format!(" I am {first} {last}, my email is {email}.")),
                1 => prompt.push_str(&format!(" Call me on {phone}.")),
                _ => {}
            }
            let response = format!(
                "{} {} {}{}",
                rng.pick(&OPENERS),
                rng.pick(&SUBJECTS),
                rng.pick(&FIXES),
                rng.pick(&THANKS)
            );
            json!({
                "ticket_id": format!("T-{}", 1000 + i),
                "customer": format!("{first} {last}"),
                "email": email,
                "phone": phone,
                "prompt": prompt,
                "response": response,
            })
        })
        .collect()
}

/// The anonymization policy for the tickets: customers' names encrypted (reversible for
/// `MANAGE`), e-mail addresses hashed, phone numbers and anything found in free text replaced.
pub const ANONYMIZE_POLICY: &str = r#"
default = "replace"

[entities]
EMAIL_ADDRESS = "hash"

[columns]
customer = { operator = "encrypt", whole = true }
email = { operator = "hash", whole = true }
phone = { operator = "replace", whole = true, entity = "PHONE_NUMBER" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_deterministic_and_carry_planted_pii() {
        let a = generate(7, 50);
        assert_eq!(a, generate(7, 50));
        assert_ne!(a, generate(8, 50));
        let planted = a
            .iter()
            .filter(|row| {
                row["prompt"]
                    .as_str()
                    .is_some_and(|p| p.contains("@example.com"))
            })
            .count();
        assert!(
            planted > 5 && planted < 30,
            "{planted} prompts carry an e-mail address"
        );
        assert!(a.iter().all(|row| row["response"]
            .as_str()
            .is_some_and(|r| r.starts_with("Agent: yes"))));
    }
}
