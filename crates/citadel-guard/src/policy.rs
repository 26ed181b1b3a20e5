//! The guardrail policy of an endpoint: what to do with PII, prompt injection, forbidden
//! keywords and oversized inputs. Stored in endpoint configurations (TOML and JSON), so its
//! shape is stable: new fields only ever arrive with defaults.

use std::str::FromStr;

use citadel_pii::EntityType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::GuardError;

/// At most this many forbidden keywords.
pub const MAX_KEYWORDS: usize = 200;
/// A forbidden keyword has at most this many characters.
pub const MAX_KEYWORD_CHARS: usize = 100;

/// The guardrails of one endpoint. Every field has a secure default, so `{}` (or an empty
/// TOML table) is a complete policy: PII masked both ways, injection attempts blocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GuardrailPolicy {
    /// What to do with PII found in prompts (default: mask).
    pub input_pii: PiiAction,
    /// What to do with PII found in completions (default: mask).
    pub output_pii: PiiAction,
    /// The PII entity types to look for, by name (`EMAIL_ADDRESS`, `US_SSN`, …); empty means
    /// every type the analyzer knows.
    pub pii_entities: Vec<String>,
    /// What to do with a prompt that looks like an injection attempt (default: block).
    pub injection: InjectionAction,
    /// Words and phrases refused in prompts and completions: whole words, any letter case;
    /// punctuation only separates words ("project-falcon" matches "project falcon").
    pub forbidden_keywords: Vec<String>,
    /// The largest prompt, in tokens, the endpoint accepts (default: no limit).
    pub max_input_tokens: Option<u32>,
}

/// What to do with PII.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PiiAction {
    /// Do not look for PII.
    Off,
    /// Replace each entity by `<ENTITY_TYPE>` and let the text through.
    Mask,
    /// Refuse the text.
    Block,
}

/// What to do with a suspected prompt injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InjectionAction {
    /// Do not look for injection.
    Off,
    /// Let the prompt through and record a decision.
    Flag,
    /// Refuse the prompt.
    Block,
}

impl Default for GuardrailPolicy {
    fn default() -> Self {
        GuardrailPolicy {
            input_pii: PiiAction::Mask,
            output_pii: PiiAction::Mask,
            pii_entities: Vec::new(),
            injection: InjectionAction::Block,
            forbidden_keywords: Vec::new(),
            max_input_tokens: None,
        }
    }
}

impl GuardrailPolicy {
    /// Checks the policy: known entity names, at most 200 keywords of 1 to 100 characters with
    /// a letter or digit each, a positive `max_input_tokens`.
    pub fn validate(&self) -> Result<(), GuardError> {
        self.entity_types()?;
        if self.forbidden_keywords.len() > MAX_KEYWORDS {
            return Err(GuardError::TooManyKeywords {
                count: self.forbidden_keywords.len(),
                max: MAX_KEYWORDS,
            });
        }
        for (i, keyword) in self.forbidden_keywords.iter().enumerate() {
            let chars = keyword.chars().count();
            if keyword.trim().is_empty() || chars > MAX_KEYWORD_CHARS {
                return Err(GuardError::KeywordLength {
                    index: i + 1,
                    chars,
                    max: MAX_KEYWORD_CHARS,
                });
            }
            if !keyword.chars().any(char::is_alphanumeric) {
                return Err(GuardError::KeywordWithoutWord { index: i + 1 });
            }
        }
        if self.max_input_tokens == Some(0) {
            return Err(GuardError::ZeroMaxInputTokens);
        }
        Ok(())
    }

