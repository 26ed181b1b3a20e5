//! Tests of `scan_file` on crafted files in a temporary folder: format detection, each scanner
//! end to end, and the report types.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::pickle::tests::{global_call, state_dict};
use super::*;

fn scan(name: &str, bytes: &[u8]) -> FileScan {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    std::fs::write(&path, bytes).unwrap();
    scan_file(&path, name).unwrap()
}

fn rules(scan: &FileScan) -> Vec<&str> {
    scan.findings.iter().map(|f| f.rule.as_str()).collect()
}

/// A zip-based PyTorch file: `archive/data.pkl` and one storage, as `torch.save` lays them out.
fn torch_zip(data_pkl: &[u8], method: CompressionMethod) -> Vec<u8> {
    zip_of(
        &[
            ("archive/data.pkl", data_pkl),
            ("archive/data/0", &[0u8; 32]),
            ("archive/version", b"3\n"),
        ],
        method,
    )
}

fn zip_of(members: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

#[test]
fn zip_based_pytorch_files() {
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let clean = scan("pytorch_model.bin", &torch_zip(&state_dict(2), method));
        assert_eq!(clean.format, FileFormat::TorchZip);
        assert_eq!(clean.findings, []);
        assert_eq!(clean.verdict, Verdict::Clean);

        let evil = scan(
            "pytorch_model.bin",
            &torch_zip(&global_call("os", "system"), method),
        );
        assert_eq!(evil.verdict, Verdict::Dangerous);
        assert_eq!(rules(&evil), ["pickle.dangerous_global"]);
        assert_eq!(
            evil.findings[0].location.as_deref(),
            Some("archive/data.pkl")
        );
        assert!(evil.findings[0].message.contains("os.system"));
    }
    // Any top folder, any `.pkl` member.
    let bytes = zip_of(
        &[
            ("model/data.pkl", &state_dict(4)),
            ("model/extra.pkl", &global_call("mylib", "X")),
        ],
        CompressionMethod::Stored,
    );
    let scanned = scan("model.pt", &bytes);
    assert_eq!(rules(&scanned), ["pickle.unknown_global"]);
    assert_eq!(
        scanned.findings[0].location.as_deref(),
        Some("model/extra.pkl")
    );
}

#[test]
fn zip_archive_problems() {
    let none = scan(
        "model.pt",
        &zip_of(&[("archive/data/0", &[1u8; 8])], CompressionMethod::Stored),
    );
    assert_eq!(rules(&none), ["torch.no_pickle"]);
    assert_eq!(none.findings[0].severity, Severity::Info);
    assert_eq!(none.verdict, Verdict::Clean);

    let traversal = zip_of(
        &[
            ("archive/data.pkl", &state_dict(2)),
            ("../../etc/cron.d/x", b"x"),
        ],
        CompressionMethod::Stored,
    );
    let scanned = scan("model.pt", &traversal);
    assert_eq!(rules(&scanned), ["zip.path_traversal"]);
    assert_eq!(scanned.verdict, Verdict::Dangerous);
    let absolute = zip_of(
        &[("/archive/data.pkl", &state_dict(2))],
        CompressionMethod::Stored,
    );
    assert_eq!(rules(&scan("model.pt", &absolute)), ["zip.path_traversal"]);

    let broken_member = scan(
        "model.pt",
        &torch_zip(b"\x80\x02\xff", CompressionMethod::Deflated),
    );
    assert_eq!(rules(&broken_member), ["pickle.malformed"]);
    assert_eq!(
        broken_member.findings[0].location.as_deref(),
        Some("archive/data.pkl")
    );

    let mut not_a_zip = b"PK\x03\x04".to_vec();
    not_a_zip.extend_from_slice(&[0u8; 64]);
    let scanned = scan("model.pt", &not_a_zip);
    assert_eq!(scanned.format, FileFormat::TorchZip);
    assert_eq!(rules(&scanned), ["zip.malformed"]);
    assert_eq!(scanned.verdict, Verdict::Dangerous);

    // A member whose compressed bytes are corrupted: the inflater fails or the pickle breaks.
    let mut corrupt = torch_zip(&state_dict(2), CompressionMethod::Deflated);
    let extra = usize::from(u16::from_le_bytes([corrupt[28], corrupt[29]]));
    let data = 30 + "archive/data.pkl".len() + extra;
    for byte in &mut corrupt[data + 4..data + 24] {
        *byte ^= 0x5a;
    }
    let scanned = scan("model.pt", &corrupt);
    assert_eq!(
        scanned.verdict,
        Verdict::Dangerous,
        "{:?}",
        scanned.findings
    );
    assert_eq!(
        scanned.findings[0].location.as_deref(),
        Some("archive/data.pkl")
    );
}

