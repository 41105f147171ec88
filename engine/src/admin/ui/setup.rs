//! Setting up a firm: the Web Connector page (connections, `.qwc` downloads, the QuickBooks
//! user checklist) and the plugins page (permissions, approval, rollback, upload, and each
//! plugin's settings: plugin-wide or per connection).

use std::fmt::Write;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::routing::{get, post};

use super::html::{Button, action_button, esc, post_form, table_head, time, url_part};
use super::signed::{NoticeQuery, PageResult, Signed, notice_text, see_other};
use crate::admin::plugin_config_api::{plugin_config, set_plugin_config, unset_plugin_config};
use crate::admin::plugins_api::{self, AreaView, PluginView, list_plugins};
use crate::admin::setup_api::{SetupOverview, setup_overview};
use crate::plugins::config_admin::ConfigView;
use crate::state::AppState;

/// The setup pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/connections", get(connections))
        .route("/plugins", get(plugins))
        .route(
            "/plugins/{name}/versions/{version}/approve",
            post(approve_plugin),
        )
        .route("/plugins/{name}/rollback", post(rollback_plugin))
        .route("/plugins/{name}/remove", post(remove_plugin))
        .route("/plugins/{name}/config", post(set_config))
}

// ---- Web Connector setup -------------------------------------------------------------------

async fn connections(s: Signed, State(state): State<AppState>) -> PageResult {
    let overview = setup_overview(&state, &s.actor)
        .await
        .map_err(|e| s.failed("/connections", e))?;
    let mut c = String::from(
        "<p class=\"lead\">Each connection is one QuickBooks company file. On the computer where QuickBooks runs, open the Web Connector, choose <em>Add an application</em> and pick the user's <code>.qwc</code> file, then enter that user's password (shown once by <code>qbridge user add</code>; a lost one is replaced with <code>qbridge user rotate-password</code>).</p>",
    );
    if overview.connections.is_empty() {
        c.push_str("<p>No connection yet. Create one with <code>qbridge connection add NAME</code> and a Web Connector user with <code>qbridge user add</code>.</p>");
    }
    for cs in &overview.connections {
        let conn = &cs.connection;
        let _ = write!(
            c,
            "<section class=\"connection\"><h2>{}</h2><p>Company file: {}</p>",
            esc(&conn.name),
            if conn.company_file.is_empty() {
                "whichever file is open in QuickBooks".to_string()
            } else {
                format!("<code>{}</code>", esc(&conn.company_file))
            }
        );
        if let Some(host) = &conn.host {
            let _ = write!(
                c,
                "<p>Last seen: {} {} ({}), qbXML {}.{}</p>",
                esc(&host.product_name),
                esc(&host.edition),
                esc(&host.country),
                host.qbxml_version.0,
                host.qbxml_version.1
            );
        }
        if let Some(w) = &conn.path_warning {
            let _ = write!(
                c,
                "<p class=\"error\" role=\"alert\">Company file path: {}</p>",
                esc(w)
            );
        }
        if let Some((advice, at)) = &conn.last_error {
            let _ = write!(
                c,
                "<p class=\"error\" role=\"alert\">Last error ({}): {}</p>",
                time(*at),
                esc(advice)
            );
        }
        if cs.users.is_empty() {
            c.push_str("<p>No Web Connector user. Add one with <code>qbridge user add</code>.</p>");
        } else {
            c.push_str(&table_head(
                "",
                None,
                &[
                    "Web Connector user",
                    "State",
                    "Company file it reported",
                    "QWC file",
                ],
            ));
            for u in &cs.users {
                let _ = write!(
                    c,
                    "<tr><td>{name}</td><td>{state}</td><td>{path}</td><td><a href=\"/qwc/{link}\" download=\"{name}.qwc\">Download {name}.qwc</a></td></tr>",
                    name = esc(&u.username),
                    link = url_part(&u.username),
                    state = if u.disabled { "disabled" } else { "enabled" },
                    path = u
                        .reported_path
                        .as_deref()
                        .map_or_else(|| "not connected yet".to_string(), esc),
                );
            }
            c.push_str("</tbody></table>");
        }
        c.push_str("</section>");
    }
    c.push_str(&quickbooks_checklist(&overview));
    Ok(s.show("/connections", "Web Connector setup", None, &c))
}

