//! Error reporting to Sentry, on when `SENTRY_DSN` is set.
//!
//! Two things are reported, and nothing else: panics (the SDK's panic hook), and `error`-level
//! `tracing` events. The API's one HTTP error boundary logs the cause chain of every 500 once,
//! at that level (`store error`), so reporting hangs off that log line instead of a second code
//! path; 503s (store unavailable or busy) are `warn` lines — a dependency's state, reported by
//! `/health` and the metrics, not a defect — and travel only as breadcrumbs of a later event.
//!
//! What leaves the process: the event's message and `tracing` fields (the same ones the log
//! has, which by the logging rules never hold secrets or bodies), the request id as the tag
//! `request_id`, and breadcrumbs reduced to their message. The SDK is not given the request:
//! `send_default_pii` is off, there is no HTTP integration, and [`scrub`] removes any
//! request, user or breadcrumb data before an event is sent, so bodies, API keys,
//! `Authorization` headers and signatures cannot reach it.

use std::sync::Arc;

use kagami_api::Secret;
use sentry::{
    Breadcrumb, ClientInitGuard, ClientOptions, MaxRequestBodySize,
    integrations::tracing::{BreadcrumbLayer, ErrorLayer, SpanLayer},
    protocol::{Context, Event, Value},
};
use tracing::{Level, Subscriber};
use tracing_subscriber::{
    Layer,
    filter::{LevelFilter, filter_fn},
    registry::LookupSpan,
};

/// The tag that carries the request id.
pub(crate) const REQUEST_ID_TAG: &str = "request_id";

/// Starts the client for `dsn` (checked by the settings). Reporting lasts as long as the
/// returned guard, which flushes pending events (up to 2 s) when dropped.
pub(crate) fn init(dsn: &Secret) -> ClientInitGuard {
    let mut options = ClientOptions::new()
        .send_default_pii(false)
        .max_request_body_size(MaxRequestBodySize::None);
    options.dsn = dsn.expose().trim().parse().ok();
    options.release = sentry::release_name!();
    options.before_send = Some(Arc::new(|event| Some(scrub(event))));
    options.before_breadcrumb = Some(Arc::new(|breadcrumb| Some(bare(breadcrumb))));
    sentry::init(options)
}

/// The tracing layers that feed Sentry: `http.request` spans (so an event knows its request
/// id; transactions are not sampled, so spans themselves are never sent), `error` events as
/// events, `warn` events as breadcrumbs.
pub(crate) fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    SpanLayer::new()
        .with_filter(LevelFilter::INFO)
        .and_then(BreadcrumbLayer::new().with_filter(filter_fn(|m| *m.level() == Level::WARN)))
        .and_then(
            ErrorLayer::new()
                .enable_span_attributes()
                .with_filter(LevelFilter::ERROR),
        )
}

/// What an event may carry: no request, no user, breadcrumbs without data, and the request id
/// (the `request.id` field of the enclosing `http.request` span) promoted to the `request_id`
/// tag.
pub(crate) fn scrub(mut event: Event<'static>) -> Event<'static> {
    event.request = None;
    event.user = None;
    let breadcrumbs = std::mem::take(&mut event.breadcrumbs.values);
    event.breadcrumbs.values = breadcrumbs.into_iter().map(bare).collect();
    // The span's fields are the trace context's data; with span attributes on, they are
    // also among the event's fields, prefixed with the span's name.
    let request_id = event.contexts.values().find_map(|context| {
        let fields = match context {
            Context::Trace(trace) => &trace.data,
            Context::Other(fields) => fields,
            _ => return None,
        };
        fields.iter().find_map(|(key, value)| match value {
            Value::String(id) if key == "request.id" || key.ends_with(":request.id") => {
                Some(id.clone())
            }
            _ => None,
        })
    });
    if let Some(id) = request_id {
        event.tags.insert(REQUEST_ID_TAG.to_owned(), id);
    }
    event
}

/// A breadcrumb reduced to its kind, level and message.
fn bare(breadcrumb: Breadcrumb) -> Breadcrumb {
    Breadcrumb {
        data: Default::default(),
        ..breadcrumb
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn scrubbing_drops_request_data_and_tags_the_request_id() {
        let mut fields = BTreeMap::new();
        fields.insert("request.id".to_owned(), Value::String("req-42".to_owned()));
        let mut event = Event {
            request: Some(sentry::protocol::Request {
                data: Some("{\"secret\":1}".to_owned()),
                ..Default::default()
            }),
            user: Some(sentry::User::default()),
            ..Default::default()
        };
        event.contexts.insert(
            "trace".to_owned(),
            Context::Trace(Box::new(sentry::protocol::TraceContext {
                data: fields,
                ..Default::default()
            })),
        );
        event.breadcrumbs.values.push(Breadcrumb {
            message: Some("store unavailable".to_owned()),
            data: BTreeMap::from([("body".to_owned(), Value::from("secret"))]),
            ..Default::default()
        });
        let event = scrub(event);
        assert!(event.request.is_none() && event.user.is_none());
        assert_eq!(
            event.tags.get(REQUEST_ID_TAG).map(String::as_str),
            Some("req-42")
        );
        let crumb = &event.breadcrumbs.values[0];
        assert!(crumb.data.is_empty());
        assert_eq!(crumb.message.as_deref(), Some("store unavailable"));
    }
}
