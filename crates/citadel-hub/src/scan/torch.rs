//! PyTorch files: zip-based archives (`torch.save` since 1.6), whose `.pkl` members are pickles,
//! and recognition of the legacy format (five pickles, then raw storage bytes).

use std::io::{BufReader, Read, Seek};

use zip::{ZipArchive, ZipReadOptions};

use super::pickle::{self, Mode};
use super::{Findings, Severity};

/// The local file header signature a zip-based PyTorch file starts with (`torch.load` checks
/// exactly these bytes).
pub(crate) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The legacy format's magic number 0x1950a86a20f9469cfc6c, little-endian as LONG1 writes it.
const MAGIC_LE: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The same number as protocols 0 and 1 write it (`L<decimal>L\n`).
const MAGIC_DECIMAL: &[u8] = b"L119547037146038801333356L\n";

/// Whether a file starts with the legacy format's first pickle, the magic number.
pub(crate) fn is_legacy(head: &[u8]) -> bool {
    let body = match head {
        [0x80, 0..=5, rest @ ..] => rest,
        _ => head,
    };
    match body {
        [0x8a, 0x0a, rest @ ..] => rest.starts_with(&MAGIC_LE),
        _ => body.starts_with(MAGIC_DECIMAL),
    }
}

/// The most a member may decompress to (a zip-bomb guard; `data.pkl` is small, the tensors are
/// other members).
const MAX_MEMBER: u64 = 4 << 30;

const MALFORMED: &str = "zip.malformed";
const TOO_LARGE: &str = "zip.too_large";

/// Scans every `.pkl` member of a zip archive as a pickle, located at the member's name. Read
/// errors are findings here (High), never errors: the zip crate does not tell a failing disk from
/// a malformed archive, and both must stop the file.
pub(crate) fn scan_zip<R: Read + Seek>(reader: R, findings: &mut Findings) {
    let mut archive = match ZipArchive::new(reader) {
        Ok(archive) => archive,
        Err(error) => {
            findings.push(
                Severity::High,
                MALFORMED,
                format!("the file starts like a zip archive but cannot be read as one: {error}"),
                None,
            );
            return;
        }
    };
    if archive.has_duplicate_names() {
        findings.push(
            Severity::High,
            "zip.duplicate_name",
            "several members share a name: a loader may read one this scan did not",
            None,
        );
    }
    let mut pickles = 0usize;
    for index in 0..archive.len() {
        let entry = archive.by_index_data(index).and_then(|entry| {
            let name = entry.name()?.into_owned();
            Ok((name, entry.size(), entry.is_dir()))
        });
        let (name, size, is_dir) = match entry {
            Ok(entry) => entry,
            Err(error) => {
                findings.push(
                    Severity::High,
                    MALFORMED,
                    format!("member #{index} cannot be read: {error}"),
                    None,
                );
                continue;
            }
        };
        let location = Some(
            name.chars()
                .flat_map(char::escape_debug)
                .collect::<String>(),
        );
        if escapes(&name) {
            findings.push(
                Severity::High,
                "zip.path_traversal",
                "a member's name is absolute, climbs out of the archive with `..` or holds a NUL",
                location.clone(),
            );
        }
        if is_dir || !name.ends_with(".pkl") {
            continue;
        }
        pickles += 1;
        if size > MAX_MEMBER {
            findings.push(
                Severity::High,
                TOO_LARGE,
                format!("the member declares {size} bytes uncompressed, above the {MAX_MEMBER}-byte limit"),
                location,
            );
            continue;
        }
        let options = ZipReadOptions::new().enforce_header_consistency(true);
        let member = match archive.by_index_with_options(index, options) {
            Ok(member) => member,
            Err(error) => {
                findings.push(
                    Severity::High,
                    MALFORMED,
                    format!("the member cannot be opened: {error}"),
                    location,
                );
                continue;
            }
        };
        let mut limited = BufReader::new(member.take(MAX_MEMBER + 1));
        let scanned =
            pickle::scan_stream(&mut limited, Mode::Stream, location.as_deref(), findings);
        if let Err(error) = scanned {
            findings.push(
                Severity::High,
                MALFORMED,
                format!("the member cannot be decompressed: {error}"),
                location.clone(),
            );
        }
        if limited.get_ref().limit() == 0 {
            findings.push(
                Severity::High,
                TOO_LARGE,
                format!("the member decompresses past the {MAX_MEMBER}-byte limit"),
                location,
            );
        }
    }
    if pickles == 0 {
        findings.push(
            Severity::Info,
            "torch.no_pickle",
            "the zip archive holds no .pkl member: nothing in it is unpickled",
            None,
        );
    }
}

/// An absolute name (`/x`, `\x`, `C:x`), one with a `..` component, or one a C reader would cut
/// at a NUL.
fn escapes(name: &str) -> bool {
    name.contains('\0')
        || name.starts_with(['/', '\\'])
        || name.as_bytes().get(1) == Some(&b':')
        || name.split(['/', '\\']).any(|part| part == "..")
}
