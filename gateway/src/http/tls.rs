//! TLS for the listeners and for the gateway's own clients.
//!
//! - [`TlsAcceptor`]: a server certificate loaded from PEM files that can be replaced while
//!   the gateway runs. New handshakes use the new certificate; connections already open
//!   keep theirs. [`TlsAcceptor::spawn_reloader`] reloads on SIGHUP and when either file's
//!   modification time or size changes; a file that does not load (unreadable, not PEM, key
//!   and certificate that do not match) is logged and the old certificate kept.
//! - [`ensure_self_signed`]: the demo certificate, created on first start.
//! - [`client_config_trusting`]: a client configuration trusting one PEM bundle (tests, and
//!   the upstream client towards departments with their own CA).
//!
//! Everything uses rustls with the *ring* provider ([`crypto_provider`]).

use std::fs;
use std::io::{self, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;

/// ALPN protocols the listeners offer, preferred first.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The provider every TLS configuration here is built with: *ring*, installed as the
/// process default on first use (if something else was installed first, that one is used
/// everywhere, so all configurations still agree).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    // Fails only when a default is already installed, which is what we want anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Accepts TLS connections with the current certificate; cheap to clone (clones share the
/// certificate, so one reload serves every listener holding a clone).
#[derive(Clone)]
pub struct TlsAcceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    certificate: Arc<ReloadableCertificate>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("cert", &self.certificate.cert_path)
            .field("key", &self.certificate.key_path)
            .field("generation", &self.generation())
            .finish()
    }
}

impl TlsAcceptor {
    /// Loads the certificate chain (leaf first) and private key from PEM files. Fails if
    /// either does not load or they do not belong together.
    pub fn from_pem_files(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Result<TlsAcceptor> {
        let cert_path = cert_path.into();
        let key_path = key_path.into();
        let provider = crypto_provider();
        let stamps = FileStamps::read(&cert_path, &key_path);
        let key = load_certified_key(&cert_path, &key_path, &provider)?;
        let certificate = Arc::new(ReloadableCertificate {
            cert_path,
            key_path,
            provider,
            current: ArcSwap::from_pointee(key),
            generation: AtomicU64::new(0),
            seen: Mutex::new(stamps),
        });
        let config = server_config(&certificate, WebPkiClientVerifier::no_client_auth())?;
        Ok(TlsAcceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            certificate,
        })
    }

    /// The same listener certificate, also asking clients for a certificate issued by the CA
    /// in the PEM file `ca` (the venues' CA, see [`crate::http::client_certificate`]). A
    /// client may connect without one; one that presents a certificate the CA did not issue
    /// (or expired) fails the handshake.
    pub fn with_client_ca(self, ca: &Path) -> Result<TlsAcceptor> {
        let mut roots = RootCertStore::empty();
        for certificate in read_certificates(ca).context("venues.client_ca")? {
            roots.add(certificate).with_context(|| {
                format!(
                    "`{}` holds a certificate that is not a usable CA",
                    ca.display()
                )
            })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            self.certificate.provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .with_context(|| format!("`{}` cannot verify client certificates", ca.display()))?;
        let config = server_config(&self.certificate, verifier)?;
        Ok(TlsAcceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            certificate: self.certificate,
        })
    }

    /// Runs the server side of the handshake. The caller bounds it in time.
    pub async fn accept(
        &self,
        stream: TcpStream,
    ) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
        self.acceptor.accept(stream).await
    }

    /// Reads both files again and, if they load, makes them the certificate for new
    /// handshakes. On error the old certificate stays and the error is returned (not logged:
    /// the caller decides).
    pub fn reload(&self) -> Result<()> {
        self.certificate.reload()
    }

    /// How many times a reload has replaced the certificate (0 after loading).
    pub fn generation(&self) -> u64 {
        self.certificate.generation.load(Ordering::Acquire)
    }

    /// The end-entity certificate new handshakes present.
    pub fn certificate(&self) -> CertificateDer<'static> {
        // A loaded chain is never empty (checked when loading).
        self.certificate.current.load().cert[0].clone()
    }

    /// Spawns the task that reloads on SIGHUP and when the files change (checked every
    /// `poll_every`); it ends when `shutdown` fires. Failed reloads are logged here, once per
    /// change of the files, and the old certificate kept.
    pub fn spawn_reloader(&self, poll_every: Duration, shutdown: Shutdown) -> JoinHandle<()> {
        let certificate = self.certificate.clone();
        tokio::spawn(async move {
            let mut hangup = hangup_signal();
            let mut poll = tokio::time::interval(poll_every);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            poll.tick().await; // the first tick is immediate; the files were just loaded
            loop {
                let trigger = tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = poll.tick() => {
                        if !certificate.files_changed() {
                            continue;
                        }
                        "the files changed"
                    }
                    () = next_hangup(&mut hangup) => "SIGHUP",
                };
                match certificate.reload() {
                    Ok(()) => tracing::info!(
                        cert = %certificate.cert_path.display(),
                        "reloaded the TLS certificate ({trigger})"
                    ),
                    Err(e) => tracing::error!(
                        cert = %certificate.cert_path.display(),
                        "cannot reload the TLS certificate ({trigger}); keeping the old one: {e:#}"
                    ),
                }
            }
        })
    }
}

