//! What a SQL statement says plainly, for the `db.*` attributes: its
//! operation (`SELECT`), the one table it works on, and its text with every
//! literal value replaced by `?` (bound parameters such as `$1` stay).

/// The parts of one statement (or of a batch of them) that become
/// attributes and the span name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[doc(hidden)]
pub struct Statement {
    /// `db.operation.name`: `SELECT`, `INSERT`, …, `BATCH INSERT` for a batch
    /// of statements of one kind; `None` when not plain.
    pub(crate) operation: Option<String>,
    /// `db.collection.name`, when the statement names exactly one table.
    pub(crate) collection: Option<String>,
    /// `db.query.text`: the text with literals replaced by `?`.
    pub(crate) text: String,
}

impl Statement {
    /// The span name the database conventions give: `{operation}
    /// {collection}`, or the operation alone, or `fallback` (the system's
    /// name).
    pub(crate) fn span_name(&self, fallback: &str) -> String {
        match (&self.operation, &self.collection) {
            (Some(op), Some(c)) => format!("{op} {c}"),
            (Some(op), None) => op.clone(),
            (None, _) => fallback.to_owned(),
        }
    }
}

/// Analyses `sql`.
pub(crate) fn analyze(sql: &str) -> Statement {
    let (tokens, text) = scan(sql);
    let mut parts: Vec<(Option<&'static str>, Option<String>)> = tokens
        .split(|t| matches!(t, Token::Semicolon))
        .filter(|s| !s.is_empty())
        .map(|s| {
            let op = operation(s);
            (op, op.and_then(|op| collection(op, s)))
        })
        .collect();
    let (operation, collection) = match parts.len() {
        0 => (None, None),
        1 => {
            let (op, c) = parts.remove(0);
            (op.map(str::to_owned), c)
        }
        _ => {
            let first_op = parts[0].0;
            let same_op = first_op.is_some() && parts.iter().all(|p| p.0 == first_op);
            let first_c = parts[0].1.clone();
            let same_c = first_c.is_some() && parts.iter().all(|p| p.1 == first_c);
            (
                same_op.then(|| format!("BATCH {}", first_op.unwrap_or_default())),
                if same_op && same_c { first_c } else { None },
            )
        }
    };
    Statement {
        operation,
        collection,
        text,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A keyword or a plain identifier, as written.
    Word(String),
    /// A `"quoted"` identifier, without its quotes.
    Quoted(String),
    Dot,
    Comma,
    Open,
    Close,
    Semicolon,
    /// A literal, a parameter or an operator: nothing the analysis reads.
    Other,
}

/// Splits `sql` into tokens and writes its text with literals replaced.
fn scan(sql: &str) -> (Vec<Token>, String) {
    let b = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    // Index up to which `sql` is copied to `out` unchanged.
    let mut copied = 0;
    let replace = |out: &mut String, copied: &mut usize, from: usize, to: usize| {
        out.push_str(&sql[*copied..from]);
        out.push('?');
        *copied = to;
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            }
            b'\'' => {
                let end = quoted_end(b, i, b'\'', false);
                replace(&mut out, &mut copied, i, end);
                tokens.push(Token::Other);
                i = end;
            }
            b'"' => {
                let end = quoted_end(b, i, b'"', false);
                let closed = end - 1 > i && b[end - 1] == b'"';
                let inner = &sql[i + 1..if closed { end - 1 } else { end }];
                tokens.push(Token::Quoted(inner.replace("\"\"", "\"")));
                i = end;
            }
            b'$' => {
                // `$1` is a parameter; `$tag$…$tag$` a dollar-quoted literal.
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
                    .map_or(b.len(), |n| i + 1 + n);
                let is_param = tag_end > i + 1 && b[i + 1..tag_end].iter().all(u8::is_ascii_digit);
                if !is_param && b.get(tag_end) == Some(&b'$') {
                    let tag = &sql[i..=tag_end];
                    let end = sql[tag_end + 1..]
                        .find(tag)
                        .map_or(b.len(), |n| tag_end + 1 + n + tag.len());
                    replace(&mut out, &mut copied, i, end);
                    i = end;
                } else {
                    i = tag_end.max(i + 1);
                }
                tokens.push(Token::Other);
            }
            b'0'..=b'9' => {
                let mut end = i;
                while end < b.len()
                    && (b[end].is_ascii_alphanumeric() || b[end] == b'.' || b[end] == b'_')
                {
                    // An exponent's sign belongs to the number.
                    if (b[end] == b'e' || b[end] == b'E')
                        && matches!(b.get(end + 1), Some(b'+' | b'-'))
                    {
                        end += 1;
                    }
                    end += 1;
                }
                replace(&mut out, &mut copied, i, end);
                tokens.push(Token::Other);
                i = end;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let mut end = i;
                while end < b.len()
                    && (b[end].is_ascii_alphanumeric()
                        || matches!(b[end], b'_' | b'$')
                        || b[end] >= 0x80)
                {
                    end += 1;
                }
                // E'…', B'…', X'…', U&'…' literals: the prefix and the string are one literal.
                if b.get(end) == Some(&b'\'') && end - i == 1 {
                    // In E'…' a backslash escapes the next character.
                    let escapes = b[i].eq_ignore_ascii_case(&b'e');
                    let close = quoted_end(b, end, b'\'', escapes);
                    replace(&mut out, &mut copied, i, close);
                    tokens.push(Token::Other);
                    i = close;
                    continue;
                }
                tokens.push(Token::Word(sql[i..end].to_owned()));
                i = end;
            }
            b'.' => {
                tokens.push(Token::Dot);
                i += 1;
            }
            b',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            b';' => {
                tokens.push(Token::Semicolon);
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    (tokens, out)
}

/// The index just past the quote that closes the one at `start` (a doubled
/// quote inside is an escaped one, and with `backslash` so is `\'`); the
/// end of input when unclosed.
fn quoted_end(b: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

const OPERATIONS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "UPSERT",
    "CREATE",
    "DROP",
    "ALTER",
    "TRUNCATE",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "COPY",
    "VALUES",
    "SET",
    "SHOW",
    "CALL",
    "GRANT",
    "REVOKE",
    "LOCK",
    "VACUUM",
    "ANALYZE",
    "LISTEN",
    "NOTIFY",
    "UNLISTEN",
    "EXPLAIN",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "DECLARE",
    "FETCH",
    "CLOSE",
    "REFRESH",
    "REINDEX",
    "CLUSTER",
    "COMMENT",
    "DO",
    "DISCARD",
    "RESET",
    "TABLE",
    "WITH",
];

fn word(t: Option<&Token>) -> Option<&str> {
    match t {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    }
}

fn is(t: Option<&Token>, keyword: &str) -> bool {
    word(t).is_some_and(|w| w.eq_ignore_ascii_case(keyword))
}

/// The statement's operation, upper case; `WITH` (a common table
/// expression) is not plain.
fn operation(tokens: &[Token]) -> Option<&'static str> {
    let first = word(tokens.first())?;
    OPERATIONS
        .iter()
        .find(|op| op.eq_ignore_ascii_case(first))
        .copied()
        .filter(|op| *op != "WITH")
}

/// The one table `tokens` (a statement whose operation is `op`) works on.
fn collection(op: &str, tokens: &[Token]) -> Option<String> {
    let mut i = 1;
    let skip = |i: &mut usize, words: &[&str]| {
        while words.iter().any(|w| is(tokens.get(*i), w)) {
            *i += 1;
        }
    };
    match op {
        "SELECT" => {
            // Exactly one table: `FROM t` at the top level, no join, no
            // second table, no subquery, no set operation.
            let mut depth = 0usize;
            let mut from = None;
            for (n, t) in tokens.iter().enumerate() {
                match t {
                    Token::Open => depth += 1,
                    Token::Close => depth = depth.saturating_sub(1),
                    Token::Word(w) if depth == 0 => {
                        let w = w.to_ascii_uppercase();
                        if matches!(w.as_str(), "JOIN" | "UNION" | "INTERSECT" | "EXCEPT") {
                            return None;
                        }
                        if w == "FROM" && from.is_none() {
                            from = Some(n + 1);
                        }
                    }
                    _ => {}
                }
            }
            i = from?;
            skip(&mut i, &["ONLY"]);
            let (name, next) = name(tokens, i)?;
            // `FROM a, b` is two tables.
            let rest = &tokens[next..];
            let second = rest.iter().position(|t| matches!(t, Token::Comma));
            let clause_end = rest.iter().position(|t| {
                word(Some(t)).is_some_and(|w| {
                    [
                        "WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING", "FOR", "WINDOW",
                        "FETCH",
                    ]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(w))
                })
            });
            match (second, clause_end) {
                (Some(c), Some(e)) if c < e => None,
                (Some(_), None) => None,
                _ => Some(name),
            }
        }
        "INSERT" => {
            is(tokens.get(1), "INTO").then_some(())?;
            name(tokens, 2).map(|(n, _)| n)
        }
        "UPDATE" | "COPY" => {
            skip(&mut i, &["ONLY"]);
            name(tokens, i).map(|(n, _)| n)
        }
        "DELETE" => {
            is(tokens.get(1), "FROM").then_some(())?;
            i = 2;
            skip(&mut i, &["ONLY"]);
            name(tokens, i).map(|(n, _)| n)
        }
        "TRUNCATE" => {
            skip(&mut i, &["TABLE", "ONLY"]);
            single(tokens, i)
        }
        "CREATE" | "DROP" | "ALTER" => {
            skip(
                &mut i,
                &["GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED"],
            );
            is(tokens.get(i), "TABLE").then_some(())?;
            i += 1;
            skip(&mut i, &["IF", "NOT", "EXISTS", "ONLY"]);
            single(tokens, i)
        }
        _ => None,
    }
}

