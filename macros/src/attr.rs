//! The arguments of `#[stage(...)]` and of `#[telemetry(...)]`, and their
//! `Parse` impls. Parsing recovers at the next top-level comma, so every bad
//! argument is reported at once.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitBool, LitStr, Path, Token, bracketed, parenthesized};

use crate::valid::Errors;

/// Keywords of the arguments, in one place.
pub mod kw {
    syn::custom_keyword!(unchecked);
}

/// The argument keys of `#[stage]`.
pub const STAGE_KEYS: &[&str] = &[
    "name",
    "pipeline",
    "kind",
    "span_kind",
    "fields",
    "record",
    "records_in",
    "records_out",
    "links",
    "result",
    "crate",
];

/// The argument keys of `#[telemetry]` on a field.
pub const FIELD_KEYS: &[&str] = &["name", "key", "unchecked", "skip", "redact", "flatten"];
/// The argument keys of `#[telemetry]` on a struct or enum.
pub const CONTAINER_KEYS: &[&str] = &["prefix", "crate"];
/// The argument keys of `#[telemetry]` on an enum variant.
pub const VARIANT_KEYS: &[&str] = &["rename", "error_type"];

/// One argument value set at most once; a second is reported at the key.
pub struct Once<T> {
    key: &'static str,
    pub value: Option<(Ident, T)>,
}

impl<T> Once<T> {
    pub const fn new(key: &'static str) -> Self {
        Self { key, value: None }
    }

    /// Sets the value, or reports a duplicate at `at`.
    pub fn set(&mut self, at: &Ident, value: T, errors: &mut Errors) {
        if self.value.is_some() {
            errors.push(syn::Error::new(
                at.span(),
                format!("duplicate argument `{}`", self.key),
            ));
        } else {
            self.value = Some((at.clone(), value));
        }
    }

    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }

    pub fn key_ident(&self) -> Option<&Ident> {
        self.value.as_ref().map(|(k, _)| k)
    }
}

/// How a stage field or telemetry field names its attribute.
#[derive(Clone)]
pub enum AttrName {
    /// `db.system.name` or `"db.system.name"`: checked against the tables.
    Checked {
        name: String,
        /// The user's tokens, for spans.
        tokens: TokenStream,
    },
    /// `[path::CONST]`: a key of a generated registry; the compiler checks it.
    Key(Path),
    /// `unchecked("acme.priority")`: a custom name outside every registry.
    Unchecked(LitStr),
}

/// `name = expr` in `fields(...)`.
#[derive(Clone)]
pub struct FieldArg {
    pub name: AttrName,
    pub value: Expr,
}

impl Parse for FieldArg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = if input.peek(syn::token::Bracket) {
            let content;
            bracketed!(content in input);
            AttrName::Key(content.parse()?)
        } else if input.peek(kw::unchecked) && input.peek2(syn::token::Paren) {
            input.parse::<kw::unchecked>()?;
            let content;
            parenthesized!(content in input);
            AttrName::Unchecked(content.parse()?)
        } else if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            AttrName::Checked {
                name: lit.value(),
                tokens: lit.to_token_stream(),
            }
        } else {
            let (name, tokens) = parse_dotted(input)?;
            AttrName::Checked { name, tokens }
        };
        input.parse::<Token![=]>()?;
        let value = input.parse()?;
        Ok(Self { name, value })
    }
}

/// `a.b.c`, keywords allowed (`error.type`).
fn parse_dotted(input: ParseStream) -> syn::Result<(String, TokenStream)> {
    let mut tokens = TokenStream::new();
    let mut name = String::new();
    loop {
        let part = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected an attribute name: `db.system.name`, `[registry::KEY]` or `unchecked(\"name\")`",
            )
        })?;
        name.push_str(&part.unraw().to_string());
        part.to_tokens(&mut tokens);
        if input.peek(Token![.]) {
            let dot: Token![.] = input.parse()?;
            dot.to_tokens(&mut tokens);
            name.push('.');
        } else {
            return Ok((name, tokens));
        }
    }
}

