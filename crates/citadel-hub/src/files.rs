//! The file policy: which files of a model repository or folder may enter the store. Weights in
//! safetensors, configs, tokenizers, docs and licences pass; pickle weights pass only when asked
//! for (and scanned clean); code and configs that ask for remote code never do; names that could
//! escape a folder or collide on a case-insensitive file system are refused outright.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::{HubError, Result};

/// The longest relative path accepted.
const MAX_PATH_LEN: usize = 1024;
/// Config files are parsed in memory: larger ones are refused.
pub const MAX_CONFIG_SIZE: u64 = 64 * 1024 * 1024;

/// What a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    /// `*.safetensors`
    Weights,
    /// `model.safetensors.index.json` and other shard indexes.
    WeightsIndex,
    /// `config.json`, `generation_config.json`, `adapter_config.json`.
    Config,
    /// `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`, `vocab.json`,
    /// `merges.txt`, `tokenizer.model`, `added_tokens.json`.
    Tokenizer,
    /// `README.md` and licence files.
    Docs,
    /// `*.bin`, `*.pt`, `*.pth`, `*.pkl`, `*.ckpt`: executable on load, refused unless allowed.
    Pickle,
}

/// What the policy decided for one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Stored.
    Accept { role: FileRole },
    /// Left out: not a file a model needs (e.g. `.gitattributes`, ONNX or TensorFlow exports,
    /// or pickle weights when safetensors are there and pickles were not allowed).
    Skip { reason: String },
}

/// Options of the policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyOptions {
    /// Accept pickle weights (each must then scan clean).
    pub allow_pickle: bool,
}

/// A listing after the policy: what is taken and what is left out, by path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Selection {
    pub accepted: Vec<(String, FileRole)>,
    pub skipped: Vec<(String, String)>,
}

/// Checks that `path` is a plain relative path inside the model folder.
pub fn check_path(path: &str) -> Result<()> {
    let refuse = |reason: &str| {
        Err(HubError::Refused {
            path: printable(path),
            reason: reason.to_owned(),
        })
    };
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return refuse("the name is empty or longer than 1024 bytes");
    }
    if path.chars().any(|c| c.is_control()) {
        return refuse("the name holds control characters");
    }
    if path.contains('\\') {
        return refuse("backslashes are not allowed in names");
    }
    if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
        return refuse("absolute paths are not allowed");
    }
    if path
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return refuse("path traversal: empty, '.' and '..' segments are not allowed");
    }
    Ok(())
}

/// The role of a file by its name, or why it is refused or skipped. `Err` means the whole model
/// is refused (code); `Ok(Skip)` leaves one file out.
pub fn classify(path: &str, options: PolicyOptions) -> Result<Decision> {
    check_path(path)?;
    let file = path.rsplit('/').next().unwrap_or(path);
    let lower = file.to_ascii_lowercase();
    let extension = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if matches!(
        extension,
        "py" | "pyc" | "pyo" | "pyd" | "so" | "dll" | "dylib" | "sh" | "exe" | "ipynb"
    ) {
        return Err(HubError::Refused {
            path: path.to_owned(),
            reason: "models must not ship code (Citadel never runs a model's own code)".into(),
        });
    }
    let role = match (lower.as_str(), extension) {
        (_, "safetensors") => FileRole::Weights,
        (name, "json") if name.ends_with(".safetensors.index.json") => FileRole::WeightsIndex,
        ("config.json" | "generation_config.json" | "adapter_config.json", _) => FileRole::Config,
        (
            "tokenizer.json"
            | "tokenizer_config.json"
            | "special_tokens_map.json"
            | "vocab.json"
            | "added_tokens.json"
            | "merges.txt"
            | "tokenizer.model",
            _,
        ) => FileRole::Tokenizer,
        ("readme.md", _) => FileRole::Docs,
        (name, _) if is_licence(name) => FileRole::Docs,
        (_, "bin" | "pt" | "pth" | "pkl" | "pickle" | "ckpt") => {
            if !options.allow_pickle {
                return Ok(Decision::Skip {
                    reason: "pickle weights run code when loaded: pass --allow-pickle to take \
                             them (they must then scan clean)"
                        .into(),
                });
            }
            FileRole::Pickle
        }
        _ => {
            return Ok(Decision::Skip {
                reason: "not on the allow-list of model files".into(),
            })
        }
    };
    Ok(Decision::Accept { role })
}

fn is_licence(lower_name: &str) -> bool {
    let stem = lower_name.split('.').next().unwrap_or(lower_name);
    matches!(
        stem,
        "license" | "licence" | "copying" | "notice" | "use_policy" | "responsible_use_guide"
    ) || stem.starts_with("license-")
        || stem.starts_with("license_")
}

/// Applies the policy to a whole listing: refuses traversal names, case-insensitive collisions
/// and code; refuses a model with pickle weights only when it has no safetensors weights and
/// pickles were not allowed (so the error says how to proceed).
pub fn select<'a>(
    paths: impl IntoIterator<Item = &'a str>,
    options: PolicyOptions,
) -> Result<Selection> {
    let mut folded: BTreeMap<String, String> = BTreeMap::new();
    let mut selection = Selection::default();
    let mut skipped_pickles = 0usize;
    for path in paths {
        check_path(path)?;
        if let Some(previous) = folded.insert(path.to_lowercase(), path.to_owned()) {
            return Err(HubError::Refused {
                path: path.to_owned(),
                reason: format!(
                    "its name collides with {previous} on a case-insensitive file system"
                ),
            });
        }
        match classify(path, options)? {
            Decision::Accept { role } => selection.accepted.push((path.to_owned(), role)),
            Decision::Skip { reason } => {
                if reason.starts_with("pickle") {
                    skipped_pickles += 1;
                }
                selection.skipped.push((path.to_owned(), reason));
            }
        }
    }
    let has_weights = selection
        .accepted
        .iter()
        .any(|(_, role)| matches!(role, FileRole::Weights | FileRole::Pickle));
    if !has_weights {
        let reason = if skipped_pickles > 0 {
            "the model has only pickle weights, which run code when loaded: convert them to \
             safetensors, or pass --allow-pickle to take them after a scan"
        } else {
            "the model has no weights (*.safetensors)"
        };
        return Err(HubError::Refused {
            path: "(model)".into(),
            reason: reason.into(),
        });
    }
    Ok(selection)
}

