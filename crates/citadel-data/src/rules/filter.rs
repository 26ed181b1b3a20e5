//! Row-filter conditions and the small expression language that writes them.
//!
//! ```text
//! filter    := column ("=" | "==") (literal | attribute)
//!            | column IN (attribute | "(" literal ("," literal)* ")")
//! column    := identifier | `back-quoted name`
//! attribute := viewer.identifier
//! literal   := 'text' | "text" | number | true | false      (a quote is doubled inside text)
//! ```
//! Keywords are case-insensitive. There is no evaluation of anything else: no functions, no `OR`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use super::Viewer;
use crate::error::{DataError, Result};
use crate::format::number_from_text;

/// When a row passes a filter. Rows whose column is absent or null never pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterCondition {
    /// The value is one of the viewer's values of this attribute (a viewer without it sees no rows).
    InViewerAttribute(String),
    /// The value equals the literal ([`values_match`]).
    Equals(Value),
    /// The value equals one of the literals ([`values_match`]).
    In(Vec<Value>),
}

impl FilterCondition {
    /// Whether a row's `value` passes for `viewer`.
    pub fn passes(&self, value: Option<&Value>, viewer: &Viewer) -> bool {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return false;
        };
        match self {
            FilterCondition::InViewerAttribute(attribute) => {
                let (Some(text), Some(allowed)) =
                    (scalar_text(value), viewer.attributes.get(attribute))
                else {
                    return false;
                };
                allowed.iter().any(|a| *a == text)
            }
            FilterCondition::Equals(literal) => values_match(value, literal),
            FilterCondition::In(literals) => literals.iter().any(|l| values_match(value, l)),
        }
    }

    /// The condition without its literals, for audit events (`IN viewer.regions`, `= literal`).
    pub fn kind(&self) -> String {
        match self {
            FilterCondition::InViewerAttribute(a) => format!("IN viewer.{a}"),
            FilterCondition::Equals(_) => "= literal".into(),
            FilterCondition::In(_) => "IN literals".into(),
        }
    }
}

/// A scalar's text: a string itself, a number or boolean as JSON writes it; none for the rest.
pub(crate) fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Equality used by filters and erasure: exact JSON equality, numbers by value (`42` = `42.0`),
/// and a string equal to a number's or boolean's JSON text (`"42"` = `42`, `"true"` = `true`).
/// Null matches nothing; arrays and objects match only an identical value.
pub fn values_match(value: &Value, literal: &Value) -> bool {
    match (value, literal) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
        (Value::String(s), other @ (Value::Number(_) | Value::Bool(_)))
        | (other @ (Value::Number(_) | Value::Bool(_)), Value::String(s)) => {
            scalar_text(other).is_some_and(|t| t == s.as_str())
        }
        (a, b) => a == b,
    }
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// A row filter: only rows whose `column` passes `condition` are returned, unless the viewer is in
/// one of `exempt_groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowFilter {
    /// The top-level column tested.
    pub column: String,
    /// The test.
    pub condition: FilterCondition,
    /// Groups whose members see every row.
    #[serde(default)]
    pub exempt_groups: Vec<String>,
}

impl RowFilter {
    /// Parses an expression such as `region IN viewer.regions`, `country = 'FR'` or
    /// `tier IN ('gold', 'silver')`, with no exempt groups.
    pub fn parse(expression: &str) -> Result<RowFilter> {
        Parser::new(expression).filter()
    }
}

impl FromStr for RowFilter {
    type Err = DataError;

    fn from_str(s: &str) -> Result<RowFilter> {
        RowFilter::parse(s)
    }
}

impl fmt::Display for RowFilter {
    /// The filter as an expression [`RowFilter::parse`] reads back (exempt groups not included).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_identifier(f, &self.column)?;
        match &self.condition {
            FilterCondition::InViewerAttribute(a) => write!(f, " IN viewer.{a}"),
            FilterCondition::Equals(v) => {
                f.write_str(" = ")?;
                write_literal(f, v)
            }
            FilterCondition::In(values) => {
                f.write_str(" IN (")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_literal(f, v)?;
                }
                f.write_str(")")
            }
        }
    }
}

fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.eq_ignore_ascii_case("in")
}

fn write_identifier(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_plain_identifier(name) {
        f.write_str(name)
    } else {
        write!(f, "`{}`", name.replace('`', "``"))
    }
}

