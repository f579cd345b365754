//! A plain function: its span is the innermost one from the call to the
//! return, field expressions included.

use proc_macro2::TokenStream;
use quote::quote;

use super::parts::Parts;
use crate::ast::StageFn;

pub fn body(parts: &Parts, f: &StageFn<'_>) -> TokenStream {
    let Parts {
        p,
        prologue,
        set_fields,
        records_in,
        finish,
        ret_ty,
        ..
    } = parts;
    let start = parts.start(true, false);
    let block = &f.item.block;
    let closure_ret = match f.output {
        Some(ty) if !f.output_is_opaque => quote!(-> #ty),
        _ => TokenStream::new(),
    };
    // A closure, so `return` and `?` in the body end the body only; `run`
    // makes it `FnOnce` (a body may return a borrow it moves) and records a
    // panic in it before resuming it.
    quote! {
        #prologue
        let mut __semtel_guard = #p::StageGuard::new(&__SEMTEL_SITE);
        #start
        #set_fields
        #records_in
        let __semtel_ret #ret_ty = #p::run(&mut __semtel_guard, || #closure_ret #block);
        #finish
    }
}
