//! A TCP proxy the test can switch off and on, to take a dependency (PostgreSQL, Redis) away
//! from the server under test and give it back, without touching the real service — or, for
//! PostgreSQL, cut one connection in the middle of a transaction.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
};

/// Where [`Proxy::cut_next_transaction`] cuts the transaction it catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Once `n` statements after `BEGIN` have been passed on (simple queries, or extended
    /// queries counted at their `Sync`), before the next message (`0`: right after `BEGIN`).
    /// A transaction that ends sooner is cut at its `COMMIT` (or `ROLLBACK`).
    AfterStatements(usize),
    /// Just before `COMMIT` (or `ROLLBACK`): every statement of the transaction reached the
    /// server, the commit never does.
    BeforeCommit,
}

/// A TCP proxy on `127.0.0.1:<port>` to an upstream address. Switched off, it cuts every
/// proxied connection and turns new ones away (accepted, then closed at once) until it is
/// switched on again.
///
/// It also reads the PostgreSQL frontend protocol the client sends (plaintext only; a
/// connection that starts TLS, or speaks another protocol such as Redis, is passed through
/// unread), so that a test can have the next transaction any client starts cut at a chosen
/// point ([`Proxy::cut_next_transaction`]).
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    on: watch::Sender<bool>,
    armed: Arc<Mutex<Option<Cut>>>,
    cuts: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts proxying to `upstream` (`host:port`), switched on.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind the proxy: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the proxy's address: {e}"))
            .port();
        let (on, _) = watch::channel(true);
        let switch = on.clone();
        let armed: Arc<Mutex<Option<Cut>>> = Arc::default();
        let cuts: Arc<AtomicUsize> = Arc::default();
        let (armed_here, cuts_here) = (armed.clone(), cuts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut state = switch.subscribe();
                if !*state.borrow_and_update() {
                    // Switched off: the upstream is "down"; close at once.
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let (armed, cuts) = (armed_here.clone(), cuts_here.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = inbound.into_split();
                    let (mut from_server, to_server) = outbound.into_split();
                    let mut watcher = Watcher {
                        to_server,
                        armed,
                        cuts,
                    };
                    tokio::select! {
                        _ = watcher.pump(&mut from_client) => {}
                        _ = tokio::io::copy(&mut from_server, &mut to_client) => {}
                        _ = state.wait_for(|on| !on) => {}
                    }
                    // Dropping both ends cuts the connection.
                });
            }
        });
        Self {
            port,
            on,
            armed,
            cuts,
        }
    }

    /// The loopback port to connect to instead of the upstream.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Switches the proxy on (pass traffic) or off (cut and refuse).
    pub fn set(&self, on: bool) {
        self.on.send_replace(on);
    }

    /// Arms a one-shot cut: the next transaction any proxied client starts (a `BEGIN` or
    /// `START TRANSACTION` simple query — what `tokio-postgres` sends) has its connection
    /// dropped at `cut`, in both directions, before the statement at that point is passed
    /// on. The server rolls the transaction back; the client sees a closed connection.
    /// Connections and transactions after it pass untouched.
    ///
    /// # Panics
    /// When the proxy's state is poisoned (a proxy task panicked).
    pub fn cut_next_transaction(&self, cut: Cut) {
        *self.armed.lock().unwrap_or_else(|e| panic!("{e}")) = Some(cut);
    }

    /// How many transactions the proxy has cut so far.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// The client → server half of one proxied connection, message by message.
struct Watcher {
    to_server: OwnedWriteHalf,
    armed: Arc<Mutex<Option<Cut>>>,
    cuts: Arc<AtomicUsize>,
}

/// `SSLRequest` and `GSSENCRequest` codes: an untyped message the server answers with one
/// byte, followed by another untyped message (or a TLS handshake).
const ENCRYPTION_REQUESTS: [u32; 2] = [80_877_103, 80_877_104];

impl Watcher {
    /// Passes the client's messages on until either side closes or a cut is due.
    async fn pump(&mut self, from_client: &mut OwnedReadHalf) -> std::io::Result<()> {
        // Untyped start-up messages: optional encryption requests, then the start-up packet.
        loop {
            let mut first = [0u8; 1];
            from_client.read_exact(&mut first).await?;
            if first[0] != 0 {
                // Not PostgreSQL's start-up (whose length's first byte is 0): a TLS handshake
                // (0x16) or another protocol (Redis's RESP starts with `*`). Nothing further
                // is readable; pass it all through.
                self.to_server.write_all(&first).await?;
                tokio::io::copy(from_client, &mut self.to_server).await?;
                return Ok(());
            }
            let mut rest = [0u8; 3];
            from_client.read_exact(&mut rest).await?;
            let length = u32::from_be_bytes([first[0], rest[0], rest[1], rest[2]]);
            let body = read_body(from_client, length).await?;
            self.to_server.write_all(&first).await?;
            self.to_server.write_all(&rest).await?;
            self.to_server.write_all(&body).await?;
            let code = body
                .get(..4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            if !code.is_some_and(|c| ENCRYPTION_REQUESTS.contains(&c)) {
                break;
            }
        }
        // Typed messages: one byte of type, a length that counts itself, the body.
        let mut cutting: Option<(Cut, usize)> = None;
        loop {
            let mut head = [0u8; 5];
            from_client.read_exact(&mut head).await?;
            let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
            let body = read_body(from_client, length).await?;
            let query = (head[0] == b'Q').then(|| query_text(&body));
            if let Some((cut, passed)) = &mut cutting {
                let ends = query.as_deref().is_some_and(ends_a_transaction);
                let due = match *cut {
                    Cut::AfterStatements(n) => ends || *passed >= n,
                    Cut::BeforeCommit => ends,
                };
                if due {
                    self.cuts.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
                // A statement ends at a simple query or at the Sync of an extended one.
                if matches!(head[0], b'Q' | b'S') {
                    *passed += 1;
                }
            } else if query.as_deref().is_some_and(starts_a_transaction)
                && let Some(cut) = self.armed.lock().ok().and_then(|mut a| a.take())
            {
                cutting = Some((cut, 0));
            }
            self.to_server.write_all(&head).await?;
            self.to_server.write_all(&body).await?;
        }
    }
}

async fn read_body(from: &mut OwnedReadHalf, length: u32) -> std::io::Result<Vec<u8>> {
    let length = usize::try_from(length.saturating_sub(4))
        .map_err(|_| std::io::Error::other("message too long"))?;
    let mut body = vec![0u8; length];
    from.read_exact(&mut body).await?;
    Ok(body)
}

/// The text of a simple query, upper-cased, without its NUL terminator.
fn query_text(body: &[u8]) -> String {
    let text = body.strip_suffix(&[0]).unwrap_or(body);
    String::from_utf8_lossy(text).trim().to_ascii_uppercase()
}

fn starts_a_transaction(query: &str) -> bool {
    query.starts_with("BEGIN") || query.starts_with("START TRANSACTION")
}

fn ends_a_transaction(query: &str) -> bool {
    ["COMMIT", "ROLLBACK", "END"]
        .iter()
        .any(|end| query.starts_with(end))
}
