//! What the three shapes of a stage expansion share: the call site, the
//! fields set when the span records, `records_in` and `bytes_in`, and the end
//! of the call (`Err` recorded, `records_out` and `bytes_out` counted, the
//! value returned).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

use super::common::{private, warnings};
use super::typed;
use crate::ast::StageFn;
use crate::attr::StageArgs;
use crate::valid::{Key, StagePlan};

/// The pieces of a stage expansion.
pub struct Parts {
    /// `<crate>::__private`.
    pub p: TokenStream,
    /// Deprecation warnings and the `__SEMTEL_SITE` static.
    pub prologue: TokenStream,
    /// The fields, links and `record(..)` arguments, set when the span
    /// records; empty when there are none.
    pub set_fields: Option<TokenStream>,
    /// `__semtel_guard.records_in(..)` and `.bytes_in(..)`.
    pub records_in: Option<TokenStream>,
    /// The end of the call: `Err` recorded, `records_out` and `bytes_out` counted, then
    /// `__semtel_ret` as the value.
    pub finish: TokenStream,
    /// `: T` for `let __semtel_ret`, when the type can be written.
    pub ret_ty: TokenStream,
    /// `&(parent)`, spanned at the user's expression.
    parent: Option<TokenStream>,
}

impl Parts {
    pub fn new(args: &StageArgs, f: &StageFn<'_>, plan: &StagePlan<'_>) -> Self {
        let p = private(args.krate.get());
        let prologue = prologue(&p, args, plan);
        let set_fields = set_fields(&p, args, plan);
        let records_in = args
            .records_in
            .get()
            .map(|e| quote_spanned!(e.span()=> __semtel_guard.records_in(#e);));
        let bytes_in = args
            .bytes_in
            .get()
            .map(|e| quote_spanned!(e.span()=> __semtel_guard.bytes_in(#e);));
        let records_in =
            (records_in.is_some() || bytes_in.is_some()).then(|| quote!(#records_in #bytes_in));
        let ret_span = f.output.map_or_else(Span::call_site, |t| t.span());
        let on_result = plan.handle_result.then(|| {
            quote_spanned! {ret_span=>
                if let ::core::result::Result::Err(__semtel_err) = &__semtel_ret {
                    #[allow(unused_imports)]
                    use #p::{AsErrorType as _, AsTypeName as _};
                    let __semtel_type = (&#p::ErrorTypeOf(__semtel_err)).as_error_type();
                    __semtel_guard.fail_with(__semtel_type, __semtel_err);
                }
            }
        });
        let records = args
            .records_out
            .get()
            .map(|e| quote_spanned!(e.span()=> __semtel_guard.records_out(#e);));
        let bytes = args
            .bytes_out
            .get()
            .map(|e| quote_spanned!(e.span()=> __semtel_guard.bytes_out(#e);));
        let records_out = (records.is_some() || bytes.is_some()).then(|| {
            let count = quote!(#records #bytes);
            if f.is_result {
                quote!(if let ::core::result::Result::Ok(ret) = &__semtel_ret { #count })
            } else {
                quote!({ let ret = &__semtel_ret; #count })
            }
        });
        let finish = quote! {
            #on_result
            #records_out
            __semtel_ret
        };
        let ret_ty = match f.output {
            Some(ty) if !f.output_is_opaque => quote!(: #ty),
            _ => TokenStream::new(),
        };
        let parent = args.parent.get().map(|e| quote_spanned!(e.span()=> &(#e)));
        Self {
            p,
            prologue,
            set_fields,
            records_in,
            finish,
            ret_ty,
            parent,
        }
    }

    /// Starts `__semtel_guard`, entered (a sync stage) or not. With
    /// `parent = ..`, the expression is evaluated only when telemetry is on
    /// (`on`: known to be here).
    pub fn start(&self, enter: bool, on: bool) -> TokenStream {
        let p = &self.p;
        let Some(parent) = &self.parent else {
            return if enter {
                quote!(__semtel_guard.enter();)
            } else {
                quote!(__semtel_guard.start();)
            };
        };
        let call = if enter {
            quote!(__semtel_guard.enter_under(#parent);)
        } else {
            quote!(__semtel_guard.start_under(#parent);)
        };
        if on {
            call
        } else {
            quote!(if #p::active() { #call })
        }
    }
}

/// Deprecation warnings, then the call site: name, pipeline, kinds and the
/// literal fields.
fn prologue(p: &TokenStream, args: &StageArgs, plan: &StagePlan<'_>) -> TokenStream {
    let name = &plan.name;
    let span_kind = match &plan.span_kind {
        Some(k) => {
            quote!(::core::option::Option::Some(#p::opentelemetry::trace::SpanKind::#k))
        }
        None => quote!(::core::option::Option::None),
    };
    let pipeline = match args.pipeline.get() {
        Some(pl) => quote!(::core::option::Option::Some(#pl)),
        // `pipeline.name` is required on the stage metrics: the crate's
        // name when the stage names no pipeline.
        None => quote!(::core::option::Option::Some(::core::env!("CARGO_PKG_NAME"))),
    };
    let kind = match &plan.kind {
        Some(k) => quote!(::core::option::Option::Some(#p::StageKind::#k)),
        None => quote!(::core::option::Option::None),
    };
    // Literal values go into the call site's static attributes; the others
    // are evaluated per call, only when the span records (`set_fields`).
    let static_fields = plan.fields.iter().filter_map(|field| match &field.key {
        Key::Checked(lit, _) | Key::Lit(lit) => {
            static_value(p, field.value).map(|v| quote!((#lit, #v)))
        }
        Key::Path(_) => None,
    });
    let warn = warnings(&plan.warnings);
    let records_in = args.records_in.get().is_some();
    let records_out = args.records_out.get().is_some();
    quote! {
        #warn
        static __SEMTEL_SITE: #p::StageSite = #p::StageSite::new(
            #pipeline, #name, #kind, #span_kind, &[#(#static_fields),*],
        ).records(#records_in, #records_out);
    }
}

/// The fields evaluated per call, `record(..)` and `links`, when the span
/// records.
fn set_fields(p: &TokenStream, args: &StageArgs, plan: &StagePlan<'_>) -> Option<TokenStream> {
    let mut dynamic = Vec::new();
    for field in &plan.fields {
        let value = field.value;
        if static_value(p, value).is_some() && !matches!(field.key, Key::Path(_)) {
            continue;
        }
        dynamic.push(match &field.key {
            Key::Checked(lit, ty) => typed::stage_field(p, lit, *ty, value),
            Key::Lit(lit) => {
                let value = quote_spanned!(value.span()=> #p::any_value(&(#value)));
                quote!(__semtel_guard.set_attribute(#lit, #value);)
            }
            Key::Path(path) => quote_spanned! {value.span()=>
                #p::set_key(&mut __semtel_guard, #path, &(#value));
            },
        });
    }
    for arg in &args.record {
        dynamic.push(quote_spanned!(arg.span()=> #p::record_on(&mut __semtel_guard, &#arg);));
    }
    if let Some(links) = args.links.get() {
        dynamic
            .push(quote_spanned!(links.span()=> #p::link_contexts(&mut __semtel_guard, #links);));
    }
    (!dynamic.is_empty()).then(|| {
        quote! {
            if __semtel_guard.recording() {
                #(#dynamic)*
            }
        }
    })
}

/// A `fields(...)` value that is a literal, as a `StaticValue`.
fn static_value(p: &TokenStream, value: &syn::Expr) -> Option<TokenStream> {
    let syn::Expr::Lit(syn::ExprLit { lit, .. }) = value else {
        return None;
    };
    Some(match lit {
        syn::Lit::Str(s) => quote!(#p::StaticValue::Str(#s)),
        syn::Lit::Bool(b) => quote!(#p::StaticValue::Bool(#b)),
        syn::Lit::Int(i) => {
            let v: i64 = i.base10_parse().ok()?;
            quote!(#p::StaticValue::Int(#v))
        }
        syn::Lit::Float(f) => {
            let v: f64 = f.base10_parse().ok()?;
            quote!(#p::StaticValue::Double(#v))
        }
        _ => return None,
    })
}
