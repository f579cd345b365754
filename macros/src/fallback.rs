//! What is emitted when the input is invalid: the user's item unchanged (for
//! `#[stage]`) or impls that do nothing (for the derive), next to the
//! errors, so that one mistake gives one error and not a cascade.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Path};

use crate::expand::private;

/// `#[stage]`: the function as written.
pub fn stage(item: TokenStream, errors: TokenStream) -> TokenStream {
    quote! {
        #errors
        // Arguments used only by the stage's options would warn as unused.
        #[allow(unused_variables)]
        #item
    }
}

/// `#[derive(Telemetry)]`: impls of the derived traits that export nothing.
pub fn derive(input: &DeriveInput, krate: Option<&Path>, errors: TokenStream) -> TokenStream {
    let p = private(krate);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let impls = match &input.data {
        Data::Struct(_) => quote! {
            #[automatically_derived]
            impl #impl_generics #p::Telemetry for #ident #ty_generics #where_clause {
                fn record_attributes(&self, _: &mut #p::Attributes) {}
            }
        },
        Data::Enum(_) => quote! {
            #[automatically_derived]
            impl #impl_generics #p::StringEnum for #ident #ty_generics #where_clause {
                fn string_value(&self) -> &'static str {
                    ""
                }
            }
            #[automatically_derived]
            impl #impl_generics #p::TelemetryValue for #ident #ty_generics #where_clause {
                fn telemetry_value(&self) -> ::core::option::Option<#p::opentelemetry::Value> {
                    ::core::option::Option::None
                }
            }
            #[automatically_derived]
            impl #impl_generics #p::ErrorType for #ident #ty_generics #where_clause {
                fn error_type(&self) -> &'static str {
                    "_OTHER"
                }
            }
        },
        Data::Union(_) => TokenStream::new(),
    };
    quote! {
        #errors
        #impls
    }
}