/// The steps for the QuickBooks user the Web Connector logs in as
/// (research/qbwc-protocol.md §6), with the areas the active plugins need.
fn quickbooks_checklist(overview: &SetupOverview) -> String {
    let mut c = String::from(
        "<section class=\"checklist\"><h2>QuickBooks user checklist</h2><ol>\
<li>In QuickBooks, signed in as the Admin, create a dedicated user for qbridge, for example <code>qbridge-sync</code> (Enterprise: Company &gt; Users &gt; Set Up Users and Roles; Pro/Premier: Company &gt; Set Up Users and Passwords). A dedicated user avoids collisions with a person signed in under their own login.</li>",
    );
    if overview.areas.is_empty() {
        c.push_str("<li>Give it <strong>Full Access</strong>. No active plugin declares request types yet, so no narrower list can be given.</li>");
    } else {
        let _ = write!(
            c,
            "<li>Give it <strong>Full Access</strong>, or at least create and edit rights in these areas (needed by {}):<table><thead><tr><th scope=\"col\">Enterprise role area</th><th scope=\"col\">Pro/Premier area</th></tr></thead><tbody>",
            esc(&overview.plugins.join(", "))
        );
        for a in &overview.areas {
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&a.name),
                esc(&a.pro_name)
            );
        }
        c.push_str("</tbody></table></li>");
    }
    c.push_str(
        "<li>Switch QuickBooks to single-user mode, signed in as the Admin, for the first sync: QuickBooks asks whether to let the application access the company file. Choose <em>Yes, always; allow access even if QuickBooks is not running</em>.</li>\
<li>Then in Edit &gt; Preferences &gt; Integrated Applications &gt; Company Preferences, select qbridge, click Properties, tick <strong>Allow this application to log in automatically</strong> and set <strong>Login as</strong> to the dedicated user.</li>\
<li>When the Web Connector syncs several company files, leave QuickBooks at <strong>No Company Open</strong> between syncs, so it can open each file in turn.</li>\
</ol></section>",
    );
    c
}

// ---- plugins ------------------------------------------------------------------------------

fn list_items(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.iter().map(|i| esc(i)).collect::<Vec<_>>().join(", ")
    }
}

fn area_items(areas: &[AreaView]) -> String {
    if areas.is_empty() {
        return "none".to_string();
    }
    areas
        .iter()
        .map(|a| format!("{} ({})", esc(&a.name), esc(&a.pro_name)))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn plugins(
    s: Signed,
    State(state): State<AppState>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    let versions = list_plugins(&state, &s.actor)
        .await
        .map_err(|e| s.failed("/plugins", e))?;
    let mut c = String::from(
        "<p class=\"lead\">Plugins turn source records into QuickBooks requests. A new version that asks for no more than the running one replaces it for the next call; one that asks for more request types, hosts or secrets waits here for approval. Plugin credentials are on the <a href=\"/secrets\">Secrets</a> page.</p>\
<form id=\"plugin-upload\" class=\"stack\" method=\"post\" action=\"/api/v1/plugins\" enctype=\"application/octet-stream\"><h2>Install a plugin</h2>\
<label for=\"plugin-file\">Component (.wasm)</label><input id=\"plugin-file\" name=\"file\" type=\"file\" accept=\".wasm,application/wasm\" required>\
<label for=\"plugin-signature\">Signature (.minisig, when trusted keys are configured)</label><input id=\"plugin-signature\" name=\"signature\" type=\"file\" accept=\".minisig\">\
<button type=\"submit\">Install</button><noscript><p>Installing from this page needs JavaScript; without it use <code>qbridge plugin install FILE.wasm --url</code>.</p></noscript><p id=\"plugin-upload-status\" role=\"status\"></p></form>",
    );
    let mut names: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
    names.dedup();
    let connections = s.connection_names(&state, "/plugins").await?;
    if names.is_empty() {
        c.push_str("<p>No plugins installed.</p>");
    }
    for name in names {
        let of: Vec<&PluginView> = versions.iter().filter(|v| v.name == name).collect();
        let _ = write!(c, "<section class=\"plugin\"><h2>{}</h2>", esc(name));
        for (v, e) in of
            .iter()
            .filter_map(|v| v.escalation.as_ref().map(|e| (v, e)))
        {
            let _ = write!(
                c,
                "<div class=\"staged\" role=\"region\" aria-label=\"Staged version {ver}\"><h3>Version {ver} waits for approval</h3><p>Approving lets it use, beyond the running version:</p><ul>\
<li>Request types: {rt}</li><li>QuickBooks areas those request types use: {areas}</li><li>Hosts: {hosts}</li><li>Secrets: {secrets}</li></ul>\
<p>Give the dedicated QuickBooks user the new areas before approving, or its requests fail with a permission error.</p>{form}</div>",
                ver = esc(&v.version),
                rt = list_items(&e.request_types),
                areas = area_items(&e.permission_areas),
                hosts = list_items(&e.allowed_hosts),
                secrets = list_items(&e.secrets),
                form = action_button(
                    &format!(
                        "/plugins/{}/versions/{}/approve",
                        url_part(&v.name),
                        url_part(&v.version)
                    ),
                    Button::Primary,
                    &format!("Approve {} {}", v.name, v.version),
                    None,
                )
            );
        }
        c.push_str("<div class=\"table-wrap\">");
        c.push_str(&table_head(
            "",
            None,
            &[
                "Version",
                "Status",
                "Installed",
                "Request types",
                "QuickBooks areas",
                "Hosts",
                "SHA-256",
            ],
        ));
        for v in &of {
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td><td>{} by {}</td><td>{}</td><td>{}</td><td>{}</td><td><code title=\"{sha}\">{short}</code></td></tr>",
                esc(&v.version),
                esc(&v.status),
                time(v.installed_at),
                esc(&v.installed_by),
                list_items(&v.request_types),
                area_items(&v.permission_areas),
                list_items(&v.allowed_hosts),
                sha = esc(&v.sha256),
                short = esc(&v.sha256[..12.min(v.sha256.len())]),
            );
        }
        c.push_str("</tbody></table></div>");
        let running = of.iter().any(|v| v.status == "active");
        if of.iter().any(|v| v.status == "previous") {
            c.push_str(&action_button(
                &format!("/plugins/{}/rollback", url_part(name)),
                Button::Secondary,
                &format!("Roll {name} back to the previous version"),
                None,
            ));
        }
        if of
            .iter()
            .any(|v| v.status == "active" || v.status == "staged")
        {
            let config = plugin_config(&state, &s.actor, name.to_string())
                .await
                .map_err(|e| s.failed("/plugins", e))?;
            c.push_str(&settings(&config, &connections));
        }
        if running {
            c.push_str(&action_button(
                &format!("/plugins/{}/remove", url_part(name)),
                Button::Danger,
                &format!("Remove {name}"),
                None,
            ));
        }
        c.push_str("</section>");
    }
    Ok(s.show("/plugins", "Plugins", notice_text(&nq), &c))
}