/// Whether `path` is a JSON file, which [`check_json_config`] must pass before it is stored
/// (configs, tokenizer files, shard indexes) and which is fetched before any weight.
pub fn is_json(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".json")
}

/// Refuses a JSON config that asks for remote code (`auto_map`, at the top level or under
/// `tokenizer_config`-style nesting) or that does not parse.
pub fn check_json_config(path: &str, bytes: &[u8]) -> Result<()> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| HubError::Refused {
        path: path.to_owned(),
        reason: format!("not valid JSON: {e}"),
    })?;
    if find_key(&value, "auto_map", 2) {
        return Err(HubError::Refused {
            path: path.to_owned(),
            reason: "auto_map asks for the model's own Python code (remote code), which \
                     Citadel never runs"
                .into(),
        });
    }
    Ok(())
}

/// Whether `key` appears in `value`'s objects down to `depth` levels.
fn find_key(value: &Value, key: &str, depth: usize) -> bool {
    match value {
        Value::Object(map) => {
            map.contains_key(key)
                || (depth > 0 && map.values().any(|v| find_key(v, key, depth - 1)))
        }
        _ => false,
    }
}

/// A name safe to print in an error (control characters escaped).
fn printable(path: &str) -> String {
    path.chars()
        .flat_map(char::escape_debug)
        .take(200)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn refused(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(HubError::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn traversal_and_absolute_names_are_refused() {
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "/abs/model.safetensors",
            "C:/x.safetensors",
            "a//b.json",
            "./config.json",
            "a\\b.json",
            "",
            "bad\u{0}name",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} passed");
        }
        check_path("onnx/model.safetensors").unwrap();
    }

    #[test]
    fn roles_follow_the_allow_list() {
        let options = PolicyOptions::default();
        let role = |p| match classify(p, options).unwrap() {
            Decision::Accept { role } => Some(role),
            Decision::Skip { .. } => None,
        };
        assert_eq!(
            role("model-00001-of-00002.safetensors"),
            Some(FileRole::Weights)
        );
        assert_eq!(
            role("model.safetensors.index.json"),
            Some(FileRole::WeightsIndex)
        );
        assert_eq!(role("config.json"), Some(FileRole::Config));
        assert_eq!(role("tokenizer.model"), Some(FileRole::Tokenizer));
        assert_eq!(role("LICENSE"), Some(FileRole::Docs));
        assert_eq!(role("LICENSE.txt"), Some(FileRole::Docs));
        assert_eq!(role(".gitattributes"), None);
        assert_eq!(role("pytorch_model.bin"), None);
        assert_eq!(role("tf_model.h5"), None);
        let allowed = PolicyOptions { allow_pickle: true };
        assert_eq!(
            classify("pytorch_model.bin", allowed).unwrap(),
            Decision::Accept {
                role: FileRole::Pickle
            }
        );
    }

    #[test]
    fn code_is_refused_whatever_the_options() {
        let allowed = PolicyOptions { allow_pickle: true };
        assert!(refused(classify("modeling_evil.py", allowed)).contains("code"));
        assert!(refused(classify("sub/lib.SO", allowed)).contains("code"));
    }

    #[test]
    fn selections_refuse_collisions_and_pickle_only_models() {
        let options = PolicyOptions::default();
        let reason = refused(select(
            ["Config.json", "config.json", "m.safetensors"],
            options,
        ));
        assert!(reason.contains("collides"), "{reason}");
        let reason = refused(select(["config.json", "pytorch_model.bin"], options));
        assert!(reason.contains("--allow-pickle"), "{reason}");
        let selection = select(
            [
                "config.json",
                "model.safetensors",
                "pytorch_model.bin",
                ".gitattributes",
            ],
            options,
        )
        .unwrap();
        assert_eq!(selection.accepted.len(), 2);
        assert_eq!(selection.skipped.len(), 2);
    }

    #[test]
    fn remote_code_configs_are_refused() {
        let reason = refused(check_json_config(
            "config.json",
            br#"{"model_type":"x","auto_map":{"AutoModel":"modeling_x.X"}}"#,
        ));
        assert!(reason.contains("remote code"));
        assert!(check_json_config(
            "tokenizer_config.json",
            br#"{"nested":{"auto_map":{"AutoTokenizer":["t.T",null]}}}"#
        )
        .is_err());
        assert!(check_json_config("config.json", b"{not json").is_err());
        check_json_config("config.json", br#"{"model_type":"llama"}"#).unwrap();
    }

    #[test]
    fn only_json_files_are_checked_as_json() {
        assert!(is_json("config.json") && is_json("sub/Tokenizer_Config.JSON"));
        // GPT-2 tokenizers ship merges.txt and sentencepiece models ship tokenizer.model.
        assert!(!is_json("merges.txt") && !is_json("tokenizer.model"));
    }
}
