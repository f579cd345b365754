//! Code generation only: `quote!` over the checked model. Expansions name the
//! runtime through `<crate>::__private` and the standard library through
//! `::core`; generated locals start with `__semtel_`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Ident, Path};

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

    let span_kind = match &plan.span_kind {
        Some(k) => {
            let variant = match k.value().as_str() {
                "client" => quote!(Client),
                "server" => quote!(Server),
                "producer" => quote!(Producer),
                "consumer" => quote!(Consumer),
                _ => quote!(Internal),
            };
            quote!(::core::option::Option::Some(#p::opentelemetry::trace::SpanKind::#variant))
        }
        None => quote!(::core::option::Option::None),
    };
    let pipeline = match args.pipeline.get() {
        Some(pl) => quote!(::core::option::Option::Some(#pl)),
        None => quote!(::core::option::Option::None),
    };
    let kind = match &plan.kind {
        Some(k) => quote!(::core::option::Option::Some(#p::StageKind::#k)),
        None => quote!(::core::option::Option::None),
    };
    // Literal values go into the call site's static attributes; the others
    // are evaluated per call, only when the span records.
    let mut static_fields = Vec::new();
    let mut dynamic = Vec::new();
    for field in &plan.fields {
        let value = field.value;
        match &field.key {
            Key::Lit(lit) => {
                if let Some(v) = static_value(&p, value) {
                    static_fields.push(quote!((#lit, #v)));
                    continue;
                }
                use semtel_conventions::model::ValueType;
                let value = match field.value_type {
                    Some(ValueType::Int) => {
                        quote_spanned!(value.span()=> #p::int_value(&(#value)))
                    }
                    Some(ValueType::Double) => {
                        quote_spanned!(value.span()=> #p::double_value(&(#value)))
                    }
                    _ => quote_spanned!(value.span()=> #p::any_value(&(#value))),
                };
                dynamic.push(quote!(__semtel_guard.set_attribute(#lit, #value);));
            }
            Key::Path(path) => dynamic.push(quote_spanned! {value.span()=>
                #p::set_key(&mut __semtel_guard, #path, &(#value));
            }),
        }
    }
    for arg in &args.record {
        dynamic.push(quote_spanned!(arg.span()=> #p::record_on(&mut __semtel_guard, &#arg);));
    }
    if let Some(links) = args.links.get() {
        dynamic
            .push(quote_spanned!(links.span()=> #p::link_contexts(&mut __semtel_guard, #links);));
    }
    let set_fields = (!dynamic.is_empty()).then(|| {
        quote! {
            if __semtel_guard.recording() {
                #(#dynamic)*
            }
        }
    });
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
    let prologue = quote! {
        #warn
        static __SEMTEL_SITE: #p::StageSite = #p::StageSite::new(
            #pipeline, #name, #kind, #span_kind, &[#(#static_fields),*],
        );
    };
    // A sync stage's span is the innermost one from its start to its end;
    // an async stage's only while its future is polled.
    let start = |enter: TokenStream| {
        quote! {
            let mut __semtel_guard = #p::StageGuard::new(&__SEMTEL_SITE);
            __semtel_guard.#enter();
            #set_fields
            #records_in
        }
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
            let start = start(quote!(enter));
            // A closure, so `return` and `?` in the body end the body only;
            // `run` makes it `FnOnce` (a body may return a borrow it moves).
            quote! {
                #prologue
                #start
                let __semtel_ret #ret_ty = #p::run(|| #closure_ret #block);
                #finish
            }
        }
        Body::AsyncFn => {
            // With telemetry off, the body's future is awaited as it is:
            // no guard is started and nothing wraps it (one relaxed load
            // more than the plain `async fn`; the guard made and the body
            // wrapped cost ~5 ns of a one-poll call). The guard comes
            // first when on: `fields` and `records_in` are evaluated before
            // the body's future borrows what it uses.
            quote! {
                #prologue
                let mut __semtel_slot: ::core::option::Option<#p::StageGuard> =
                    ::core::option::Option::None;
                if #p::active() {
                    // `mut`: `fields` take `&mut __semtel_guard`.
                    #[allow(unused_mut)]
                    let mut __semtel_guard =
                        __semtel_slot.insert(#p::StageGuard::new(&__SEMTEL_SITE));
                    __semtel_guard.start();
                    #set_fields
                    #records_in
                }
                let __semtel_body = async #block;
                match &mut __semtel_slot {
                    ::core::option::Option::Some(__semtel_guard) => {
                        let __semtel_ret #ret_ty = __semtel_guard.instrument(__semtel_body).await;
                        #finish
                    }
                    ::core::option::Option::None => __semtel_body.await,
                }
            }
        }
        Body::AsyncTail {
            before,
            block: inner,
            boxed,
        } => {
            // The call starts when the function is called, as the future is
            // made: its parent is the span current then, and `fields` are
            // evaluated then (not captured by the future). The clock
            // restarts at the first poll.
            let fut = quote! {
                async move {
                    let mut __semtel_guard = __semtel_guard;
                    __semtel_guard.restart_clock();
                    #records_in
                    let __semtel_ret #ret_ty = __semtel_guard.instrument(#inner).await;
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
                let mut __semtel_guard = #p::StageGuard::new(&__SEMTEL_SITE);
                __semtel_guard.start();
                #set_fields
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
