//! Rules across arguments and the checks of attribute names against the
//! conventions tables. No code generation: the results are plain data that
//! `expand` turns into tokens.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use semtel_conventions::model::{AttributeDef, AttributeType, EnumValue, Source, ValueType};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Expr, Ident, Lit, LitStr, Path};

use crate::ast::{Field, Input, InputData, StageFn};
use crate::attr::{AttrName, Redact, StageArgs, list};

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

    pub fn spanned(&mut self, tokens: impl ToTokens, msg: impl std::fmt::Display) {
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
}

/// A deprecated name: `expand` turns it into a rustc deprecation warning at
/// the user's token.
pub struct Deprecated {
    pub note: String,
    pub span: Span,
}

/// What an attribute name resolves to in the expansion.
#[derive(Clone)]
pub enum Key {
    /// A literal name (checked, or explicitly unchecked).
    Lit(LitStr),
    /// A constant of a generated registry.
    Path(Path),
}

/// Whether experimental official attributes are allowed (`semtel`'s feature
/// `experimental`).
const EXPERIMENTAL: bool = cfg!(feature = "experimental");

/// Checks a literal attribute name, and its literal value if any; returns the
/// key to emit.
pub fn check_name(
    name: &str,
    tokens: &TokenStream,
    value: Option<&Expr>,
    errors: &mut Errors,
    warnings: &mut Vec<Deprecated>,
) -> Key {
    check_name_in(name, tokens, value, errors, warnings, EXPERIMENTAL)
}

/// [`check_name`], with experimental names allowed or not.
fn check_name_in(
    name: &str,
    tokens: &TokenStream,
    value: Option<&Expr>,
    errors: &mut Errors,
    warnings: &mut Vec<Deprecated>,
    experimental: bool,
) -> Key {
    let span = first_span(tokens);
    let key = Key::Lit(LitStr::new(name, span));
    let Some(def) = semtel_conventions::attribute_for_key(name) else {
        let mut msg = format!("unknown attribute `{name}`");
        if let Some(s) = semtel_conventions::suggest_attribute(name) {
            msg.push_str(&format!(", did you mean `{s}`?"));
        } else {
            msg.push_str(&format!(
                "; it is in neither the official conventions nor the `pipeline.` registry: \
                 use a key of your own registry, `[my_registry::KEY]`, or opt out with \
                 `unchecked(\"{name}\")`"
            ));
        }
        errors.spanned(tokens, msg);
        return key;
    };
    if let Some(d) = def.deprecated {
        let note = match d.renamed_to {
            Some(to) => format!("attribute `{name}` is deprecated, use `{to}`"),
            None => format!(
                "attribute `{name}` is deprecated{}",
                d.note
                    .map(|n| format!(": {}", n.trim()))
                    .unwrap_or_default()
            ),
        };
        warnings.push(Deprecated { note, span });
    } else if def.source == Source::Official && !def.stability.is_stable() && !experimental {
        errors.spanned(
            tokens,
            format!(
                "attribute `{name}` is experimental ({}): enable feature `experimental` of \
                 `semtel` to use it",
                def.stability
            ),
        );
    }
    if let Some(Expr::Lit(lit)) = value {
        check_literal(name, def, &lit.lit, errors);
    }
    key
}

fn first_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

