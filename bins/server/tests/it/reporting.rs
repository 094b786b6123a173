//! Error reporting: with `SENTRY_DSN` pointing at a stand-in Sentry on loopback, a 500 reaches
//! it as an envelope tagged with the request id, and nothing of the request — body, bearer
//! key, signature — is in it.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    time::{Duration, Instant},
};

use super::Running;

/// One request the stand-in received: its request line and its body.
struct Received {
    request_line: String,
    body: String,
}

/// A stand-in Sentry: accepts envelopes on 127.0.0.1 and answers 200 to each.
fn stand_in() -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let Some(request) = read_request(stream) else {
                continue;
            };
            if sender.send(request).is_err() {
                break;
            }
        }
    });
    (format!("http://public@127.0.0.1:{port}/1"), received)
}

fn read_request(stream: TcpStream) -> Option<Received> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    Some(Received {
        request_line: request_line.trim_end().to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Sends `body` to `POST /api/v1/agents` with the bearer `key` and request id; the status.
fn register(address: &str, key: &str, request_id: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /api/v1/agents HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         X-Request-ID: {request_id}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response:?}"))
}

/// The event of an envelope: the payload after an item header of type `event`.
fn event_of(envelope: &str) -> Option<serde_json::Value> {
    let mut lines = envelope.lines();
    while let Some(line) = lines.next() {
        let header: serde_json::Value = serde_json::from_str(line).ok()?;
        if header["type"] == "event" {
            return serde_json::from_str(lines.next()?).ok();
        }
    }
    None
}

#[test]
fn a_500_is_reported_with_its_request_id_and_without_the_request() {
    let (dsn, envelopes) = stand_in();
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path(), &[("SENTRY_DSN", dsn.as_str())]);
    let key = std::fs::read_to_string(dir.path().join("admin_key")).unwrap();
    let key = key.trim().to_owned();

    // A store fault the server cannot classify: its agents table is gone.
    let db = rusqlite::Connection::open(dir.path().join("kagami.db")).unwrap();
    db.execute_batch("DROP TABLE erc8004_agents").unwrap();
    drop(db);

    let marker = format!("body-marker-{}", uuid::Uuid::new_v4().simple());
    let signature = format!("0x{}", "5a1e".repeat(32)) + "1b";
    let body = serde_json::json!({
        "agent_id": 7,
        "chain": "base",
        "registry_address": "0x8004000000000000000000000000000000008004",
        "owner_address": "0x00000000000000000000000000000000000000aa",
        "registration_file": { "name": marker, "signature": signature },
    })
    .to_string();
    let request_id = format!("sentry-test-{}", uuid::Uuid::new_v4().simple());
    assert_eq!(register(&running.address, &key, &request_id, &body), 500);

    let deadline = Instant::now() + Duration::from_secs(20);
    let (received, event) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let received = envelopes
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no event reached the stand-in Sentry ({e})"));
        if let Some(event) = event_of(&received.body) {
            break (received, event);
        }
    };
    let (_, log) = running.stop();

    assert_eq!(received.request_line, "POST /api/1/envelope/ HTTP/1.1");
    assert_eq!(
        event["tags"]["request_id"],
        request_id.as_str(),
        "{event:#}"
    );
    assert!(
        received.body.contains("store error"),
        "the cause is the logged one: {}",
        received.body
    );
    let envelope = received.body.to_lowercase();
    for (what, secret) in [
        ("the API key", key.as_str()),
        ("the request body", marker.as_str()),
        ("the signature", signature.as_str()),
        ("the signature's hex", &signature[2..]),
        ("the Authorization header", "bearer"),
        ("the Authorization header", "authorization"),
    ] {
        assert!(
            !envelope.contains(&secret.to_lowercase()),
            "{what} leaked into the envelope: {}",
            received.body
        );
    }
    assert!(
        log.iter().any(|line| line.contains(&request_id)),
        "the log has the same request id: {log:#?}"
    );
}
