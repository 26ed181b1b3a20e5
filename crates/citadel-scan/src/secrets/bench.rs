//! A synthetic source tree for `citadel bench scan`: code-like text files of 8–256 KiB, with the
//! words that gate rules (key, token, secret, password, api, URLs) on one line in eight, and a
//! few hundred planted fake secrets (about one per 512 KiB).

use std::path::Path;

use crate::{Result, ScanError};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const WORDS: &[&str] = &[
    "config", "request", "response", "handler", "client", "server", "buffer", "index", "value",
    "result", "error", "stream", "reader", "writer", "model", "layer", "tensor", "batch", "epoch",
    "dataset", "schema", "table", "column", "user", "group", "grant", "policy", "audit", "event",
    "cache", "state", "session", "context", "options", "params", "limit", "offset", "count",
];

/// splitmix64: deterministic, dependency-free.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn word(&mut self) -> &'static str {
        WORDS[self.below(WORDS.len())]
    }

    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }

    fn digits(&mut self, n: usize) -> String {
        self.chars(b"0123456789", n)
    }
}

/// One line of ordinary code; about one in eight holds a word that gates a rule (key, token,
/// secret, password, api, auth, access), a little more than in real code.
fn code_line(rng: &mut Rng, out: &mut String) {
    let (a, b, c) = (rng.word(), rng.word(), rng.word());
    let n = rng.below(10_000);
    let line = if rng.below(8) == 0 {
        match rng.below(12) {
            0 => format!("    let {a}_{b} = self.{c}.get(&key).cloned().unwrap_or_default();"),
            1 => format!(
                "    pub fn {a}_{b}(&self, token: &str) -> Result<{}, Error> {{",
                cap(c)
            ),
            2 => format!("// Refresh the {a} token before the {b} expires (see {c}::renew)."),
            3 => format!(
                "    password = os.environ[\"{}_PASSWORD\"]",
                a.to_uppercase()
            ),
            4 => format!("    {a}_url: str = \"https://{b}.example.internal/api/v{n}/{c}\""),
            5 => format!("    secret_name = f\"{{prefix}}/{a}/{b}\"  # resolved at runtime"),
            6 => format!("  {a}_{b}: ${{{{ secrets.{}_API_KEY }}}}", c.to_uppercase()),
            7 => format!("def {a}_{b}({c}, api_key=None, timeout={n}):"),
            8 => format!(
                "    const {a}{} = await fetch(`/api/{b}/${{id}}`, {{ headers }});",
                cap(b)
            ),
            9 => format!(
                "    access_level = AccessLevel.{}  # {b} {c}",
                a.to_uppercase()
            ),
            10 => format!("    auth_header = \"Bearer \" + get_{a}_token({b})"),
            _ => format!("        self.{a}_{b} = {c}.{}(key_id={n})", rng.word()),
        }
    } else {
        match rng.below(18) {
            0 => format!("        if {a}.len() > {n} {{ return Err(Error::TooLong(\"{b}\")); }}"),
            1 => format!("    \"{a}\": {{ \"{b}\": {n}, \"{c}\": [1, 2, 3], \"enabled\": true }},"),
            2 => format!("    assert_eq!({a}.{b}(), {n}, \"{c} should match\");"),
            3 => format!("        for {a} in {b}.iter().filter(|x| x.{c} > {n}) {{"),
            4 => format!("  - name: {a}-{b}\n    image: registry.internal/{c}:{n}"),
            5 => format!("    #[serde(rename = \"{a}_{b}\")] pub {c}: Option<String>,"),
            6 => format!("    log.info(\"{a} {b} completed in %d ms\", {n})"),
            7 => format!("    SELECT {a}, {b} FROM {c} WHERE id = $1 LIMIT {n};"),
            8 => format!("    let digest = sha256(&{a}); // {b} {c} {n}"),
            9 => format!("}}\n\nimpl {} for {} {{", cap(a), cap(b)),
            10 => format!("    \"{a}_{b}_ms\": {n},"),
            11 => format!("    let mut {a} = Vec::with_capacity({n});"),
            12 => format!(
                "    match {a} {{ Some(x) => x.{b}(), None => {}::default() }}",
                cap(c)
            ),
            13 => format!("        .map_err(|e| Error::{}(e.to_string()))?;", cap(a)),
            14 => format!("# {a} {b} {c}: see docs/{a}.md for the details"),
            15 => format!("    width = {n}; height = {}; depth = {}", n / 2, n / 3),
            16 => format!("import {a}.{b} as {c}"),
            _ => format!("    return {a}.map(|{b}| {b}.{c}()).collect::<Vec<_>>();"),
        }
    };
    out.push_str(&line);
    out.push('\n');
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// One planted fake secret, as the line that holds it.
fn planted(rng: &mut Rng, kind: usize) -> String {
    match kind % 11 {
        0 => format!("aws_access_key_id = {}{}", "AKIA", rng.chars(UPPER_B32, 16)),
        1 => format!("GITHUB_TOKEN={}{}", "ghp_", rng.chars(ALNUM, 36)),
        2 => format!("gitlab: {}{}", "glpat-", rng.chars(ALNUM, 20)),
        3 => format!(
            "SLACK_BOT_TOKEN=\"{}{}-{}-{}\"",
            "xoxb-",
            rng.digits(11),
            rng.digits(12),
            rng.chars(ALNUM, 24)
        ),
        4 => format!("stripe.api_key = '{}{}'", "sk_live_", rng.chars(ALNUM, 24)),
        5 => format!("HF_TOKEN={}{}", "hf_", rng.chars(LETTERS, 34)),
        6 => format!(
            "export CITADEL_TOKEN={}{}",
            "cit_pat_",
            rng.chars(ALNUM, 43)
        ),
        7 => {
            let mut db = rng.chars(ALNUM, 18);
            db.push_str(&rng.digits(2));
            format!("    db_password = \"{db}\"")
        }
        8 => format!(
            "DATABASE_URL={}svc:{}{}@db.internal:5432/app",
            "postgres://",
            rng.chars(ALNUM, 16),
            rng.digits(2)
        ),
        9 => format!(
            "auth = \"{}{}.{}{}.{}\"",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "",
            "eyJ",
            rng.chars(ALNUM, 40),
            rng.chars(ALNUM, 43)
        ),
        _ => {
            let mut pem = String::from("-----BEGIN ");
            pem.push_str("PRIVATE KEY-----\n");
            for _ in 0..12 {
                pem.push_str(&rng.chars(B64, 64));
                pem.push('\n');
            }
            pem.push_str("-----END ");
            pem.push_str("PRIVATE KEY-----");
            pem
        }
    }
}

/// Writes a synthetic source tree of about `bytes` bytes under `dir` (created if needed): files
/// of 8–256 KiB in nested folders, code-like lines, one planted fake secret per ~512 KiB.
/// Returns the bytes written.
pub fn bench_tree(dir: &Path, bytes: u64) -> Result<u64> {
    const EXTS: &[&str] = &["rs", "py", "ts", "yaml", "json", "go", "toml", "md"];
    let mut rng = Rng(0x5EC2_E75C_A11E_D001 ^ bytes);
    let mut written = 0u64;
    let mut planted_budget = 0u64;
    let mut planted_count = 0usize;
    let mut index = 0usize;
    std::fs::create_dir_all(dir).map_err(|e| ScanError::io(dir, e))?;
    while written < bytes {
        let target = 8 * 1024 + rng.below(248 * 1024);
        let target = target.min(
            usize::try_from(bytes - written)
                .unwrap_or(usize::MAX)
                .max(1),
        );
        let mut text = String::with_capacity(target + 512);
        while text.len() < target {
            let before = text.len();
            code_line(&mut rng, &mut text);
            planted_budget += (text.len() - before) as u64;
            if planted_budget >= 512 * 1024 {
                planted_budget = 0;
                text.push_str(&planted(&mut rng, planted_count));
                planted_count += 1;
                text.push('\n');
            }
        }
        let folder = dir.join(format!("pkg{:03}", index / 64)).join(rng.word());
        std::fs::create_dir_all(&folder).map_err(|e| ScanError::io(&folder, e))?;
        let file = folder.join(format!(
            "{}_{index}.{}",
            rng.word(),
            EXTS[rng.below(EXTS.len())]
        ));
        std::fs::write(&file, &text).map_err(|e| ScanError::io(&file, e))?;
        written += text.len() as u64;
        index += 1;
    }
    Ok(written)
}