/// The arguments of `#[stage(...)]`.
pub struct StageArgs {
    pub name: Once<LitStr>,
    pub pipeline: Once<LitStr>,
    pub kind: Once<Ident>,
    pub span_kind: Once<Ident>,
    pub fields: Vec<FieldArg>,
    pub record: Vec<Ident>,
    pub records_in: Once<Expr>,
    pub records_out: Once<Expr>,
    pub links: Once<Expr>,
    pub result: Once<LitBool>,
    pub krate: Once<Path>,
}

impl StageArgs {
    /// Parses `tokens`, reporting every bad argument into `errors`.
    pub fn parse_all(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = Self {
            name: Once::new("name"),
            pipeline: Once::new("pipeline"),
            kind: Once::new("kind"),
            span_kind: Once::new("span_kind"),
            fields: Vec::new(),
            record: Vec::new(),
            records_in: Once::new("records_in"),
            records_out: Once::new("records_out"),
            links: Once::new("links"),
            result: Once::new("result"),
            krate: Once::new("crate"),
        };
        let parser = |input: ParseStream| {
            parse_list(input, errors, |input, errors| args.parse_one(input, errors));
            Ok(())
        };
        // The closure reports into `errors` and never fails.
        let _ = syn::parse::Parser::parse2(parser, tokens);
        args
    }

    fn parse_one(&mut self, input: ParseStream, errors: &mut Errors) -> syn::Result<()> {
        let key = Ident::parse_any(input)?;
        match key.to_string().as_str() {
            "name" => self.name.set(&key, value(input)?, errors),
            "pipeline" => self.pipeline.set(&key, value(input)?, errors),
            "kind" => self.kind.set(&key, value(input)?, errors),
            "span_kind" => self.span_kind.set(&key, value(input)?, errors),
            "records_in" => self.records_in.set(&key, value(input)?, errors),
            "records_out" => self.records_out.set(&key, value(input)?, errors),
            "links" => self.links.set(&key, value(input)?, errors),
            "result" => self.result.set(&key, value(input)?, errors),
            "crate" => self.krate.set(&key, value(input)?, errors),
            "fields" => {
                let content;
                parenthesized!(content in input);
                parse_list(&content, errors, |input, _| {
                    self.fields.push(input.parse()?);
                    Ok(())
                });
            }
            "record" => {
                let content;
                parenthesized!(content in input);
                let idents = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                self.record.extend(idents);
            }
            other => return Err(unknown_key(&key, other, STAGE_KEYS)),
        }
        Ok(())
    }
}

/// `= value`.
fn value<T: Parse>(input: ParseStream) -> syn::Result<T> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// "unknown argument `x`", with the closest known key.
pub fn unknown_key(key: &Ident, name: &str, known: &[&str]) -> syn::Error {
    let mut msg = format!("unknown argument `{name}`");
    if let Some(s) = semtel_conventions::suggest(name, known.iter().copied()) {
        msg.push_str(&format!(", did you mean `{s}`?"));
    } else {
        msg.push_str(&format!(", expected one of {}", list(known)));
    }
    syn::Error::new(key.span(), msg)
}

/// `` `a`, `b` or `c` ``.
pub fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// Parses a comma-separated list with `one`; on an error, reports it and
/// skips to the next top-level comma.
fn parse_list(
    input: ParseStream,
    errors: &mut Errors,
    mut one: impl FnMut(ParseStream, &mut Errors) -> syn::Result<()>,
) {
    while !input.is_empty() {
        if let Err(e) = one(input, errors) {
            errors.push(e);
            skip_to_comma(input);
        } else if !input.is_empty() && !input.peek(Token![,]) {
            errors.push(input.error("expected `,`"));
            skip_to_comma(input);
        }
        if input.peek(Token![,]) {
            // Just peeked.
            let _ = input.parse::<Token![,]>();
        }
    }
}

fn skip_to_comma(input: ParseStream) {
    while !input.is_empty() && !input.peek(Token![,]) {
        // Not empty: there is a token tree to take.
        let _ = input.parse::<TokenTree>();
    }
}

/// `#[telemetry(...)]` on a field.
pub struct FieldAttrs {
    pub name: Once<AttrName>,
    pub skip: Once<()>,
    pub redact: Once<Redact>,
    pub flatten: Once<()>,
}

