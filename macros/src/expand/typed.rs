//! The value of an attribute found in the registries, checked by the compiler
//! against the registry's type. The expansion declares a trait of its own,
//! implemented for every value that fits (`ValueFor<T>` of the conventions),
//! whose message names the attribute and its type: a value of another type
//! reads "attribute `server.port` takes an `int` value, found `&str`" at the
//! user's expression, as a literal of the wrong type does.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use semtel_conventions::model::ValueType;
use syn::spanned::Spanned as _;
use syn::{Ident, LitStr};

use crate::valid::{a_type, a_value_of};

/// The `T` of `ValueFor<T>` for values of `ty`; `None` for `any`, which
/// takes every value.
pub fn marker(ty: ValueType) -> Option<TokenStream> {
    let string = quote!(::std::string::String);
    Some(match ty {
        ValueType::String => string,
        ValueType::Int => quote!(i64),
        ValueType::Double => quote!(f64),
        ValueType::Boolean => quote!(bool),
        ValueType::StringArray => quote!(::std::vec::Vec<#string>),
        ValueType::IntArray => quote!(::std::vec::Vec<i64>),
        ValueType::DoubleArray => quote!(::std::vec::Vec<f64>),
        ValueType::BooleanArray => quote!(::std::vec::Vec<bool>),
        ValueType::Any => return None,
    })
}

/// What values of `ty` may be, for the error's note.
fn accepted(ty: ValueType) -> &'static str {
    match ty {
        ValueType::String => {
            "`&str`, `String`, `Cow<str>`, `Arc<str>`, `char`, an enum that derives \
             `Telemetry` or is generated from a registry, or an `Option` of one"
        }
        ValueType::Int => {
            "an integer of any width (`i64`, `u32`, `u16`, ...), a registry's enum of \
             integers, or an `Option` of one"
        }
        ValueType::Double => "`f64`, `f32` or an integer, or an `Option` of one",
        ValueType::Boolean => "`bool`, or an `Option` of one",
        ValueType::StringArray => "a slice, array or `Vec` of strings",
        ValueType::IntArray => "a slice, array or `Vec` of integers",
        ValueType::DoubleArray => "a slice, array or `Vec` of floats or integers",
        ValueType::BooleanArray => "a slice, array or `Vec` of `bool`",
        ValueType::Any => "any value",
    }
}

/// The trait of the values of attribute `name`: `__SemtelServerPort`. One
/// name per attribute, so that rustc, which notes a "similarly named trait"
/// a type implements, only finds traits of the same attribute, which the
/// type implements neither.
fn trait_name(name: &LitStr) -> Ident {
    let mut camel = String::from("__Semtel");
    for part in name.value().split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            camel.push(first.to_ascii_uppercase());
            camel.extend(chars);
        }
    }
    Ident::new(&camel, Span::call_site())
}

/// `trait __Semtel<Name> { fn <method>; }` for the values of `ty` that fit
/// the attribute `name`, with `body` as the method.
fn value_trait(
    p: &TokenStream,
    name: &LitStr,
    marker: &TokenStream,
    ty: ValueType,
    method: &TokenStream,
    body: &TokenStream,
) -> TokenStream {
    let message = format!(
        "attribute `{}` takes {}, found `{{Self}}`",
        name.value(),
        a_value_of(ty)
    );
    let label = format!("not {}", a_value_of(ty));
    let note = format!("{} attribute takes {}", a_type(ty), accepted(ty));
    let trait_name = trait_name(name);
    quote! {
        #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
        trait #trait_name {
            #method;
        }
        #[diagnostic::do_not_recommend]
        impl<__SemtelV: #p::ValueFor<#marker> + ?::core::marker::Sized> #trait_name for __SemtelV {
            #[inline]
            #method {
                #body
            }
        }
    }
}

/// Sets the attribute `name` of type `ty` on the stage's span to `value`.
pub fn stage_field(
    p: &TokenStream,
    name: &LitStr,
    ty: ValueType,
    value: &syn::Expr,
) -> TokenStream {
    let Some(marker) = marker(ty) else {
        let value = quote_spanned!(value.span()=> #p::any_value(&(#value)));
        return quote!(__semtel_guard.set_attribute(#name, #value););
    };
    let method = quote!(fn __semtel_set(&self, __semtel_guard: &mut #p::StageGuard));
    let body = quote! {
        #p::set_key(__semtel_guard, #p::AttributeKey::<#marker>::new(#name), self);
    };
    let value_trait = value_trait(p, name, &marker, ty, &method, &body);
    let trait_name = trait_name(name);
    let call = quote_spanned! {value.span()=>
        #trait_name::__semtel_set(&(#value), &mut __semtel_guard);
    };
    quote! {
        {
            #value_trait
            #call
        }
    }
}

/// Pushes the attribute `name` of type `ty` with the field `member`'s value
/// (`span`: the field's type).
pub fn derive_field(
    p: &TokenStream,
    name: &LitStr,
    ty: ValueType,
    member: &syn::Member,
    span: Span,
) -> TokenStream {
    let Some(marker) = marker(ty) else {
        return quote_spanned!(span=> __semtel_out.push(#name, &self.#member););
    };
    let method = quote!(fn __semtel_push(&self, __semtel_out: &mut #p::Attributes));
    let body = quote! {
        __semtel_out.push_key(#p::AttributeKey::<#marker>::new(#name), self);
    };
    let value_trait = value_trait(p, name, &marker, ty, &method, &body);
    let trait_name = trait_name(name);
    let call = quote_spanned! {span=>
        #trait_name::__semtel_push(&self.#member, __semtel_out);
    };
    quote! {
        {
            #value_trait
            #call
        }
    }
}

/// The bound a generic field's type needs for an attribute of type `ty`.
pub fn bound(p: &TokenStream, ty: ValueType) -> TokenStream {
    match marker(ty) {
        Some(marker) => quote!(#p::ValueFor<#marker>),
        None => quote!(#p::TelemetryValue),
    }
}