fn write_literal(f: &mut fmt::Formatter<'_>, v: &Value) -> fmt::Result {
    match v {
        Value::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
        other => write!(f, "{other}"),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Text(String),
    Number(String),
    Equals,
    Open,
    Close,
    Comma,
    Dot,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("`{w}`"),
            Token::Quoted(q) => format!("`{q}`"),
            Token::Text(_) => "a quoted value".into(),
            Token::Number(n) => format!("`{n}`"),
            Token::Equals => "`=`".into(),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::Comma => "`,`".into(),
            Token::Dot => "`.`".into(),
        }
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    at: usize,
    lex_error: Option<String>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        let (tokens, lex_error) = match lex(input) {
            Ok(tokens) => (tokens, None),
            Err(reason) => (Vec::new(), Some(reason)),
        };
        Parser {
            input,
            tokens,
            at: 0,
            lex_error,
        }
    }

    fn error(&self, reason: impl Into<String>) -> DataError {
        DataError::parse("row filter", self.input, reason)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect_end(&mut self) -> Result<()> {
        match self.next() {
            None => Ok(()),
            Some(t) => Err(self.error(format!(
                "unexpected {} after the condition; write one condition per filter",
                t.describe()
            ))),
        }
    }

    fn filter(mut self) -> Result<RowFilter> {
        if let Some(reason) = self.lex_error.take() {
            return Err(self.error(reason));
        }
        let column = match self.next() {
            Some(Token::Word(w)) if !w.eq_ignore_ascii_case("in") => w,
            Some(Token::Quoted(q)) => q,
            Some(t) => {
                return Err(self.error(format!(
                    "expected a column name first, found {}",
                    t.describe()
                )))
            }
            None => return Err(self.error("empty; write e.g. region IN viewer.regions")),
        };
        let condition = match self.next() {
            Some(Token::Equals) => match self.next() {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("viewer") => {
                    FilterCondition::InViewerAttribute(self.attribute()?)
                }
                other => FilterCondition::Equals(self.literal(other)?),
            },
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => match self.next() {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("viewer") => {
                    FilterCondition::InViewerAttribute(self.attribute()?)
                }
                Some(Token::Open) => FilterCondition::In(self.literal_list()?),
                _ => {
                    return Err(
                        self.error("after IN write viewer.ATTRIBUTE or a list such as ('a', 'b')")
                    )
                }
            },
            Some(t) => {
                return Err(self.error(format!(
                    "expected = or IN after the column, found {}",
                    t.describe()
                )))
            }
            None => return Err(self.error("expected = or IN after the column")),
        };
        self.expect_end()?;
        Ok(RowFilter {
            column,
            condition,
            exempt_groups: Vec::new(),
        })
    }

    fn attribute(&mut self) -> Result<String> {
        match (self.next(), self.next()) {
            (Some(Token::Dot), Some(Token::Word(a))) => Ok(a),
            _ => Err(self.error("expected viewer.ATTRIBUTE, such as viewer.regions")),
        }
    }

    fn literal(&self, token: Option<Token>) -> Result<Value> {
        match token {
            Some(Token::Text(s)) => Ok(Value::String(s)),
            Some(Token::Number(n)) => number_from_text(&n)
                .map(Value::Number)
                .ok_or_else(|| self.error(format!("`{n}` is not a number; quote text as '{n}'"))),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Err(self
                .error("null matches nothing: rows whose value is null are always filtered out")),
            Some(Token::Word(w)) => {
                Err(self.error(format!("`{w}` is not a value; quote text as '{w}'")))
            }
            Some(t) => Err(self.error(format!("expected a value, found {}", t.describe()))),
            None => Err(self.error("expected a value after =")),
        }
    }

    fn literal_list(&mut self) -> Result<Vec<Value>> {
        let mut values = Vec::new();
        loop {
            let token = self.next();
            values.push(self.literal(token)?);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => return Ok(values),
                _ => return Err(self.error("expected `,` or `)` in the value list")),
            }
        }
    }
}

