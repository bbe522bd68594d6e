//! The client of a team's staging systems (MLflow, the LiteLLM proxy, the
//! mock backend): a base URL and the headers sent with every call, over
//! [`crate::live::request`] (one connection per call, response headers
//! kept, chunked bodies read), as the `http` steps and Prometheus queries
//! use it. No TLS.

use std::time::Duration;

use crate::live::request::{self, Request};

pub use crate::live::request::Response;

/// Why there was no answer at all.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{0}` is not an http:// URL")]
    Url(String),
    #[error("{method} {url}: no answer: {message}")]
    Io {
        method: String,
        url: String,
        message: String,
    },
}

/// The largest answer read from a team's system (a proxy's `/metrics/`
/// page is the largest expected, well under this).
const MAX_ANSWER: usize = 32 << 20;

/// A base URL (`http://host:port/prefix`) and the headers sent with every
/// call.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    prefix: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl Client {
    pub fn new(base: &str) -> Result<Client, HttpError> {
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| HttpError::Url(base.to_string()))?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(HttpError::Url(base.to_string()));
        }
        Ok(Client {
            host: host.to_string(),
            prefix: prefix.to_string(),
            headers: vec![("Accept".into(), "*/*".into())],
            timeout: Duration::from_secs(30),
        })
    }

    /// Sends `Authorization: Bearer TOKEN` with every call.
    pub fn bearer(mut self, token: &str) -> Client {
        self.headers
            .push(("Authorization".into(), format!("Bearer {token}")));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The URL of `path` (which starts with `/`), for messages.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}{path}", self.host, self.prefix)
    }

    pub fn get(&self, path: &str) -> Result<Response, HttpError> {
        self.call("GET", path, None)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Response, HttpError> {
        self.call("POST", path, Some(&body.to_string()))
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Response, HttpError> {
        let url = self.url(path);
        let mut headers = self.headers.clone();
        if body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        request::send(&Request {
            method,
            url: &url,
            headers: &headers,
            body,
            timeout: self.timeout,
            max_body: MAX_ANSWER,
        })
        .map_err(|e| e.to_string())
        .and_then(|r| {
            if r.truncated {
                Err(format!(
                    "the answer is larger than {} MiB",
                    MAX_ANSWER >> 20
                ))
            } else {
                Ok(r)
            }
        })
        .map_err(|message| HttpError::Io {
            method: method.to_string(),
            url,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_prefix() {
        let c = Client::new("http://127.0.0.1:9/api/").expect("a URL");
        assert_eq!(c.url("/x"), "http://127.0.0.1:9/api/x");
        assert!(Client::new("https://h").is_err());
        assert!(Client::new("http:///x").is_err());
        let e = c.get("/x").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "GET http://127.0.0.1:9/api/x: no answer: cannot connect to 127.0.0.1:9"
            ),
            "{e}"
        );
    }
}