    /// The entity types to look for: every type when `pii_entities` is empty.
    pub fn entity_types(&self) -> Result<Vec<EntityType>, GuardError> {
        if self.pii_entities.is_empty() {
            return Ok(EntityType::ALL.to_vec());
        }
        let mut types = Vec::with_capacity(self.pii_entities.len());
        for name in &self.pii_entities {
            let t =
                EntityType::from_str(name).map_err(|_| GuardError::UnknownEntity(name.clone()))?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        Ok(types)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_secure() {
        let p = GuardrailPolicy::default();
        assert_eq!(p.input_pii, PiiAction::Mask);
        assert_eq!(p.output_pii, PiiAction::Mask);
        assert_eq!(p.injection, InjectionAction::Block);
        assert!(p.pii_entities.is_empty());
        assert!(p.forbidden_keywords.is_empty());
        assert_eq!(p.max_input_tokens, None);
        assert!(p.validate().is_ok());
        assert_eq!(p.entity_types().unwrap(), EntityType::ALL.to_vec());
    }

    #[test]
    fn empty_documents_give_the_defaults() {
        let from_json: GuardrailPolicy = serde_json::from_str("{}").unwrap();
        let from_toml: GuardrailPolicy = toml::from_str("").unwrap();
        assert_eq!(from_json, GuardrailPolicy::default());
        assert_eq!(from_toml, GuardrailPolicy::default());
        let partial: GuardrailPolicy =
            toml::from_str("output_pii = \"block\"\nmax_input_tokens = 512\n").unwrap();
        assert_eq!(partial.output_pii, PiiAction::Block);
        assert_eq!(partial.input_pii, PiiAction::Mask);
        assert_eq!(partial.max_input_tokens, Some(512));
    }

    #[test]
    fn json_and_toml_round_trip() {
        let p = GuardrailPolicy {
            input_pii: PiiAction::Block,
            output_pii: PiiAction::Off,
            pii_entities: vec!["EMAIL_ADDRESS".into(), "US_SSN".into()],
            injection: InjectionAction::Flag,
            forbidden_keywords: vec!["project falcon".into(), "acme".into()],
            max_input_tokens: Some(4096),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#""input_pii":"block""#), "{json}");
        assert!(json.contains(r#""injection":"flag""#), "{json}");
        assert_eq!(serde_json::from_str::<GuardrailPolicy>(&json).unwrap(), p);
        let text = toml::to_string(&p).unwrap();
        assert_eq!(toml::from_str::<GuardrailPolicy>(&text).unwrap(), p);
        let default = GuardrailPolicy::default();
        let text = toml::to_string(&default).unwrap();
        assert_eq!(toml::from_str::<GuardrailPolicy>(&text).unwrap(), default);
    }

    #[test]
    fn unknown_fields_and_values_are_refused() {
        assert!(serde_json::from_str::<GuardrailPolicy>(r#"{"input_pi":"mask"}"#).is_err());
        assert!(serde_json::from_str::<GuardrailPolicy>(r#"{"input_pii":"hide"}"#).is_err());
        assert!(serde_json::from_str::<GuardrailPolicy>(r#"{"injection":"mask"}"#).is_err());
    }

    #[test]
    fn validation_errors_say_what_to_fix() {
        let with = |f: fn(&mut GuardrailPolicy)| {
            let mut p = GuardrailPolicy::default();
            f(&mut p);
            p.validate().unwrap_err().to_string()
        };
        let e = with(|p| p.pii_entities = vec!["EMAIL_ADDRESS".into(), "SSN".into()]);
        assert!(e.contains("\"SSN\"") && e.contains("US_SSN"), "{e}");
        let e = with(|p| p.forbidden_keywords = vec!["x".into(); MAX_KEYWORDS + 1]);
        assert!(e.contains("201") && e.contains("at most 200"), "{e}");
        let e = with(|p| p.forbidden_keywords = vec!["ok".into(), "  ".into()]);
        assert!(e.contains("number 2") && e.contains("1 to 100"), "{e}");
        let e = with(|p| p.forbidden_keywords = vec!["y".repeat(MAX_KEYWORD_CHARS + 1)]);
        assert!(e.contains("101 characters"), "{e}");
        let e = with(|p| p.forbidden_keywords = vec!["ok".into(), "--".into()]);
        assert!(e.contains("number 2 has no letter or digit"), "{e}");
        let e = with(|p| p.max_input_tokens = Some(0));
        assert!(e.contains("at least 1"), "{e}");

        let mut ok = GuardrailPolicy {
            pii_entities: vec![
                "email_address".into(),
                "EMAIL_ADDRESS".into(),
                "PERSON".into(),
            ],
            forbidden_keywords: vec!["z".repeat(MAX_KEYWORD_CHARS); MAX_KEYWORDS],
            max_input_tokens: Some(1),
            ..GuardrailPolicy::default()
        };
        assert!(ok.validate().is_ok());
        assert_eq!(
            ok.entity_types().unwrap(),
            [EntityType::EmailAddress, EntityType::Person]
        );
        ok.forbidden_keywords.clear();
        assert!(ok.validate().is_ok());
    }
}