#[test]
fn legacy_pytorch_files() {
    let legacy = |model: &[u8]| {
        let mut bytes = hex::decode("80028a0a6cfc9c46f9206aa850192e").unwrap();
        bytes.extend_from_slice(b"\x80\x02M\xe9\x03.\x80\x02}q\x00.");
        bytes.extend_from_slice(model);
        bytes.extend_from_slice(b"\x80\x02]q\x00X\x01\x00\x00\x000q\x01a.");
        bytes.extend_from_slice(&8u64.to_le_bytes());
        bytes.extend_from_slice(&[0xffu8; 32]);
        bytes
    };
    let clean = scan("pytorch_model.bin", &legacy(&state_dict(2)));
    assert_eq!(clean.format, FileFormat::TorchLegacy);
    assert_eq!(clean.findings, []);
    let evil = scan(
        "pytorch_model.bin",
        &legacy(&global_call("posix", "system")),
    );
    assert_eq!(evil.format, FileFormat::TorchLegacy);
    assert_eq!(evil.verdict, Verdict::Dangerous);
    // Protocol 0 writes the magic number as text.
    let mut text = b"L119547037146038801333356L\n.".to_vec();
    text.extend_from_slice(&legacy(&state_dict(0))[15..]);
    assert_eq!(scan("model.pt", &text).format, FileFormat::TorchLegacy);
}

#[test]
fn raw_pickles() {
    let clean = scan("training_args.bin", &state_dict(4));
    assert_eq!(
        (clean.format, clean.verdict),
        (FileFormat::Pickle, Verdict::Clean)
    );
    let evil = scan("model.pkl", &global_call("builtins", "eval"));
    assert_eq!(
        (evil.format, evil.verdict),
        (FileFormat::Pickle, Verdict::Dangerous)
    );
    // A `.bin` that is no pickle at all: torch.load would unpickle it, so it must parse.
    let garbage = scan("pytorch_model.bin", b"\x00\x01\x02garbage");
    assert_eq!(
        (garbage.format, garbage.verdict),
        (FileFormat::Pickle, Verdict::Dangerous)
    );
    assert_eq!(rules(&garbage), ["pickle.malformed"]);
    // Found by its PROTO opcode whatever its name.
    assert_eq!(scan("weights", &state_dict(2)).format, FileFormat::Pickle);
}

#[test]
fn safetensors_prefix_agrees_with_scan_file() {
    for (case, bytes, expected) in safetensors::tests::cases() {
        let scanned = scan("model.safetensors", &bytes);
        assert_eq!(scanned.format, FileFormat::Safetensors);
        assert_eq!(rules(&scanned), expected, "{case}");
        let wanted = match <[u8; 8]>::try_from(bytes.get(..8).unwrap_or_default()) {
            Ok(first8) => usize::try_from(safetensors_prefix_len(first8)).unwrap(),
            Err(_) => bytes.len(),
        };
        let prefix = &bytes[..wanted.min(bytes.len())];
        assert_eq!(
            scan_safetensors_prefix(prefix, bytes.len() as u64),
            scanned.findings,
            "{case}"
        );
        assert_eq!(scanned.size, bytes.len() as u64);
    }
    // Found by its header without the extension.
    let (_, valid, _) = safetensors::tests::cases().swap_remove(0);
    assert_eq!(scan("weights", &valid).format, FileFormat::Safetensors);
}

