//! The pipeline file that `citadel pipeline run FILE.toml` reads: what to fine-tune, on which data,
//! how, within which limits, under which gates, and where to register the result. Parsing is strict
//! (unknown keys are refused) and every value is checked before any work starts.

use std::collections::BTreeMap;

use citadel_core::FullName;
use ring::digest;
use serde::{Deserialize, Serialize};

use crate::gates::GatePolicy;
use crate::{Error, Result};

/// A whole pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// The pipeline's name: letters, digits, `_` and `-`, starting with a letter.
    pub name: String,
    /// The model version to fine-tune.
    pub base: BaseSpec,
    /// The dataset versions to train and evaluate on.
    pub data: DataSpec,
    /// Fine-tuning hyperparameters.
    #[serde(default)]
    pub train: TrainSpec,
    /// Hard limits on the run.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Gates that tighten the catalog's policy (absent fields take the seed defaults).
    #[serde(default)]
    pub gates: Option<GatePolicy>,
    /// Where and how to register the result.
    pub register: RegisterSpec,
}

/// The base model: a registered model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSpec {
    /// `catalog.schema.model@version`; `@latest` or no `@` means the newest version.
    pub model: String,
}

/// The dataset versions of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Training data: `catalog.schema.dataset@version`.
    pub train: String,
    /// Held-out evaluation data: `catalog.schema.dataset@version`.
    pub eval: String,
}

/// How the learning rate moves after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Stays at `lr`.
    Constant,
    /// Decays linearly to zero.
    Linear,
    /// Follows a half cosine down to zero.
    Cosine,
}

/// LoRA fine-tuning hyperparameters; every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSpec {
    /// LoRA rank (8).
    pub lora_r: u32,
    /// LoRA scaling numerator (16).
    pub lora_alpha: f64,
    /// Dropout on the LoRA input, in [0, 1) (0).
    pub lora_dropout: f64,
    /// Modules to adapt; empty means the architecture's default.
    pub targets: Vec<String>,
    /// Passes over the training data (1).
    pub epochs: u32,
    /// Stop after this many optimizer steps, if set.
    pub max_steps: Option<u64>,
    /// Peak learning rate (2e-4).
    pub lr: f64,
    /// Sequences per micro-batch (4).
    pub batch: u32,
    /// Micro-batches per optimizer step (1).
    pub grad_accum: u32,
    /// Tokens per sequence (256).
    pub seq_len: u32,
    /// Steps of linear warm-up (0).
    pub warmup_steps: u64,
    /// Decay after warm-up (cosine).
    pub schedule: Schedule,
    /// AdamW weight decay (0).
    pub weight_decay: f64,
    /// Gradient-norm clipping; 0 turns it off (1.0).
    pub max_grad_norm: f64,
    /// Seed of initialization, dropout and shuffling (0).
    pub seed: u64,
    /// Save a checkpoint every this many steps (10).
    pub checkpoint_every: u64,
    /// Checkpoints kept on disk (2).
    pub keep_checkpoints: u32,
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            lora_r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.0,
            targets: Vec::new(),
            epochs: 1,
            max_steps: None,
            lr: 2e-4,
            batch: 4,
            grad_accum: 1,
            seq_len: 256,
            warmup_steps: 0,
            schedule: Schedule::Cosine,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
            seed: 0,
            checkpoint_every: 10,
            keep_checkpoints: 2,
        }
    }
}

/// Hard limits: the run stops (and fails) when one is reached. Unset means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSpec {
    /// Optimizer steps.
    pub max_steps: Option<u64>,
    /// Training tokens processed.
    pub max_tokens: Option<u64>,
    /// Wall-clock seconds.
    pub max_wall_seconds: Option<u64>,
    /// Resident memory, in MiB.
    pub max_memory_mib: Option<u64>,
}

