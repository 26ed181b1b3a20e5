//! Pickle scanning: walks the opcodes of protocols 0 to 5 without running them, simulating the
//! stack and memo just enough to resolve every global a pickle imports (`GLOBAL`, `INST`,
//! `STACK_GLOBAL` with operands from string opcodes or the memo) and to note which are called.
//!
//! The input is streamed: long strings and byte blobs are skipped, not stored, so a multi-GB
//! pickle costs little memory. A pickle this walker cannot parse is malformed, which is High: the
//! unpickler would run its opcodes up to the error, so "cannot parse" is never "clean".

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::mem;
use std::rc::Rc;

use super::globals::{self, Class};
use super::{Finding, Findings, Severity};

/// Scans pickle bytes: one pickle, or several concatenated (as in the legacy PyTorch format).
pub fn scan_pickle_bytes(bytes: &[u8]) -> Vec<Finding> {
    let mut findings = Findings::default();
    if let Err(error) = scan_stream(bytes, Mode::Stream, None, &mut findings) {
        // A slice cannot fail to read; report rather than drop it all the same.
        findings.push(Severity::High, MALFORMED, error.to_string(), None);
    }
    findings.finish()
}

/// How many pickles a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A pickle, possibly followed by more. After a good pickle, the scan goes on while the next
    /// byte is PROTO (`0x80`); anything else is data, and so is a following pickle that fails to
    /// parse (its imports up to the failure are still reported). As picklescan does.
    Stream,
    /// Legacy `torch.save`: five pickles (magic number, protocol version, system info, the
    /// model, the storage keys), then raw storage bytes. `torch.load` unpickles all five, so all
    /// five must parse, whatever protocol they use.
    Legacy,
}

const LEGACY_PICKLES: usize = 5;

/// Scans the pickles of `reader`. Findings are located at `member` (a zip member) or at the
/// byte offset. Errors are the reader's own I/O errors; malformed content is a finding.
pub(crate) fn scan_stream<R: BufRead>(
    reader: R,
    mode: Mode,
    member: Option<&str>,
    findings: &mut Findings,
) -> io::Result<()> {
    let mut source = Source {
        inner: reader,
        pos: 0,
    };
    let mut scan = Scan {
        findings,
        member,
        imports: Vec::new(),
        by_name: HashMap::new(),
        kept_bytes: 0,
    };
    let result = scan.pickles(&mut source, mode);
    scan.report_imports();
    result
}

const MALFORMED: &str = "pickle.malformed";
const UNRESOLVABLE: &str = "pickle.unresolvable_import";

/// Strings longer than this are skipped: no module or attribute name is this long.
const MAX_STRING: usize = 256;
/// Total bytes of strings kept per stream; past it strings are skipped (and an import built
/// from one is unresolvable, so the budget can only make a verdict worse).
const MAX_KEPT_BYTES: usize = 64 << 20;
/// Stack items, marks, memo entries and distinct imports together: a model pickle has a few
/// thousand; past this the scan stops (High) rather than grow without bound.
const MAX_ITEMS: usize = 1 << 22;

/// A simulated stack value: only strings and imported globals matter.
#[derive(Debug, Clone)]
enum Value {
    Str(Rc<str>),
    /// A string the scanner did not keep (too long, escaped, not ASCII).
    Unreadable,
    /// An imported global: its index in `Scan::imports`.
    Global(usize),
    Other,
}

/// Why a walk ended early.
#[derive(Debug)]
enum Stop {
    Io(io::Error),
    Malformed { at: u64, message: String },
    TooComplex { at: u64 },
}

impl From<io::Error> for Stop {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

fn malformed(at: u64, message: impl Into<String>) -> Stop {
    Stop::Malformed {
        at,
        message: message.into(),
    }
}

fn truncated(at: u64, opcode: &str) -> Stop {
    malformed(
        at,
        format!("{opcode} at byte {at} is cut short by the end of the data"),
    )
}

/// A byte stream with its position.
struct Source<R> {
    inner: R,
    pos: u64,
}

/// An argument read from the stream: its bytes, or `Skipped` when longer than asked to keep.
enum Bytes {
    Kept(Vec<u8>),
    Skipped,
}

impl<R: BufRead> Source<R> {
    fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(self.inner.fill_buf()?.first().copied())
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        let byte = self.peek()?;
        if byte.is_some() {
            self.inner.consume(1);
            self.pos += 1;
        }
        Ok(byte)
    }

    /// Exactly `N` bytes, or `None` when the stream ends first.
    fn array<const N: usize>(&mut self) -> io::Result<Option<[u8; N]>> {
        let mut array = [0u8; N];
        let mut filled = 0;
        while let Some(rest) = array.get_mut(filled..).filter(|rest| !rest.is_empty()) {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                return Ok(None);
            }
            let n = rest.len().min(available.len());
            if let (Some(to), Some(from)) = (rest.get_mut(..n), available.get(..n)) {
                to.copy_from_slice(from);
            }
            self.inner.consume(n);
            self.pos += n as u64;
            filled += n;
        }
        Ok(Some(array))
    }

    /// `len` bytes, kept when at most `keep` long; `None` when the stream ends first.
    fn data(&mut self, len: u64, keep: usize) -> io::Result<Option<Bytes>> {
        let keep = u64::try_from(keep).unwrap_or(u64::MAX);
        let mut kept = (len <= keep).then(Vec::new);
        let mut left = len;
        while left > 0 {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                return Ok(None);
            }
            let n = usize::try_from(left).map_or(available.len(), |left| left.min(available.len()));
            if let (Some(kept), Some(chunk)) = (kept.as_mut(), available.get(..n)) {
                kept.extend_from_slice(chunk);
            }
            self.inner.consume(n);
            self.pos += n as u64;
            left -= n as u64;
        }
        Ok(Some(kept.map_or(Bytes::Skipped, Bytes::Kept)))
    }

    /// A line without its `\n`, kept when at most `keep` long; `None` when the stream ends
    /// before the newline.
    fn line(&mut self, keep: usize) -> io::Result<Option<Bytes>> {
        let mut kept = Some(Vec::new());
        loop {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                return Ok(None);
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = available
                .get(..newline.unwrap_or(available.len()))
                .unwrap_or_default();
            if kept
                .as_ref()
                .is_some_and(|kept| kept.len() + chunk.len() > keep)
            {
                kept = None;
            }
            if let Some(kept) = kept.as_mut() {
                kept.extend_from_slice(chunk);
            }
            let used = chunk.len() + usize::from(newline.is_some());
            self.inner.consume(used);
            self.pos += used as u64;
            if newline.is_some() {
                return Ok(Some(kept.map_or(Bytes::Skipped, Bytes::Kept)));
            }
        }
    }
}

