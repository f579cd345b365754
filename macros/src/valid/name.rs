//! An attribute name, and a literal value given to it, against the
//! conventions tables: unknown, deprecated, experimental, wrong literal type,
//! unknown enum member.

use proc_macro2::{Span, TokenStream};
use semtel_conventions::model::{AttributeDef, AttributeType, EnumValue, Source, ValueType};
use syn::{Expr, Lit, LitStr, Path};

use crate::errors::{Errors, list};
use crate::symbol::UNCHECKED;

/// A deprecated name: `expand` turns it into a rustc deprecation warning at
/// the user's token.
pub struct Deprecated {
    pub note: String,
    pub span: Span,
}

/// What an attribute name resolves to in the expansion.
#[derive(Clone)]
pub enum Key {
    /// A name found in the registries, and the type of its values there:
    /// the value's type is checked against it.
    Checked(LitStr, ValueType),
    /// A name outside every registry (`unchecked(..)`, a prefix): any value.
    Lit(LitStr),
    /// A constant of a generated registry: the compiler checks the value's
    /// type against the key's.
    Path(Path),
}

/// "an `int`", "a `string[]`".
pub fn a_type(ty: ValueType) -> String {
    let article = if matches!(ty, ValueType::Int | ValueType::IntArray | ValueType::Any) {
        "an"
    } else {
        "a"
    };
    format!("{article} `{ty}`")
}

/// "an `int` value": what an attribute of type `ty` takes.
pub fn a_value_of(ty: ValueType) -> String {
    format!("{} value", a_type(ty))
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
                 `{UNCHECKED}(\"{name}\")`"
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
    Key::Checked(LitStr::new(name, span), def.ty.value_type())
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
                "attribute `{name}` takes {}, found {found}",
                a_value_of(expected)
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

/// An `unchecked("...")` name that is in a registry after all is an error:
/// the check should not be skipped for it.
pub fn unchecked_ok(lit: &LitStr, errors: &mut Errors) {
    let name = lit.value();
    if name.is_empty() {
        errors.spanned(lit, "attribute name is empty");
    } else if semtel_conventions::attribute(&name).is_some() {
        errors.spanned(
            lit,
            format!(
                "`{name}` is a known attribute: name it without `{UNCHECKED}` so it is checked"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{Errors, check_name_in};

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
        errors.messages()
    }

    // The trybuild cases build with `experimental` on (some use development
    // names); this rule is tested here instead, with the feature's value
    // passed in.
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
}
