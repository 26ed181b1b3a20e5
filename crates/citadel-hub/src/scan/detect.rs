//! Format detection: what a file is, from its name's extension and its first bytes.

use super::{safetensors, torch, FileFormat};

/// How many leading bytes detection looks at (enough for a PE header's offset and a text sniff).
pub(crate) const HEAD_LEN: usize = 4096;

/// Which scanner a file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Safetensors,
    Json,
    /// Source or a compiled binary: refused whatever it contains.
    Code {
        format: FileFormat,
        what: &'static str,
    },
    /// Text or a tokenizer model: nothing to check.
    Plain(FileFormat),
    TorchZip,
    TorchLegacy,
    Pickle,
    Unrecognized,
}

/// Extensions `torch.load`, `pickle.load` or joblib read: their content is unpickled, so whatever
/// it is must parse as a pickle.
const PICKLE_EXTENSIONS: &[&str] = &[
    "bin", "pt", "pth", "ckpt", "pkl", "pickle", "joblib", "dill", "dat", "data",
];
const SCRIPT_EXTENSIONS: &[&str] = &["py", "sh", "bash", "zsh", "bat", "cmd", "ps1"];
const BINARY_CODE_EXTENSIONS: &[&str] = &["pyc", "pyo", "pyd", "so", "dll", "dylib", "exe"];
const TEXT_EXTENSIONS: &[&str] = &["md", "txt", "yaml", "yml", "jinja", "csv", "tsv"];

pub(crate) fn detect(name: &str, head: &[u8]) -> Kind {
    let file_name = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    let extension = extension.as_str();
    match extension {
        "safetensors" => return Kind::Safetensors,
        "json" => return Kind::Json,
        _ if SCRIPT_EXTENSIONS.contains(&extension) => {
            return Kind::Code {
                format: FileFormat::Text,
                what: "a script",
            }
        }
        _ if BINARY_CODE_EXTENSIONS.contains(&extension) => {
            return Kind::Code {
                format: FileFormat::Unknown,
                what: "compiled code",
            }
        }
        _ if TEXT_EXTENSIONS.contains(&extension) => return Kind::Plain(FileFormat::Text),
        _ => {}
    }
    if head.starts_with(torch::ZIP_MAGIC) {
        return Kind::TorchZip;
    }
    if torch::is_legacy(head) {
        return Kind::TorchLegacy;
    }
    if let Some(what) = executable_magic(head) {
        return Kind::Code {
            format: FileFormat::Unknown,
            what,
        };
    }
    if head.starts_with(b"#!") {
        return Kind::Code {
            format: FileFormat::Text,
            what: "a script",
        };
    }
    let pickle_proto = matches!(head, [0x80, 0..=5, ..]);
    if pickle_proto || PICKLE_EXTENSIONS.contains(&extension) {
        return Kind::Pickle;
    }
    if safetensors::looks_like(head) {
        return Kind::Safetensors;
    }
    // A SentencePiece `tokenizer.model` is a protobuf read by SentencePiece, never unpickled.
    if extension == "model" {
        return Kind::Plain(FileFormat::Unknown);
    }
    if looks_like_text(head) {
        return Kind::Plain(FileFormat::Text);
    }
    Kind::Unrecognized
}

/// ELF, PE (checked through its `PE\0\0` signature, since `MZ` alone is two common bytes) and
/// Mach-O (including fat binaries, whose magic Java class files share: both are code).
fn executable_magic(head: &[u8]) -> Option<&'static str> {
    match head {
        [0x7f, b'E', b'L', b'F', ..] => return Some("an ELF binary"),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf, ..]
        | [0xce | 0xcf, 0xfa, 0xed, 0xfe, ..]
        | [0xca, 0xfe, 0xba, 0xbe, ..] => return Some("a Mach-O binary"),
        _ => {}
    }
    let pe_offset = head
        .get(0x3c..0x40)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u32::from_le_bytes)?;
    let pe_offset = usize::try_from(pe_offset).ok()?;
    let signature = head.get(pe_offset..pe_offset.checked_add(4)?)?;
    (head.starts_with(b"MZ") && signature == b"PE\0\0").then_some("a Windows executable")
}

/// No NUL and valid UTF-8, allowing a character cut at the end of the sample.
fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_then_magic() {
        assert_eq!(detect("model.safetensors", b"anything"), Kind::Safetensors);
        assert_eq!(detect("dir/config.JSON", b"{}"), Kind::Json);
        assert!(matches!(
            detect("modeling.py", b"import os"),
            Kind::Code {
                format: FileFormat::Text,
                ..
            }
        ));
        assert!(matches!(
            detect("lib/x.so", b"\x7fELF"),
            Kind::Code {
                format: FileFormat::Unknown,
                ..
            }
        ));
        assert_eq!(
            detect("merges.txt", b"#version: 0.2\n"),
            Kind::Plain(FileFormat::Text)
        );
        assert_eq!(
            detect("pytorch_model.bin", b"PK\x03\x04rest"),
            Kind::TorchZip
        );
        assert_eq!(
            detect("pytorch_model.bin", b"\x80\x02}q\x00."),
            Kind::Pickle
        );
        assert_eq!(detect("pytorch_model.bin", b"garbage"), Kind::Pickle);
        assert_eq!(detect("weights", b"\x80\x04\x95"), Kind::Pickle);
        assert_eq!(
            detect("tokenizer.model", b"\x0a\x0b\x00\x01"),
            Kind::Plain(FileFormat::Unknown)
        );
        assert_eq!(detect("gensim.model", b"\x80\x04\x95"), Kind::Pickle);
        assert_eq!(
            detect("README", b"# Model card\n"),
            Kind::Plain(FileFormat::Text)
        );
        assert_eq!(
            detect(".gitattributes", b"*.bin filter=lfs\n"),
            Kind::Plain(FileFormat::Text)
        );
        assert_eq!(
            detect("model.onnx", b"\x08\x07\x12\x00\xff"),
            Kind::Unrecognized
        );
        assert!(matches!(detect("run", b"#!/bin/sh\n"), Kind::Code { .. }));
        assert!(matches!(
            detect("tool", b"\x7fELF\x02\x01"),
            Kind::Code { .. }
        ));
    }

    #[test]
    fn pe_needs_its_signature() {
        let mut pe = vec![0u8; 0x80];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert!(executable_magic(&pe).is_some());
        pe[0x40] = b'X';
        assert!(executable_magic(&pe).is_none());
        assert!(executable_magic(b"MZ").is_none());
    }
}
