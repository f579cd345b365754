//! A reader of Grafana Alloy's configuration syntax, for checking files that
//! cannot be run here (no Alloy binary): blocks, attributes and expressions,
//! and the references between components.
//!
//! It checks the syntax (blocks, labels, attributes, lists, objects, strings,
//! numbers, function calls, references, comments) and lets a test check that
//! every reference names a declared component. It does not know the
//! components' arguments or evaluate anything.
//!
//! ```
//! let config = semtel_tests::alloy::parse(
//!     r#"otelcol.processor.batch "default" {
//!   output { traces = [otelcol.exporter.otlp.tempo.input] }
//! }
//! otelcol.exporter.otlp "tempo" { client { endpoint = "tempo:4317" } }"#,
//! )
//! .unwrap();
//! assert_eq!(config.components(), ["otelcol.processor.batch.default", "otelcol.exporter.otlp.tempo"]);
//! assert_eq!(config.blocks[0].references(), ["otelcol.exporter.otlp.tempo.input"]);
//! ```

use std::fmt;

/// A block: `name.parts "label" { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The dotted name (`otelcol.receiver.otlp`, or `output` inside a component).
    pub name: String,
    /// The label, if any.
    pub label: Option<String>,
    /// Attributes, in order.
    pub attributes: Vec<(String, Expr)>,
    /// Nested blocks, in order.
    pub blocks: Vec<Block>,
    /// The line it starts on.
    pub line: usize,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A string literal (unescaped).
    Str(String),
    /// A number, as written.
    Number(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `{ a = 1, "b" = 2 }`.
    Object(Vec<(String, Expr)>),
    /// A dotted reference (`otelcol.exporter.otlp.tempo.input`).
    Reference(String),
    /// A call (`sys.env("X")`).
    Call(String, Vec<Expr>),
}

/// A whole file: its top-level blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Top-level blocks (components, and `logging` or similar).
    pub blocks: Vec<Block>,
}

/// A syntax error, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Config {
    /// The components' ids (`name.label`), in order.
    #[must_use]
    pub fn components(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter_map(|b| b.label.as_ref().map(|l| format!("{}.{l}", b.name)))
            .collect()
    }

    /// The top-level block with this name and label.
    #[must_use]
    pub fn component(&self, name: &str, label: &str) -> Option<&Block> {
        self.blocks
            .iter()
            .find(|b| b.name == name && b.label.as_deref() == Some(label))
    }
}

impl Block {
    /// The attribute with this name, if any.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&Expr> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e)
    }

    /// The first nested block with this name.
    #[must_use]
    pub fn block(&self, name: &str) -> Option<&Block> {
        self.blocks.iter().find(|b| b.name == name)
    }

    /// Every reference in this block's expressions, nested blocks included.
    #[must_use]
    pub fn references(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (_, e) in &self.attributes {
            e.references(&mut out);
        }
        for b in &self.blocks {
            out.extend(b.references());
        }
        out
    }

    /// Every call of this function in this block, nested blocks included.
    #[must_use]
    pub fn calls(&self, function: &str) -> usize {
        let mut n = 0;
        for (_, e) in &self.attributes {
            n += e.calls(function);
        }
        n + self.blocks.iter().map(|b| b.calls(function)).sum::<usize>()
    }
}

impl Expr {
    fn references(&self, out: &mut Vec<String>) {
        match self {
            Self::Reference(r) => out.push(r.clone()),
            Self::List(items) | Self::Call(_, items) => {
                for i in items {
                    i.references(out);
                }
            }
            Self::Object(entries) => {
                for (_, e) in entries {
                    e.references(out);
                }
            }
            _ => {}
        }
    }

    fn calls(&self, function: &str) -> usize {
        match self {
            Self::Call(f, args) => {
                usize::from(f == function) + args.iter().map(|a| a.calls(function)).sum::<usize>()
            }
            Self::List(items) => items.iter().map(|a| a.calls(function)).sum(),
            Self::Object(entries) => entries.iter().map(|(_, a)| a.calls(function)).sum(),
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Number(String),
    Punct(char),
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line) = (0, 1);
    let err = |line, message: &str| SyntaxError {
        line,
        message: message.to_owned(),
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(err(line, "unterminated comment"));
                }
                i += 2;
            }
            '"' => {
                let start = line;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None | Some('\n') => return Err(err(start, "unterminated string")),
                        Some('"') => break,
                        Some('\\') => {
                            let esc = chars.get(i + 1).copied();
                            s.push(match esc {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('"') => '"',
                                Some('\\') => '\\',
                                _ => return Err(err(line, "unknown escape in a string")),
                            });
                            i += 2;
                        }
                        Some(&c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push((Tok::Str(s), start));
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                out.push((Tok::Number(chars[start..i].iter().collect()), line));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Ident(chars[start..i].iter().collect()), line));
            }
            '{' | '}' | '[' | ']' | '(' | ')' | '=' | ',' | '.' | '-' => {
                out.push((Tok::Punct(c), line));
                i += 1;
            }
            other => return Err(err(line, &format!("unexpected character `{other}`"))),
        }
    }
    Ok(out)
}

/// A block's attributes and nested blocks.
type Body = (Vec<(String, Expr)>, Vec<Block>);

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
}