/// Where the fine-tuned model is registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterSpec {
    /// `catalog.schema.model`, without a version.
    pub model: String,
    /// Alias set on the new version (`challenger`).
    #[serde(default = "challenger")]
    pub alias: String,
    /// Tags on the new version.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// What the model is for, for its model card.
    #[serde(default)]
    pub intended_use: Option<String>,
    /// Known limitations, for its model card.
    #[serde(default)]
    pub limitations: Vec<String>,
}

/// The default alias of a newly registered version.
fn challenger() -> String {
    "challenger".to_owned()
}

/// What shapes training: the part of a spec that [`PipelineSpec::run_fingerprint`] covers.
#[derive(Serialize)]
struct RunShape<'a> {
    base: &'a BaseSpec,
    data: &'a DataSpec,
    train: &'a TrainSpec,
    limits: &'a LimitsSpec,
}

impl PipelineSpec {
    /// Parses and validates a pipeline file; TOML errors keep their line and column.
    pub fn parse(toml_text: &str) -> Result<Self> {
        let spec: Self = toml::from_str(toml_text).map_err(|e| {
            Error::Invalid(format!(
                "the pipeline file is not valid: {}",
                e.to_string().trim_end()
            ))
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks names, numbers, the alias, tag keys and gates, saying what to fix.
    pub fn validate(&self) -> Result<()> {
        check_label("name", &self.name)?;
        parse_reference("base.model", &self.base.model)?;
        parse_reference("data.train", &self.data.train)?;
        parse_reference("data.eval", &self.data.eval)?;
        self.train.validate()?;
        self.limits.validate()?;
        self.register.validate()?;
        match &self.gates {
            Some(gates) => gates.validate(),
            None => Ok(()),
        }
    }

    /// Hex SHA-256 of the whole spec's canonical JSON: equal specs have equal fingerprints.
    pub fn fingerprint(&self) -> String {
        sha256_json(self)
    }

    /// Hex SHA-256 of what shapes training only (base, data, train, limits): changing how the
    /// result is registered or gated does not change it, so a finished run can be reused.
    pub fn run_fingerprint(&self) -> String {
        sha256_json(&RunShape {
            base: &self.base,
            data: &self.data,
            train: &self.train,
            limits: &self.limits,
        })
    }
}

impl TrainSpec {
    /// Checks every hyperparameter's range.
    pub fn validate(&self) -> Result<()> {
        at_least("train.lora_r", self.lora_r.into(), 1)?;
        positive_number("train.lora_alpha", self.lora_alpha)?;
        let dropout = self.lora_dropout;
        if !(0.0..1.0).contains(&dropout) {
            return invalid(format!(
                "train.lora_dropout must be at least 0 and below 1, got {dropout}"
            ));
        }
        self.targets
            .iter()
            .try_for_each(|target| check_target(target))?;
        at_least("train.epochs", self.epochs.into(), 1)?;
        if let Some(steps) = self.max_steps {
            at_least("train.max_steps", steps, 1)?;
        }
        positive_number("train.lr", self.lr)?;
        at_least("train.batch", self.batch.into(), 1)?;
        at_least("train.grad_accum", self.grad_accum.into(), 1)?;
        at_least("train.seq_len", self.seq_len.into(), 2)?;
        non_negative_number("train.weight_decay", self.weight_decay)?;
        non_negative_number("train.max_grad_norm", self.max_grad_norm)?;
        at_least("train.checkpoint_every", self.checkpoint_every, 1)?;
        at_least("train.keep_checkpoints", self.keep_checkpoints.into(), 1)
    }
}

impl LimitsSpec {
    /// Each limit, when set, must be above zero.
    pub fn validate(&self) -> Result<()> {
        let limits = [
            ("limits.max_steps", self.max_steps),
            ("limits.max_tokens", self.max_tokens),
            ("limits.max_wall_seconds", self.max_wall_seconds),
            ("limits.max_memory_mib", self.max_memory_mib),
        ];
        limits
            .into_iter()
            .filter_map(|(field, value)| value.map(|value| (field, value)))
            .try_for_each(|(field, value)| at_least(field, value, 1))
    }
}

impl RegisterSpec {
    /// Checks the model name (three parts, no version), the alias and the tag keys.
    pub fn validate(&self) -> Result<()> {
        if self.model.contains('@') {
            return invalid(format!(
                "register.model names a model, not a version: write {:?} without \"@...\"",
                self.model.split('@').next().unwrap_or_default()
            ));
        }
        three_part_name("register.model", &self.model)?;
        check_label("register.alias", &self.alias)?;
        self.tags
            .keys()
            .try_for_each(|key| check_label("register.tags key", key))
    }
}

/// Splits `catalog.schema.object[@version]` into the name and the version (`None` for no `@`).
/// `field` names the setting in error messages.
pub fn parse_reference(field: &str, text: &str) -> Result<(FullName, Option<String>)> {
    let (name, version) = match text.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (text, None),
    };
    let name = three_part_name(field, name)?;
    if let Some(version) = version {
        check_version(field, version)?;
    }
    Ok((name, version.map(str::to_owned)))
}

/// Parses a `catalog.schema.object` name.
fn three_part_name(field: &str, text: &str) -> Result<FullName> {
    let name: FullName = text
        .parse()
        .map_err(|e| Error::Invalid(format!("{field}: {e}")))?;
    if name.depth() != 3 {
        return invalid(format!(
            "{field} must name an object as catalog.schema.name, got {text:?}"
        ));
    }
    Ok(name)
}

/// A version after `@`: 1 to 64 of letters, digits, `.`, `_` and `-`.
fn check_version(field: &str, version: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if version.is_empty() || version.len() > 64 || !version.chars().all(allowed) {
        return invalid(format!(
            "{field} has an invalid version {version:?}: write a version number, a tag like v2, or latest"
        ));
    }
    Ok(())
}

/// Letters, digits, `_` and `-`, starting with a letter, at most 64 characters.
pub fn is_label(text: &str) -> bool {
    let mut chars = text.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    starts_with_letter
        && text.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_label(field: &str, text: &str) -> Result<()> {
    if is_label(text) {
        return Ok(());
    }
    invalid(format!(
        "{field} {text:?} is not valid: use letters, digits, '_' and '-', starting with a letter, at most 64 characters"
    ))
}

/// A target module name: non-empty, no spaces (e.g. `q_proj`, `attn.c_attn`).
fn check_target(target: &str) -> Result<()> {
    if target.is_empty() || target.chars().any(char::is_whitespace) {
        return invalid(format!(
            "train.targets has an invalid module name {target:?}: write names like \"q_proj\", or leave targets empty for the architecture's default"
        ));
    }
    Ok(())
}

fn at_least(field: &str, value: u64, min: u64) -> Result<()> {
    if value >= min {
        return Ok(());
    }
    invalid(format!("{field} must be at least {min}, got {value}"))
}

fn positive_number(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        return Ok(());
    }
    invalid(format!("{field} must be a positive number, got {value}"))
}

fn non_negative_number(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        return Ok(());
    }
    invalid(format!("{field} must be a number >= 0, got {value}"))
}

fn invalid<T>(message: String) -> Result<T> {
    Err(Error::Invalid(message))
}

/// Hex SHA-256 of `value`'s JSON. Struct fields serialize in declaration order and maps are
/// `BTreeMap`s, so the JSON is canonical.
fn sha256_json(value: &impl Serialize) -> String {
    // These types always serialize (string keys, derived impls), so the fallback is never taken.
    let json = serde_json::to_vec(value).unwrap_or_default();
    to_hex(digest::digest(&digest::SHA256, &json).as_ref())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "support"
base = { model = "dev.models.base@1" }
data = { train = "dev.data.tickets@v2", eval = "dev.data.tickets_eval@v1" }
register = { model = "dev.models.support" }
"#;

    fn minimal() -> PipelineSpec {
        PipelineSpec::parse(MINIMAL).unwrap()
    }

    fn refused(spec: &PipelineSpec) -> String {
        spec.validate().unwrap_err().to_string()
    }

    #[test]
    fn minimal_file_takes_the_defaults() {
        let spec = minimal();
        assert_eq!(spec.train, TrainSpec::default());
        assert_eq!(spec.limits, LimitsSpec::default());
        assert_eq!(spec.gates, None);
        assert_eq!(spec.register.alias, "challenger");
        assert!(spec.register.tags.is_empty());
        assert_eq!(spec.train.schedule, Schedule::Cosine);
        assert_eq!(spec.train.lr, 2e-4);
    }

    #[test]
    fn example_file_parses() {
        let spec = PipelineSpec::parse(include_str!("../../../examples/pipeline.toml")).unwrap();
        assert_eq!(spec.register.model, "dev.support.assistant");
        assert!(spec.gates.is_some());
        assert!(!spec.register.tags.is_empty());
    }

    #[test]
    fn toml_errors_keep_line_and_column() {
        let err = PipelineSpec::parse("name = \"x\"\nbase = [\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("the pipeline file is not valid: "), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let typo = format!("{MINIMAL}\n[train]\nlearning_rate = 0.1\n");
        let err = PipelineSpec::parse(&typo).unwrap_err().to_string();
        assert!(err.contains("learning_rate"), "{err}");
        let typo = format!("{MINIMAL}\n[limits]\nmax_hours = 1\n");
        assert!(PipelineSpec::parse(&typo).is_err());
    }

    #[test]
    fn references_split_their_version() {
        let (name, version) = parse_reference("base.model", "dev.models.base@1").unwrap();
        assert_eq!(
            (name.to_string(), version.as_deref()),
            ("dev.models.base".into(), Some("1"))
        );
        let (_, version) = parse_reference("base.model", "dev.models.base").unwrap();
        assert_eq!(version, None);
        let (_, version) = parse_reference("base.model", "dev.models.base@latest").unwrap();
        assert_eq!(version.as_deref(), Some("latest"));
        for bad in [
            "dev.models",
            "dev.models.base@",
            "dev.models.base@1@2",
            "Dev.m.b",
            "dev.m.b@a b",
        ] {
            assert!(parse_reference("base.model", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_must_be_three_parts() {
        let mut spec = minimal();
        spec.data.eval = "dev.data".into();
        assert_eq!(
            refused(&spec),
            "data.eval must name an object as catalog.schema.name, got \"dev.data\""
        );
        let mut spec = minimal();
        spec.register.model = "dev.models.support@2".into();
        assert!(refused(&spec).contains("without \"@...\""));
        let mut spec = minimal();
        spec.base.model = "dev.Models.base".into();
        assert!(refused(&spec).starts_with("base.model: invalid name"));
        let mut spec = minimal();
        spec.name = "my pipeline".into();
        assert!(refused(&spec).starts_with("name \"my pipeline\" is not valid"));
    }

    /// A change to the training settings.
    type Mutation = fn(&mut TrainSpec);

    #[test]
    fn numbers_out_of_range_are_refused() {
        let cases: [(&str, Mutation); 13] = [
            ("train.lr must be a positive number, got -1", |t| {
                t.lr = -1.0
            }),
            ("train.lr must be a positive number, got NaN", |t| {
                t.lr = f64::NAN
            }),
            ("train.lora_r must be at least 1, got 0", |t| t.lora_r = 0),
            ("train.batch must be at least 1, got 0", |t| t.batch = 0),
            ("train.grad_accum must be at least 1, got 0", |t| {
                t.grad_accum = 0
            }),
            ("train.seq_len must be at least 2, got 1", |t| t.seq_len = 1),
            ("train.epochs must be at least 1, got 0", |t| t.epochs = 0),
            ("train.keep_checkpoints must be at least 1, got 0", |t| {
                t.keep_checkpoints = 0
            }),
            ("train.checkpoint_every must be at least 1, got 0", |t| {
                t.checkpoint_every = 0
            }),
            ("train.max_steps must be at least 1, got 0", |t| {
                t.max_steps = Some(0)
            }),
            (
                "train.lora_dropout must be at least 0 and below 1, got 1",
                |t| t.lora_dropout = 1.0,
            ),
            ("train.max_grad_norm must be a number >= 0, got -1", |t| {
                t.max_grad_norm = -1.0
            }),
            ("train.targets has an invalid module name", |t| {
                t.targets = vec![String::new()]
            }),
        ];
        for (expected, mutate) in cases {
            let mut spec = minimal();
            mutate(&mut spec.train);
            let err = refused(&spec);
            assert!(err.starts_with(expected), "{err}");
        }
        let mut spec = minimal();
        spec.train.lora_dropout = 0.1;
        spec.train.max_grad_norm = 0.0;
        spec.validate().unwrap();
    }

    #[test]
    fn limits_must_be_positive_when_set() {
        let mut spec = minimal();
        spec.limits.max_wall_seconds = Some(0);
        assert_eq!(
            refused(&spec),
            "limits.max_wall_seconds must be at least 1, got 0"
        );
        spec.limits.max_wall_seconds = Some(60);
        spec.validate().unwrap();
    }

    #[test]
    fn alias_tags_and_gates_are_checked() {
        let mut spec = minimal();
        spec.register.alias = "9lives".into();
        assert!(refused(&spec).starts_with("register.alias \"9lives\" is not valid"));
        let mut spec = minimal();
        spec.register.alias = "a".repeat(65);
        assert!(spec.validate().is_err());
        let mut spec = minimal();
        spec.register.tags.insert("team name".into(), "x".into());
        assert!(refused(&spec).starts_with("register.tags key \"team name\""));
        let mut spec = minimal();
        spec.gates = Some(GatePolicy {
            max_eval_loss: -1.0,
            ..GatePolicy::default()
        });
        assert!(refused(&spec).starts_with("gates.max_eval_loss"));
    }

    #[test]
    fn gates_table_takes_defaults_for_absent_fields() {
        let spec =
            PipelineSpec::parse(&format!("{MINIMAL}\n[gates]\nmax_perplexity = 8\n")).unwrap();
        assert_eq!(
            spec.gates,
            Some(GatePolicy {
                max_perplexity: 8.0,
                ..GatePolicy::default()
            })
        );
    }

    #[test]
    fn fingerprints_follow_content() {
        let spec = minimal();
        let same = PipelineSpec::parse(&MINIMAL.replace("\"support\"", "'support'")).unwrap();
        assert_eq!(spec.fingerprint(), same.fingerprint());
        assert_eq!(spec.fingerprint().len(), 64);
        assert!(spec.fingerprint().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(spec.fingerprint(), spec.run_fingerprint());

        let mut tagged = spec.clone();
        tagged.register.tags.insert("team".into(), "support".into());
        tagged.gates = Some(GatePolicy::default());
        assert_ne!(tagged.fingerprint(), spec.fingerprint());
        assert_eq!(tagged.run_fingerprint(), spec.run_fingerprint());

        let mut retrained = spec.clone();
        retrained.train.seed = 1;
        assert_ne!(retrained.run_fingerprint(), spec.run_fingerprint());
        let mut limited = spec.clone();
        limited.limits.max_steps = Some(5);
        assert_ne!(limited.run_fingerprint(), spec.run_fingerprint());
    }

    #[test]
    fn explicit_defaults_fingerprint_like_omitted_ones() {
        let explicit = format!("{MINIMAL}\n[train]\nlr = 0.0002\nschedule = \"cosine\"\n");
        let explicit = PipelineSpec::parse(&explicit).unwrap();
        assert_eq!(explicit.run_fingerprint(), minimal().run_fingerprint());
    }
}
