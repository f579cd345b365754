//! Tokens every expansion uses: the path to the runtime, deprecation
//! warnings, attribute keys.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Ident, Path};

use crate::valid::{Deprecated, Key};

/// `<crate>::__private`.
pub fn private(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::semtel::__private),
    }
}

/// A rustc deprecation warning at each deprecated name.
pub fn warnings(list: &[Deprecated]) -> TokenStream {
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

/// The attribute name of `key`: its literal, or `KEY.name()`.
pub fn key_tokens(key: &Key) -> TokenStream {
    match key {
        Key::Checked(lit, _) | Key::Lit(lit) => lit.to_token_stream(),
        Key::Path(path) => quote_spanned!(path.span()=> #path.name()),
    }
}
