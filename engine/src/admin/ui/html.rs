//! HTML building blocks for the web UI: the one escaping helper every rendered value goes
//! through, time formatting, and the page layout (navigation, support banner, notices).

use std::fmt::Write;

use crate::admin::api::{GrantView, human_duration};
use crate::admin::auth::Actor;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
/// Every value that did not come from this file's own literals goes through here.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a value for use inside a URL query or path segment (then `esc` for the attribute).
pub(crate) fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Unix ms as `2026-11-23 03:51 UTC` inside a `<time>` element.
pub(crate) fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    format!(
        "<time datetime=\"{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z\">{year:04}-{month:02}-{day:02} {h:02}:{m:02} UTC</time>"
    )
}

/// A live countdown: the server renders the remaining time, `app.js` keeps it running.
pub(crate) fn countdown(remaining_ms: i64) -> String {
    format!(
        "<span class=\"countdown\" data-remaining-ms=\"{remaining_ms}\">{}</span>",
        human_duration(remaining_ms)
    )
}

/// A POST form. No hidden CSRF field is needed: the session cookie is `SameSite=Strict` and
/// the `Actor` extractor refuses cookie-authenticated posts whose Origin/Referer is not ours.
pub(crate) fn post_form(action: &str, class: &str, inner: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"{class}\">{inner}</form>",
        esc(action)
    )
}

/// How a form button looks: the ordinary action, a lesser one, or one that destroys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Button {
    Primary,
    Secondary,
    Danger,
}

/// One button that posts to `action`, in an inline form. `label` and `aria` (the label a
/// screen reader hears when the visible one is ambiguous in a table, e.g. "Retry job 7") are
/// plain text, escaped here.
pub(crate) fn action_button(
    action: &str,
    style: Button,
    label: &str,
    aria: Option<&str>,
) -> String {
    let class = match style {
        Button::Primary => "",
        Button::Secondary => " class=\"secondary\"",
        Button::Danger => " class=\"danger\"",
    };
    let aria = aria
        .map(|a| format!(" aria-label=\"{}\"", esc(a)))
        .unwrap_or_default();
    post_form(
        action,
        "inline",
        &format!(
            "<button type=\"submit\"{class}{aria}>{}</button>",
            esc(label)
        ),
    )
}

/// The start of a data table up to its open `<tbody>`: column headers as `<th scope="col">`
/// (plain text, escaped), an optional caption and class. Close it with `</tbody></table>`.
pub(crate) fn table_head(class: &str, caption: Option<&str>, headers: &[&str]) -> String {
    let mut out = if class.is_empty() {
        String::from("<table>")
    } else {
        format!("<table class=\"{}\">", esc(class))
    };
    if let Some(caption) = caption {
        let _ = write!(out, "<caption>{}</caption>", esc(caption));
    }
    out.push_str("<thead><tr>");
    for h in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    out
}

/// Navigation entries: `(path, label)`.
const NAV: &[(&str, &str)] = &[
    ("/", "Dashboard"),
    ("/jobs", "Jobs"),
    ("/rejected", "Refused"),
    ("/connections", "Connections"),
    ("/plugins", "Plugins"),
    ("/schedules", "Schedules"),
    ("/support", "Support access"),
    ("/audit", "Audit log"),
    ("/tokens", "Tokens"),
    ("/secrets", "Secrets"),
    ("/alerts", "Alerts"),
];

/// What every signed-in page shows around its content.
pub(crate) struct Frame<'a> {
    /// Who is signed in.
    pub actor: &'a Actor,
    /// Active support grants (the banner).
    pub active_grants: &'a [GrantView],
    /// Navigation path of this page.
    pub nav: &'a str,
    /// A one-line outcome of the last action.
    pub notice: Option<&'a str>,
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · qbridge</title><link rel=\"icon\" href=\"/static/favicon.svg\"><link rel=\"stylesheet\" href=\"/static/app.css\">\
<script src=\"/static/app.js\" defer></script></head><body>{body}</body></html>",
        esc(title)
    )
}

/// A full signed-in page.
pub(crate) fn page(frame: &Frame<'_>, title: &str, content: &str) -> String {
    let mut body = String::new();
    body.push_str("<a class=\"skip\" href=\"#main\">Skip to content</a>");
    for g in frame.active_grants {
        let _ = write!(
            body,
            "<div class=\"banner\" role=\"status\"><strong>Support access is active:</strong> {} ({} access, reason: {}) — ends in {}. <a href=\"/support\">Review or revoke</a></div>",
            esc(&g.grant.name),
            esc(g.grant.scope.as_str()),
            esc(g.grant.reason.as_deref().unwrap_or("")),
            countdown(g.remaining_ms.unwrap_or(0)),
        );
    }
    body.push_str(
        "<header class=\"top\"><span class=\"brand\">qbridge</span><nav aria-label=\"Main\"><ul>",
    );
    for (path, label) in NAV {
        let current = if *path == frame.nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(body, "<li><a href=\"{path}\"{current}>{label}</a></li>");
    }
    let _ = write!(
        body,
        "</ul></nav><div class=\"who\">Signed in as {} <span class=\"scope\">{}</span>{}</div></header>",
        esc(&frame.actor.token.name),
        esc(frame.actor.token.scope.as_str()),
        post_form(
            "/logout",
            "inline",
            "<button type=\"submit\" class=\"link\">Sign out</button>"
        )
    );
    let _ = write!(body, "<main id=\"main\"><h1>{}</h1>", esc(title));
    if let Some(n) = frame.notice {
        let _ = write!(body, "<p class=\"notice\" role=\"status\">{}</p>", esc(n));
    }
    body.push_str(content);
    body.push_str("</main>");
    document(title, &body)
}

/// The sign-in page (also what an unauthenticated request to a UI page receives).
pub(crate) fn login(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<main id=\"main\" class=\"login\"><h1>Sign in to qbridge</h1>{error}\
<p>Paste an API token. The first one was printed when qbridge started for the first time; create more with <code>qbridge token create</code>.</p>\
<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
<label for=\"token\">API token</label><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required spellcheck=\"false\">\
<button type=\"submit\">Sign in</button></form></main>",
        esc(next)
    );
    document("Sign in", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_are_inert_after_escaping() {
        let hostile = [
            "<script>alert(1)</script>",
            "\" onmouseover=\"alert(1)",
            "' autofocus onfocus='alert(1)",
            "</textarea><img src=x onerror=alert(1)>",
            "&lt;already escaped&gt;",
        ];
        for h in hostile {
            let e = esc(h);
            assert!(!e.contains('<') && !e.contains('>'), "{e}");
            assert!(!e.contains('"') && !e.contains('\''), "{e}");
            // Escaping is reversible: nothing is lost, only neutralised.
            let back = e
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            assert_eq!(back, h);
        }
        assert_eq!(esc("Zoë & Co"), "Zoë &amp; Co");
    }

    #[test]
    fn url_parts_cannot_break_out_of_a_path() {
        assert_eq!(url_part("a/b?c=d&e"), "a%2Fb%3Fc%3Dd%26e");
        assert_eq!(url_part("api_key-1.x"), "api_key-1.x");
    }

    #[test]
    fn times_render_as_utc_dates() {
        assert!(time(0).contains(">1970-01-01 00:00 UTC<"));
        assert!(time(1_795_406_400_000).contains("datetime=\"2026-11-23T"));
    }
}
