//! A borrowed model of the user's item: the `#[stage]` function and the
//! `#[derive(Telemetry)]` input, keeping the original tokens for spans.

use syn::{
    Data, DeriveInput, Expr, ExprAsync, Fields, FnArg, GenericArgument, Ident, ItemFn, Member, Pat,
    PathArguments, ReturnType, Stmt, Type, TypeParamBound,
};

use crate::attr::{ContainerAttrs, FieldAttrs, VariantAttrs};
use crate::errors::Errors;

/// How a stage's body runs.
pub enum Body<'a> {
    /// A plain function.
    Sync,
    /// `async fn`.
    AsyncFn,
    /// A function whose tail expression is `async move { .. }` or
    /// `Box::pin(async move { .. })` (async-trait's shape): the block is
    /// instrumented.
    AsyncTail {
        /// Statements before the tail.
        before: &'a [Stmt],
        /// The async block.
        block: &'a ExprAsync,
        /// Whether it is wrapped in `Box::pin(..)`.
        boxed: bool,
    },
}

/// A `#[stage]` function.
pub struct StageFn<'a> {
    pub item: &'a ItemFn,
    pub body: Body<'a>,
    /// The value type the body produces (the `Future`'s `Output` for async
    /// tails); `None` for `()`.
    pub output: Option<&'a Type>,
    /// Whether `output` is a `Result` (its last path segment is `Result`).
    pub is_result: bool,
    /// Whether `output` mentions `impl Trait`, so it cannot be written as a type.
    pub output_is_opaque: bool,
    /// The argument names: `self` and identifier patterns.
    pub args: Vec<Ident>,
}

impl<'a> StageFn<'a> {
    pub fn from_item(item: &'a ItemFn) -> Self {
        let declared = match &item.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(&**ty),
        };
        let body = if item.sig.asyncness.is_some() {
            Body::AsyncFn
        } else {
            async_tail(item).unwrap_or(Body::Sync)
        };
        let output = match body {
            Body::AsyncTail { .. } => declared.and_then(future_output),
            _ => declared,
        };
        let args = item
            .sig
            .inputs
            .iter()
            .filter_map(|a| match a {
                FnArg::Receiver(r) => Some(Ident::new("self", r.self_token.span)),
                FnArg::Typed(t) => match &*t.pat {
                    Pat::Ident(p) => Some(p.ident.clone()),
                    _ => None,
                },
            })
            .collect();
        Self {
            item,
            body,
            output,
            is_result: output.is_some_and(is_result),
            output_is_opaque: output.is_some_and(mentions_impl),
            args,
        }
    }
}

/// `async move { .. }` or `Box::pin(async move { .. })` as the tail of the body.
fn async_tail(item: &ItemFn) -> Option<Body<'_>> {
    let (last, before) = item.block.stmts.split_last()?;
    let Stmt::Expr(tail, None) = last else {
        return None;
    };
    match tail {
        Expr::Async(block) => Some(Body::AsyncTail {
            before,
            block,
            boxed: false,
        }),
        Expr::Call(call) => {
            let Expr::Path(f) = &*call.func else {
                return None;
            };
            let segments: Vec<String> = f
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let is_box_pin = segments.ends_with(&["Box".to_owned(), "pin".to_owned()]);
            match (is_box_pin, call.args.first(), call.args.len()) {
                (true, Some(Expr::Async(block)), 1) => Some(Body::AsyncTail {
                    before,
                    block,
                    boxed: true,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `T` of `impl Future<Output = T>` or `Pin<Box<dyn Future<Output = T> + ..>>`.
fn future_output(ty: &Type) -> Option<&Type> {
    let bounds = match ty {
        Type::ImplTrait(t) => &t.bounds,
        Type::TraitObject(t) => &t.bounds,
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            return args.args.iter().find_map(|a| match a {
                GenericArgument::Type(t) => future_output(t),
                _ => None,
            });
        }
        Type::Paren(p) => return future_output(&p.elem),
        Type::Group(g) => return future_output(&g.elem),
        _ => return None,
    };
    bounds.iter().find_map(|b| {
        let TypeParamBound::Trait(t) = b else {
            return None;
        };
        let last = t.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(at) if at.ident == "Output" => Some(&at.ty),
            _ => None,
        })
    })
}

/// Whether the last path segment of `ty` is `Result`.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

/// Whether `impl Trait` appears anywhere in `ty`.
fn mentions_impl(ty: &Type) -> bool {
    let mut found = false;
    walk_tokens(quote::ToTokens::to_token_stream(ty), &mut found);
    found
}

fn walk_tokens(tokens: proc_macro2::TokenStream, found: &mut bool) {
    for tt in tokens {
        match tt {
            proc_macro2::TokenTree::Ident(i) if i == "impl" => *found = true,
            proc_macro2::TokenTree::Group(g) => walk_tokens(g.stream(), found),
            _ => {}
        }
    }
}

/// The `#[derive(Telemetry)]` input.
pub struct Input<'a> {
    pub item: &'a DeriveInput,
    pub attrs: ContainerAttrs,
    pub data: InputData<'a>,
}

pub enum InputData<'a> {
    Struct(Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
}

/// One struct field.
pub struct Field<'a> {
    pub field: &'a syn::Field,
    pub member: Member,
    pub attrs: FieldAttrs,
}

/// One enum variant.
pub struct Variant<'a> {
    pub variant: &'a syn::Variant,
    pub attrs: VariantAttrs,
}

impl<'a> Input<'a> {
    /// The model, or an error for unions.
    pub fn from_syn(item: &'a DeriveInput, errors: &mut Errors) -> Option<Self> {
        let attrs = ContainerAttrs::parse_all(&item.attrs, errors);
        let data = match &item.data {
            Data::Struct(s) => InputData::Struct(fields(&s.fields, errors)),
            Data::Enum(e) => InputData::Enum(
                e.variants
                    .iter()
                    .map(|variant| Variant {
                        variant,
                        attrs: VariantAttrs::parse_all(&variant.attrs, errors),
                    })
                    .collect(),
            ),
            Data::Union(u) => {
                errors.push(syn::Error::new(
                    u.union_token.span,
                    "`Telemetry` cannot be derived for a union, only for structs and enums",
                ));
                return None;
            }
        };
        Some(Self { item, attrs, data })
    }
}

fn fields<'a>(fields: &'a Fields, errors: &mut Errors) -> Vec<Field<'a>> {
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| Field {
            field,
            member: field.ident.clone().map_or_else(
                || {
                    Member::Unnamed(syn::Index {
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                        span: proc_macro2::Span::call_site(),
                    })
                },
                Member::Named,
            ),
            attrs: FieldAttrs::parse_all(&field.attrs, errors),
        })
        .collect()
}