fn check_literal(name: &str, def: &AttributeDef, lit: &Lit, errors: &mut Errors) {
    let expected = def.ty.value_type();
    let ok = matches!(
        (expected, lit),
        (ValueType::Any, _)
            | (ValueType::String, Lit::Str(_))
            | (ValueType::Int, Lit::Int(_))
            | (ValueType::Double, Lit::Float(_))
            | (ValueType::Boolean, Lit::Bool(_))
    );
    if !ok {
        let found = match lit {
            Lit::Str(_) => "a string",
            Lit::Int(_) => "an integer",
            Lit::Float(_) => "a float",
            Lit::Bool(_) => "a bool",
            _ => "another literal",
        };
        errors.spanned(
            lit,
            format!(
                "attribute `{name}` takes {} `{expected}` value, found {found}",
                if expected == ValueType::Int {
                    "an"
                } else {
                    "a"
                }
            ),
        );
        return;
    }
    if let (AttributeType::Enum(members), Lit::Str(s)) = (def.ty, lit)
        && def.member(&s.value()).is_none()
    {
        let values: Vec<String> = members.iter().map(|m| m.value.to_string()).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut msg = format!(
            "unknown value `{}` for attribute `{name}`; known values: {}",
            s.value(),
            list(&values)
        );
        if members.iter().any(|m| matches!(m.value, EnumValue::Str(_))) {
            msg.push_str("; a value computed at run time may be any string");
        }
        if let Some(close) = semtel_conventions::suggest(&s.value(), values.iter().copied()) {
            msg.push_str(&format!("; did you mean `{close}`?"));
        }
        errors.spanned(lit, msg);
    }
}

/// The names `#[stage]` sets itself.
const RESERVED: &[(&str, &str)] = &[
    ("pipeline.name", "set it with `pipeline = \"...\"`"),
    ("pipeline.stage.name", "set it with `name = \"...\"`"),
    ("pipeline.stage.kind", "set it with `kind = ...`"),
    ("error.type", "it is recorded from the `Err` value"),
];

pub const STAGE_KINDS: &[&str] = &["source", "transform", "sink"];
pub const SPAN_KINDS: &[&str] = &["internal", "client", "server", "producer", "consumer"];

/// A `fields(...)` entry, checked.
pub struct StageField<'a> {
    pub key: Key,
    pub value: &'a Expr,
    /// The registry's value type for a checked name: integer and double
    /// values are converted, since `tracing` records unsigned integers as text.
    pub value_type: Option<semtel_conventions::model::ValueType>,
}

/// `#[stage]` after checks.
pub struct StagePlan<'a> {
    pub name: LitStr,
    pub kind: Option<Ident>,
    pub span_kind: Option<LitStr>,
    pub fields: Vec<StageField<'a>>,
    pub handle_result: bool,
    pub warnings: Vec<Deprecated>,
}

pub fn check_stage<'a>(args: &'a StageArgs, f: &StageFn<'_>, errors: &mut Errors) -> StagePlan<'a> {
    let sig = &f.item.sig;
    if let Some(c) = &sig.constness {
        errors.spanned(c, "`#[stage]` cannot instrument a `const fn`");
    }
    let name = args
        .name
        .get()
        .cloned()
        .unwrap_or_else(|| LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span()));
    let kind = args.kind.get().and_then(|k| {
        one_of(k, STAGE_KINDS, "stage kind", errors)
            .then(|| Ident::new(&capitalize(&k.to_string()), k.span()))
    });
    let span_kind = args.span_kind.get().and_then(|k| {
        one_of(k, SPAN_KINDS, "span kind", errors).then(|| LitStr::new(&k.to_string(), k.span()))
    });
    for r in &args.record {
        if !f.args.iter().any(|a| a == r) {
            let names: Vec<String> = f.args.iter().map(ToString::to_string).collect();
            let mut msg = format!("`{r}` is not an argument of `{}`", sig.ident);
            if let Some(s) =
                semtel_conventions::suggest(&r.to_string(), names.iter().map(String::as_str))
            {
                msg.push_str(&format!(", did you mean `{s}`?"));
            }
            errors.spanned(r, msg);
        }
    }
    if let Some(k) = args.result.key_ident().filter(|_| !f.is_result) {
        errors.spanned(
            k,
            "`result` applies to functions returning `Result`; this one does not",
        );
    }
    let mut warnings = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut fields = Vec::new();
    for field in &args.fields {
        let mut value_type = None;
        let key = match &field.name {
            AttrName::Checked { name, tokens } => {
                if let Some((_, how)) = RESERVED.iter().find(|(r, _)| r == name) {
                    errors.spanned(tokens, format!("`{name}` is set by `#[stage]`: {how}"));
                    continue;
                }
                if seen.contains(name) {
                    errors.spanned(tokens, format!("duplicate field `{name}`"));
                }
                seen.push(name.clone());
                value_type = semtel_conventions::attribute(name).map(|d| d.ty.value_type());
                check_name(name, tokens, Some(&field.value), errors, &mut warnings)
            }
            AttrName::Unchecked(lit) => {
                unchecked_ok(lit, errors);
                Key::Lit(lit.clone())
            }
            AttrName::Key(path) => Key::Path(path.clone()),
        };
        fields.push(StageField {
            key,
            value: &field.value,
            value_type,
        });
    }
    StagePlan {
        name,
        kind,
        span_kind,
        fields,
        handle_result: f.is_result && args.result.get().is_none_or(syn::LitBool::value),
        warnings,
    }
}

