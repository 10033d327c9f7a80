//! Everything that knows about HTTP and sockets, shared by all routes.
//!
//! - [`server`] — the one accept loop for every listener: TLS handshakes, HTTP/1.1 and HTTP/2,
//!   connection limits, idle connections, graceful drain.
//! - [`connection_slots`] — the connection caps of a listener, in total and per client address.
//! - [`tls`] — the listeners' reloadable certificate and the gateway's own TLS clients.
//! - [`client_certificate`] — the venue a client certificate names (mTLS).
//! - [`proxy_protocol`] — the client address a trusted load balancer reports (PROXY v2).
//! - [`request`] — what every route reads first: the request id, a bearer token, a bounded body.
//! - [`json`] — JSON in and out for the routes beside the hot path.
//! - [`problem`] — the RFC 9457 `application/problem+json` answer every route fails with.

pub mod client_certificate;
pub mod connection_slots;
pub mod json;
pub mod problem;
pub mod proxy_protocol;
pub mod request;
pub mod server;
pub mod tls;
