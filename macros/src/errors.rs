//! The error collector: every problem found while parsing and checking is
//! pushed here and reported at once, and the wording helpers the messages
//! share ("did you mean", lists of valid values).

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::symbol::Symbol;

/// Errors collected while parsing and checking, combined into one.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    /// An error spanned on `tokens`.
    pub fn spanned(&mut self, tokens: impl ToTokens, msg: impl Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn to_compile_error(&self) -> TokenStream {
        self.0
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }

    /// The messages, joined; for unit tests.
    #[cfg(test)]
    pub fn messages(&self) -> Option<String> {
        self.0.as_ref().map(ToString::to_string)
    }
}

/// `` `a`, `b` or `c` ``.
pub fn list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let quoted: Vec<String> = items.into_iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// The closest of `known` to `name`, if one is close.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    semtel_conventions::suggest(name, known)
}

/// "unknown {what} `name`", then ", did you mean `x`?" when one of `known` is
/// close, else ", {expected} `a`, `b` or `c`".
pub fn unknown(what: &str, name: &str, known: &[Symbol], expected: &str) -> String {
    match closest(name, known.iter().map(|k| k.as_str())) {
        Some(s) => format!("unknown {what} `{name}`, did you mean `{s}`?"),
        None => format!("unknown {what} `{name}`, {expected} {}", list(known)),
    }
}
