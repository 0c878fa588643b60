//! Debian's nginx as a real static HTTP server for the remote-reading tests: byte ranges
//! (suffix ranges and multi-ranges too), `ETag`, `Last-Modified`, `If-Match` (412) and
//! `If-None-Match` (304), the way production file servers and CDNs answer.
//!
//! [`Nginx::start`] runs `/usr/sbin/nginx` in the foreground as the current user with a
//! generated config in a temp dir (pid file, logs and temp paths inside it), serving `root`
//! on `127.0.0.1:<free port>`. The port comes from the OS (bind `:0`, release, hand it to
//! nginx); if another process takes it first, nginx fails to bind and is started again on a
//! new port. Readiness is proven with a request for a per-instance probe token, so a
//! foreign process on the port is never mistaken for our nginx. Dropping the [`Nginx`] kills
//! the process and deletes the temp dir (not `root`).
//!
//! nginx's ETag is `"{mtime as hex}-{size as hex}"`: two versions of a file with the same
//! size and the same mtime second have the same ETag, so a test that replaces a file must
//! change its size or set a different mtime (`File::set_modified`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts to try before giving up (each on a fresh OS-chosen port).
const MAX_ATTEMPTS: usize = 20;
/// How long one start may take before it counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running nginx.
pub struct Nginx {
    /// `http://127.0.0.1:PORT` (no trailing slash): `{url}/a/b.zip` is `root/a/b.zip`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// The directory it serves.
    pub root: PathBuf,
    /// `https://127.0.0.1:PORT` when started with [`Nginx::start_tls`].
    pub https_url: Option<String>,
    child: Child,
    dir: tempfile::TempDir,
}

/// The nginx binary, or a panic saying how to install it.
pub fn nginx_bin() -> PathBuf {
    for candidate in [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    let found = Command::new("sh")
        .args(["-c", "command -v nginx"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    match found {
        Some(out) => PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
        None => panic!("`nginx` is not installed: apt-get install nginx (scripts/setup does it)"),
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn probe_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A certificate and key nginx serves HTTPS with, and the port it listens on for it.
struct Tls<'a> {
    cert: &'a Path,
    key: &'a Path,
    port: u16,
}

fn config(dir: &Path, root: &Path, port: u16, token: &str, tls: Option<&Tls<'_>>) -> String {
    let tls_listen = tls.map_or(String::new(), |t| {
        format!(
            "listen 127.0.0.1:{} ssl;\n        ssl_certificate \"{}\";\n        ssl_certificate_key \"{}\";",
            t.port,
            t.cert.display(),
            t.key.display()
        )
    });
    let d = dir.display();
    let r = root.display();
    // `user` only matters when nginx starts as root: keep the current user so that the
    // 0700 temp dirs stay readable.
    let user = if is_root(dir) {
        "user root root;\n"
    } else {
        ""
    };
    format!(
        r#"{user}daemon off;
master_process off;
worker_processes 1;
pid "{d}/nginx.pid";
error_log "{d}/error.log" notice;
events {{
    worker_connections 512;
}}
http {{
    access_log "{d}/access.log";
    client_body_temp_path "{d}/client_body";
    proxy_temp_path "{d}/proxy";
    fastcgi_temp_path "{d}/fastcgi";
    uwsgi_temp_path "{d}/uwsgi";
    scgi_temp_path "{d}/scgi";
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    etag on;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port};
        {tls_listen}
        server_name localhost;
        root "{r}";
        location = /.lakezip-nginx-probe {{
            default_type text/plain;
            return 200 "{token}";
        }}
    }}
}}
"#
    )
}

/// Whether this process runs as root (a file it creates is owned by uid 0).
fn is_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir)
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Asks for the probe location; true if the answer carries our token.
fn probe(port: u16, token: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = "GET /.lakezip-nginx-probe HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut response);
    String::from_utf8_lossy(&response).contains(token)
}

impl Nginx {
    /// Starts nginx serving `root`; panics (with nginx's error log) if it cannot.
    pub fn start(root: &Path) -> Nginx {
        Self::start_with(root, None)
    }

    /// Starts nginx serving `root` over HTTP and, with `cert`/`key` (PEM), over HTTPS too
    /// ([`Nginx::https_url`]).
    pub fn start_tls(root: &Path, cert: &Path, key: &Path) -> Nginx {
        Self::start_with(root, Some((cert, key)))
    }

    fn start_with(root: &Path, tls: Option<(&Path, &Path)>) -> Nginx {
        let bin = nginx_bin();
        let root = root
            .canonicalize()
            .unwrap_or_else(|e| panic!("nginx root {}: {e}", root.display()));
        let mut failures = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("lakezip-nginx-")
                .tempdir()
                .expect("nginx temp dir");
            let port = free_port();
            let tls = tls.map(|(cert, key)| Tls {
                cert,
                key,
                port: free_port(),
            });
            let token = probe_token();
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, config(dir.path(), &root, port, &token, tls.as_ref()))
                .expect("write nginx.conf");
            let log = |name: &str| {
                std::fs::File::create(dir.path().join(name)).expect("nginx output file")
            };
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(log("stdout.log"))
                .stderr(log("stderr.log"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Some(status) = child.try_wait().expect("nginx status") {
                    let errors = std::fs::read_to_string(dir.path().join("error.log"))
                        .unwrap_or_default()
                        + &std::fs::read_to_string(dir.path().join("stderr.log"))
                            .unwrap_or_default();
                    if errors.contains("Address already in use") {
                        failures.push(format!("port {port} was taken"));
                        break;
                    }
                    panic!(
                        "nginx exited ({status}) at start:\n{errors}\nconfig:\n{}",
                        config(dir.path(), &root, port, &token, tls.as_ref())
                    );
                }
                if probe(port, &token) {
                    return Nginx {
                        url: format!("http://127.0.0.1:{port}"),
                        port,
                        root,
                        https_url: tls
                            .as_ref()
                            .map(|t| format!("https://127.0.0.1:{}", t.port)),
                        child,
                        dir,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!(
                        "port {port}: not answering after {START_TIMEOUT:?}"
                    ));
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("nginx did not start in {MAX_ATTEMPTS} attempts: {failures:?}");
    }

    /// `{url}/{path}` for a path relative to `root`.
    pub fn url_of(&self, relative: &str) -> String {
        format!("{}/{}", self.url, relative.trim_start_matches('/'))
    }

    /// nginx's error log so far (for assertion messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// nginx's access log so far: one line per request served.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
