//! `async fn`: the span is current while the body's future is polled; the
//! duration runs from the first poll to completion.

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
    let start = parts.start(false, true);
    let block = &f.item.block;
    // With telemetry off, the body's future is awaited as it is: no guard is
    // started and nothing wraps it (one relaxed load more than the plain
    // `async fn`; the guard made and the body wrapped cost ~5 ns of a
    // one-poll call). The guard comes first when on: `fields` and
    // `records_in` are evaluated before the body's future borrows what it
    // uses.
    quote! {
        #prologue
        let mut __semtel_slot: ::core::option::Option<#p::StageGuard> =
            ::core::option::Option::None;
        if #p::active() {
            // `mut`: `fields` take `&mut __semtel_guard`.
            #[allow(unused_mut)]
            let mut __semtel_guard =
                __semtel_slot.insert(#p::StageGuard::new(&__SEMTEL_SITE));
            #start
            #set_fields
            #records_in
        }
        let __semtel_body = async #block;
        match &mut __semtel_slot {
            ::core::option::Option::Some(__semtel_guard) => {
                // A panic in the body is recorded on the call, then resumed.
                // Called by path: a method call would find a trait
                // method first (`tracing::Instrument`, implemented for every
                // type, is often imported where async stages are written).
                let __semtel_caught =
                    #p::StageGuard::instrument(__semtel_guard, #p::CatchPanic::new(__semtel_body))
                        .await;
                let __semtel_ret #ret_ty = __semtel_guard.resume(__semtel_caught);
                #finish
            }
            ::core::option::Option::None => __semtel_body.await,
        }
    }
}