impl Parser {
    fn line(&self) -> usize {
        self.toks
            .get(self.at)
            .or_else(|| self.toks.last())
            .map_or(1, |t| t.1)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            line: self.line(),
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.0)
    }

    fn punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), SyntaxError> {
        if self.punct(c) {
            Ok(())
        } else {
            self.err(format!("expected `{c}`, found {:?}", self.peek()))
        }
    }

    fn dotted(&mut self) -> Result<String, SyntaxError> {
        let mut name = match self.peek() {
            Some(Tok::Ident(s)) => s.clone(),
            other => return self.err(format!("expected a name, found {other:?}")),
        };
        self.at += 1;
        while self.peek() == Some(&Tok::Punct('.')) {
            self.at += 1;
            match self.peek() {
                Some(Tok::Ident(s)) => name = format!("{name}.{s}"),
                other => return self.err(format!("expected a name after `.`, found {other:?}")),
            }
            self.at += 1;
        }
        Ok(name)
    }

    /// A body up to `}` (or the end, at top level).
    fn body(&mut self, top: bool) -> Result<Body, SyntaxError> {
        let (mut attributes, mut blocks) = (Vec::new(), Vec::new());
        loop {
            match self.peek() {
                None if top => return Ok((attributes, blocks)),
                None => return self.err("unexpected end of file: a `}` is missing"),
                Some(Tok::Punct('}')) if !top => {
                    self.at += 1;
                    return Ok((attributes, blocks));
                }
                _ => {}
            }
            let line = self.line();
            let name = self.dotted()?;
            if self.punct('=') {
                if name.contains('.') {
                    return self.err(format!("attribute name `{name}` has a `.`"));
                }
                let value = self.expr()?;
                attributes.push((name, value));
                continue;
            }
            let label = match self.peek() {
                Some(Tok::Str(s)) => {
                    let s = s.clone();
                    self.at += 1;
                    Some(s)
                }
                _ => None,
            };
            self.expect('{')?;
            let (a, b) = self.body(false)?;
            blocks.push(Block {
                name,
                label,
                attributes: a,
                blocks: b,
                line,
            });
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        let tok = self.peek().cloned();
        match tok {
            Some(Tok::Str(s)) => {
                self.at += 1;
                Ok(Expr::Str(s))
            }
            Some(Tok::Number(n)) => {
                self.at += 1;
                Ok(Expr::Number(n))
            }
            Some(Tok::Punct('-')) => {
                self.at += 1;
                match self.expr()? {
                    Expr::Number(n) => Ok(Expr::Number(format!("-{n}"))),
                    _ => self.err("`-` before something other than a number"),
                }
            }
            Some(Tok::Punct('[')) => {
                self.at += 1;
                let mut items = Vec::new();
                while !self.punct(']') {
                    items.push(self.expr()?);
                    if !self.punct(',') {
                        self.expect(']')?;
                        break;
                    }
                }
                Ok(Expr::List(items))
            }
            Some(Tok::Punct('{')) => {
                self.at += 1;
                let mut entries = Vec::new();
                while !self.punct('}') {
                    let key = match self.peek().cloned() {
                        Some(Tok::Ident(s) | Tok::Str(s)) => s,
                        other => {
                            return self.err(format!("expected an object key, found {other:?}"));
                        }
                    };
                    self.at += 1;
                    self.expect('=')?;
                    entries.push((key, self.expr()?));
                    if !self.punct(',') {
                        self.expect('}')?;
                        break;
                    }
                }
                Ok(Expr::Object(entries))
            }
            Some(Tok::Ident(_)) => {
                let name = self.dotted()?;
                match name.as_str() {
                    "true" => return Ok(Expr::Bool(true)),
                    "false" => return Ok(Expr::Bool(false)),
                    "null" => return Ok(Expr::Null),
                    _ => {}
                }
                if self.punct('(') {
                    let mut args = Vec::new();
                    while !self.punct(')') {
                        args.push(self.expr()?);
                        if !self.punct(',') {
                            self.expect(')')?;
                            break;
                        }
                    }
                    return Ok(Expr::Call(name, args));
                }
                Ok(Expr::Reference(name))
            }
            other => self.err(format!("expected a value, found {other:?}")),
        }
    }
}

/// Parses a configuration file.
///
/// # Errors
/// The first syntax error, with its line.
pub fn parse(text: &str) -> Result<Config, SyntaxError> {
    let mut p = Parser {
        toks: lex(text)?,
        at: 0,
    };
    let (attributes, blocks) = p.body(true)?;
    if let Some((name, _)) = attributes.first() {
        return Err(SyntaxError {
            line: 1,
            message: format!("attribute `{name}` outside a block"),
        });
    }
    Ok(Config { blocks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_line() {
        assert_eq!(parse("a \"x\" {\n  b = [1, 2\n}\n").unwrap_err().line, 3);
        assert!(
            parse("a \"x\" {\n")
                .unwrap_err()
                .message
                .contains("`}` is missing")
        );
        assert!(
            parse("a \"x\" { b = \"open }")
                .unwrap_err()
                .message
                .contains("unterminated")
        );
        assert!(
            parse("x = 1")
                .unwrap_err()
                .message
                .contains("outside a block")
        );
    }

    #[test]
    fn values() {
        let c = parse("a \"l\" {\n  // c\n  n = -1.5\n  o = { k = sys.env(\"X\"), \"q\" = true }\n  /* c */ b { x = null }\n}").unwrap();
        let a = &c.blocks[0];
        assert_eq!(a.attribute("n"), Some(&Expr::Number("-1.5".into())));
        assert_eq!(a.calls("sys.env"), 1);
        assert_eq!(a.block("b").unwrap().attribute("x"), Some(&Expr::Null));
    }
}