/// An argument that must be there: `None` means the data ended inside the opcode.
fn need<T>(value: Option<T>, at: u64, opcode: &str) -> Result<T, Stop> {
    value.ok_or_else(|| truncated(at, opcode))
}

/// An imported global, once per distinct module and name.
#[derive(Debug)]
struct Import {
    module: String,
    name: String,
    opcode: &'static str,
    at: u64,
    /// The first opcode that called it.
    called: Option<(&'static str, u64)>,
    /// The first BUILD applied to the global itself (it patches the imported object).
    built: Option<u64>,
}

/// The state of one stream's scan, across its pickles.
struct Scan<'a> {
    findings: &'a mut Findings,
    member: Option<&'a str>,
    imports: Vec<Import>,
    by_name: HashMap<String, usize>,
    kept_bytes: usize,
}

impl Scan<'_> {
    fn pickles<R: BufRead>(&mut self, source: &mut Source<R>, mode: Mode) -> io::Result<()> {
        let mut good = 0usize;
        while mode == Mode::Stream || good < LEGACY_PICKLES {
            let start = source.pos;
            match source.peek()? {
                None if good == 0 => {
                    self.malformed(start, "the data is empty: there is no pickle".to_owned());
                    break;
                }
                None => {
                    if mode == Mode::Legacy {
                        self.malformed(
                            start,
                            format!(
                                "the legacy PyTorch file ends after {good} of its \
                                 {LEGACY_PICKLES} pickles"
                            ),
                        );
                    }
                    break;
                }
                Some(byte) if mode == Mode::Stream && good > 0 && byte != 0x80 => break,
                Some(_) => {}
            }
            match Machine::default().run(source, self) {
                Ok(()) => good += 1,
                Err(Stop::Io(error)) => return Err(error),
                Err(Stop::Malformed { at, message }) => {
                    if good == 0 || mode == Mode::Legacy {
                        self.malformed(at, message);
                    }
                    break;
                }
                Err(Stop::TooComplex { at }) => {
                    let location = self.location(at);
                    self.findings.push(
                        Severity::High,
                        "pickle.too_complex",
                        format!(
                            "the pickle holds more than {MAX_ITEMS} stack items, memo entries \
                             and imports (at byte {at}): the scan stopped there"
                        ),
                        location,
                    );
                    break;
                }
            }
        }
        Ok(())
    }

    fn location(&self, at: u64) -> Option<String> {
        Some(
            self.member
                .map_or_else(|| format!("byte {at}"), str::to_owned),
        )
    }

    fn malformed(&mut self, at: u64, message: String) {
        let location = self.location(at);
        self.findings
            .push(Severity::High, MALFORMED, message, location);
    }

    fn unresolvable(&mut self, at: u64, message: String) {
        let location = self.location(at);
        self.findings
            .push(Severity::High, UNRESOLVABLE, message, location);
    }

    /// A string value from an opcode's argument: kept when short, ASCII, within the budget and
    /// (for the opcodes with escapes) free of backslashes; otherwise unreadable.
    fn string(&mut self, bytes: Bytes, escaped: bool) -> Value {
        let Bytes::Kept(bytes) = bytes else {
            return Value::Unreadable;
        };
        if bytes.len() > MAX_STRING
            || !bytes.is_ascii()
            || (escaped && bytes.contains(&b'\\'))
            || self.kept_bytes + bytes.len() > MAX_KEPT_BYTES
        {
            return Value::Unreadable;
        }
        match String::from_utf8(bytes) {
            Ok(text) => {
                self.kept_bytes += text.len();
                Value::Str(text.into())
            }
            Err(_) => Value::Unreadable,
        }
    }

    fn import(&mut self, module: &str, name: &str, opcode: &'static str, at: u64) -> Value {
        let key = format!("{module}\n{name}");
        if let Some(&index) = self.by_name.get(&key) {
            return Value::Global(index);
        }
        self.imports.push(Import {
            module: module.to_owned(),
            name: name.to_owned(),
            opcode,
            at,
            called: None,
            built: None,
        });
        let index = self.imports.len() - 1;
        self.by_name.insert(key, index);
        Value::Global(index)
    }

    fn called(&mut self, callee: &Value, opcode: &'static str, at: u64) {
        if let Value::Global(index) = callee {
            if let Some(import) = self.imports.get_mut(*index) {
                import.called.get_or_insert((opcode, at));
            }
        }
    }

    fn report_imports(&mut self) {
        for import in mem::take(&mut self.imports) {
            let path = printable(&format!("{}.{}", import.module, import.name));
            let called = import
                .called
                .map(|(opcode, at)| format!(", called by {opcode} at byte {}", at))
                .unwrap_or_default();
            let what = format!(
                "imports {path} ({} at byte {}{called})",
                import.opcode, import.at
            );
            let location = self.location(import.at);
            match globals::classify(&import.module, &import.name) {
                Class::Dangerous(severity, why) => self.findings.push(
                    severity,
                    "pickle.dangerous_global",
                    format!("{what}, which {why}"),
                    location,
                ),
                Class::Unknown => self.findings.push(
                    Severity::Medium,
                    "pickle.unknown_global",
                    format!("{what}, which is not on the list of known-safe globals"),
                    location,
                ),
                Class::Safe => {}
            }
            if let Some(at) = import.built {
                let location = self.location(at);
                self.findings.push(
                    Severity::High,
                    "pickle.build_on_global",
                    format!(
                        "BUILD at byte {at} sets attributes on the imported {path}, patching it"
                    ),
                    location,
                );
            }
        }
    }
}

