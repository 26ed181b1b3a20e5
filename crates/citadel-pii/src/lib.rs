//! Citadel's PII engine: recognizers that find personal data and secrets in text, anonymizers
//! that replace, redact, mask, hash, pseudonymize or encrypt what they find, and a labeled
//! corpus generator with an evaluator for precision, recall and throughput.
//!
//! Pure: no file or network IO, no async. Shared by datasets (scan and anonymize fields) and
//! the gateway (guard prompts and completions).
//!
//! ```
//! use citadel_pii::{Analyzer, AnalyzerConfig, Anonymizer, EntityType, Operator, Operators};
//!
//! let analyzer = Analyzer::new(AnalyzerConfig::default())?; // Send + Sync: build once, share
//! let text = "Dear John Smith, your card 4111 1111 1111 1111 is on file.";
//! let findings = analyzer.analyze(text); // char offsets, no overlaps, sorted by start
//! assert_eq!(findings[0].entity_type, EntityType::Person);
//! assert_eq!((findings[0].start, findings[0].end), (5, 15));
//!
//! let operators = Operators::new(Operator::Replace { new_value: None })
//!     .with(EntityType::CreditCard, Operator::MaskKeepLast { mask_char: '*', keep: 4 });
//! let anonymized = Anonymizer::new(operators).anonymize(text, &findings)?;
//! assert_eq!(anonymized, "Dear <PERSON>, your card ***************1111 is on file.");
//! # Ok::<(), citadel_pii::PiiError>(())
//! ```
//!
//! # Recognizers
//!
//! | type | how it is found | how it is checked |
//! |---|---|---|
//! | `EMAIL_ADDRESS` | each `@` (memchr) | local part and domain rules, alphabetic TLD |
//! | `PHONE_NUMBER` | numeric runs | E.164 with a country code, North American (area and exchange 2-9), national numbers with a trunk 0; bare digits need context ("call", "phone") |
//! | `US_SSN` | numeric runs | area not 000/666/900-999, group not 00, serial not 0000; bare nine digits need context ("SSN") |
//! | `CREDIT_CARD` | numeric runs | Luhn, issuer prefix and length (13-19), one separator kind |
//! | `IBAN_CODE` | numeric runs after two capitals | country length, mod-97 |
//! | `IP_ADDRESS` | numeric runs (v4), hex-colon regex (v6) | `std::net` parsing |
//! | `MAC_ADDRESS` | hex-colon regex | six hex pairs, one separator |
//! | `URL` | `http://`, `https://`, `ftp://`, `www.` | a dotted host; trailing punctuation trimmed |
//! | `DATE_OF_BIRTH` | "born", "DOB", "date of birth", "birthday" | a valid date within 40 bytes after |
//! | `PASSPORT`, `DRIVER_LICENSE` | "passport", "driver's license", "DL#" | an ID-shaped token within 48 bytes after |
//! | `CREDENTIAL` | `AKIA`/`ASIA`, `ghp_`…, `github_pat_`, `hf_`, `cit_pat_`, `eyJ`, `-----BEGIN` | exact lengths; JWT header decodes to JSON with `alg`; PEM `PRIVATE KEY` label |
//! | `PERSON` | capitalized words | gazetteer (`data/*.txt`), given+family pairs, titles and cues ("Dear", "Mr."); everyday-word names ("Will", "May") need context |
//!
//! Offsets are Unicode scalar values (`char`s), as Presidio counts. For large inputs use
//! [`Analyzer::lines`]: a [`LineScanner`] takes one line at a time and reports findings
//! relative to it (a PEM block spanning lines is reported on each of them).
//!
//! # Anonymizers
//!
//! [`Operator`]s per entity type ([`Operators`]): replace with `<ENTITY_TYPE>`, redact, mask,
//! salted SHA-256 (the salt is per dataset: equal values link within it, not across),
//! consistent pseudonyms (HMAC-SHA256 under a caller's key picks a fake value shaped like the
//! original; checksummed types get values that fail their checksum, so a re-scan does not count
//! them as real), and AES-256-GCM encryption to `ENC[…]` tokens that [`decrypt`] reverses with
//! the same 32-byte key.
//!
//! # Benchmark
//!
//! [`corpus::generate_corpus`] makes a labeled corpus of prose with planted entities and decoys;
//! [`bench::evaluate`] measures throughput (one thread and all cores) and precision and recall
//! per type.

pub mod analyzer;
pub mod anonymize;
pub mod bench;
pub mod corpus;
pub mod entity;
pub mod error;

mod context;
mod names;
mod pseudonym;
mod recognizers;
mod text;

pub use analyzer::{Analyzer, AnalyzerConfig, LineScanner};
pub use anonymize::{decrypt, decrypt_all, Anonymizer, Operator, Operators};
pub use entity::{CredentialKind, EntityType, Finding};
pub use error::PiiError;
