//! Talking to a real server over TCP: a small async HTTP/1.1 client that can also send a request
//! in parts (to hold one in flight), an in-process server on a free loopback port, and keys for
//! a spawned binary.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connects and sends the request head (`Connection: close`); the caller writes
/// `content_length` body bytes, in as many parts as it likes, then calls [`finish`].
pub async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_length: usize,
) -> std::io::Result<TcpStream> {
    let mut stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {content_length}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    Ok(stream)
}

/// For a request opened with `Expect: 100-continue`: waits (at most 10 s) for the server's
/// `100 Continue`, which it sends once the handler has admitted the request and starts reading
/// its body.
pub async fn wait_continue(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before 100 Continue",
                ));
            }
            head.push(byte[0]);
        }
        Ok(())
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no 100 Continue in 10 s"))??;
    if head.starts_with(b"HTTP/1.1 100") {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "expected 100 Continue, got {}",
                String::from_utf8_lossy(&head)
            ),
        ))
    }
}

/// Reads the whole answer (the server closes the connection after it).
pub async fn finish(mut stream: TcpStream) -> std::io::Result<RawReply> {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 120 s"))??;
    parse(&raw)
}

/// One whole request. The body is sent while the answer is read, as HTTP clients do: a server
/// may answer before it has read the whole body (it does when it refuses one) and then close
/// the connection, so the rest of the body cannot be sent, but the answer is there.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawReply> {
    let stream = open(addr, method, path, headers, body.len()).await?;
    let (mut reader, mut writer) = stream.into_split();
    // The write half is kept until the answer is read: dropping it would end the request.
    let send = async move {
        let sent = writer.write_all(body).await;
        (sent, writer)
    };
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), reader.read_to_end(&mut raw));
    let ((sent, _writer), read) = tokio::join!(send, read);
    match read {
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer in 120 s",
            ))
        }
        // A reset after the answer (the server closed with body bytes unread) loses nothing.
        Ok(Err(e)) if raw.is_empty() => return Err(e),
        Ok(_) if raw.is_empty() => sent?,
        Ok(_) => {}
    }
    parse(&raw)
}

/// Sends `bytes` as they are (a request head the caller wrote, perhaps without its body) and
/// reads until the server closes the connection, at most `within`.
pub async fn exchange(
    addr: SocketAddr,
    bytes: &[u8],
    within: Duration,
) -> std::io::Result<RawReply> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(bytes).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut raw))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the connection was still open after {within:?}"),
            )
        })??;
    parse(&raw)
}

pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<RawReply> {
    request(addr, "GET", path, &[], b"").await
}

/// `POST /api/v1/runs` with a key.
pub async fn post_runs(addr: SocketAddr, key: &str, body: &[u8]) -> std::io::Result<RawReply> {
    let auth = format!("Bearer {key}");
    request(
        addr,
        "POST",
        "/api/v1/runs",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    )
    .await
}

fn parse(raw: &[u8]) -> std::io::Result<RawReply> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(RawReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Serves `app` on a free loopback port from this process.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

/// `bytes` gzipped.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Creates an API key with the binary (`keys create`) and returns it.
pub fn cli_key(database_url: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args(["--database-url", database_url, "keys", "create"])
        .env("THREADLINE_LOG", "warn")
        .output()
        .expect("run threadline keys create");
    assert!(
        out.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("the key on the last line")
        .trim()
        .to_string()
}

/// Sends a signal to a process with the system's `kill`.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// The peak resident memory (`VmHWM`) of a process, in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc status")
        * 1024
}

/// A native batch of `n` runs, ids `{prefix}-{i}`, all in session `session`, each with
/// `input_bytes` of input text.
pub fn batch(prefix: &str, session: &str, n: usize, input_bytes: usize) -> Vec<u8> {
    let input = "x".repeat(input_bytes);
    let runs: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("{prefix}-{i}"),
                "session_id": session,
                "started_at": super::at(i as f64 / 60.0),
                "duration_ms": 100,
                "model": "gpt-4o",
                "input_tokens": 10,
                "output_tokens": 5,
                "input": input,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "runs": runs })).unwrap()
}
