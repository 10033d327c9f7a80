//! The PROXY protocol, version 2 (HAProxy's binary header), from trusted load balancers only.
//!
//! Behind a TCP load balancer every connection comes from the balancer's address, so the
//! per-address connection cap and the holder routes' per-address rate limit would see one
//! client. A balancer that keeps one client per connection can send, before the connection's
//! own bytes (and before TLS, so client certificates still reach the gateway), a header saying
//! whose connection it is. The gateway reads it only from the addresses in
//! `listen.proxy_protocol_from` ([`TrustedProxies`]); from those it is required (a connection
//! without a valid header within the header timeout is closed), and from any other address it
//! is never read, so a client cannot claim another address. The `LOCAL` command (a balancer's
//! own health check) keeps the balancer's address. Parsing is the `ppp` crate's.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use ppp::v2::{Addresses, Command, Header, ParseError};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

/// The fixed part of a version 2 header: signature, version and command, family and
/// protocol, and the length of what follows.
const FIXED_LEN: usize = 16;
/// The most a header may carry after its fixed part: addresses and TLVs. Balancers send a few
/// dozen bytes; this bounds what an unexpected one makes the gateway read.
const MAX_PAYLOAD: usize = 512;

/// The addresses a listener accepts PROXY headers from.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.5`, `10.1.0.0/16`, `fd00::/8`, …; the error names the bad entry.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("listen.proxy_protocol_from: `{entry}` is not an address or a CIDR range")
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a connection from `peer` must start with a PROXY header.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.iter().any(|net| net.contains(&peer))
    }
}

/// Why a trusted balancer's connection was closed before any request.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    #[error("no valid PROXY v2 header: {0}")]
    Malformed(ParseError),
    #[error("PROXY header of {0} bytes is over the {MAX_PAYLOAD}-byte limit")]
    TooLong(usize),
}

/// Reads the header at the start of `stream` and returns the client's address: the source
/// it reports for `PROXY` over IPv4 or IPv6, else (`LOCAL`, or an address family without an IP
/// source) `peer`. Reads exactly the header, nothing of what follows it. The caller bounds
/// the time it may take.
pub async fn read_client_address(
    stream: &mut TcpStream,
    peer: SocketAddr,
) -> Result<SocketAddr, ProxyHeaderError> {
    let mut header = vec![0u8; FIXED_LEN];
    stream.read_exact(&mut header).await?;
    // The fixed part alone: anything but a missing payload is final.
    match Header::try_from(&header[..]) {
        Ok(_) | Err(ParseError::Partial(..)) => {}
        Err(e) => return Err(ProxyHeaderError::Malformed(e)),
    }
    let payload = usize::from(u16::from_be_bytes([header[14], header[15]]));
    if payload > MAX_PAYLOAD {
        return Err(ProxyHeaderError::TooLong(payload));
    }
    header.resize(FIXED_LEN + payload, 0);
    stream.read_exact(&mut header[FIXED_LEN..]).await?;
    let parsed = Header::try_from(&header[..]).map_err(ProxyHeaderError::Malformed)?;
    Ok(client_address(&parsed, peer))
}

fn client_address(header: &Header<'_>, peer: SocketAddr) -> SocketAddr {
    if header.command == Command::Local {
        return peer;
    }
    match header.addresses {
        Addresses::IPv4(a) => SocketAddr::from((a.source_address, a.source_port)),
        Addresses::IPv6(a) => SocketAddr::from((a.source_address, a.source_port)),
        Addresses::Unspecified | Addresses::Unix(_) => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;

    /// A v2 header for `command` (0x20 LOCAL, 0x21 PROXY) from `source` to `destination`.
    fn header(command: u8, source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
        ppp::v2::Builder::with_addresses(command, ppp::v2::Protocol::Stream, (source, destination))
            .build()
            .expect("a header")
    }

    /// What the gateway side reads from a connection that starts with `bytes`, and the bytes
    /// left after the header.
    async fn read_after(bytes: Vec<u8>) -> (Result<SocketAddr, String>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(&bytes).await.expect("write");
            stream.shutdown().await.expect("close");
        });
        let (mut stream, peer) = listener.accept().await.expect("accept");
        let result = read_client_address(&mut stream, peer)
            .await
            .map_err(|e| e.to_string());
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        client.await.expect("client");
        (result, rest)
    }

    #[tokio::test]
    async fn the_reported_source_is_the_client_and_the_request_follows_untouched() {
        let source: SocketAddr = "203.0.113.9:51000".parse().expect("address");
        let balancer: SocketAddr = "10.0.0.2:443".parse().expect("address");
        let mut bytes = header(0x21, source, balancer);
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (address, rest) = read_after(bytes).await;
        assert_eq!(address, Ok(source));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");

        let v6: SocketAddr = "[2001:db8::7]:4000".parse().expect("address");
        let (address, _) =
            read_after(header(0x21, v6, "[2001:db8::1]:443".parse().expect("a"))).await;
        assert_eq!(address, Ok(v6));
    }

    #[tokio::test]
    async fn local_keeps_the_balancers_address() {
        let (address, _) = read_after(header(
            0x20,
            "203.0.113.9:51000".parse().expect("address"),
            "10.0.0.2:443".parse().expect("address"),
        ))
        .await;
        assert_eq!(address.map(|a| a.ip()), Ok(IpAddr::from([127, 0, 0, 1])));
    }

    #[tokio::test]
    async fn a_connection_without_a_header_or_with_a_bad_one_is_refused() {
        let (address, _) =
            read_after(b"POST /v1/verify HTTP/1.1\r\nhost: x\r\n\r\n".to_vec()).await;
        assert!(address.is_err(), "{address:?}");
        let mut too_long = header(
            0x21,
            "203.0.113.9:1".parse().expect("address"),
            "10.0.0.2:443".parse().expect("address"),
        );
        too_long[14..16].copy_from_slice(&4000u16.to_be_bytes());
        let (address, _) = read_after(too_long).await;
        assert!(address.is_err_and(|e| e.contains("over the")));
        let (address, _) = read_after(
            header(
                0x21,
                "203.0.113.9:1".parse().expect("address"),
                "10.0.0.2:443".parse().expect("address"),
            )[..10]
                .to_vec(),
        )
        .await;
        assert!(address.is_err());
    }

    #[test]
    fn trusted_addresses_are_single_addresses_or_ranges() {
        let trusted =
            TrustedProxies::parse(&["10.0.0.5".into(), "192.168.0.0/16".into(), "::1".into()])
                .expect("parse");
        assert!(trusted.trusts("10.0.0.5".parse().expect("ip")));
        assert!(!trusted.trusts("10.0.0.6".parse().expect("ip")));
        assert!(trusted.trusts("192.168.40.1".parse().expect("ip")));
        assert!(trusted.trusts("::1".parse().expect("ip")));
        // An IPv4 peer on a dual-stack socket.
        assert!(trusted.trusts("::ffff:10.0.0.5".parse().expect("ip")));
        let bad = TrustedProxies::parse(&["10.0.0.0/33".into()]).expect_err("refused");
        assert!(bad.contains("`10.0.0.0/33`"), "{bad}");
    }
}