/// An `unchecked("...")` name that is in a registry after all is an error:
/// the check should not be skipped for it.
fn unchecked_ok(lit: &LitStr, errors: &mut Errors) {
    let name = lit.value();
    if name.is_empty() {
        errors.spanned(lit, "attribute name is empty");
    } else if semtel_conventions::attribute(&name).is_some() {
        errors.spanned(
            lit,
            format!("`{name}` is a known attribute: name it without `unchecked` so it is checked"),
        );
    }
}

fn one_of(ident: &Ident, valid: &[&str], what: &str, errors: &mut Errors) -> bool {
    let s = ident.to_string();
    if valid.contains(&s.as_str()) {
        return true;
    }
    let mut msg = format!("unknown {what} `{s}`");
    if let Some(close) = semtel_conventions::suggest(&s, valid.iter().copied()) {
        msg.push_str(&format!(", did you mean `{close}`?"));
    } else {
        msg.push_str(&format!(", expected {}", list(valid)));
    }
    errors.spanned(ident, msg);
    false
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// What one struct field becomes.
pub enum FieldPlan {
    Skip,
    Flatten,
    Push(Key),
    Redact(Key, Redact),
}

/// `#[derive(Telemetry)]` after checks.
pub struct DerivePlan {
    /// Per struct field, in order; empty for enums.
    pub fields: Vec<FieldPlan>,
    /// Per enum variant: its value and its `error.type`.
    pub variants: Vec<(String, String)>,
    pub warnings: Vec<Deprecated>,
}

pub fn check_derive(input: &Input<'_>, errors: &mut Errors) -> DerivePlan {
    let mut warnings = Vec::new();
    let prefix = input.attrs.prefix.get().map(|p| {
        let v = p.value();
        if v.is_empty() || v.starts_with('.') || v.ends_with('.') {
            errors.spanned(
                p,
                "a prefix is a dotted name such as `order` or `acme.order`",
            );
        }
        v
    });
    match &input.data {
        InputData::Struct(fields) => DerivePlan {
            fields: fields
                .iter()
                .map(|f| check_field(f, prefix.as_deref(), errors, &mut warnings))
                .collect(),
            variants: Vec::new(),
            warnings,
        },
        InputData::Enum(variants) => {
            if let Some(k) = input.attrs.prefix.key_ident() {
                errors.spanned(
                    k,
                    "`prefix` applies to structs; enums export their variant name",
                );
            }
            DerivePlan {
                fields: Vec::new(),
                variants: variants
                    .iter()
                    .map(|v| {
                        let snake = snake_case(&v.variant.ident.unraw().to_string());
                        let value = v
                            .attrs
                            .rename
                            .get()
                            .map_or_else(|| snake.clone(), LitStr::value);
                        let error_type = v.attrs.error_type.get().map_or(snake, LitStr::value);
                        (value, error_type)
                    })
                    .collect(),
                warnings,
            }
        }
    }
}

fn check_field(
    f: &Field<'_>,
    prefix: Option<&str>,
    errors: &mut Errors,
    warnings: &mut Vec<Deprecated>,
) -> FieldPlan {
    let a = &f.attrs;
    if let Some(skip) = a.skip.key_ident() {
        for other in [
            a.name.key_ident(),
            a.redact.key_ident(),
            a.flatten.key_ident(),
        ]
        .into_iter()
        .flatten()
        {
            errors.spanned(other, format!("`{other}` has no effect on a `skip` field"));
        }
        let _ = skip;
        return FieldPlan::Skip;
    }
    if a.flatten.get().is_some() {
        for other in [a.name.key_ident(), a.redact.key_ident()]
            .into_iter()
            .flatten()
        {
            errors.spanned(
                other,
                format!("`{other}` cannot be combined with `flatten`: a flattened struct names its own attributes"),
            );
        }
        return FieldPlan::Flatten;
    }
    let key = match a.name.get() {
        Some(AttrName::Checked { name, tokens }) => {
            check_name(name, tokens, None, errors, warnings)
        }
        Some(AttrName::Unchecked(lit)) => {
            unchecked_ok(lit, errors);
            Key::Lit(lit.clone())
        }
        Some(AttrName::Key(path)) => Key::Path(path.clone()),
        None => {
            let member = match &f.member {
                syn::Member::Named(i) => i.unraw().to_string(),
                syn::Member::Unnamed(i) => i.index.to_string(),
            };
            match prefix {
                Some(p) => Key::Lit(LitStr::new(&format!("{p}.{member}"), f.field.span())),
                None => {
                    let at = f
                        .field
                        .ident
                        .as_ref()
                        .map_or_else(|| f.field.ty.to_token_stream(), ToTokens::to_token_stream);
                    errors.spanned(
                        at,
                        format!(
                            "field `{member}` has no attribute name: name it with \
                             `#[telemetry(name = \"...\")]`, give the type \
                             `#[telemetry(prefix = \"...\")]`, or leave it out with \
                             `#[telemetry(skip)]`"
                        ),
                    );
                    Key::Lit(LitStr::new(&member, f.field.span()))
                }
            }
        }
    };
    match a.redact.get() {
        Some(how) => FieldPlan::Redact(key, *how),
        None => FieldPlan::Push(key),
    }
}

/// `TimedOut` → `timed_out`, `HTTPError` → `http_error`.
pub fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Errors, check_name_in, snake_case};

    fn errors_for(name: &str, experimental: bool) -> Option<String> {
        let mut errors = Errors::default();
        let tokens: proc_macro2::TokenStream = name.parse().unwrap();
        check_name_in(
            name,
            &tokens,
            None,
            &mut errors,
            &mut Vec::new(),
            experimental,
        );
        errors.0.map(|e| e.to_string())
    }

    // The trybuild cases build with the workspace's features unified, where
    // the examples enable `experimental`; this rule is tested here instead,
    // with the feature's value passed in.
    #[test]
    fn experimental_names_need_the_feature() {
        assert_eq!(
            errors_for("messaging.system", false).as_deref(),
            Some(
                "attribute `messaging.system` is experimental (development): enable feature \
                 `experimental` of `semtel` to use it"
            )
        );
        assert_eq!(errors_for("messaging.system", true), None);
        // semtel's own pipeline registry is exempt; stable names need nothing.
        assert_eq!(errors_for("pipeline.batch.size", false), None);
        assert_eq!(errors_for("db.system.name", false), None);
    }

    #[test]
    fn variant_names_become_snake_case() {
        assert_eq!(snake_case("TimedOut"), "timed_out");
        assert_eq!(snake_case("HTTPError"), "http_error");
        assert_eq!(snake_case("Io"), "io");
        assert_eq!(snake_case("V2Failure"), "v2_failure");
    }
}