/// Control characters and quotes escaped, so a crafted name cannot forge a line of a report.
fn printable(text: &str) -> String {
    text.chars().flat_map(char::escape_debug).collect()
}

/// The unpickler's stack (marks as positions into it) and memo, for one pickle.
#[derive(Debug, Default)]
struct Machine {
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
}

impl Machine {
    fn frame_start(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn underflow(at: u64, opcode: &str) -> Stop {
        malformed(
            at,
            format!("{opcode} at byte {at} needs more values than the stack holds"),
        )
    }

    fn pop(&mut self, at: u64, opcode: &str) -> Result<Value, Stop> {
        if self.stack.len() > self.frame_start() {
            self.stack.pop().ok_or_else(|| Self::underflow(at, opcode))
        } else {
            Err(Self::underflow(at, opcode))
        }
    }

    fn top(&mut self, at: u64, opcode: &str) -> Result<&mut Value, Stop> {
        if self.stack.len() > self.frame_start() {
            self.stack
                .last_mut()
                .ok_or_else(|| Self::underflow(at, opcode))
        } else {
            Err(Self::underflow(at, opcode))
        }
    }

    /// Pops back to the last MARK: how many values were above it, and the first of them.
    fn pop_mark(&mut self, at: u64, opcode: &str) -> Result<(usize, Option<Value>), Stop> {
        let mark = self
            .marks
            .pop()
            .filter(|&mark| mark <= self.stack.len())
            .ok_or_else(|| malformed(at, format!("{opcode} at byte {at} has no MARK before it")))?;
        let count = self.stack.len() - mark;
        let first = self.stack.get(mark).cloned();
        self.stack.truncate(mark);
        Ok((count, first))
    }

    fn get(&mut self, index: u64, at: u64, opcode: &str) -> Result<(), Stop> {
        let value = self.memo.get(&index).cloned().ok_or_else(|| {
            malformed(
                at,
                format!("{opcode} at byte {at} reads memo entry {index}, which was never stored"),
            )
        })?;
        self.stack.push(value);
        Ok(())
    }

    fn put(&mut self, index: u64, at: u64, opcode: &str) -> Result<(), Stop> {
        let value = self.top(at, opcode)?.clone();
        self.memo.insert(index, value);
        Ok(())
    }

    /// Runs one pickle up to and including its STOP.
    fn run<R: BufRead>(&mut self, src: &mut Source<R>, scan: &mut Scan<'_>) -> Result<(), Stop> {
        loop {
            let at = src.pos;
            let size = self.stack.len() + self.marks.len() + self.memo.len() + scan.imports.len();
            if size > MAX_ITEMS {
                return Err(Stop::TooComplex { at });
            }
            let Some(opcode) = src.byte()? else {
                return Err(malformed(
                    at,
                    format!("the pickle ends at byte {at} without a STOP opcode"),
                ));
            };
            match opcode {
                b'(' => self.marks.push(self.stack.len()),
                b'.' => {
                    self.pop(at, "STOP")?;
                    return Ok(());
                }
                b'0' => {
                    // POP on an empty frame pops the MARK itself.
                    if self.stack.len() > self.frame_start() {
                        self.stack.pop();
                    } else if self.marks.pop().is_none() {
                        return Err(Self::underflow(at, "POP"));
                    }
                }
                b'1' => {
                    self.pop_mark(at, "POP_MARK")?;
                }
                b'2' => {
                    let value = self.top(at, "DUP")?.clone();
                    self.stack.push(value);
                }
                // FLOAT, INT, LONG, PERSID: a decimal or an id on a line
                b'F' | b'I' | b'L' | b'P' => {
                    let line = src.line(0)?;
                    need(line, at, "a text argument")?;
                    self.stack.push(Value::Other);
                }
                b'J' => self.fixed::<4, _>(src, at, "BININT")?,
                b'K' => self.fixed::<1, _>(src, at, "BININT1")?,
                b'M' => self.fixed::<2, _>(src, at, "BININT2")?,
                b'G' => self.fixed::<8, _>(src, at, "BINFLOAT")?,
                // NONE, NEWTRUE, NEWFALSE, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, EMPTY_SET,
                // NEXT_BUFFER
                b'N' | 0x88 | 0x89 | b'}' | b']' | b')' | 0x8f | 0x97 => {
                    self.stack.push(Value::Other);
                }
                b'Q' => {
                    self.pop(at, "BINPERSID")?;
                    self.stack.push(Value::Other);
                }
                b'R' => {
                    self.pop(at, "REDUCE")?;
                    let callee = mem::replace(self.top(at, "REDUCE")?, Value::Other);
                    scan.called(&callee, "REDUCE", at);
                }
                b'S' => {
                    let line = src.line(MAX_STRING + 2)?;
                    let value = match need(line, at, "STRING")? {
                        Bytes::Kept(line) => {
                            let quoted = match line.as_slice() {
                                [first @ (b'\'' | b'"'), inner @ .., last] if first == last => {
                                    inner.to_vec()
                                }
                                _ => {
                                    return Err(malformed(
                                        at,
                                        format!("STRING at byte {at} is not quoted"),
                                    ))
                                }
                            };
                            scan.string(Bytes::Kept(quoted), true)
                        }
                        Bytes::Skipped => Value::Unreadable,
                    };
                    self.stack.push(value);
                }
                b'T' => {
                    let len = src.array::<4>()?;
                    let len = i32::from_le_bytes(need(len, at, "BINSTRING")?);
                    let len = u64::try_from(len).map_err(|_| {
                        malformed(at, format!("BINSTRING at byte {at} has a negative length"))
                    })?;
                    self.string(src, scan, len, at, "BINSTRING")?;
                }
                b'U' => {
                    let len = src.array::<1>()?;
                    let len = u64::from(need(len, at, "SHORT_BINSTRING")?[0]);
                    self.string(src, scan, len, at, "SHORT_BINSTRING")?;
                }
                b'V' => {
                    let line = src.line(MAX_STRING)?;
                    let line = need(line, at, "UNICODE")?;
                    let value = scan.string(line, true);
                    self.stack.push(value);
                }
                b'X' => {
                    let len = src.array::<4>()?;
                    let len = u32::from_le_bytes(need(len, at, "BINUNICODE")?);
                    self.string(src, scan, u64::from(len), at, "BINUNICODE")?;
                }
                0x8c => {
                    let len = src.array::<1>()?;
                    let len = u64::from(need(len, at, "SHORT_BINUNICODE")?[0]);
                    self.string(src, scan, len, at, "SHORT_BINUNICODE")?;
                }
                0x8d => {
                    let len = self.len8(src, at, "BINUNICODE8")?;
                    self.string(src, scan, len, at, "BINUNICODE8")?;
                }
                b'B' => {
                    let len = src.array::<4>()?;
                    let len = u32::from_le_bytes(need(len, at, "BINBYTES")?);
                    self.blob(src, u64::from(len), at, "BINBYTES")?;
                }
                b'C' => {
                    let len = src.array::<1>()?;
                    let len = u64::from(need(len, at, "SHORT_BINBYTES")?[0]);
                    self.blob(src, len, at, "SHORT_BINBYTES")?;
                }
                0x8e => {
                    let len = self.len8(src, at, "BINBYTES8")?;
                    self.blob(src, len, at, "BINBYTES8")?;
                }
                0x96 => {
                    let len = self.len8(src, at, "BYTEARRAY8")?;
                    self.blob(src, len, at, "BYTEARRAY8")?;
                }
                0x8a => {
                    let len = src.array::<1>()?;
                    let len = u64::from(need(len, at, "LONG1")?[0]);
                    self.blob(src, len, at, "LONG1")?;
                }
                0x8b => {
                    let len = src.array::<4>()?;
                    let len = i32::from_le_bytes(need(len, at, "LONG4")?);
                    let len = u64::try_from(len).map_err(|_| {
                        malformed(at, format!("LONG4 at byte {at} has a negative length"))
                    })?;
                    self.blob(src, len, at, "LONG4")?;
                }
                b'a' => {
                    self.pop(at, "APPEND")?;
                    self.top(at, "APPEND")?;
                }
                b'b' => {
                    self.pop(at, "BUILD")?;
                    if let Value::Global(index) = self.top(at, "BUILD")? {
                        if let Some(import) = scan.imports.get_mut(*index) {
                            import.built.get_or_insert(at);
                        }
                    }
                }
                b'c' => {
                    let value = self.global_lines(src, scan, at, "GLOBAL")?;
                    self.stack.push(value);
                }
                b'i' => {
                    let class = self.global_lines(src, scan, at, "INST")?;
                    self.pop_mark(at, "INST")?;
                    scan.called(&class, "INST", at);
                    self.stack.push(Value::Other);
                }
                b'o' => {
                    let (_, class) = self.pop_mark(at, "OBJ")?;
                    let class = class
                        .ok_or_else(|| malformed(at, format!("OBJ at byte {at} has no class")))?;
                    scan.called(&class, "OBJ", at);
                    self.stack.push(Value::Other);
                }
                b'd' => {
                    let (count, _) = self.pop_mark(at, "DICT")?;
                    if count % 2 != 0 {
                        return Err(malformed(
                            at,
                            format!("DICT at byte {at} has an odd number of items"),
                        ));
                    }
                    self.stack.push(Value::Other);
                }
                b'l' | b't' | 0x91 => {
                    self.pop_mark(at, "LIST, TUPLE or FROZENSET")?;
                    self.stack.push(Value::Other);
                }
                b'e' | 0x90 => {
                    self.pop_mark(at, "APPENDS or ADDITEMS")?;
                    self.top(at, "APPENDS or ADDITEMS")?;
                }
                b's' => {
                    self.pop(at, "SETITEM")?;
                    self.pop(at, "SETITEM")?;
                    self.top(at, "SETITEM")?;
                }
                b'u' => {
                    let (count, _) = self.pop_mark(at, "SETITEMS")?;
                    if count % 2 != 0 {
                        return Err(malformed(
                            at,
                            format!("SETITEMS at byte {at} has an odd number of items"),
                        ));
                    }
                    self.top(at, "SETITEMS")?;
                }
                b'g' => {
                    let index = Self::line_index(src, at, "GET")?;
                    self.get(index, at, "GET")?;
                }
                b'h' => {
                    let index = src.array::<1>()?;
                    let index = need(index, at, "BINGET")?[0];
                    self.get(u64::from(index), at, "BINGET")?;
                }
                b'j' => {
                    let index = src.array::<4>()?;
                    let index = u32::from_le_bytes(need(index, at, "LONG_BINGET")?);
                    self.get(u64::from(index), at, "LONG_BINGET")?;
                }
                b'p' => {
                    let index = Self::line_index(src, at, "PUT")?;
                    self.put(index, at, "PUT")?;
                }
                b'q' => {
                    let index = src.array::<1>()?;
                    let index = need(index, at, "BINPUT")?[0];
                    self.put(u64::from(index), at, "BINPUT")?;
                }
                b'r' => {
                    let index = src.array::<4>()?;
                    let index = u32::from_le_bytes(need(index, at, "LONG_BINPUT")?);
                    self.put(u64::from(index), at, "LONG_BINPUT")?;
                }
                0x94 => {
                    let index = self.memo.len() as u64;
                    self.put(index, at, "MEMOIZE")?;
                }
                0x80 => {
                    let protocol = src.array::<1>()?;
                    let protocol = need(protocol, at, "PROTO")?[0];
                    if protocol > 5 {
                        return Err(malformed(
                            at,
                            format!("PROTO at byte {at} asks for protocol {protocol}, above 5"),
                        ));
                    }
                }
                0x95 => {
                    // FRAME only announces the length of what follows.
                    self.len8(src, at, "FRAME")?;
                }
                0x81 => {
                    self.pop(at, "NEWOBJ")?;
                    let class = self.pop(at, "NEWOBJ")?;
                    scan.called(&class, "NEWOBJ", at);
                    self.stack.push(Value::Other);
                }
                0x92 => {
                    self.pop(at, "NEWOBJ_EX")?;
                    self.pop(at, "NEWOBJ_EX")?;
                    let class = self.pop(at, "NEWOBJ_EX")?;
                    scan.called(&class, "NEWOBJ_EX", at);
                    self.stack.push(Value::Other);
                }
                0x82..=0x84 => {
                    let code = match opcode {
                        0x82 => src.array::<1>()?.map(|[b]| i64::from(b)),
                        0x83 => src.array::<2>()?.map(|b| i64::from(u16::from_le_bytes(b))),
                        _ => src.array::<4>()?.map(|b| i64::from(i32::from_le_bytes(b))),
                    };
                    let code = need(code, at, "EXT")?;
                    if code <= 0 {
                        return Err(malformed(at, format!("EXT at byte {at} has code {code}")));
                    }
                    scan.unresolvable(
                        at,
                        format!(
                            "EXT at byte {at} imports extension code {code} of the copyreg \
                             registry: the import cannot be checked"
                        ),
                    );
                    self.stack.push(Value::Other);
                }
                0x85 => self.tuple(1, at)?,
                0x86 => self.tuple(2, at)?,
                0x87 => self.tuple(3, at)?,
                0x93 => {
                    let name = self.pop(at, "STACK_GLOBAL")?;
                    let module = self.pop(at, "STACK_GLOBAL")?;
                    let value = match (&module, &name) {
                        (Value::Str(module), Value::Str(name)) => {
                            scan.import(module, name, "STACK_GLOBAL", at)
                        }
                        _ => {
                            scan.unresolvable(
                                at,
                                format!(
                                    "STACK_GLOBAL at byte {at} imports from {} and {}: the \
                                     import cannot be checked",
                                    describe(&module),
                                    describe(&name)
                                ),
                            );
                            Value::Other
                        }
                    };
                    self.stack.push(value);
                }
                0x98 => {
                    self.top(at, "READONLY_BUFFER")?;
                }
                _ => {
                    return Err(malformed(
                        at,
                        format!("unknown opcode 0x{opcode:02x} at byte {at}"),
                    ))
                }
            }
        }
    }

    /// A fixed-size argument that pushes a number.
    fn fixed<const N: usize, R: BufRead>(
        &mut self,
        src: &mut Source<R>,
        at: u64,
        opcode: &str,
    ) -> Result<(), Stop> {
        let bytes = src.array::<N>()?;
        need(bytes, at, opcode)?;
        self.stack.push(Value::Other);
        Ok(())
    }

    /// An 8-byte length, refused above `i64::MAX` as the unpickler does.
    fn len8<R: BufRead>(
        &mut self,
        src: &mut Source<R>,
        at: u64,
        opcode: &str,
    ) -> Result<u64, Stop> {
        let len = src.array::<8>()?;
        let len = u64::from_le_bytes(need(len, at, opcode)?);
        if i64::try_from(len).is_err() {
            return Err(malformed(
                at,
                format!("{opcode} at byte {at} has a length of {len} bytes"),
            ));
        }
        Ok(len)
    }

    fn string<R: BufRead>(
        &mut self,
        src: &mut Source<R>,
        scan: &mut Scan<'_>,
        len: u64,
        at: u64,
        opcode: &str,
    ) -> Result<(), Stop> {
        let bytes = src.data(len, MAX_STRING)?;
        let value = scan.string(need(bytes, at, opcode)?, false);
        self.stack.push(value);
        Ok(())
    }

    fn blob<R: BufRead>(
        &mut self,
        src: &mut Source<R>,
        len: u64,
        at: u64,
        opcode: &str,
    ) -> Result<(), Stop> {
        let bytes = src.data(len, 0)?;
        need(bytes, at, opcode)?;
        self.stack.push(Value::Other);
        Ok(())
    }

    fn tuple(&mut self, len: usize, at: u64) -> Result<(), Stop> {
        for _ in 0..len {
            self.pop(at, "TUPLE1, TUPLE2 or TUPLE3")?;
        }
        self.stack.push(Value::Other);
        Ok(())
    }

    /// The module and name lines of GLOBAL and INST.
    fn global_lines<R: BufRead>(
        &mut self,
        src: &mut Source<R>,
        scan: &mut Scan<'_>,
        at: u64,
        opcode: &'static str,
    ) -> Result<Value, Stop> {
        let module = src.line(MAX_STRING)?;
        let module = need(module, at, opcode)?;
        let name = src.line(MAX_STRING)?;
        let name = need(name, at, opcode)?;
        let text = |bytes: Bytes| match bytes {
            Bytes::Kept(bytes) => String::from_utf8(bytes).ok(),
            Bytes::Skipped => None,
        };
        match (text(module), text(name)) {
            (Some(module), Some(name)) => Ok(scan.import(&module, &name, opcode, at)),
            _ => {
                scan.unresolvable(
                    at,
                    format!(
                        "{opcode} at byte {at} names a module or attribute that is not UTF-8 or \
                         longer than {MAX_STRING} bytes: the import cannot be checked"
                    ),
                );
                Ok(Value::Other)
            }
        }
    }

    /// The decimal memo index of GET and PUT.
    fn line_index<R: BufRead>(src: &mut Source<R>, at: u64, opcode: &str) -> Result<u64, Stop> {
        let line = src.line(32)?;
        let index = match need(line, at, opcode)? {
            Bytes::Kept(line) => std::str::from_utf8(&line)
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok()),
            Bytes::Skipped => None,
        };
        index.ok_or_else(|| malformed(at, format!("{opcode} at byte {at} has a bad memo index")))
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Str(text) => format!("the string \"{}\"", printable(text)),
        Value::Unreadable => "a string the scanner could not read".to_owned(),
        Value::Global(_) => "an imported object".to_owned(),
        Value::Other => "a value that is not a string".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use super::*;
    use crate::scan::Verdict;

    /// `collections.OrderedDict` of two tensors rebuilt by `torch._utils._rebuild_tensor_v2` from
    /// `torch.FloatStorage` persistent ids, as `torch.save` writes `data.pkl`: the bytes Python
    /// 3.11 pickles for it (with stand-in `torch` modules) at protocols 0 to 5.
    pub(crate) const STATE_DICT: [(u8, &str); 6] = [
        (0, "63636f6c6c656374696f6e730a4f726465726564446963740a70300a28745270310a567765696768740a70320a63746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a70330a2850282773746f72616765272c203c636c6173732027746f7263682e466c6f617453746f72616765273e2c202730272c2027637075272c2034290a49300a2849320a49320a7470340a2849320a49310a7470350a4930300a67300a28745270360a7470370a5270380a7356626961730a70390a67330a2850282773746f72616765272c203c636c6173732027746f7263682e466c6f617453746f72616765273e2c202731272c2027637075272c2034290a49300a67340a67350a4930300a67300a2874527031300a747031310a527031320a732e"),
        (1, "63636f6c6c656374696f6e730a4f726465726564446963740a710029527101285806000000776569676874710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a71055801000000307106580300000063707571074b04747108514b00284b024b02747109284b024b0174710a4930300a68002952710b74710c52710d580400000062696173710e6803282868046805580100000031710f68074b04747110514b006809680a4930300a680029527111747112527113752e"),
        (2, "800263636f6c6c656374696f6e730a4f726465726564446963740a710029527101285806000000776569676874710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a71055801000000307106580300000063707571074b04747108514b004b024b028671094b024b0186710a8968002952710b74710c52710d580400000062696173710e6803282868046805580100000031710f68074b04747110514b006809680a89680029527111747112527113752e"),
        (3, "800363636f6c6c656374696f6e730a4f726465726564446963740a710029527101285806000000776569676874710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a71055801000000307106580300000063707571074b04747108514b004b024b028671094b024b0186710a8968002952710b74710c52710d580400000062696173710e6803282868046805580100000031710f68074b04747110514b006809680a89680029527111747112527113752e"),
        (4, "800495c9000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c06776569676874948c0c746f7263682e5f7574696c73948c125f72656275696c645f74656e736f725f763294939428288c0773746f72616765948c05746f726368948c0c466c6f617453746f726167659493948c0130948c03637075944b047494514b004b024b0286944b024b018694896802295294749452948c046269617394680728286808680b8c013194680d4b047494514b00680f681089680229529474945294752e"),
        (5, "800595c9000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c06776569676874948c0c746f7263682e5f7574696c73948c125f72656275696c645f74656e736f725f763294939428288c0773746f72616765948c05746f726368948c0c466c6f617453746f726167659493948c0130948c03637075944b047494514b004b024b0286944b024b018694896802295294749452948c046269617394680728286808680b8c013194680d4b047494514b00680f681089680229529474945294752e"),
    ];

    pub(crate) fn state_dict(protocol: u8) -> Vec<u8> {
        let (_, hex) = STATE_DICT.iter().find(|(p, _)| *p == protocol).unwrap();
        hex::decode(hex).unwrap()
    }

    /// `module.name("x")` through GLOBAL, at protocol 2.
    pub(crate) fn global_call(module: &str, name: &str) -> Vec<u8> {
        let mut bytes = b"\x80\x02c".to_vec();
        bytes.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        bytes.extend_from_slice(b"X\x01\x00\x00\x00x\x85R.");
        bytes
    }

    fn short_unicode(text: &str) -> Vec<u8> {
        let mut bytes = vec![0x8c, u8::try_from(text.len()).unwrap()];
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }

    /// `module.name("x")` through STACK_GLOBAL, at protocol 4.
    fn stack_global_call(module: &str, name: &str) -> Vec<u8> {
        let mut bytes = b"\x80\x04".to_vec();
        bytes.extend(short_unicode(module));
        bytes.push(0x94);
        bytes.extend(short_unicode(name));
        bytes.push(0x94);
        bytes.push(0x93);
        bytes.extend(short_unicode("x"));
        bytes.extend_from_slice(b"\x85R.");
        bytes
    }

    fn verdict(bytes: &[u8]) -> Verdict {
        Verdict::from_findings(&scan_pickle_bytes(bytes))
    }

    fn rules(findings: &[Finding]) -> Vec<&str> {
        findings
            .iter()
            .map(|finding| finding.rule.as_str())
            .collect()
    }

    #[test]
    fn pytorch_state_dicts_are_clean_at_every_protocol() {
        for (protocol, _) in STATE_DICT {
            let findings = scan_pickle_bytes(&state_dict(protocol));
            assert_eq!(findings, [], "protocol {protocol}");
        }
    }

    #[test]
    fn os_system_through_global_is_dangerous() {
        // protocol 0, as text
        let findings = scan_pickle_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.");
        assert_eq!(rules(&findings), ["pickle.dangerous_global"]);
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::Critical);
        assert!(finding.message.contains("os.system"), "{}", finding.message);
        assert!(
            finding.message.contains("called by REDUCE at byte 27"),
            "{}",
            finding.message
        );
        assert_eq!(finding.location.as_deref(), Some("byte 0"));
        // protocol 2
        let findings = scan_pickle_bytes(&global_call("os", "system"));
        assert_eq!(rules(&findings), ["pickle.dangerous_global"]);
        assert_eq!(findings[0].location.as_deref(), Some("byte 2"));
    }

