//! The server under test: the real `Application` on `127.0.0.1:0`, an HTTP client, and an
//! admin and a client key created on its store.

use std::{
    net::TcpListener,
    sync::{Arc, OnceLock},
    time::Duration,
};

use futures::future::BoxFuture;
use kagami_api::{ApiConfig, Application, Secret, auth::create_key};
use kagami_core::crypto::Timestamp;
use kagami_store::{Role, Store};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use reqwest::{
    Method, StatusCode,
    header::{CONTENT_TYPE, HeaderMap},
};
use serde_json::Value;

use crate::fixtures::now;

/// The process-wide Prometheus recorder: metrics are global, so it is installed once and every
/// server of this test binary renders from it.
fn recorder() -> PrometheusHandle {
    static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();
    RECORDER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("install the Prometheus recorder")
        })
        .clone()
}

/// Which `Authorization` header a request carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// None at all.
    Public,
    /// `Bearer <admin key>`.
    Admin,
    /// `Bearer <client key>`.
    Client,
    /// This exact header value.
    Header(&'a str),
}

/// A running server.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) admin_key: String,
    pub(crate) client_key: String,
    /// The same store the server uses (for setting up what has no endpoint, e.g. revoking a key).
    pub(crate) store: Store,
    stop: Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send + Sync>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// How long the test servers remember an authenticated key.
pub(crate) const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// The audit log key of every test server.
pub(crate) fn log_signer() -> kagami_tlog::SignerKey {
    kagami_tlog::SignerKey::from_seed("kagami.test/log", &[7; 32]).unwrap()
}

/// The salt every test server hashes its keys with.
pub(crate) fn salt() -> Secret {
    Secret::new("service-test-salt".to_owned())
}

/// Creates an admin and a client key on `store`, hashed with [`salt`]; returns them.
pub(crate) async fn keys(store: &Store) -> (String, String) {
    let now = Timestamp::from_unix(now()).unwrap();
    let (admin, _) = create_key(store, &salt(), Role::Admin, "test admin", now)
        .await
        .unwrap();
    let (client, _) = create_key(store, &salt(), Role::Client, "test client", now)
        .await
        .unwrap();
    (admin.expose().to_owned(), client.expose().to_owned())
}

impl TestApp {
    /// Creates an admin and a client key on `store`, then starts the server on it.
    pub(crate) async fn spawn(store: Store) -> Self {
        Self::spawn_with(store, |_| {}).await
    }

    /// As [`TestApp::spawn`], with `setup` adjusting the configuration.
    pub(crate) async fn spawn_with(store: Store, setup: impl FnOnce(&mut ApiConfig)) -> Self {
        let (admin_key, client_key) = keys(&store).await;
        let render = recorder();
        let mut config = ApiConfig::new(salt());
        config.metrics_renderer = Some(Arc::new(move || render.render()));
        // The PostgreSQL flip-metrics view is refreshed in the background; keep it fresh.
        config.flip_metrics_refresh = Duration::from_millis(300);
        config.shutdown_timeout = Duration::from_secs(1);
        config.workers = Some(2);
        config.api_key_cache_ttl = KEY_CACHE_TTL;
        config.log_signer = Some(log_signer());
        config.log_interval = Duration::from_millis(100);
        setup(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let app = Application::build(config, store.clone(), listener).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            stop: Box::new(move || Box::pin(async move { handle.stop(false).await })),
            ..Self::external(base, (admin_key, client_key), store)
        }
    }

    /// A client of a server running elsewhere (another process) at `base`, on `store`, which
    /// knows `admin_key` and `client_key` (see [`keys`]). Stopping it stops nothing.
    pub(crate) fn external(
        base: String,
        (admin_key, client_key): (String, String),
        store: Store,
    ) -> Self {
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            admin_key,
            client_key,
            store,
            stop: Box::new(|| Box::pin(async {})),
        }
    }

    /// Stops the server (without waiting for in-flight requests: the test is over).
    pub(crate) async fn stop(self) {
        (self.stop)().await;
    }

    /// A request with the given authorization.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
    ) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match auth {
            Auth::Public => builder,
            Auth::Admin => builder.bearer_auth(&self.admin_key),
            Auth::Client => builder.bearer_auth(&self.client_key),
            Auth::Header(value) => builder.header(reqwest::header::AUTHORIZATION, value),
        }
    }

    /// Sends `builder` and reads the whole answer.
    pub(crate) async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        Self::try_send(builder).await.unwrap()
    }

    /// Sends `builder` and reads the whole answer, or says why there is none (the connection
    /// failed, or broke before the answer was complete).
    pub(crate) async fn try_send(builder: reqwest::RequestBuilder) -> reqwest::Result<Reply> {
        let response = builder.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await?;
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    /// As [`TestApp::post`], but a missing answer is an `Err`, not a failed test.
    pub(crate) async fn try_post(
        &self,
        path: &str,
        auth: Auth<'_>,
        body: &Value,
    ) -> reqwest::Result<Reply> {
        Self::try_send(self.request(Method::POST, path, auth).json(body)).await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path, Auth::Public))
            .await
    }

    pub(crate) async fn post(&self, path: &str, auth: Auth<'_>, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path, auth).json(body))
            .await
    }

    pub(crate) async fn put(&self, path: &str, auth: Auth<'_>, body: &Value) -> Reply {
        self.send(self.request(Method::PUT, path, auth).json(body))
            .await
    }

    /// POSTs `chunks` copies of `chunk` with `Transfer-Encoding: chunked` (so the server
    /// cannot know the length up front) over a raw HTTP/1.1 connection, as the admin; returns
    /// the status code and the response body.
    pub(crate) async fn post_chunked(
        &self,
        path: &str,
        chunk: &[u8],
        chunks: usize,
    ) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            self.admin_key
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        for _ in 0..chunks {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
            // The server may answer and close before reading everything; that is the point.
            if stream.write_all(&framed).await.is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// The `/metrics` exposition text.
    pub(crate) async fn metrics(&self) -> String {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.text
    }
}

/// A complete HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    /// The body as JSON (fails the test, showing the body, when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "{} answered a body that is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self.json()
    }

    /// Asserts an error answer: the status, a JSON content type, the envelope's stable `error`
    /// code and a non-empty `message`. Returns the body for the details.
    #[track_caller]
    pub(crate) fn expect_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        let content_type = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "error with content type {content_type:?}: {}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["error"], code, "unexpected error code; body: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {body}"
        );
        body
    }

    /// A response header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The value of the sample `name{labels}` (or `name` when `labels` is empty) in a Prometheus
/// exposition, if present.
pub(crate) fn sample(exposition: &str, name: &str, labels: &str) -> Option<f64> {
    let series = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    exposition.lines().find_map(|line| {
        line.strip_prefix(&series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