/// A server configuration presenting `certificate`, checking clients with `clients`, offering
/// [`ALPN`].
fn server_config(
    certificate: &Arc<ReloadableCertificate>,
    clients: Arc<dyn ClientCertVerifier>,
) -> Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(certificate.provider.clone())
        .with_safe_default_protocol_versions()
        .context("the TLS provider supports no safe protocol version")?
        .with_client_cert_verifier(clients)
        .with_cert_resolver(certificate.clone());
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The certificate the server config resolves for every handshake.
#[derive(Debug)]
struct ReloadableCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    generation: AtomicU64,
    /// The files as last looked at by the poller (loaded or not), so a bad file is reported
    /// once rather than at every poll.
    seen: Mutex<FileStamps>,
}

impl ResolvesServerCert for ReloadableCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl ReloadableCertificate {
    fn reload(&self) -> Result<()> {
        let key = load_certified_key(&self.cert_path, &self.key_path, &self.provider)?;
        self.current.store(Arc::new(key));
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// True when either file looks different from the last look.
    fn files_changed(&self) -> bool {
        let now = FileStamps::read(&self.cert_path, &self.key_path);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *seen == now {
            return false;
        }
        *seen = now;
        true
    }
}

/// What the poller compares: modification time and size of both files (`None` while a file
/// cannot be read, e.g. in the middle of being replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamps([Option<(SystemTime, u64)>; 2]);

impl FileStamps {
    fn read(cert: &Path, key: &Path) -> FileStamps {
        let stamp = |path: &Path| {
            let meta = fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        };
        FileStamps([stamp(cert), stamp(key)])
    }
}

fn load_certified_key(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey> {
    let chain = read_certificates(cert_path)?;
    let key = read_private_key(key_path)?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "`{}` and `{}` do not make a usable certificate",
            cert_path.display(),
            key_path.display()
        )
    })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let file = fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let chain = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<io::Result<Vec<_>>>()
        .with_context(|| format!("cannot read PEM certificates from `{}`", path.display()))?;
    if chain.is_empty() {
        bail!("`{}` holds no PEM certificate", path.display());
    }
    Ok(chain)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let file = fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .with_context(|| format!("cannot read a PEM private key from `{}`", path.display()))?
        .with_context(|| format!("`{}` holds no PEM private key", path.display()))
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP, reloading on file changes only: {e}");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {}

/// The next SIGHUP; never, where there is none.
async fn next_hangup(hangup: &mut Hangup) {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        if signal.recv().await.is_some() {
            return;
        }
    }
    let _ = hangup;
    std::future::pending::<()>().await
}

/// Makes sure `dir` holds a demo certificate and key (`cert.pem`, `key.pem`) and returns
/// their paths. On first start they are created: self-signed, for the subject alternative
/// `names` (DNS names or IP addresses, e.g. `["localhost", "127.0.0.1"]`). Existing files are
/// never overwritten; only one of the two existing is an error (someone is mid-way through
/// replacing them).
pub fn ensure_self_signed(dir: &Path, names: &[&str]) -> Result<(PathBuf, PathBuf)> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => return Ok((cert_path, key_path)),
        (false, false) => {}
        (true, false) | (false, true) => bail!(
            "only one of `{}` and `{}` exists; supply both or remove the other",
            cert_path.display(),
            key_path.display()
        ),
    }
    if names.is_empty() {
        bail!("a self-signed certificate needs at least one name");
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let generated = rcgen::generate_simple_self_signed(names)
        .context("cannot generate the self-signed certificate")?;
    write_atomically(
        &key_path,
        generated.key_pair.serialize_pem().as_bytes(),
        true,
    )?;
    write_atomically(&cert_path, generated.cert.pem().as_bytes(), false)?;
    tracing::info!(
        cert = %cert_path.display(),
        "created a self-signed demo certificate; clients must trust this file"
    );
    Ok((cert_path, key_path))
}

