//! Entity types, credential kinds and findings: the vocabulary of what the analyzer reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::PiiError;

/// A kind of personal or secret data, named as Presidio names it (`EMAIL_ADDRESS`, `US_SSN`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntityType {
    EmailAddress,
    PhoneNumber,
    UsSsn,
    CreditCard,
    IbanCode,
    IpAddress,
    MacAddress,
    Url,
    DateOfBirth,
    Passport,
    DriverLicense,
    Credential,
    Person,
}

impl EntityType {
    /// Every entity type, in a fixed order.
    pub const ALL: [EntityType; 13] = [
        EntityType::EmailAddress,
        EntityType::PhoneNumber,
        EntityType::UsSsn,
        EntityType::CreditCard,
        EntityType::IbanCode,
        EntityType::IpAddress,
        EntityType::MacAddress,
        EntityType::Url,
        EntityType::DateOfBirth,
        EntityType::Passport,
        EntityType::DriverLicense,
        EntityType::Credential,
        EntityType::Person,
    ];

    /// The SCREAMING_SNAKE name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntityType::EmailAddress => "EMAIL_ADDRESS",
            EntityType::PhoneNumber => "PHONE_NUMBER",
            EntityType::UsSsn => "US_SSN",
            EntityType::CreditCard => "CREDIT_CARD",
            EntityType::IbanCode => "IBAN_CODE",
            EntityType::IpAddress => "IP_ADDRESS",
            EntityType::MacAddress => "MAC_ADDRESS",
            EntityType::Url => "URL",
            EntityType::DateOfBirth => "DATE_OF_BIRTH",
            EntityType::Passport => "PASSPORT",
            EntityType::DriverLicense => "DRIVER_LICENSE",
            EntityType::Credential => "CREDENTIAL",
            EntityType::Person => "PERSON",
        }
    }

    /// Whether findings of this type pass a checksum or numbering rule (Luhn for cards, mod-97
    /// for IBANs, area/group/serial rules for SSNs), not just a shape.
    pub const fn is_checksum_validated(self) -> bool {
        matches!(
            self,
            EntityType::CreditCard | EntityType::IbanCode | EntityType::UsSsn
        )
    }

    /// The position of this type in [`EntityType::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityType {
    type Err = PiiError;

    /// Parses the SCREAMING_SNAKE name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| PiiError::UnknownEntityType(s.to_owned()))
    }
}

/// Which kind of credential a [`EntityType::Credential`] finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// `AKIA…`/`ASIA…` AWS access key id.
    AwsAccessKeyId,
    /// `ghp_`, `gho_`, `ghs_`, `ghu_`, `ghr_` or `github_pat_` GitHub token.
    GithubToken,
    /// `hf_…` Hugging Face token.
    HfToken,
    /// `cit_pat_…` Citadel personal access token.
    CitadelToken,
    /// A JSON Web Token whose header decodes to JSON with `alg`.
    Jwt,
    /// A PEM `PRIVATE KEY` block.
    PrivateKey,
}

impl CredentialKind {
    /// The snake_case name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            CredentialKind::AwsAccessKeyId => "aws_access_key_id",
            CredentialKind::GithubToken => "github_token",
            CredentialKind::HfToken => "hf_token",
            CredentialKind::CitadelToken => "citadel_token",
            CredentialKind::Jwt => "jwt",
            CredentialKind::PrivateKey => "private_key",
        }
    }
}

/// One recognized entity. `start..end` counts Unicode scalar values (Rust `char`s, as Presidio
/// counts Python string indices), not bytes; `end` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub entity_type: EntityType,
    pub start: usize,
    pub end: usize,
    /// Confidence in `0..=1`.
    pub score: f64,
    /// For credentials, which kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CredentialKind>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for t in EntityType::ALL {
            assert_eq!(t.as_str().parse::<EntityType>().unwrap(), t);
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
            assert_eq!(EntityType::ALL[t.index()], t);
        }
        assert_eq!("us_ssn".parse::<EntityType>().unwrap(), EntityType::UsSsn);
        assert!("SSN".parse::<EntityType>().is_err());
    }

    #[test]
    fn checksum_validated_types() {
        let validated: Vec<_> = EntityType::ALL
            .into_iter()
            .filter(|t| t.is_checksum_validated())
            .collect();
        assert_eq!(
            validated,
            [
                EntityType::UsSsn,
                EntityType::CreditCard,
                EntityType::IbanCode
            ]
        );
    }

    #[test]
    fn finding_json_has_no_kind_unless_credential() {
        let f = Finding {
            entity_type: EntityType::UsSsn,
            start: 1,
            end: 12,
            score: 0.85,
            kind: None,
        };
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"entity_type":"US_SSN","start":1,"end":12,"score":0.85}"#
        );
    }
}
