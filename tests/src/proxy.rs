//! A TCP proxy the test can switch off and on, to take a dependency (PostgreSQL, Redis) away
//! from the server under test and give it back, without touching the real service.

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// A TCP proxy on `127.0.0.1:<port>` to an upstream address. Switched off, it cuts every
/// proxied connection and turns new ones away (accepted, then closed at once) until it is
/// switched on again.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    on: watch::Sender<bool>,
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
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut state = switch.subscribe();
                if !*state.borrow_and_update() {
                    // Switched off: the upstream is "down"; close at once.
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = state.wait_for(|on| !on) => {}
                    }
                    // Dropping both ends cuts the connection.
                });
            }
        });
        Self { port, on }
    }

    /// The loopback port to connect to instead of the upstream.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Switches the proxy on (pass traffic) or off (cut and refuse).
    pub fn set(&self, on: bool) {
        self.on.send_replace(on);
    }
}