    #[test]
    fn stack_global_operands_are_resolved_through_the_memo() {
        // "os" and "system" memoized, popped, then fetched back with BINGET.
        let mut bytes = b"\x80\x04".to_vec();
        bytes.extend(short_unicode("os"));
        bytes.extend_from_slice(b"\x940");
        bytes.extend(short_unicode("system"));
        bytes.extend_from_slice(b"\x940h\x00h\x01\x93");
        bytes.extend(short_unicode("id"));
        bytes.extend_from_slice(b"\x85R.");
        let findings = scan_pickle_bytes(&bytes);
        assert_eq!(rules(&findings), ["pickle.dangerous_global"]);
        assert!(findings[0].message.contains("os.system (STACK_GLOBAL"));
        // The same through the text opcodes PUT and GET, and LONG_BINGET.
        let bytes = b"\x80\x04Vos\np7\n0\x8c\x06system\x940g7\nj\x01\x00\x00\x00\x93)R.";
        let findings = scan_pickle_bytes(bytes);
        assert_eq!(
            rules(&findings),
            ["pickle.dangerous_global"],
            "{findings:?}"
        );
        assert!(findings[0].message.contains("os.system"));
    }

    #[test]
    fn dangerous_globals() {
        for (module, name) in [
            ("builtins", "eval"),
            ("__builtin__", "eval"),
            ("posix", "system"),
            ("subprocess", "Popen"),
            ("operator", "attrgetter"),
            ("os.path", "exists"),
            ("torch.serialization", "load"),
            ("functools", "partial"),
        ] {
            for bytes in [global_call(module, name), stack_global_call(module, name)] {
                let findings = scan_pickle_bytes(&bytes);
                assert_eq!(
                    rules(&findings),
                    ["pickle.dangerous_global"],
                    "{module}.{name}"
                );
                assert!(findings[0].severity >= Severity::High);
                assert_eq!(verdict(&bytes), Verdict::Dangerous);
            }
        }
    }