fn lex(input: &str) -> std::result::Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                if chars.peek().map(|&(_, c)| c) == Some('=') {
                    chars.next();
                }
                tokens.push(Token::Equals);
            }
            '(' | ')' | ',' | '.' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Dot,
                });
            }
            '\'' | '"' | '`' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some((_, q)) if q == c => {
                            if chars.peek().map(|&(_, n)| n) == Some(c) {
                                chars.next();
                                text.push(c);
                            } else {
                                break;
                            }
                        }
                        Some((_, other)) => text.push(other),
                        None => return Err(format!("unclosed {c} opened at character {}", at + 1)),
                    }
                }
                tokens.push(if c == '`' {
                    Token::Quoted(text)
                } else {
                    Token::Text(text)
                });
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let mut number = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    let after_exponent = matches!(number.chars().last(), Some('e' | 'E'));
                    if d.is_ascii_alphanumeric()
                        || d == '.'
                        || d == '_'
                        || ((d == '-' || d == '+') && (number.is_empty() || after_exponent))
                    {
                        number.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Number(number));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' {
                        word.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => {
                return Err(format!(
                    "unexpected `{other}` at character {}; compare with = or IN",
                    at + 1
                ))
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> RowFilter {
        RowFilter::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn reason(s: &str) -> String {
        match RowFilter::parse(s) {
            Err(DataError::Parse { reason, .. }) => reason,
            other => panic!("{s}: expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_three_forms() {
        let f = parse("region IN viewer.regions");
        assert_eq!(f.column, "region");
        assert_eq!(
            f.condition,
            FilterCondition::InViewerAttribute("regions".into())
        );
        assert!(f.exempt_groups.is_empty());
        assert_eq!(
            parse("country = 'FR'").condition,
            FilterCondition::Equals(json!("FR"))
        );
        assert_eq!(
            parse("tier in ('gold','silver', \"it's\")").condition,
            FilterCondition::In(vec![json!("gold"), json!("silver"), json!("it's")])
        );
        assert_eq!(
            parse("level == 3").condition,
            FilterCondition::Equals(json!(3))
        );
        assert_eq!(
            parse("score IN (-1.5, 2e3, TRUE)").condition,
            FilterCondition::In(vec![json!(-1.5), json!(2000.0), json!(true)])
        );
        assert_eq!(
            parse("owner = viewer.team").condition,
            FilterCondition::InViewerAttribute("team".into())
        );
        let quoted = parse("`home region` = 'it''s'");
        assert_eq!(quoted.column, "home region");
        assert_eq!(quoted.condition, FilterCondition::Equals(json!("it's")));
        assert_eq!(parse("pays = 'Côte d’Ivoire'").column, "pays");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "region IN viewer.regions",
            "country = 'FR'",
            "tier IN ('gold', 'silver')",
            "`home region` = 'it''s'",
            "n IN (1, 2.5, true)",
            "`in` = 1",
        ] {
            let f = parse(s);
            assert_eq!(f.to_string(), s);
            assert_eq!(parse(&f.to_string()), f);
        }
    }

    #[test]
    fn errors_say_what_to_write() {
        assert!(reason("").contains("empty"));
        assert!(reason("country = FR").contains("quote text as 'FR'"));
        assert!(reason("country").contains("expected = or IN"));
        assert!(reason("country LIKE 'F%'").contains("expected = or IN"));
        assert!(reason("country = 'FR").contains("unclosed '"));
        assert!(reason("tier IN ('a' 'b')").contains("`,` or `)`"));
        assert!(reason("tier IN ('a',").contains("expected a value"));
        assert!(reason("tier IN 'a'").contains("after IN"));
        assert!(reason("region IN viewer").contains("viewer.ATTRIBUTE"));
        assert!(reason("region IN viewer.").contains("viewer.ATTRIBUTE"));
        assert!(reason("a = 1 OR b = 2").contains("one condition per filter"));
        assert!(reason("a = null").contains("null matches nothing"));
        assert!(reason("a = 007").contains("not a number"));
        assert!(reason("a > 1").contains("unexpected `>`"));
        assert!(reason("= 1").contains("column name first"));
        assert!(reason("IN = 1").contains("column name first"));
        let full = RowFilter::parse("a > 1").unwrap_err().to_string();
        assert_eq!(
            full,
            "invalid row filter `a > 1`: unexpected `>` at character 3; compare with = or IN"
        );
    }

    #[test]
    fn value_matching() {
        assert!(values_match(&json!("FR"), &json!("FR")));
        assert!(!values_match(&json!("fr"), &json!("FR")));
        assert!(values_match(&json!(42), &json!("42")));
        assert!(values_match(&json!("42"), &json!(42)));
        assert!(values_match(&json!(42), &json!(42.0)));
        assert!(values_match(&json!(true), &json!("true")));
        assert!(!values_match(&json!("042"), &json!(42)));
        assert!(!values_match(&json!("42.0"), &json!(42)));
        assert!(!values_match(&Value::Null, &Value::Null));
        assert!(!values_match(&json!(["a"]), &json!("a")));
        assert!(values_match(&json!({"a": 1}), &json!({"a": 1})));
        assert!(values_match(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!values_match(&json!(u64::MAX), &json!(-1)));
    }
}
