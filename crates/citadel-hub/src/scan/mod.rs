//! Content scanners for model files: safetensors headers, pickle opcodes (raw pickles, zip-based
//! and legacy PyTorch files), and the other files a model repository holds (JSON, text, code).
//!
//! A scanner reads headers and walks opcodes; it never loads weights or runs anything. Malformed
//! content is a finding, never an error or a panic: only I/O failures are errors. A file the
//! scanner cannot parse is reported as dangerous, never as clean.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{HubError, Result};

mod detect;
mod globals;
mod pickle;
mod safetensors;
mod torch;

pub use pickle::scan_pickle_bytes;
pub use safetensors::{safetensors_prefix_len, scan_safetensors_prefix, SAFETENSORS_MAX_HEADER};

/// How bad a finding is. High and Critical are dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// The summary of a file's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Clean,
    Suspicious,
    Dangerous,
}

impl Verdict {
    /// Dangerous if any finding is High or worse, Suspicious if any is Medium, else Clean.
    pub fn from_findings(findings: &[Finding]) -> Self {
        match findings.iter().map(|finding| finding.severity).max() {
            Some(Severity::High | Severity::Critical) => Self::Dangerous,
            Some(Severity::Medium) => Self::Suspicious,
            _ => Self::Clean,
        }
    }

    pub fn is_dangerous(self) -> bool {
        self == Self::Dangerous
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Suspicious => "suspicious",
            Self::Dangerous => "dangerous",
        }
    }
}

/// What a file turned out to be, from its name and its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Safetensors,
    Pickle,
    TorchZip,
    TorchLegacy,
    Json,
    Text,
    Unknown,
}

/// One thing a scanner noticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable identifier, e.g. `pickle.dangerous_global`.
    pub rule: String,
    /// One line a person understands, naming the import or the offset.
    pub message: String,
    /// Where: a member inside a zip (`archive/data.pkl`) or `byte 1234`.
    pub location: Option<String>,
}

/// The result of scanning one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileScan {
    /// The name the caller gave.
    pub path: String,
    pub format: FileFormat,
    pub size: u64,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

/// Scans one local file; `name` is the name to report (a relative path with '/'). The format
/// comes from the extension and the magic bytes: a `.bin` may be a zip-based PyTorch file, a
/// legacy PyTorch file or a raw pickle. Only I/O failures are errors ([`HubError::Io`]).
///
/// Memory stays bounded: a safetensors file is read up to the end of its header, pickles are
/// streamed, zip members are decompressed as they are walked.
pub fn scan_file(path: &Path, name: &str) -> Result<FileScan> {
    let io_error = |source: io::Error| HubError::io(path, source);
    let mut file = File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    let mut head = Vec::with_capacity(detect::HEAD_LEN);
    (&mut file)
        .take(detect::HEAD_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io_error)?;
    file.rewind().map_err(io_error)?;

    let mut findings = Findings::default();
    let format = match detect::detect(name, &head) {
        detect::Kind::Safetensors => {
            safetensors::scan_reader(&mut file, size, &mut findings).map_err(io_error)?;
            FileFormat::Safetensors
        }
        detect::Kind::Json => {
            if let Err(error) =
                serde_json::from_reader::<_, serde::de::IgnoredAny>(BufReader::new(&mut file))
            {
                if error.is_io() {
                    return Err(io_error(error.into()));
                }
                findings.push(
                    Severity::Medium,
                    "json.invalid",
                    format!("not valid JSON: {error}"),
                    None,
                );
            }
            FileFormat::Json
        }
        detect::Kind::Code { format, what } => {
            findings.push(
                Severity::High,
                "code.executable",
                format!("executable code ({what}): models must not ship code"),
                None,
            );
            format
        }
        detect::Kind::Plain(format) => format,
        detect::Kind::TorchZip => {
            torch::scan_zip(BufReader::new(file), &mut findings);
            FileFormat::TorchZip
        }
        detect::Kind::TorchLegacy => {
            pickle::scan_stream(
                BufReader::new(file),
                pickle::Mode::Legacy,
                None,
                &mut findings,
            )
            .map_err(io_error)?;
            FileFormat::TorchLegacy
        }
        detect::Kind::Pickle => {
            pickle::scan_stream(
                BufReader::new(file),
                pickle::Mode::Stream,
                None,
                &mut findings,
            )
            .map_err(io_error)?;
            FileFormat::Pickle
        }
        detect::Kind::Unrecognized => {
            findings.push(
                Severity::Info,
                "file.unrecognized",
                "a binary file of no format this scanner knows: not scanned",
                None,
            );
            FileFormat::Unknown
        }
    };
    let findings = findings.finish();
    Ok(FileScan {
        path: name.to_owned(),
        format,
        size,
        verdict: Verdict::from_findings(&findings),
        findings,
    })
}

/// The findings of one scan. At most [`Findings::PER_RULE`] are kept per rule and the rest are
/// counted into one summary, so a crafted file with a million bad entries gives a readable
/// report in bounded memory.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    kept: Vec<Finding>,
    /// Per rule: how many were pushed, and the worst severity among those dropped.
    counts: Vec<(&'static str, usize, Option<Severity>)>,
}

impl Findings {
    const PER_RULE: usize = 20;

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        rule: &'static str,
        message: impl Into<String>,
        location: Option<String>,
    ) {
        let index = match self.counts.iter().position(|(r, _, _)| *r == rule) {
            Some(index) => index,
            None => {
                self.counts.push((rule, 0, None));
                self.counts.len() - 1
            }
        };
        let Some((_, count, worst_dropped)) = self.counts.get_mut(index) else {
            return;
        };
        *count += 1;
        if *count > Self::PER_RULE {
            *worst_dropped = (*worst_dropped).max(Some(severity));
            return;
        }
        self.kept.push(Finding {
            severity,
            rule: rule.to_owned(),
            message: message.into(),
            location,
        });
    }

    pub(crate) fn finish(mut self) -> Vec<Finding> {
        for (rule, count, worst_dropped) in self.counts {
            if let Some(severity) = worst_dropped {
                self.kept.push(Finding {
                    severity,
                    rule: rule.to_owned(),
                    message: format!(
                        "{} more findings of this rule were not listed",
                        count.saturating_sub(Self::PER_RULE)
                    ),
                    location: None,
                });
            }
        }
        self.kept
    }
}

#[cfg(test)]
mod tests;
