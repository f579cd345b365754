//! The `tracing` layer that carries a session's [`Hub`].

use std::sync::Arc;

use tracing_subscriber::layer::Layer;

use super::hub::Hub;

/// The hub of the session whose dispatcher is current on this thread.
pub(crate) fn current() -> Option<Arc<Hub>> {
    tracing::dispatcher::get_default(|d| d.downcast_ref::<HubLayer>().map(|l| l.0.clone()))
}

/// The layer that carries a session's [`Hub`]; with the `sqlx` feature it
/// also turns sqlx's query events into client spans.
pub(crate) struct HubLayer(pub(crate) Arc<Hub>);

impl<S> Layer<S> for HubLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    #[cfg(feature = "sqlx")]
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        super::sqlx::on_event(&self.0, event);
    }
}
