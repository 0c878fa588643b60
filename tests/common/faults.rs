//! A fault-injecting HTTP proxy for the remote-reading tests, and [`BackgroundServer`], the
//! hyper-on-its-own-runtime harness that it and the in-process S3 server share.
//!
//! [`FaultProxy::start`] listens on `127.0.0.1:<port from the OS>` and forwards every request
//! (method, path and query, headers — `Host` included, so SigV4 signatures stay valid — and
//! the body) to an upstream base URL such as [`super::nginx::Nginx::url`] or
//! [`super::s3::S3Server::endpoint`], streaming the response back. A [`FaultPlan`] says which
//! requests (numbered from 1 in arrival order) get which [`Fault`]; every request is recorded
//! in a log that [`FaultProxy::requests`] returns.
//!
//! ```ignore
//! let proxy = FaultProxy::start(&nginx.url, FaultPlan::new().on(Requests::Nth(2), Fault::Status(503)));
//! // … point lakezip at proxy.url …
//! assert_eq!(proxy.requests()[1].status, 503);
//! ```
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type BoxError = Box<dyn StdError + Send + Sync>;

/// A hyper HTTP/1.1 server on `127.0.0.1:<port from the OS>`, run by a small multi-thread
/// tokio runtime on a background thread, so synchronous tests can use it. Dropping it stops
/// accepting, cancels the open connections and joins the thread.
pub struct BackgroundServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds the listener (before returning, so the server is reachable at once) and serves
    /// every connection with a clone of `service`.
    pub fn start<S, B>(name: &str, service: S) -> Self
    where
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime for a test server");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        tokio::select! {
                            _ = &mut stop => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let _ = stream.set_nodelay(true);
                                let service = service.clone();
                                tokio::spawn(async move {
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), service)
                                        .await;
                                });
                            }
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .expect("spawn server thread");
        BackgroundServer {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Which requests a fault applies to. Requests are numbered from 1 in the order the proxy
/// receives them (every method counts, HEAD and PUT included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requests {
    /// Only request number `n` (1-based).
    Nth(usize),
    /// Requests 1..=n.
    FirstN(usize),
    /// Requests n+1, n+2, … (`AfterN(0)` is every request).
    AfterN(usize),
    /// Every request.
    All,
    /// Requests with this method whose path and query contain `text`, from the
    /// `from`-th such request on (1-based, counted among the matching requests only):
    /// e.g. every S3 UploadPart from the third with `("PUT", "partNumber=", 3)`.
    Matching {
        /// `GET`, `PUT`, …
        method: &'static str,
        /// A substring of the path and query.
        text: &'static str,
        /// The first matching request the fault applies to.
        from: usize,
    },
}

impl Requests {
    /// `matching` is how many requests matched this rule's method and text so far,
    /// this one included (0 if it does not match them).
    fn matches(&self, number: usize, method: &str, path: &str, matching: usize) -> bool {
        match *self {
            Requests::Nth(n) => number == n,
            Requests::FirstN(n) => number <= n,
            Requests::AfterN(n) => number > n,
            Requests::All => true,
            Requests::Matching {
                method: m,
                text,
                from,
            } => m == method && path.contains(text) && matching >= from,
        }
    }
}

/// What goes wrong with a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status without forwarding, with an S3-style XML error body
    /// (`SlowDown` for 503, `InternalError` for 500, `InjectedFault` otherwise).
    Status(u16),
    /// Forward, send the status, the headers (with the upstream's `Content-Length`) and this
    /// many body bytes, then fail the body so the connection is closed mid-response.
    DropMidBody {
        /// Body bytes sent before the connection is dropped.
        after_bytes: u64,
    },
    /// Forward without the `Range` (and `If-Range`) header: the upstream sends its full `200`.
    IgnoreRange,
    /// Forward to this path (query kept) instead: for nginx the object really differs, with
    /// its own `ETag` and `Last-Modified`. Breaks SigV4 signatures (the path is signed); to
    /// change an S3 object, overwrite it in the S3 server instead.
    SwitchObject {
        /// The upstream path, e.g. `/other.zip`.
        to_path: String,
    },
    /// Wait this long before forwarding (several matching delays add up).
    Delay(Duration),
}