    #[test]
    fn unknown_globals_are_suspicious() {
        let findings = scan_pickle_bytes(&global_call("mylib", "Thing"));
        assert_eq!(rules(&findings), ["pickle.unknown_global"]);
        assert_eq!(findings[0].severity, Severity::Medium);
        assert!(findings[0].message.contains("mylib.Thing"));
        assert_eq!(verdict(&global_call("mylib", "Thing")), Verdict::Suspicious);
        assert_eq!(
            verdict(&stack_global_call("mylib", "Thing")),
            Verdict::Suspicious
        );
        assert_eq!(
            verdict(&global_call("collections", "OrderedDict")),
            Verdict::Clean
        );
    }

    #[test]
    fn each_global_is_reported_once() {
        let bytes = b"\x80\x02cos\nsystem\nq\x000cos\nsystem\n)R.";
        assert_eq!(
            rules(&scan_pickle_bytes(bytes)),
            ["pickle.dangerous_global"]
        );
    }

    #[test]
    fn inst_and_obj_import_and_call() {
        let findings = scan_pickle_bytes(b"(S'ls'\nios\nsystem\n.");
        assert_eq!(rules(&findings), ["pickle.dangerous_global"]);
        assert!(findings[0].message.contains("called by INST"));
        let findings = scan_pickle_bytes(b"(cos\nsystem\nS'ls'\no.");
        assert_eq!(rules(&findings), ["pickle.dangerous_global"]);
        assert!(findings[0].message.contains("called by OBJ"));
        let findings = scan_pickle_bytes(b"\x80\x02cmylib\nThing\n)\x81.");
        assert!(findings[0].message.contains("called by NEWOBJ"));
    }

