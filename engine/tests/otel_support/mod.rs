//! A real OTLP receiver on loopback for the span tests: it decodes what the exporter sends
//! with the official `opentelemetry-proto` types, over http/protobuf (a small hyper server) or
//! gRPC (tonic's generated trace service), either plain or behind TLS with a CA made for the
//! run (optionally mutual TLS), and keeps every span it got.

#![allow(dead_code, unreachable_pub)]

pub mod deferred_timer;
pub mod scenarios;
pub mod single;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;
use tokio::net::TcpListener;

/// A link's trace id, span id and attributes.
pub type Link = (Vec<u8>, Vec<u8>, HashMap<String, String>);

/// One exported span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct Got {
    pub name: String,
    pub trace: Vec<u8>,
    pub id: Vec<u8>,
    /// Empty for a root span.
    pub parent: Vec<u8>,
    /// (trace id, span id, attributes) of each link.
    pub links: Vec<Link>,
    pub attributes: HashMap<String, String>,
    /// Attribute keys the span carried more than once (OTLP wants them unique).
    pub repeated: Vec<String>,
    /// (name, attributes) of each span event.
    pub events: Vec<(String, HashMap<String, String>)>,
    /// The resource's `service.name`.
    pub service: String,
}

impl Got {
    pub fn attr(&self, name: &str) -> &str {
        self.attributes.get(name).map_or("", String::as_str)
    }
}

/// What the receiver got, shared with its server task.
#[derive(Debug, Clone, Default)]
pub struct Collector {
    spans: Arc<Mutex<Vec<Got>>>,
    /// How many export requests arrived.
    requests: Arc<Mutex<usize>>,
    /// How many TLS handshakes the gRPC receiver refused.
    rejected: Arc<std::sync::atomic::AtomicUsize>,
}

impl Collector {
    pub fn spans(&self) -> Vec<Got> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keep(&self, request: ExportTraceServiceRequest) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .map(|resource| attributes(&resource.attributes))
                .and_then(|mut attributes| attributes.remove("service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Got {
                        name: span.name,
                        trace: span.trace_id,
                        id: span.span_id,
                        parent: span.parent_span_id,
                        links: span
                            .links
                            .iter()
                            .map(|link| {
                                (
                                    link.trace_id.clone(),
                                    link.span_id.clone(),
                                    attributes(&link.attributes),
                                )
                            })
                            .collect(),
                        attributes: attributes(&span.attributes),
                        repeated: repeated(&span.attributes),
                        events: span
                            .events
                            .iter()
                            .map(|event| (event.name.clone(), attributes(&event.attributes)))
                            .collect(),
                        service: service.clone(),
                    });
                }
            }
        }
    }

    /// Serves OTLP over http/protobuf (`POST /v1/traces`) on a free loopback port.
    pub async fn start_http() -> (Self, SocketAddr) {
        Self::start_http_with(None).await
    }

    /// Serves OTLP over http/protobuf behind TLS with `acceptor`'s certificate.
    pub async fn start_https(acceptor: openssl::ssl::SslAcceptor) -> (Self, SocketAddr) {
        Self::start_http_with(Some(Arc::new(acceptor))).await
    }

    async fn start_http_with(tls: Option<Arc<openssl::ssl::SslAcceptor>>) -> (Self, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let collector = Self::default();
        let serving = collector.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let collector = serving.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let collector = collector.clone();
                        async move { collector.answer(request).await }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let Some(tls) = tls else {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        return;
                    };
                    let Ok(ssl) = openssl::ssl::Ssl::new(tls.context()) else {
                        return;
                    };
                    let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, stream) else {
                        return;
                    };
                    if std::pin::Pin::new(&mut stream).accept().await.is_ok() {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                });
            }
        });
        (collector, address)
    }

    async fn answer(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, hyper::Error> {
        if request.uri().path() != "/v1/traces" {
            return Ok(status(404));
        }
        let body = request.into_body().collect().await?.to_bytes();
        match ExportTraceServiceRequest::decode(body) {
            Ok(export) => {
                self.keep(export);
                let reply = ExportTraceServiceResponse::default().encode_to_vec();
                Ok(Response::builder()
                    .header("content-type", "application/x-protobuf")
                    .body(Full::new(Bytes::from(reply)))
                    .unwrap_or_else(|_| status(500)))
            }
            Err(_) => Ok(status(400)),
        }
    }

    /// Serves OTLP over gRPC on a free loopback port.
    pub async fn start_grpc() -> (Self, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let collector = Self::default();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(async move {
            let incoming = tokio_stream_of(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
        (collector, address)
    }

    /// Serves OTLP over gRPC behind TLS with `acceptor`'s settings (OpenSSL, as in the HTTPS
    /// receiver) on a free loopback port. Connections whose handshake fails (a client without
    /// the certificate a mutual-TLS acceptor wants) are counted in [`Collector::rejected`].
    pub async fn start_grpc_tls(acceptor: openssl::ssl::SslAcceptor) -> (Self, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let collector = Self::default();
        let service = TraceServiceServer::new(collector.clone());
        let (handshaken, accepted) = tokio::sync::mpsc::channel(16);
        let rejected = Arc::clone(&collector.rejected);
        let acceptor = Arc::new(acceptor);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, handshaken) = (Arc::clone(&acceptor), handshaken.clone());
                let rejected = Arc::clone(&rejected);
                tokio::spawn(async move {
                    let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else {
                        return;
                    };
                    let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, stream) else {
                        return;
                    };
                    if std::pin::Pin::new(&mut stream).accept().await.is_ok() {
                        let _ = handshaken.send(Ok(TlsConnection(stream))).await;
                    } else {
                        rejected.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        tokio::spawn(async move {
            let incoming = futures::stream::unfold(accepted, |mut accepted| async move {
                let next: std::io::Result<TlsConnection> = accepted.recv().await?;
                Some((next, accepted))
            });
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
        (collector, address)
    }

    /// How many connections the TLS gRPC receiver turned away in the handshake.
    pub fn rejected(&self) -> usize {
        self.rejected.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.keep(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A TLS connection as tonic's server drives it.
struct TlsConnection(tokio_openssl::SslStream<tokio::net::TcpStream>);

impl tonic::transport::server::Connected for TlsConnection {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl tokio::io::AsyncRead for TlsConnection {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

fn tokio_stream_of(
    listener: TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

fn status(code: u16) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or_default();
    response
}

fn attributes(
    list: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> HashMap<String, String> {
    list.iter()
        .map(|pair| {
            let value = match pair.value.as_ref().and_then(|value| value.value.as_ref()) {
                Some(Value::StringValue(text)) => text.clone(),
                Some(Value::IntValue(number)) => number.to_string(),
                Some(Value::BoolValue(flag)) => flag.to_string(),
                Some(Value::DoubleValue(number)) => number.to_string(),
                other => format!("{other:?}"),
            };
            (pair.key.clone(), value)
        })
        .collect()
}

fn repeated(list: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.iter()
        .filter(|pair| !seen.insert(pair.key.as_str()))
        .map(|pair| pair.key.clone())
        .collect()
}