/// Writes to a temporary file beside `path` and renames it over `path`, so a reader (the
/// reloader) never sees half a file. `secret` files are readable by the owner only.
fn write_atomically(path: &Path, contents: &[u8], secret: bool) -> Result<()> {
    if secret {
        return wire::secret_file::write(path, contents, wire::secret_file::Existing::Replace)
            .with_context(|| format!("cannot write `{}`", path.display()));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot create `{}`", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot move `{}` into place", path.display()))
}

/// A client configuration that trusts exactly the certificates in the PEM file `ca_pem_path`
/// (a CA bundle, or a self-signed server certificate such as the demo one). No ALPN is set;
/// the HTTP client adds its own.
///
/// The public web roots are deliberately *not* added: a department link is pinned to the CA
/// the configuration names, and `webpki-roots` is not a workspace dependency.
pub fn client_config_trusting(ca_pem_path: &Path) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(ca_pem_path)? {
        roots.add(certificate).with_context(|| {
            format!(
                "`{}` holds a certificate that cannot be a trust anchor",
                ca_pem_path.display()
            )
        })?;
    }
    Ok(ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .context("the TLS provider supports no safe protocol version")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
        let generated = rcgen::generate_simple_self_signed(
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )
        .expect("rcgen generates");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        write_atomically(&key, generated.key_pair.serialize_pem().as_bytes(), true)
            .expect("write key");
        write_atomically(&cert, generated.cert.pem().as_bytes(), false).expect("write cert");
        (cert, key)
    }

    #[test]
    fn ensure_self_signed_creates_once_and_then_keeps_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls_dir = dir.path().join("tls");
        let (cert, key) =
            ensure_self_signed(&tls_dir, &["localhost", "127.0.0.1"]).expect("first start creates");
        let first = fs::read(&cert).expect("cert exists");
        TlsAcceptor::from_pem_files(&cert, &key).expect("the demo pair loads");
        client_config_trusting(&cert).expect("the demo cert can be trusted");

        let again = ensure_self_signed(&tls_dir, &["localhost"]).expect("second start");
        assert_eq!(again, (cert.clone(), key.clone()));
        assert_eq!(
            fs::read(&cert).expect("cert exists"),
            first,
            "not regenerated"
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&key).expect("key").permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is private");
        }

        fs::remove_file(&key).expect("remove key");
        assert!(ensure_self_signed(&tls_dir, &["localhost"]).is_err());
    }

    #[test]
    fn a_bad_reload_keeps_the_old_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = write_pair(dir.path(), &["localhost"]);
        let acceptor = TlsAcceptor::from_pem_files(&cert, &key).expect("loads");
        let original = acceptor.certificate();

        fs::write(&cert, "not a certificate").expect("overwrite");
        assert!(acceptor.reload().is_err());
        assert_eq!(acceptor.certificate(), original);
        assert_eq!(acceptor.generation(), 0);

        // A certificate whose key is not the key file's: refused as well.
        let other = tempfile::tempdir().expect("tempdir");
        let (other_cert, _) = write_pair(other.path(), &["localhost"]);
        fs::copy(&other_cert, &cert).expect("copy");
        let err = acceptor.reload().expect_err("mismatched pair");
        assert!(
            format!("{err:#}").contains("do not make a usable certificate"),
            "{err:#}"
        );
        assert_eq!(acceptor.certificate(), original);

        let (_, _) = write_pair(dir.path(), &["localhost"]);
        acceptor.reload().expect("a good pair loads");
        assert_ne!(acceptor.certificate(), original);
        assert_eq!(acceptor.generation(), 1);
    }

    #[test]
    fn files_changed_reports_each_change_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = write_pair(dir.path(), &["localhost"]);
        let acceptor = TlsAcceptor::from_pem_files(&cert, &key).expect("loads");
        assert!(!acceptor.certificate.files_changed());
        fs::write(&cert, "garbage").expect("overwrite");
        assert!(acceptor.certificate.files_changed());
        assert!(!acceptor.certificate.files_changed());
    }

    #[test]
    fn missing_files_and_empty_bundles_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        assert!(TlsAcceptor::from_pem_files(&missing, &missing).is_err());
        let empty = dir.path().join("empty.pem");
        fs::write(&empty, "").expect("write");
        let err = client_config_trusting(&empty).expect_err("no roots");
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
    }
}