    #[test]
    fn unresolvable_imports_are_dangerous() {
        // STACK_GLOBAL on two integers
        let findings = scan_pickle_bytes(b"\x80\x04K\x01K\x02\x93.");
        assert_eq!(rules(&findings), ["pickle.unresolvable_import"]);
        assert_eq!(findings[0].severity, Severity::High);
        // on a string with an escape the scanner does not decode ("o\u0073" is "os")
        let bytes = b"\x80\x04Vo\\u0073\n\x8c\x06system\x93)R.";
        assert_eq!(
            rules(&scan_pickle_bytes(bytes)),
            ["pickle.unresolvable_import"]
        );
        // on the result of a call
        let bytes = b"\x80\x04cmylib\nf\n)R\x8c\x06system\x93.";
        let findings = scan_pickle_bytes(bytes);
        assert!(rules(&findings).contains(&"pickle.unresolvable_import"));
        // an extension code of the copyreg registry
        let findings = scan_pickle_bytes(b"\x80\x02\x82\x05)R.");
        assert_eq!(rules(&findings), ["pickle.unresolvable_import"]);
    }

    #[test]
    fn malformed_pickles_are_dangerous() {
        let cases: [(&[u8], &str); 11] = [
            (b"\x80\x02\xff.", "unknown opcode 0xff at byte 2"),
            (b"\x80\x02N", "without a STOP"),
            (b"", "empty"),
            (
                b"\x80\x02X\x10\x00\x00\x00abc",
                "BINUNICODE at byte 2 is cut short",
            ),
            (b"\x80\x02R.", "REDUCE at byte 2 needs more values"),
            (b"\x80\x02h\x05.", "memo entry 5, which was never stored"),
            (b"\x80\x07N.", "protocol 7"),
            (b"\x80\x02t.", "no MARK"),
            (b"\x80\x02(K\x01d.", "odd number"),
            (b"\x80\x02T\xff\xff\xff\xff.", "negative length"),
            (b"S'unquoted\n.", "not quoted"),
        ];
        for (bytes, message) in cases {
            let findings = scan_pickle_bytes(bytes);
            assert_eq!(rules(&findings), ["pickle.malformed"], "{bytes:?}");
            assert!(
                findings[0].message.contains(message),
                "{}",
                findings[0].message
            );
            assert_eq!(verdict(bytes), Verdict::Dangerous);
        }
        // A truncated state dict, at every protocol.
        for (protocol, _) in STATE_DICT {
            let bytes = state_dict(protocol);
            let cut = &bytes[..bytes.len() / 2];
            assert_eq!(rules(&scan_pickle_bytes(cut)), ["pickle.malformed"]);
        }
    }

