//! The arguments of `#[stage(...)]` and of `#[telemetry(...)]`, and their
//! `Parse` impls. Parsing recovers at the next top-level comma, so every bad
//! argument is reported at once.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitBool, LitStr, Path, Token, bracketed, parenthesized};

use crate::errors::{Errors, unknown};
use crate::symbol::{
    BYTES_IN, BYTES_OUT, CONTAINER_ARGS, CRATE, ERROR_TYPE, FIELD_ARGS, FIELDS, FLATTEN, KEY, KIND,
    LINKS, NAME, PARENT, PIPELINE, PREFIX, RECORD, RECORDS_IN, RECORDS_OUT, REDACT, REDACT_HASH,
    REDACT_MARKER, RENAME, RESULT, SKIP, SPAN_KIND, STAGE_ARGS, Symbol, TELEMETRY, UNCHECKED,
    VARIANT_ARGS,
};

/// One argument value set at most once; a second is reported at the key.
pub struct Once<T> {
    key: Symbol,
    pub value: Option<(Ident, T)>,
}

impl<T> Once<T> {
    pub const fn new(key: Symbol) -> Self {
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

impl<T: Parse> Once<T> {
    /// When `key` is this argument, parses `= value` and sets it.
    fn parse(&mut self, key: &Ident, input: ParseStream, errors: &mut Errors) -> syn::Result<bool> {
        if *key != self.key {
            return Ok(false);
        }
        self.set(key, value(input)?, errors);
        Ok(true)
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
        } else if peek_unchecked(input) {
            Ident::parse_any(input)?;
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

/// `unchecked(`.
fn peek_unchecked(input: ParseStream) -> bool {
    let fork = input.fork();
    Ident::parse_any(&fork).is_ok_and(|i| i == UNCHECKED) && fork.peek(syn::token::Paren)
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
    pub bytes_in: Once<Expr>,
    pub bytes_out: Once<Expr>,
    pub links: Once<Expr>,
    /// The parent context, evaluated when the call starts.
    pub parent: Once<Expr>,
    pub result: Once<LitBool>,
    pub krate: Once<Path>,
}

impl StageArgs {
    /// Parses `tokens`, reporting every bad argument into `errors`.
    pub fn parse_all(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = Self {
            name: Once::new(NAME),
            pipeline: Once::new(PIPELINE),
            kind: Once::new(KIND),
            span_kind: Once::new(SPAN_KIND),
            fields: Vec::new(),
            record: Vec::new(),
            records_in: Once::new(RECORDS_IN),
            records_out: Once::new(RECORDS_OUT),
            bytes_in: Once::new(BYTES_IN),
            bytes_out: Once::new(BYTES_OUT),
            links: Once::new(LINKS),
            parent: Once::new(PARENT),
            result: Once::new(RESULT),
            krate: Once::new(CRATE),
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
        if key == FIELDS {
            let content;
            parenthesized!(content in input);
            parse_list(&content, errors, |input, _| {
                self.fields.push(input.parse()?);
                Ok(())
            });
        } else if key == RECORD {
            let content;
            parenthesized!(content in input);
            let idents = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
            self.record.extend(idents);
        } else if key == PARENT && !input.peek(Token![=]) {
            return Err(syn::Error::new(key.span(), parent_expected()));
        } else if !(self.name.parse(&key, input, errors)?
            || self.pipeline.parse(&key, input, errors)?
            || self.kind.parse(&key, input, errors)?
            || self.span_kind.parse(&key, input, errors)?
            || self.records_in.parse(&key, input, errors)?
            || self.records_out.parse(&key, input, errors)?
            || self.bytes_in.parse(&key, input, errors)?
            || self.bytes_out.parse(&key, input, errors)?
            || self.links.parse(&key, input, errors)?
            || self.parent.parse(&key, input, errors)?
            || self.result.parse(&key, input, errors)?
            || self.krate.parse(&key, input, errors)?)
        {
            return Err(unknown_key(&key, STAGE_ARGS));
        }
        Ok(())
    }
}

/// What `parent` takes, for its errors.
pub fn parent_expected() -> String {
    format!(
        "`{PARENT}` takes a context expression: `{PARENT} = cx` or `{PARENT} = semtel::propagation::extract(&headers)`"
    )
}

/// `= value`.
fn value<T: Parse>(input: ParseStream) -> syn::Result<T> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// "unknown argument `x`", with the closest known argument.
fn unknown_key(key: &Ident, known: &[Symbol]) -> syn::Error {
    let msg = unknown("argument", &key.to_string(), known, "expected one of");
    syn::Error::new(key.span(), msg)
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
            name: Once::new(NAME),
            skip: Once::new(SKIP),
            redact: Once::new(REDACT),
            flatten: Once::new(FLATTEN),
        };
        for_each_arg(attrs, errors, |key, input, errors| {
            if key == NAME {
                let lit: LitStr = value(input)?;
                let name = AttrName::Checked {
                    name: lit.value(),
                    tokens: lit.to_token_stream(),
                };
                out.name.set(key, name, errors);
            } else if key == KEY {
                out.name.set(key, AttrName::Key(value(input)?), errors);
            } else if key == UNCHECKED {
                out.name
                    .set(key, AttrName::Unchecked(value(input)?), errors);
            } else if key == SKIP {
                out.skip.set(key, (), errors);
            } else if key == FLATTEN {
                out.flatten.set(key, (), errors);
            } else if key == REDACT {
                let how = if input.peek(Token![=]) {
                    let lit: LitStr = value(input)?;
                    match lit.value().as_str() {
                        v if v == REDACT_HASH.as_str() => Redact::Hash,
                        v if v == REDACT_MARKER.as_str() => Redact::Marker,
                        other => {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "unknown redaction `{other}`, expected `\"{REDACT_HASH}\"` or `\"{REDACT_MARKER}\"`"
                                ),
                            ));
                        }
                    }
                } else {
                    Redact::Marker
                };
                out.redact.set(key, how, errors);
            } else {
                return Err(unknown_key(key, FIELD_ARGS));
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
            prefix: Once::new(PREFIX),
            krate: Once::new(CRATE),
        };
        for_each_arg(attrs, errors, |key, input, errors| {
            if out.prefix.parse(key, input, errors)? || out.krate.parse(key, input, errors)? {
                Ok(())
            } else {
                Err(unknown_key(key, CONTAINER_ARGS))
            }
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
            rename: Once::new(RENAME),
            error_type: Once::new(ERROR_TYPE),
        };
        for_each_arg(attrs, errors, |key, input, errors| {
            if out.rename.parse(key, input, errors)? || out.error_type.parse(key, input, errors)? {
                Ok(())
            } else {
                Err(unknown_key(key, VARIANT_ARGS))
            }
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
    for attr in attrs
        .iter()
        .filter(|a| a.path().get_ident().is_some_and(|i| i == TELEMETRY))
    {
        let tokens = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            other => {
                errors.spanned(other, format!("expected `#[{TELEMETRY}(...)]`"));
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
