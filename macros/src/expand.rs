//! Code generation only: `quote!` over the checked model. Expansions name the
//! runtime through `<crate>::__private` and the standard library through
//! `::core`; generated locals start with `__semtel_`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Ident, LitStr, Path};

use crate::ast::{Body, Input, InputData, StageFn};
use crate::attr::{Redact, StageArgs};
use crate::valid::{Deprecated, DerivePlan, FieldPlan, Key, StagePlan};

/// `<crate>::__private`.
fn private(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::semtel::__private),
    }
}

/// A rustc deprecation warning at each deprecated name.
fn warnings(list: &[Deprecated]) -> TokenStream {
    list.iter()
        .map(|d| {
            let note = &d.note;
            let ident = Ident::new("deprecated_attribute", d.span);
            quote_spanned! {d.span=>
                {
                    #[deprecated(note = #note)]
                    #[allow(non_camel_case_types)]
                    struct #ident;
                    let _ = #ident;
                }
            }
        })
        .collect()
}

fn lit(name: &str) -> LitStr {
    LitStr::new(name, Span::call_site())
}

fn key_tokens(key: &Key) -> TokenStream {
    match key {
        Key::Lit(lit) => lit.to_token_stream(),
        Key::Path(path) => quote_spanned!(path.span()=> #path.name()),
    }
}

/// The instrumented function.
pub fn stage(args: &StageArgs, f: &StageFn<'_>, plan: &StagePlan<'_>) -> TokenStream {
    let p = private(args.krate.get());
    let name = &plan.name;
    let pipeline_name = lit(semtel_conventions::pipeline::attribute::PIPELINE_NAME.name());
    let stage_name = lit(semtel_conventions::pipeline::attribute::PIPELINE_STAGE_NAME.name());
    let stage_kind_name = lit(semtel_conventions::pipeline::attribute::PIPELINE_STAGE_KIND.name());
    let error_type = lit(semtel_conventions::attribute::ERROR_TYPE.name());

    let mut span_fields = Vec::new();
    if let Some(k) = &plan.span_kind {
        span_fields.push(quote!("otel.kind" = #k));
    }
    let pipeline = match args.pipeline.get() {
        Some(pl) => {
            span_fields.push(quote!(#pipeline_name = #pl));
            quote!(::core::option::Option::Some(#pl))
        }
        None => quote!(::core::option::Option::None),
    };
    span_fields.push(quote!(#stage_name = #name));
    let kind = match &plan.kind {
        Some(k) => {
            let lit = LitStr::new(&k.to_string().to_lowercase(), k.span());
            span_fields.push(quote!(#stage_kind_name = #lit));
            quote!(::core::option::Option::Some(#p::StageKind::#k))
        }
        None => quote!(::core::option::Option::None),
    };
    let mut after_span = Vec::new();
    for field in &plan.fields {
        let value = field.value;
        match &field.key {
            Key::Lit(lit) => {
                use semtel_conventions::model::ValueType;
                let value = match field.value_type {
                    Some(ValueType::Int) => {
                        quote_spanned!(value.span()=> #p::int_field(&(#value)))
                    }
                    Some(ValueType::Double) => {
                        quote_spanned!(value.span()=> #p::double_field(&(#value)))
                    }
                    _ => quote!(#value),
                };
                span_fields.push(quote!(#lit = #value));
            }
            Key::Path(path) => after_span.push(quote_spanned! {value.span()=>
                #p::set_key(&__semtel_span, #path, &(#value));
            }),
        }
    }
    for arg in &args.record {
        after_span.push(quote_spanned!(arg.span()=> #p::record_on(&__semtel_span, &#arg);));
    }
    if let Some(links) = args.links.get() {
        after_span.push(quote_spanned!(links.span()=> #p::link_contexts(&__semtel_span, #links);));
    }
    let warn = warnings(&plan.warnings);

    let records_in = args
        .records_in
        .get()
        .map(|e| quote_spanned!(e.span()=> __semtel_guard.records_in(#e);));
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
    let records_out = args.records_out.get().map(|e| {
        let count = quote_spanned!(e.span()=> __semtel_guard.records_out(#e););
        if f.is_result {
            quote!(if let ::core::result::Result::Ok(ret) = &__semtel_ret { #count })
        } else {
            quote!({ let ret = &__semtel_ret; #count })
        }
    });
    let ret_ty = match f.output {
        Some(ty) if !f.output_is_opaque => quote!(: #ty),
        _ => TokenStream::new(),
    };
    let guard_mut = if plan.handle_result {
        quote!(mut)
    } else {
        TokenStream::new()
    };

    let prologue = quote! {
        #warn
        static __SEMTEL_SITE: #p::StageSite = #p::StageSite::new(#pipeline, #name, #kind);
        let __semtel_span = #p::tracing::span!(
            target: ::core::module_path!(),
            #p::tracing::Level::INFO,
            #name,
            #(#span_fields,)*
            #error_type = #p::tracing::field::Empty
        );
        #(#after_span)*
    };
    let finish = quote! {
        #on_result
        #records_out
        __semtel_ret
    };

    let item = f.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = &item.sig;
    let block = &item.block;
    let body = match &f.body {
        Body::Sync => {
            let closure_ret = match f.output {
                Some(ty) if !f.output_is_opaque => quote!(-> #ty),
                _ => TokenStream::new(),
            };
            quote! {
                #prologue
                let #guard_mut __semtel_guard = #p::StageGuard::start(&__SEMTEL_SITE, &__semtel_span);
                #records_in
                let __semtel_ret #ret_ty = __semtel_span.in_scope(|| #closure_ret #block);
                #finish
            }
        }
        Body::AsyncFn => quote! {
            #prologue
            let #guard_mut __semtel_guard = #p::StageGuard::start(&__SEMTEL_SITE, &__semtel_span);
            #records_in
            let __semtel_ret #ret_ty = #p::tracing::Instrument::instrument(
                async #block,
                ::core::clone::Clone::clone(&__semtel_span),
            ).await;
            #finish
        },
        Body::AsyncTail {
            before,
            block: inner,
            boxed,
        } => {
            let fut = quote! {
                async move {
                    let #guard_mut __semtel_guard = #p::StageGuard::start(&__SEMTEL_SITE, &__semtel_span);
                    #records_in
                    let __semtel_ret #ret_ty = #p::tracing::Instrument::instrument(
                        #inner,
                        ::core::clone::Clone::clone(&__semtel_span),
                    ).await;
                    #finish
                }
            };
            let tail = if *boxed {
                quote!(::std::boxed::Box::pin(#fut))
            } else {
                fut
            };
            quote! {
                #(#before)*
                #prologue
                #tail
            }
        }
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

/// The `Telemetry` impl of a struct, or the `TelemetryValue` and `ErrorType`
/// impls of an enum.
pub fn derive(input: &Input<'_>, plan: &DerivePlan) -> TokenStream {
    let p = private(input.attrs.krate.get());
    let item = input.item;
    let ident = &item.ident;
    let type_params: Vec<&Ident> = item.generics.type_params().map(|t| &t.ident).collect();
    let mut generics = item.generics.clone();
    let warn = warnings(&plan.warnings);
    match &input.data {
        InputData::Struct(fields) => {
            let mut body = Vec::new();
            let mut bounds = Vec::new();
            for (field, how) in fields.iter().zip(&plan.fields) {
                let member = &field.member;
                let ty = &field.field.ty;
                let span = ty.span();
                let generic = mentions_any(ty, &type_params);
                match how {
                    FieldPlan::Skip => {}
                    FieldPlan::Flatten => {
                        body.push(quote_spanned!(span=> __semtel_out.extend_from(&self.#member);));
                        if generic {
                            bounds.push(quote!(#ty: #p::Telemetry));
                        }
                    }
                    // A registry key checks the value's type against the key's.
                    FieldPlan::Push(Key::Path(path)) => {
                        body.push(
                            quote_spanned!(span=> __semtel_out.push_key(#path, &self.#member);),
                        );
                    }
                    FieldPlan::Push(key) => {
                        let key = key_tokens(key);
                        body.push(quote_spanned!(span=> __semtel_out.push(#key, &self.#member);));
                        if generic {
                            bounds.push(quote!(#ty: #p::TelemetryValue));
                        }
                    }
                    FieldPlan::Redact(key, Redact::Marker) => {
                        let key = key_tokens(key);
                        body.push(quote!(__semtel_out.push_redacted(#key);));
                    }
                    FieldPlan::Redact(key, Redact::Hash) => {
                        let key = key_tokens(key);
                        body.push(
                            quote_spanned!(span=> __semtel_out.push_hashed(#key, &self.#member);),
                        );
                        if generic {
                            bounds.push(quote!(#ty: #p::TelemetryValue));
                        }
                    }
                }
            }
            let where_clause = generics.make_where_clause();
            for b in bounds {
                where_clause.predicates.push(syn::parse_quote!(#b));
            }
            let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
            quote! {
                #[automatically_derived]
                impl #impl_generics #p::Telemetry for #ident #ty_generics #where_clause {
                    fn record_attributes(&self, __semtel_out: &mut #p::Attributes) {
                        #warn
                        #(#body)*
                    }
                }
            }
        }
        InputData::Enum(variants) => {
            let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
            let names: Vec<&Ident> = variants.iter().map(|v| &v.variant.ident).collect();
            let values = plan.variants.iter().map(|(v, _)| v);
            let error_types = plan.variants.iter().map(|(_, e)| e);
            quote! {
                #[automatically_derived]
                impl #impl_generics #p::TelemetryValue for #ident #ty_generics #where_clause {
                    #[allow(unreachable_code)] // an enum without variants
                    fn telemetry_value(&self) -> ::core::option::Option<#p::opentelemetry::Value> {
                        #warn
                        let __semtel_value: &'static str = match *self {
                            #(Self::#names { .. } => #values,)*
                        };
                        ::core::option::Option::Some(#p::opentelemetry::Value::from(__semtel_value))
                    }
                }
                #[automatically_derived]
                impl #impl_generics #p::ErrorType for #ident #ty_generics #where_clause {
                    fn error_type(&self) -> &'static str {
                        match *self {
                            #(Self::#names { .. } => #error_types,)*
                        }
                    }
                }
            }
        }
    }
}

/// Whether `ty` mentions one of the type parameters.
fn mentions_any(ty: &syn::Type, params: &[&Ident]) -> bool {
    fn walk(tokens: TokenStream, params: &[&Ident]) -> bool {
        tokens.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => params.iter().any(|p| **p == i),
            proc_macro2::TokenTree::Group(g) => walk(g.stream(), params),
            _ => false,
        })
    }
    !params.is_empty() && walk(ty.to_token_stream(), params)
}