    #[test]
    fn imports_before_a_parse_error_are_still_reported() {
        let findings = scan_pickle_bytes(b"\x80\x02cos\nsystem\n)R\xff");
        assert_eq!(
            rules(&findings),
            ["pickle.malformed", "pickle.dangerous_global"]
        );
    }

    #[test]
    fn concatenated_pickles() {
        let benign = state_dict(2);
        let evil = global_call("os", "system");
        let join = |parts: &[&[u8]]| parts.concat();
        assert_eq!(verdict(&join(&[&benign, &benign])), Verdict::Clean);
        let findings = scan_pickle_bytes(&join(&[&benign, &evil]));
        assert_eq!(rules(&findings), ["pickle.dangerous_global"]);
        let at = benign.len() + 2;
        assert_eq!(findings[0].location, Some(format!("byte {at}")));
        // After a good pickle, bytes that do not start with PROTO are data...
        assert_eq!(
            verdict(&join(&[&benign, b"cos\nsystem\n)R."])),
            Verdict::Clean
        );
        // ...and so is a following PROTO that does not parse, unless it imported something.
        assert_eq!(
            verdict(&join(&[&benign, b"\x80\x00\x00\x01"])),
            Verdict::Clean
        );
        assert_eq!(
            verdict(&join(&[&benign, b"\x80\x02cos\nsystem\n\xff"])),
            Verdict::Dangerous
        );
        // A first pickle that does not parse is malformed whatever follows.
        assert_eq!(
            verdict(&join(&[b"\x80\x02\xff", &benign])),
            Verdict::Dangerous
        );
    }