/// The faults to inject: every `(when, fault)` whose `when` matches a request applies to it.
/// An empty plan forwards everything untouched.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// The rules, in order; for `Status` and `SwitchObject` the first matching rule wins.
    pub rules: Vec<(Requests, Fault)>,
}

impl FaultPlan {
    /// No faults.
    pub fn new() -> Self {
        FaultPlan::default()
    }

    /// Adds a rule.
    pub fn on(mut self, when: Requests, fault: Fault) -> Self {
        self.rules.push((when, fault));
        self
    }

    fn faults_for(
        &self,
        number: usize,
        method: &str,
        path: &str,
        seen: &mut std::collections::HashMap<(String, String), usize>,
    ) -> Vec<Fault> {
        self.rules
            .iter()
            .filter(|(when, _)| {
                let matching = match when {
                    Requests::Matching {
                        method: m, text, ..
                    } if *m == method && path.contains(text) => {
                        let count = seen
                            .entry(((*m).to_owned(), (*text).to_owned()))
                            .or_default();
                        *count += 1;
                        *count
                    }
                    _ => 0,
                };
                when.matches(number, method, path, matching)
            })
            .map(|(_, fault)| fault.clone())
            .collect()
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// 1-based arrival number (what [`Requests`] matches).
    pub number: usize,
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// Path and query as the client sent them (before any `SwitchObject`).
    pub path: String,
    /// The client's `Range` header, if any.
    pub range: Option<String>,
    /// The client's `If-Match` header, if any.
    pub if_match: Option<String>,
    /// The status sent to the client (0 until the response headers are sent; 502 when the
    /// upstream could not be reached).
    pub status: u16,
    /// Response body bytes handed to the client so far (final once the client has read the
    /// body to its end or error).
    pub body_bytes: u64,
    /// The faults applied (their `Debug` text).
    pub faults: Vec<String>,
}

struct ProxyState {
    upstream: String,
    plan: Mutex<FaultPlan>,
    log: Mutex<Vec<LoggedRequest>>,
    counter: AtomicUsize,
    /// How many requests matched each `Requests::Matching` (method, text) so far.
    seen: Mutex<std::collections::HashMap<(String, String), usize>>,
    client: Client<HttpConnector, Incoming>,
}

/// The fault-injecting proxy; dropping it stops it.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`: use it in place of the upstream base URL.
    pub url: String,
    state: Arc<ProxyState>,
    server: BackgroundServer,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream`, a base URL `http://host:port[/prefix]` (no
    /// trailing slash needed): a request for `/a/b?q` goes to `{upstream}/a/b?q`.
    pub fn start(upstream: &str, plan: FaultPlan) -> FaultProxy {
        let upstream = upstream.trim_end_matches('/').to_owned();
        assert!(
            upstream.starts_with("http://"),
            "FaultProxy upstream must be http://…, got {upstream}"
        );
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let state = Arc::new(ProxyState {
            upstream,
            plan: Mutex::new(plan),
            log: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(0),
            seen: Mutex::default(),
            client,
        });
        let service_state = Arc::clone(&state);
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let state = Arc::clone(&service_state);
            async move { Ok::<_, std::convert::Infallible>(handle(state, req).await) }
        });
        let server = BackgroundServer::start("fault-proxy", service);
        FaultProxy {
            url: server.url(),
            state,
            server,
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// Replaces the plan; request numbering goes on (see [`FaultProxy::reset`]).
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.state.plan.lock().unwrap() = plan;
    }

    /// Clears the log and restarts request numbering at 1 (the plan is kept).
    pub fn reset(&self) {
        let mut log = self.state.log.lock().unwrap();
        log.clear();
        self.state.counter.store(0, Ordering::SeqCst);
        self.state.seen.lock().unwrap().clear();
    }
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn update(state: &ProxyState, number: usize, f: impl FnOnce(&mut LoggedRequest)) {
    let mut log = state.log.lock().unwrap();
    if let Some(entry) = log.iter_mut().find(|e| e.number == number) {
        f(entry);
    }
}