/// A name at `i` (`t`, `s.t`, `"T"`) that is the statement's only one.
fn single(tokens: &[Token], i: usize) -> Option<String> {
    let (n, next) = name(tokens, i)?;
    (!matches!(tokens.get(next), Some(Token::Comma))).then_some(n)
}

/// A possibly qualified name at `i`, and the index after it.
fn name(tokens: &[Token], mut i: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    loop {
        match tokens.get(i)? {
            Token::Word(w) => out.push_str(w),
            Token::Quoted(q) => out.push_str(q),
            _ => return None,
        }
        i += 1;
        if matches!(tokens.get(i), Some(Token::Dot)) {
            out.push('.');
            i += 1;
        } else {
            return Some((out, i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_coll(sql: &str) -> (Option<String>, Option<String>) {
        let s = analyze(sql);
        (s.operation, s.collection)
    }

    fn some(op: &str, c: Option<&str>) -> (Option<String>, Option<String>) {
        (Some(op.to_owned()), c.map(str::to_owned))
    }

    #[test]
    fn plain_statements_give_operation_and_table() {
        assert_eq!(
            op_coll("select * from orders where id = $1"),
            some("SELECT", Some("orders"))
        );
        assert_eq!(
            op_coll("SELECT a FROM public.orders ORDER BY a, b"),
            some("SELECT", Some("public.orders"))
        );
        assert_eq!(
            op_coll("INSERT INTO \"Orders\" (id) VALUES ($1)"),
            some("INSERT", Some("Orders"))
        );
        assert_eq!(
            op_coll("update orders set a = 1"),
            some("UPDATE", Some("orders"))
        );
        assert_eq!(
            op_coll("DELETE FROM ONLY orders"),
            some("DELETE", Some("orders"))
        );
        assert_eq!(
            op_coll("CREATE TABLE IF NOT EXISTS orders (id int)"),
            some("CREATE", Some("orders"))
        );
        assert_eq!(op_coll("DROP TABLE a, b"), some("DROP", None));
        assert_eq!(op_coll("TRUNCATE orders"), some("TRUNCATE", Some("orders")));
        assert_eq!(op_coll("  -- note\n BEGIN"), some("BEGIN", None));
        assert_eq!(op_coll("SELECT 1"), some("SELECT", None));
    }

    #[test]
    fn statements_that_are_not_plain_name_no_table() {
        assert_eq!(
            op_coll("SELECT * FROM a JOIN b ON a.id = b.id"),
            some("SELECT", None)
        );
        assert_eq!(op_coll("SELECT * FROM a, b"), some("SELECT", None));
        assert_eq!(op_coll("SELECT * FROM (SELECT 1) x"), some("SELECT", None));
        assert_eq!(
            op_coll("SELECT 1 FROM a UNION SELECT 2 FROM b"),
            some("SELECT", None)
        );
        assert_eq!(
            op_coll("WITH x AS (SELECT 1) SELECT * FROM x"),
            (None, None)
        );
        assert_eq!(op_coll("frobnicate the database"), (None, None));
        assert_eq!(op_coll(""), (None, None));
    }

    #[test]
    fn batches_of_one_kind_are_batch_operations() {
        assert_eq!(
            op_coll("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);"),
            some("BATCH INSERT", Some("t"))
        );
        assert_eq!(
            op_coll("INSERT INTO t VALUES (1); INSERT INTO u VALUES (2)"),
            some("BATCH INSERT", None)
        );
        assert_eq!(
            op_coll("CREATE TABLE t (a int); INSERT INTO t VALUES (1)"),
            (None, None)
        );
    }

    #[test]
    fn literals_are_replaced_and_parameters_kept() {
        let s = analyze("SELECT * FROM users WHERE name = 'o''brien' AND age > 42 AND id = $1");
        assert_eq!(
            s.text,
            "SELECT * FROM users WHERE name = ? AND age > ? AND id = $1"
        );
        let s = analyze("INSERT INTO t VALUES (E'sec\\'ret', $$pass$$, $x$a$b$x$, 1.5e-3, x'ff')");
        assert_eq!(s.text, "INSERT INTO t VALUES (?, ?, ?, ?, ?)");
        assert!(!s.text.contains("sec") && !s.text.contains("pass"));
        let s = analyze("SELECT col1, t2.a FROM t2");
        assert_eq!(
            s.text, "SELECT col1, t2.a FROM t2",
            "digits inside names stay"
        );
    }

    #[test]
    fn absurd_input_does_not_panic() {
        for sql in [
            "'", "\"", "\"é", "$", "$$", "$a$", "/*", "--", "é'", "E'", "1e+", "(((", ";;;",
            "\u{0}",
        ] {
            let s = analyze(sql);
            assert!(!s.text.contains("secret"));
        }
        let long = "SELECT ".repeat(10_000);
        assert_eq!(analyze(&long).operation.as_deref(), Some("SELECT"));
        // Unclosed literals are replaced to the end.
        assert_eq!(analyze("SELECT 'secret").text, "SELECT ?");
    }
}
