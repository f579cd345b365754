//! `#[derive(Telemetry)]`: the `Telemetry` impl of a struct, or the
//! `StringEnum`, `TelemetryValue` and `ErrorType` impls of an enum.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned as _;

use super::common::{key_tokens, private, warnings};
use super::typed;
use crate::ast::{Input, InputData};
use crate::attr::Redact;
use crate::valid::{DerivePlan, FieldPlan, Key};

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
                    // A registry's name checks the value's type against the registry's.
                    FieldPlan::Push(Key::Checked(name, value_type)) => {
                        body.push(typed::derive_field(&p, name, *value_type, member, span));
                        if generic {
                            let bound = typed::bound(&p, *value_type);
                            bounds.push(quote!(#ty: #bound));
                        }
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
                impl #impl_generics #p::StringEnum for #ident #ty_generics #where_clause {
                    fn string_value(&self) -> &'static str {
                        match *self {
                            #(Self::#names { .. } => #values,)*
                        }
                    }
                }
                #[automatically_derived]
                impl #impl_generics #p::TelemetryValue for #ident #ty_generics #where_clause {
                    fn telemetry_value(&self) -> ::core::option::Option<#p::opentelemetry::Value> {
                        #warn
                        let __semtel_value = #p::StringEnum::string_value(self);
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
