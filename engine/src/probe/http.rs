//! Just enough HTTP/1.x for probes and scrapes: one request per connection, a request head of bounded
//! size, `GET` and `HEAD`, and plain-text answers that close the connection.
//!
//! Kubernetes, load balancers and `curl` all send small `GET`s; anything else is answered with
//! a 4xx and never reaches the consumers. Parsing is a pure function of the bytes read so far,
//! so it is tested without sockets.

/// The largest request head accepted; probe requests are a few hundred bytes.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Ready,
    Live,
}

/// A complete request head, judged.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// A probe; `head_only` for `HEAD`, which gets the status and headers without the body.
    Probe { route: Route, head_only: bool },
    /// A Prometheus scrape of `/metrics`.
    Scrape { head_only: bool },
    /// An answer that needs no consumer state (400, 404, 405, 431, 505).
    Reject(Response),
}

/// A response to write before closing the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) content_type: &'static str,
    /// Leave the body out (a `HEAD` request); `Content-Length` still gives its size.
    pub(crate) head_only: bool,
}

impl Response {
    pub(crate) fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            content_type: "text/plain; charset=utf-8",
            head_only: false,
        }
    }

    /// The bytes to write.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let allow = if self.status == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{allow}Connection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Judges the bytes read so far: `None` while the head is incomplete and may still fit.
pub(crate) fn parse(buffer: &[u8]) -> Option<Request> {
    let Some(end) = find_head_end(buffer) else {
        return (buffer.len() >= MAX_HEAD)
            .then(|| Request::Reject(Response::new(431, "request head too large\n")));
    };
    Some(judge(&buffer[..end]))
}

fn find_head_end(buffer: &[u8]) -> Option<usize> {
    let limit = buffer.len().min(MAX_HEAD);
    buffer[..limit].windows(4).position(|w| w == b"\r\n\r\n")
}

fn judge(head: &[u8]) -> Request {
    let bad = || Request::Reject(Response::new(400, "malformed request\n"));
    let Ok(head) = std::str::from_utf8(head) else {
        return bad();
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad();
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return bad();
    }
    if !target.starts_with('/') {
        return bad();
    }
    match version {
        "HTTP/1.0" | "HTTP/1.1" => {}
        other if other.starts_with("HTTP/") => {
            return Request::Reject(Response::new(
                505,
                "only HTTP/1.0 and HTTP/1.1 are served\n",
            ))
        }
        _ => return bad(),
    }
    // Header fields need a name before the colon; folded continuation lines are obsolete.
    let headers_ok = lines.all(|line| {
        !line.starts_with([' ', '\t']) && line.find(':').is_some_and(|colon| colon > 0)
    });
    if !headers_ok {
        return bad();
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::Reject(Response::new(405, "only GET and HEAD are served\n")),
    };
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let route = match path.trim_end_matches('/') {
        "/readyz" => Route::Ready,
        "/livez" => Route::Live,
        "/metrics" => return Request::Scrape { head_only },
        _ => {
            return Request::Reject(Response::new(
                404,
                "not found: the paths are /readyz, /livez and /metrics\n",
            ))
        }
    };
    Request::Probe { route, head_only }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(request: &str) -> u16 {
        match parse(request.as_bytes()) {
            Some(Request::Reject(response)) => response.status,
            Some(Request::Probe { .. } | Request::Scrape { .. }) => 200,
            None => 0,
        }
    }

    #[test]
    fn probes_are_routed_with_or_without_query_and_trailing_slash() {
        let probe = |route, head_only| Some(Request::Probe { route, head_only });
        let get =
            |target: &str| parse(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(get("/readyz"), probe(Route::Ready, false));
        assert_eq!(get("/livez/"), probe(Route::Live, false));
        assert_eq!(get("/livez?verbose=1"), probe(Route::Live, false));
        assert_eq!(get("/metrics"), Some(Request::Scrape { head_only: false }));
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Some(Request::Scrape { head_only: true })
        );
        assert_eq!(
            parse(b"HEAD /readyz HTTP/1.0\r\n\r\n"),
            probe(Route::Ready, true)
        );
    }

    #[test]
    fn an_incomplete_head_waits_for_more_bytes() {
        assert_eq!(parse(b"GET /readyz HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(parse(b""), None);
    }

    #[test]
    fn bad_requests_get_the_matching_client_error() {
        assert_eq!(status("GET /metricz HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(status("POST /readyz HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status("GET /readyz HTTP/2.0\r\n\r\n"), 505);
        for malformed in [
            "GARBAGE\r\n\r\n",
            "GET /readyz\r\n\r\n",
            "GET  /readyz HTTP/1.1\r\n\r\n",
            "get /readyz HTTP/1.1\r\n\r\n",
            "GET readyz HTTP/1.1\r\n\r\n",
            "GET /readyz FTP/1.1\r\n\r\n",
            "GET /readyz HTTP/1.1\r\nno colon here\r\n\r\n",
            "GET /readyz HTTP/1.1\r\n: no name\r\n\r\n",
            "GET /readyz HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
        ] {
            assert_eq!(status(malformed), 400, "{malformed:?}");
        }
        assert_eq!(
            parse(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n'])
                .map(|r| matches!(r, Request::Reject(Response { status: 400, .. }))),
            Some(true)
        );
    }

    #[test]
    fn an_oversized_head_is_refused_once_it_passes_the_limit() {
        let mut head = b"GET /readyz HTTP/1.1\r\nX: ".to_vec();
        head.resize(MAX_HEAD - 1, b'a');
        assert_eq!(parse(&head), None);
        head.push(b'a');
        assert_eq!(status(std::str::from_utf8(&head).unwrap()), 431);
    }

    #[test]
    fn responses_carry_length_and_close_and_head_drops_the_body() {
        let mut response = Response::new(503, "not ready\n");
        let text = String::from_utf8(response.encode()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Length: 10\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nnot ready\n"));
        response.head_only = true;
        let text = String::from_utf8(response.encode()).unwrap();
        assert!(text.ends_with("\r\n\r\n") && text.contains("Content-Length: 10\r\n"));
        let allowed = String::from_utf8(Response::new(405, "").encode()).unwrap();
        assert!(allowed.contains("Allow: GET, HEAD\r\n"));
    }
}