#[test]
fn code_is_refused() {
    let script = scan("modeling_custom.py", b"import os\nos.system('id')\n");
    assert_eq!(script.format, FileFormat::Text);
    assert_eq!(rules(&script), ["code.executable"]);
    assert_eq!(script.verdict, Verdict::Dangerous);
    assert!(script.findings[0]
        .message
        .contains("models must not ship code"));
    for name in [
        "x.pyc",
        "lib/custom.so",
        "kernel.dll",
        "a.dylib",
        "setup.exe",
        "run.sh",
    ] {
        assert_eq!(
            scan(name, b"\x00\x01").verdict,
            Verdict::Dangerous,
            "{name}"
        );
    }
    let elf = scan("helper", b"\x7fELF\x02\x01\x01\x00");
    assert_eq!(
        (elf.format, elf.verdict),
        (FileFormat::Unknown, Verdict::Dangerous)
    );
}

#[test]
fn json_text_and_unknown_files() {
    let config = scan(
        "config.json",
        br#"{"model_type": "llama", "hidden_size": 64}"#,
    );
    assert_eq!(
        (config.format, config.verdict),
        (FileFormat::Json, Verdict::Clean)
    );
    assert_eq!(config.findings, []);
    let broken = scan("config.json", br#"{"model_type": "#);
    assert_eq!(rules(&broken), ["json.invalid"]);
    assert_eq!(broken.verdict, Verdict::Suspicious);
    assert_eq!(rules(&scan("tokenizer.json", b"{} {}")), ["json.invalid"]);

    for name in ["README.md", "merges.txt", "vocab.txt"] {
        let text = scan(name, b"hello\n");
        assert_eq!(
            (text.format, text.findings.len()),
            (FileFormat::Text, 0),
            "{name}"
        );
    }
    let spm = scan(
        "tokenizer.model",
        b"\x0a\x0b\x0a\x05<unk>\x15\x00\x00\x00\x00\x18\x02",
    );
    assert_eq!((spm.format, spm.findings.len()), (FileFormat::Unknown, 0));

    let blob = scan("model.onnx", b"\x08\x07\x12\x07pytorch\x00\xff\xfe");
    assert_eq!(blob.format, FileFormat::Unknown);
    assert_eq!(rules(&blob), ["file.unrecognized"]);
    assert_eq!(blob.findings[0].severity, Severity::Info);
    assert_eq!(blob.verdict, Verdict::Clean);
    assert_eq!(blob.path, "model.onnx");
}

#[test]
fn missing_files_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let error = scan_file(&dir.path().join("absent"), "absent").unwrap_err();
    assert!(matches!(error, HubError::Io { .. }), "{error}");
}

#[test]
fn verdicts_and_wire_names() {
    let finding = |severity| Finding {
        severity,
        rule: "r".to_owned(),
        message: "m".to_owned(),
        location: None,
    };
    assert_eq!(Verdict::from_findings(&[]), Verdict::Clean);
    assert_eq!(
        Verdict::from_findings(&[finding(Severity::Info), finding(Severity::Low)]),
        Verdict::Clean
    );
    assert_eq!(
        Verdict::from_findings(&[finding(Severity::Medium)]),
        Verdict::Suspicious
    );
    assert_eq!(
        Verdict::from_findings(&[finding(Severity::Medium), finding(Severity::High)]),
        Verdict::Dangerous
    );
    assert_eq!(
        Verdict::from_findings(&[finding(Severity::Critical)]),
        Verdict::Dangerous
    );
    assert!(Verdict::Dangerous.is_dangerous() && !Verdict::Suspicious.is_dangerous());
    assert_eq!(Verdict::Suspicious.as_str(), "suspicious");
    assert_eq!(
        serde_json::to_string(&Severity::Critical).unwrap(),
        "\"critical\""
    );
    assert_eq!(serde_json::to_string(&Verdict::Clean).unwrap(), "\"clean\"");
    assert_eq!(
        serde_json::to_string(&FileFormat::TorchZip).unwrap(),
        "\"torch_zip\""
    );
    assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
}
