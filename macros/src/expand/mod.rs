//! Code generation only: `quote!` over the checked model. Expansions name the
//! runtime through `<crate>::__private` and the standard library through
//! `::core`; generated locals start with `__semtel_`.
//!
//! A stage expands by the shape of its body, one file each: `stage_sync`
//! (a plain function), `stage_async_fn` (`async fn`) and `stage_async_tail`
//! (a function returning `async move { .. }` or `Box::pin(async move { .. })`);
//! `parts` holds what the three share. `derive` is `#[derive(Telemetry)]`.

mod common;
mod derive;
mod parts;
mod stage_async_fn;
mod stage_async_tail;
mod stage_sync;
mod typed;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{Body, StageFn};
use crate::attr::StageArgs;
use crate::valid::StagePlan;

pub use common::private;
pub use derive::derive;

/// The instrumented function.
pub fn stage(args: &StageArgs, f: &StageFn<'_>, plan: &StagePlan<'_>) -> TokenStream {
    let parts = parts::Parts::new(args, f, plan);
    let body = match &f.body {
        Body::Sync => stage_sync::body(&parts, f),
        Body::AsyncFn => stage_async_fn::body(&parts, f),
        Body::AsyncTail {
            before,
            block,
            boxed,
        } => stage_async_tail::body(&parts, before, block, *boxed),
    };
    let item = f.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = &item.sig;
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}
