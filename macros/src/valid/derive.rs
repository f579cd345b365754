//! `#[derive(Telemetry)]`: the options of the type, its fields and variants.

use quote::ToTokens;
use syn::LitStr;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

use super::name::{Deprecated, Key, check_name, unchecked_ok};
use crate::ast::{Field, Input, InputData};
use crate::attr::{AttrName, Redact};
use crate::errors::Errors;
use crate::symbol::{FLATTEN, NAME, PREFIX, SKIP, TELEMETRY};

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
                    format!("`{PREFIX}` applies to structs; enums export their variant name"),
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
    if a.skip.get().is_some() {
        for other in [
            a.name.key_ident(),
            a.redact.key_ident(),
            a.flatten.key_ident(),
        ]
        .into_iter()
        .flatten()
        {
            errors.spanned(
                other,
                format!("`{other}` has no effect on a `{SKIP}` field"),
            );
        }
        return FieldPlan::Skip;
    }
    if a.flatten.get().is_some() {
        for other in [a.name.key_ident(), a.redact.key_ident()]
            .into_iter()
            .flatten()
        {
            errors.spanned(
                other,
                format!(
                    "`{other}` cannot be combined with `{FLATTEN}`: a flattened struct names its \
                     own attributes"
                ),
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
                             `#[{TELEMETRY}({NAME} = \"...\")]`, give the type \
                             `#[{TELEMETRY}({PREFIX} = \"...\")]`, or leave it out with \
                             `#[{TELEMETRY}({SKIP})]`"
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
    use super::snake_case;

    #[test]
    fn variant_names_become_snake_case() {
        assert_eq!(snake_case("TimedOut"), "timed_out");
        assert_eq!(snake_case("HTTPError"), "http_error");
        assert_eq!(snake_case("Io"), "io");
        assert_eq!(snake_case("V2Failure"), "v2_failure");
    }
}
