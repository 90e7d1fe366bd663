//! A minimal HTTP/1.1 client for the loopback measurements: GETs on one keep-alive connection,
//! bodies read whole (by `Content-Length`, chunked, or to the end of the connection).
//!
//! Why not a client library: the only one in the dependency tree is hyper's, whose client half
//! would be a second build of hyper with other features; the benchmark needs a few dozen lines.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One answer, its body complete.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body had neither a length nor chunks and ran to the end of the connection, which
    /// so cannot carry another request.
    pub read_to_close: bool,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A connection to one server, opened on first use and again after the server closes it.
pub struct Connection {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    pub fn new(addr: SocketAddr) -> Connection {
        Connection { addr, stream: None }
    }

    /// `GET path` with the given extra headers (no `Accept-Encoding` unless given: bodies come
    /// uncompressed).
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let tcp = TcpStream::connect(self.addr)
                    .await
                    .with_context(|| format!("cannot connect to {}", self.addr))?;
                tcp.set_nodelay(true)?;
                self.stream.insert(BufReader::new(tcp))
            }
        };
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let answer = async {
            stream.get_mut().write_all(request.as_bytes()).await?;
            read_answer(stream).await
        }
        .await;
        // A body read to the end of the stream leaves nothing to reuse.
        let keep = matches!(&answer, Ok(a) if !a.read_to_close && !a
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close")));
        if !keep {
            self.stream = None;
        }
        answer.with_context(|| format!("GET {path}"))
    }
}

/// Reads one response: status line, headers, and the whole body.
pub async fn read_answer<R: AsyncBufRead + Unpin>(reader: &mut R) -> anyhow::Result<Answer> {
    let status_line = read_line(reader).await?;
    let status = parse_status_line(&status_line)
        .with_context(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader).await?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("malformed header line: {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut body = Vec::new();
    let mut read_to_close = false;
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let size_line = read_line(reader).await?;
            let size = parse_chunk_size(&size_line)
                .with_context(|| format!("malformed chunk size: {size_line:?}"))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !read_line(reader).await?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).await?;
            anyhow::ensure!(
                read_line(reader).await?.is_empty(),
                "chunk not ended by CRLF"
            );
        }
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().context("malformed Content-Length")?;
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        reader.read_to_end(&mut body).await?;
        read_to_close = true;
    }
    Ok(Answer {
        status,
        headers,
        body,
        read_to_close,
    })
}

/// A line without its CRLF; an error at the end of the stream.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> anyhow::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        anyhow::bail!("the server closed the connection");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let code = rest.split_whitespace().nth(1)?;
    code.parse().ok().filter(|c| (100..600).contains(c))
}

/// `1a3f;ext=1` → 0x1a3f.
fn parse_chunk_size(line: &str) -> Option<usize> {
    let hex = line.split(';').next()?.trim();
    usize::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> anyhow::Result<Answer> {
        read_answer(&mut BufReader::new(bytes)).await
    }

    #[tokio::test]
    async fn bodies_are_read_by_length_chunks_or_to_the_end() {
        let a = read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloNEXT")
            .await
            .unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(a.header("x-a"), Some("b"));
        assert!(!a.read_to_close);

        let a = read(b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n4\r\nWiki\r\n6;x=y\r\npedia!\r\n0\r\nTrailer: 1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!((a.status, a.body.as_slice()), (404, &b"Wikipedia!"[..]));

        let a = read(b"HTTP/1.0 200 OK\r\n\r\nuntil the end").await.unwrap();
        assert_eq!(a.body, b"until the end");
        assert!(a.read_to_close);
    }

    #[tokio::test]
    async fn malformed_answers_are_errors() {
        assert!(read(b"SSH-2.0-OpenSSH\r\n\r\n").await.is_err());
        assert!(read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort")
            .await
            .is_err());
        assert!(
            read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .await
                .is_err()
        );
        assert!(read(b"").await.is_err());
    }
}
