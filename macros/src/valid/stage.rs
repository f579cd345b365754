//! `#[stage]`: its arguments against each other and against the function.

use semtel_conventions::attribute::ERROR_TYPE;
use semtel_conventions::pipeline::attribute::{
    PIPELINE_NAME, PIPELINE_STAGE_KIND, PIPELINE_STAGE_NAME,
};
use syn::ext::IdentExt as _;
use syn::{Expr, Ident, LitStr};

use super::name::{Deprecated, Key, check_name, unchecked_ok};
use crate::ast::StageFn;
use crate::attr::{AttrName, StageArgs, parent_expected};
use crate::errors::{Errors, closest, unknown};
use crate::symbol::{KIND, NAME, PIPELINE, RESULT, SPAN_KINDS, STAGE_KINDS, Symbol};

/// When `#[stage]` sets the attribute `name` itself, how to set it.
fn reserved(name: &str) -> Option<String> {
    Some(if name == PIPELINE_NAME.name() {
        format!("set it with `{PIPELINE} = \"...\"`")
    } else if name == PIPELINE_STAGE_NAME.name() {
        format!("set it with `{NAME} = \"...\"`")
    } else if name == PIPELINE_STAGE_KIND.name() {
        format!("set it with `{KIND} = ...`")
    } else if name == ERROR_TYPE.name() {
        "it is recorded from the `Err` value".to_owned()
    } else {
        return None;
    })
}

/// A `fields(...)` entry, checked.
pub struct StageField<'a> {
    pub key: Key,
    pub value: &'a Expr,
}

/// `#[stage]` after checks.
pub struct StagePlan<'a> {
    pub name: LitStr,
    pub kind: Option<Ident>,
    /// The `SpanKind` variant.
    pub span_kind: Option<Ident>,
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
    let kind = args
        .kind
        .get()
        .and_then(|k| variant(k, STAGE_KINDS, "stage kind", errors));
    let span_kind = args
        .span_kind
        .get()
        .and_then(|k| variant(k, SPAN_KINDS, "span kind", errors));
    for r in &args.record {
        if !f.args.iter().any(|a| a == r) {
            let names: Vec<String> = f.args.iter().map(ToString::to_string).collect();
            let mut msg = format!("`{r}` is not an argument of `{}`", sig.ident);
            if let Some(s) = closest(&r.to_string(), names.iter().map(String::as_str)) {
                msg.push_str(&format!(", did you mean `{s}`?"));
            }
            errors.spanned(r, msg);
        }
    }
    if let Some(k) = args.result.key_ident().filter(|_| !f.is_result) {
        errors.spanned(
            k,
            format!("`{RESULT}` applies to functions returning `Result`; this one does not"),
        );
    }
    if let Some(e @ Expr::Lit(_)) = args.parent.get() {
        errors.spanned(e, format!("{}, not a literal", parent_expected()));
    }
    let mut warnings = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut fields = Vec::new();
    for field in &args.fields {
        let key = match &field.name {
            AttrName::Checked { name, tokens } => {
                if let Some(how) = reserved(name) {
                    errors.spanned(tokens, format!("`{name}` is set by `#[stage]`: {how}"));
                    continue;
                }
                if seen.contains(name) {
                    errors.spanned(tokens, format!("duplicate field `{name}`"));
                }
                seen.push(name.clone());
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

/// The variant `ident` names (`sink` gives `Sink`), or an error when it is
/// not one of `valid`.
fn variant(ident: &Ident, valid: &[Symbol], what: &str, errors: &mut Errors) -> Option<Ident> {
    let s = ident.to_string();
    if valid.iter().any(|v| v.as_str() == s) {
        Some(Ident::new(&capitalize(&s), ident.span()))
    } else {
        errors.spanned(ident, unknown(what, &s, valid, "expected"));
        None
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