fn full_body(text: impl Into<Bytes>) -> BoxBody<Bytes, BoxError> {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

async fn handle(
    state: Arc<ProxyState>,
    mut req: Request<Incoming>,
) -> Response<BoxBody<Bytes, BoxError>> {
    let number = state.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let faults = state.plan.lock().unwrap().faults_for(
        number,
        req.method().as_str(),
        &path,
        &mut state.seen.lock().unwrap(),
    );
    state.log.lock().unwrap().push(LoggedRequest {
        number,
        method: req.method().as_str().to_owned(),
        path: path.clone(),
        range: header_string(req.headers(), header::RANGE),
        if_match: header_string(req.headers(), header::IF_MATCH),
        status: 0,
        body_bytes: 0,
        faults: faults.iter().map(|f| format!("{f:?}")).collect(),
    });

    let delay: Duration = faults
        .iter()
        .filter_map(|f| {
            if let Fault::Delay(d) = f {
                Some(*d)
            } else {
                None
            }
        })
        .sum();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    if let Some(code) = faults.iter().find_map(|f| {
        if let Fault::Status(c) = f {
            Some(*c)
        } else {
            None
        }
    }) {
        let s3_code = match code {
            503 => "SlowDown",
            500 => "InternalError",
            403 => "AccessDenied",
            _ => "InjectedFault",
        };
        // Read the request body first, as a server does: answering before an upload's
        // body is sent would show the client a broken pipe instead of the status.
        let _ = req.body_mut().collect().await;
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{s3_code}</Code><Message>fault injected by the test proxy (request {number})</Message></Error>\n"
        );
        update(&state, number, |e| {
            e.status = code;
            e.body_bytes = body.len() as u64;
        });
        let mut response = Response::new(full_body(body));
        *response.status_mut() = StatusCode::from_u16(code).expect("valid status code");
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        return response;
    }

    let mut upstream_path = path;
    if let Some(to) = faults.iter().find_map(|f| {
        if let Fault::SwitchObject { to_path } = f {
            Some(to_path)
        } else {
            None
        }
    }) {
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        upstream_path = format!("{to}{query}");
    }
    if faults.contains(&Fault::IgnoreRange) {
        req.headers_mut().remove(header::RANGE);
        req.headers_mut().remove(header::IF_RANGE);
    }
    let drop_after = faults.iter().find_map(|f| {
        if let Fault::DropMidBody { after_bytes } = f {
            Some(*after_bytes)
        } else {
            None
        }
    });

    let uri: Uri = format!("{}{}", state.upstream, upstream_path)
        .parse()
        .expect("upstream URI");
    *req.uri_mut() = uri;
    strip_hop_by_hop(req.headers_mut());

    match state.client.request(req).await {
        Ok(upstream_response) => {
            let (mut parts, body) = upstream_response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            update(&state, number, |e| e.status = parts.status.as_u16());
            let body = LoggedBody {
                inner: body,
                state: Arc::clone(&state),
                number,
                sent: 0,
                drop_after,
                grace: None,
            };
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => {
            let body = format!("fault proxy: upstream {} failed: {e}\n", state.upstream);
            update(&state, number, |e| {
                e.status = 502;
                e.body_bytes = body.len() as u64;
            });
            let mut response = Response::new(full_body(body));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }
    }
}

/// The upstream body, counted into the log and optionally cut off.
struct LoggedBody {
    inner: Incoming,
    state: Arc<ProxyState>,
    number: usize,
    sent: u64,
    drop_after: Option<u64>,
    grace: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(limit) = this.drop_after
            && this.sent >= limit
        {
            // Let hyper flush the headers and the bytes sent so far before the connection is
            // torn down (it flushes whenever the body is pending).
            let grace = this
                .grace
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
            if grace.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            return Poll::Ready(Some(Err(format!(
                "fault proxy: connection dropped after {limit} body bytes (request {})",
                this.number
            )
            .into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    if let Some(limit) = this.drop_after {
                        let room = usize::try_from(limit - this.sent).unwrap_or(usize::MAX);
                        data.truncate(room);
                    }
                    this.sent += data.len() as u64;
                    let sent = this.sent;
                    update(&this.state, this.number, |e| e.body_bytes = sent);
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.drop_after.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
