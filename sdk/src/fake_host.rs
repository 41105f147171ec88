//! [`FakeHost`]: the source system a native test talks to. `host::fetch` inside the engine
//! goes through the engine's checks to the real source; in `cargo test` it answers from the
//! table a test installs here, so `pull` and `acknowledge` are tested without a network.

use std::cell::RefCell;
use std::rc::Rc;

use crate::host::{HttpRequest, HttpResponse};

thread_local! {
    static INSTALLED: RefCell<Option<Rc<Table>>> = const { RefCell::new(None) };
}

#[derive(Default)]
struct Table {
    routes: Vec<Route>,
    seen: RefCell<Vec<HttpRequest>>,
}

struct Route {
    method: String,
    url: String,
    prefix: bool,
    response: HttpResponse,
}

/// A table of answers to a plugin's HTTP requests, for native tests of `pull` and
/// `acknowledge`.
///
/// ```
/// use qbridge_sdk::host::{self, HttpRequest};
/// use qbridge_sdk::testing::FakeHost;
///
/// let fake = FakeHost::new()
///     .json("GET", "https://api.example.com/records", 200, r#"{"records": []}"#)
///     .install();
/// let answer = host::fetch(HttpRequest {
///     method: "GET".into(),
///     url: "https://api.example.com/records".into(),
///     ..HttpRequest::default()
/// })
/// .unwrap();
/// assert_eq!(answer.status, 200);
/// assert_eq!(fake.requests().len(), 1);
/// ```
#[derive(Default)]
pub struct FakeHost {
    table: Table,
}

impl FakeHost {
    /// An empty table: every request is refused until a route answers it.
    pub fn new() -> FakeHost {
        FakeHost::default()
    }

    /// Answers `method url` (exactly, query string included) with `status` and `body`.
    pub fn route(mut self, method: &str, url: &str, status: u16, body: &[u8]) -> FakeHost {
        self.table.routes.push(Route {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            prefix: false,
            response: HttpResponse {
                status,
                headers: Vec::new(),
                body: body.to_vec(),
            },
        });
        self
    }

    /// As [`route`](Self::route), with a JSON body and its content type.
    pub fn json(mut self, method: &str, url: &str, status: u16, json: &str) -> FakeHost {
        self = self.route(method, url, status, json.as_bytes());
        if let Some(last) = self.table.routes.last_mut() {
            last.response.headers = vec![("content-type".into(), "application/json".into())];
        }
        self
    }

    /// Answers every `method` request whose URL starts with `prefix` (paging, ids in paths).
    pub fn prefix(mut self, method: &str, prefix: &str, status: u16, body: &[u8]) -> FakeHost {
        self = self.route(method, prefix, status, body);
        if let Some(last) = self.table.routes.last_mut() {
            last.prefix = true;
        }
        self
    }

    /// Makes this table answer `host::fetch` on the current thread until the returned guard
    /// is dropped (Rust runs each test on its own thread).
    pub fn install(self) -> Installed {
        let table = Rc::new(self.table);
        INSTALLED.with(|t| *t.borrow_mut() = Some(table.clone()));
        Installed { table }
    }
}

/// A [`FakeHost`] answering this thread's requests; dropping it uninstalls it.
pub struct Installed {
    table: Rc<Table>,
}

impl Installed {
    /// Every request the plugin made, in order, as it made them (secret placeholders such
    /// as `{{secret:api_key}}` unresolved: the engine fills them, never the plugin).
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.table.seen.borrow().clone()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        INSTALLED.with(|t| *t.borrow_mut() = None);
    }
}

/// The installed table's answer to `request` (`None`: no table on this thread). A request
/// no route answers is an error naming it, as the engine names a refused host.
pub(crate) fn answer(request: &HttpRequest) -> Option<Result<HttpResponse, String>> {
    let table = INSTALLED.with(|t| t.borrow().clone())?;
    table.seen.borrow_mut().push(request.clone());
    let method = request.method.to_ascii_uppercase();
    let found = table.routes.iter().find(|r| {
        r.method == method
            && if r.prefix {
                request.url.starts_with(&r.url)
            } else {
                request.url == r.url
            }
    });
    Some(match found {
        Some(route) => Ok(route.response.clone()),
        None => Err(format!(
            "the FakeHost has no answer for {} {}; add a route for it",
            request.method, request.url
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            ..HttpRequest::default()
        }
    }

    #[test]
    fn routes_answer_in_order_unknown_requests_are_named_and_the_guard_uninstalls() {
        {
            let fake = FakeHost::new()
                .json("GET", "https://a.test/x", 200, "{}")
                .prefix("GET", "https://a.test/page", 404, b"gone")
                .install();
            assert_eq!(
                crate::host::fetch(get("https://a.test/x")).unwrap().status,
                200
            );
            assert_eq!(
                crate::host::fetch(get("https://a.test/page?n=2"))
                    .unwrap()
                    .status,
                404
            );
            let e = crate::host::fetch(get("https://b.test/")).unwrap_err();
            assert!(e.contains("no answer for GET https://b.test/"), "{e}");
            assert_eq!(fake.requests().len(), 3);
        }
        let e = crate::host::fetch(get("https://a.test/x")).unwrap_err();
        assert!(
            e.contains("only available inside the qbridge engine"),
            "{e}"
        );
    }
}
