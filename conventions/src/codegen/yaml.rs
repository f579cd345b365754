//! A small YAML tree with a line and column on every node, built from
//! `libyaml-safer` events (a safe port of libyaml, which accepts what the
//! official registry writes, as Weaver's parser does), so that semantic errors
//! (unknown `ref`, duplicate id) can point at the line they come from.

use libyaml_safer::{Event, EventData, Mark, Parser, ScalarStyle};
use std::collections::HashMap;

/// A position in a file, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl Pos {
    fn of(mark: Mark) -> Self {
        Self {
            line: usize::try_from(mark.line)
                .unwrap_or(usize::MAX)
                .saturating_add(MARK_BASE),
            col: usize::try_from(mark.column)
                .unwrap_or(usize::MAX)
                .saturating_add(MARK_BASE),
        }
    }
}

/// What to add to a `Mark` to get 1-based positions.
const MARK_BASE: usize = 1;

#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A scalar and whether it was plain (unquoted), which decides whether
    /// `0` is an int or a string.
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Pos,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s, true) if s.is_empty() || s == "~" || s == "null")
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A plain scalar read as an integer.
    pub fn as_int(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar(s, true) => s.parse().ok(),
            _ => None,
        }
    }

    /// A plain scalar read as a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar(s, true) => match s.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether this is a plain scalar that reads as a float (and not an int).
    pub fn is_float(&self) -> bool {
        match &self.value {
            Value::Scalar(s, true) => s.parse::<i64>().is_err() && s.parse::<f64>().is_ok(),
            _ => false,
        }
    }
}

/// A YAML syntax error.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

struct Loader<'a, 'b> {
    parser: Parser<&'b mut &'a [u8]>,
    anchors: HashMap<String, Node>,
}

impl Loader<'_, '_> {
    fn next(&mut self) -> Result<Event, SyntaxError> {
        self.parser.parse().map_err(|e| {
            let mark = e.problem_mark().unwrap_or_default();
            let message = match e.context() {
                Some(c) => format!("{}, {c}", e.problem()),
                None => e.problem().to_owned(),
            };
            SyntaxError {
                pos: Pos::of(mark),
                message,
            }
        })
    }

    /// Reads the node that starts with `ev`.
    fn node(&mut self, ev: Event) -> Result<Option<Node>, SyntaxError> {
        let pos = Pos::of(ev.start_mark);
        let (node, anchor) = match ev.data {
            EventData::Scalar {
                value,
                style,
                anchor,
                ..
            } => (
                Node {
                    value: Value::Scalar(value, style == ScalarStyle::Plain),
                    pos,
                },
                anchor,
            ),
            EventData::Alias { anchor } => {
                let node = self
                    .anchors
                    .get(&anchor)
                    .cloned()
                    .ok_or_else(|| SyntaxError {
                        pos,
                        message: format!("alias to unknown anchor `{anchor}`"),
                    })?;
                return Ok(Some(node));
            }
            EventData::SequenceStart { anchor, .. } => {
                let mut items = Vec::new();
                loop {
                    let ev = self.next()?;
                    if matches!(ev.data, EventData::SequenceEnd) {
                        break;
                    }
                    if let Some(n) = self.node(ev)? {
                        items.push(n);
                    }
                }
                (
                    Node {
                        value: Value::Seq(items),
                        pos,
                    },
                    anchor,
                )
            }
            EventData::MappingStart { anchor, .. } => {
                let mut entries = Vec::new();
                loop {
                    let ev = self.next()?;
                    if matches!(ev.data, EventData::MappingEnd) {
                        break;
                    }
                    let Some(key) = self.node(ev)? else {
                        continue;
                    };
                    let ev = self.next()?;
                    let Some(value) = self.node(ev)? else {
                        continue;
                    };
                    entries.push((key, value));
                }
                (
                    Node {
                        value: Value::Map(entries),
                        pos,
                    },
                    anchor,
                )
            }
            _ => return Ok(None),
        };
        if let Some(anchor) = anchor {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(Some(node))
    }
}

/// Parses the first document of `text`. An empty file gives `None`.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut bytes = text.as_bytes();
    let mut parser = Parser::new();
    parser.set_input_string(&mut bytes);
    let mut loader = Loader {
        parser,
        anchors: HashMap::new(),
    };
    loop {
        let ev = loader.next()?;
        match ev.data {
            EventData::StreamEnd => return Ok(None),
            EventData::SequenceStart { .. }
            | EventData::MappingStart { .. }
            | EventData::Scalar { .. }
            | EventData::Alias { .. } => {
                let node = loader.node(ev)?;
                // Drain the rest so a syntax error later in the file is reported.
                loop {
                    if matches!(loader.next()?.data, EventData::StreamEnd) {
                        break;
                    }
                }
                return Ok(node);
            }
            _ => {}
        }
    }
}

/// Reads YAML (its first document) into JSON values: plain scalars that
/// read as null, booleans or numbers become those, every other scalar a
/// string. For tests that check YAML files' structure.
///
/// # Errors
/// A syntax error, with its line and column.
#[doc(hidden)]
pub fn to_json(text: &str) -> Result<serde_json::Value, String> {
    fn convert(node: &Node) -> serde_json::Value {
        use serde_json::Value as J;
        match &node.value {
            Value::Scalar(_, true) if node.is_null() => J::Null,
            Value::Scalar(s, plain) => {
                if *plain {
                    if let Some(b) = node.as_bool() {
                        return J::Bool(b);
                    }
                    if let Ok(i) = s.parse::<i64>() {
                        return J::from(i);
                    }
                    if let Some(f) = s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                        return J::Number(f);
                    }
                }
                J::String(s.clone())
            }
            Value::Seq(items) => J::Array(items.iter().map(convert).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), convert(v)))
                    .collect(),
            ),
        }
    }
    match parse(text) {
        Ok(Some(node)) => Ok(convert(&node)),
        Ok(None) => Ok(serde_json::Value::Null),
        Err(e) => Err(format!("{}:{}: {}", e.pos.line, e.pos.col, e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_scalars() {
        let doc = "a: 1\nb:\n  - x\n  - 'y'\nc: {d: true}\n";
        let n = parse(doc).unwrap().unwrap();
        assert_eq!(n.get("a").unwrap().as_int(), Some(1));
        let b = n.get("b").unwrap().as_seq().unwrap();
        assert_eq!(b[1].pos, Pos { line: 4, col: 5 });
        assert_eq!(b[1].as_str(), Some("y"));
        assert_eq!(n.get("c").unwrap().get("d").unwrap().as_bool(), Some(true));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn flow_sequence_closed_at_the_entry_indent() {
        // As in the official registry (container/registry.yaml).
        let n = parse("a:\n  - [\n    'x',\n    'y'\n  ]\n")
            .unwrap()
            .unwrap();
        let a = n.get("a").unwrap().as_seq().unwrap();
        assert_eq!(a[0].as_seq().unwrap().len(), 2);
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let n = parse("v: '0'\n").unwrap().unwrap();
        assert_eq!(n.get("v").unwrap().as_int(), None);
    }
}