    #[test]
    fn build_on_an_imported_global_is_dangerous() {
        let findings = scan_pickle_bytes(b"\x80\x02cmylib\nconfig\n}b.");
        assert_eq!(
            rules(&findings),
            ["pickle.unknown_global", "pickle.build_on_global"]
        );
        assert_eq!(Verdict::from_findings(&findings), Verdict::Dangerous);
    }

    #[test]
    fn crafted_names_cannot_forge_report_lines() {
        let findings = scan_pickle_bytes(&stack_global_call("my\nlib", "Thing\u{1b}[31m"));
        assert_eq!(rules(&findings), ["pickle.unknown_global"]);
        assert!(!findings[0].message.contains('\n'));
        assert!(!findings[0].message.contains('\u{1b}'));
        assert!(findings[0].message.contains("my\\nlib"));
    }

    #[test]
    fn long_blobs_are_skipped_not_stored() {
        // A 1 MiB BINBYTES8 inside a list, then a dangerous import: the blob is streamed past.
        let mut bytes = b"\x80\x04]\x8e".to_vec();
        bytes.extend_from_slice(&(1u64 << 20).to_le_bytes());
        bytes.resize(bytes.len() + (1 << 20), b'c');
        bytes.extend_from_slice(b"a0");
        bytes.extend(global_call("os", "system").split_off(2));
        let findings = scan_pickle_bytes(&bytes);
        assert_eq!(
            rules(&findings),
            ["pickle.dangerous_global"],
            "{findings:?}"
        );
    }

    fn legacy(model: &[u8]) -> Vec<u8> {
        let mut bytes = hex::decode("80028a0a6cfc9c46f9206aa850192e").unwrap(); // magic number
        bytes.extend_from_slice(b"\x80\x02M\xe9\x03."); // protocol version 1001
        bytes.extend_from_slice(b"\x80\x02}q\x00."); // system info
        bytes.extend_from_slice(model);
        bytes.extend_from_slice(b"\x80\x02]q\x00(X\x01\x00\x00\x000q\x01X\x01\x00\x00\x001q\x02e."); // keys
                                                                                                     // Raw storage bytes, which would look dangerous if they were read as a pickle.
        bytes.extend_from_slice(&16u64.to_le_bytes());
        bytes.extend_from_slice(b"\x80\x02cos\nsystem\n)R.");
        bytes
    }

    fn scan_legacy(bytes: &[u8]) -> Vec<Finding> {
        let mut findings = Findings::default();
        scan_stream(bytes, Mode::Legacy, None, &mut findings).unwrap();
        findings.finish()
    }

    #[test]
    fn legacy_files_scan_their_five_pickles() {
        assert_eq!(scan_legacy(&legacy(&state_dict(2))), []);
        let findings = scan_legacy(&legacy(&global_call("os", "system")));
        assert_eq!(rules(&findings), ["pickle.dangerous_global"]);
        // A model pickle at protocol 0 (no PROTO opcode) is scanned all the same.
        let findings = scan_legacy(&legacy(b"cos\nsystem\n(S'ls'\ntR."));
        assert_eq!(rules(&findings), ["pickle.dangerous_global"]);
        // Fewer than five pickles, or a broken one, is malformed.
        let bytes = legacy(&state_dict(2));
        let three = &bytes[..15 + 6 + 6];
        assert_eq!(rules(&scan_legacy(three)), ["pickle.malformed"]);
        assert_eq!(
            rules(&scan_legacy(&legacy(b"\x80\x02\xff."))),
            ["pickle.malformed"]
        );
    }
}