/// How a redacted field is exported.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Redact {
    /// `[redacted]` in place of the value.
    Marker,
    /// A keyed hash of the value.
    Hash,
}

impl FieldAttrs {
    pub fn parse_all(attrs: &[syn::Attribute], errors: &mut Errors) -> Self {
        let mut out = Self {
            name: Once::new("name"),
            skip: Once::new("skip"),
            redact: Once::new("redact"),
            flatten: Once::new("flatten"),
        };
        for_each_arg(attrs, errors, |key, input, errors| {
            match key.to_string().as_str() {
                "name" => {
                    let lit: LitStr = value(input)?;
                    let name = AttrName::Checked {
                        name: lit.value(),
                        tokens: lit.to_token_stream(),
                    };
                    out.name.set(key, name, errors);
                }
                "key" => out.name.set(key, AttrName::Key(value(input)?), errors),
                "unchecked" => out
                    .name
                    .set(key, AttrName::Unchecked(value(input)?), errors),
                "skip" => out.skip.set(key, (), errors),
                "flatten" => out.flatten.set(key, (), errors),
                "redact" => {
                    let how = if input.peek(Token![=]) {
                        let lit: LitStr = value(input)?;
                        match lit.value().as_str() {
                            "hash" => Redact::Hash,
                            "marker" => Redact::Marker,
                            other => {
                                return Err(syn::Error::new(
                                    lit.span(),
                                    format!(
                                        "unknown redaction `{other}`, expected `\"hash\"` or `\"marker\"`"
                                    ),
                                ));
                            }
                        }
                    } else {
                        Redact::Marker
                    };
                    out.redact.set(key, how, errors);
                }
                other => return Err(unknown_key(key, other, FIELD_KEYS)),
            }
            Ok(())
        });
        out
    }
}

/// `#[telemetry(...)]` on a struct or enum.
pub struct ContainerAttrs {
    pub prefix: Once<LitStr>,
    pub krate: Once<Path>,
}

impl ContainerAttrs {
    pub fn parse_all(attrs: &[syn::Attribute], errors: &mut Errors) -> Self {
        let mut out = Self {
            prefix: Once::new("prefix"),
            krate: Once::new("crate"),
        };
        for_each_arg(attrs, errors, |key, input, errors| {
            match key.to_string().as_str() {
                "prefix" => out.prefix.set(key, value(input)?, errors),
                "crate" => out.krate.set(key, value(input)?, errors),
                other => return Err(unknown_key(key, other, CONTAINER_KEYS)),
            }
            Ok(())
        });
        out
    }
}

/// `#[telemetry(...)]` on an enum variant.
pub struct VariantAttrs {
    pub rename: Once<LitStr>,
    pub error_type: Once<LitStr>,
}

impl VariantAttrs {
    pub fn parse_all(attrs: &[syn::Attribute], errors: &mut Errors) -> Self {
        let mut out = Self {
            rename: Once::new("rename"),
            error_type: Once::new("error_type"),
        };
        for_each_arg(attrs, errors, |key, input, errors| {
            match key.to_string().as_str() {
                "rename" => out.rename.set(key, value(input)?, errors),
                "error_type" => out.error_type.set(key, value(input)?, errors),
                other => return Err(unknown_key(key, other, VARIANT_KEYS)),
            }
            Ok(())
        });
        out
    }
}

/// Calls `one` for each `key ...` argument of every `#[telemetry(...)]`.
fn for_each_arg(
    attrs: &[syn::Attribute],
    errors: &mut Errors,
    mut one: impl FnMut(&Ident, ParseStream, &mut Errors) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("telemetry")) {
        let tokens = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "expected `#[telemetry(...)]`",
                ));
                continue;
            }
        };
        let parser = |input: ParseStream| {
            parse_list(input, errors, |input, errors| {
                let key = Ident::parse_any(input)?;
                one(&key, input, errors)
            });
            Ok(())
        };
        // The closure reports into `errors` and never fails.
        let _ = syn::parse::Parser::parse2(parser, tokens);
    }
}
