//! A function whose tail is `async move { .. }` or `Box::pin(async move { .. })`
//! (async-trait's shape): the call starts when the function is called, the
//! block is instrumented.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ExprAsync, Stmt};

use super::parts::Parts;

pub fn body(parts: &Parts, before: &[Stmt], block: &ExprAsync, boxed: bool) -> TokenStream {
    let Parts {
        p,
        prologue,
        set_fields,
        records_in,
        finish,
        ret_ty,
        ..
    } = parts;
    let start = parts.start(false, false);
    // The call starts as the future is made: its parent is the span current
    // then, and `fields` are evaluated then (not captured by the future). The
    // clock restarts at the first poll.
    let fut = quote! {
        async move {
            let mut __semtel_guard = __semtel_guard;
            __semtel_guard.restart_clock();
            #records_in
            // A panic in the block is recorded on the call, then resumed.
            // By path, as in an `async fn` stage.
            let __semtel_caught =
                #p::StageGuard::instrument(&__semtel_guard, #p::CatchPanic::new(#block)).await;
            let __semtel_ret #ret_ty = __semtel_guard.resume(__semtel_caught);
            #finish
        }
    };
    let tail = if boxed {
        quote!(::std::boxed::Box::pin(#fut))
    } else {
        fut
    };
    quote! {
        #(#before)*
        #prologue
        let mut __semtel_guard = #p::StageGuard::new(&__SEMTEL_SITE);
        #start
        #set_fields
        #tail
    }
}