/// A plugin's declared settings, the values set, and the form that sets one.
fn settings(config: &ConfigView, connections: &[(i64, String)]) -> String {
    if config.keys.is_empty() {
        return String::new();
    }
    let name = &config.plugin;
    let mut c = format!("<h3>Settings of {}</h3>", esc(name));
    c.push_str(&table_head(
        "",
        None,
        &[
            "Key",
            "What it is",
            "Required",
            "Default",
            "Completes hosts",
            "Values set",
        ],
    ));
    for k in &config.keys {
        let values: Vec<String> = config
            .values
            .iter()
            .filter(|v| v.name == k.name)
            .map(|v| {
                format!(
                    "{}: <code>{}</code>{}",
                    esc(v.connection.as_deref().unwrap_or("every connection")),
                    esc(&v.value),
                    if v.hosts.is_empty() {
                        String::new()
                    } else {
                        format!(" → {}", list_items(&v.hosts))
                    }
                )
            })
            .collect();
        let _ = write!(
            c,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&k.name),
            esc(&k.description),
            if k.required { "yes" } else { "no" },
            k.default_value
                .as_deref()
                .map_or_else(|| "none".to_string(), esc),
            list_items(&k.host_templates),
            if values.is_empty() {
                "none".to_string()
            } else {
                values.join("<br>")
            }
        );
    }
    c.push_str("</tbody></table>");
    let id = |field: &str| format!("config-{}-{field}", esc(name));
    let mut keys = String::new();
    for k in &config.keys {
        let _ = write!(keys, "<option>{}</option>", esc(&k.name));
    }
    let mut scopes = String::from(r#"<option value="">every connection (plugin-wide)</option>"#);
    for (_, cname) in connections {
        let _ = write!(scopes, "<option>{}</option>", esc(cname));
    }
    c.push_str(&post_form(
        &format!("/plugins/{}/config", url_part(name)),
        "stack",
        &format!(
            r#"<label for="{k}">Key</label><select id="{k}" name="key">{keys}</select><label for="{cn}">For</label><select id="{cn}" name="connection">{scopes}</select><label for="{v}">Value (empty: remove the value set for that choice)</label><input id="{v}" name="value" maxlength="1024"><p>A value of a key that completes a host is your approval of that host for the plugin.</p><button type="submit">Save setting of {n}</button>"#,
            k = id("key"),
            cn = id("connection"),
            v = id("value"),
            n = esc(name),
        ),
    ));
    c
}

/// The settings form's fields.
#[derive(serde::Deserialize)]
struct ConfigForm {
    key: String,
    #[serde(default)]
    connection: Option<String>,
    #[serde(default)]
    value: String,
}

async fn set_config(
    s: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<ConfigForm>,
) -> PageResult {
    let connection = f.connection.filter(|c| !c.trim().is_empty());
    let done = if f.value.is_empty() {
        unset_plugin_config(&state, &s.actor, name, f.key, connection)
            .await
            .map(|()| "plugin-config-unset")
    } else {
        set_plugin_config(&state, &s.actor, name, f.key, connection, f.value)
            .await
            .map(|_| "plugin-config-set")
    };
    let notice = done.map_err(|e| s.failed("/plugins", e))?;
    Ok(see_other(&format!("/plugins?notice={notice}")))
}

async fn approve_plugin(
    s: Signed,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> PageResult {
    plugins_api::approve_plugin(&state, &s.actor, name, version)
        .await
        .map_err(|e| s.failed("/plugins", e))?;
    Ok(see_other("/plugins?notice=plugin-approved"))
}

async fn rollback_plugin(
    s: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> PageResult {
    plugins_api::rollback_plugin(&state, &s.actor, name)
        .await
        .map_err(|e| s.failed("/plugins", e))?;
    Ok(see_other("/plugins?notice=plugin-rolled-back"))
}

async fn remove_plugin(
    s: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> PageResult {
    plugins_api::remove_plugin(&state, &s.actor, name)
        .await
        .map_err(|e| s.failed("/plugins", e))?;
    Ok(see_other("/plugins?notice=plugin-removed"))
}
