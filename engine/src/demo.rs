//! `qbridge demo`: the whole product in one command, on a temporary data dir.
//!
//! It starts the engine in-process (real HTTP on 127.0.0.1, real SQLite), creates a
//! connection and a Web Connector user, sets up a simulated QuickBooks company file with the
//! accounts a firm would have, ingests the sample Autotask and Ramp records through the
//! bundled plugins, runs simulated Web Connector sessions until nothing is left, and prints
//! what happened. The counts it prints come from the simulated company and the queue, so
//! they must agree.
//!
//! With `--plugin FILE.wasm --records DIR` a plugin author's component is installed beside
//! the bundled ones and the records in DIR go through it instead of the samples: every
//! `*.json` file in DIR holds one `{"kind": "...", "record": {...}}`, taken in file-name
//! order. The demo then lists everything the sync wrote to the simulated company file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::engine::Engine;
use crate::pipeline::ingest::{MAX_RECORD_BYTES, ingest};
use crate::plugins::{InstallOutcome, PluginManager};
use crate::qbwc::accounts;
use crate::sim::QuickBooks;
use crate::sim::company::Company;
use crate::sim::webconnector::{Outcome, WcOptions, WebConnector};
use crate::store::queue::{Enqueued, JobFilter, JobState, Origin};
use crate::store::{Store, StoreOptions};

/// The sample the source changes after the first sync.
const CHANGED_SAMPLE: &str = "autotask-invoice-1-basic.json";

/// Web Connector sessions until the engine has nothing left to send; how many there were.
fn sync(wc: &mut WebConnector, company: &mut Company) -> anyhow::Result<usize> {
    let mut sessions = 0;
    loop {
        let transcript = wc
            .run_session(company)
            .map_err(|e| anyhow::anyhow!("Web Connector session failed: {e}"))?;
        if transcript.outcome == Some(Outcome::NoWork) {
            return Ok(sessions);
        }
        sessions += 1;
        if sessions > 100 {
            bail!("the sync did not finish within 100 sessions");
        }
    }
}

/// The sample records: (plugin, kind, file name, the key the record sits under, if any).
const SAMPLES: &[(&str, &str, &str, Option<&str>)] = &[
    ("autotask", "invoice", "autotask-invoice-1-basic.json", None),
    ("autotask", "company", "autotask-company-2-child.json", None),
    (
        "ramp",
        "transaction",
        "ramp-transaction-1-card-split.json",
        Some("transaction"),
    ),
    (
        "ramp",
        "transaction",
        "ramp-transaction-2-refund.json",
        Some("transaction"),
    ),
    (
        "ramp",
        "bill",
        "ramp-bill-3-partial-payments.json",
        Some("bill"),
    ),
];

fn sample_text(file: &str) -> &'static str {
    match file {
        "autotask-invoice-1-basic.json" => {
            include_str!("../../tests/fixtures/sources/autotask-invoice-1-basic.json")
        }
        "autotask-company-2-child.json" => {
            include_str!("../../tests/fixtures/sources/autotask-company-2-child.json")
        }
        "ramp-transaction-1-card-split.json" => {
            include_str!("../../tests/fixtures/sources/ramp-transaction-1-card-split.json")
        }
        "ramp-transaction-2-refund.json" => {
            include_str!("../../tests/fixtures/sources/ramp-transaction-2-refund.json")
        }
        "ramp-bill-3-partial-payments.json" => {
            include_str!("../../tests/fixtures/sources/ramp-bill-3-partial-payments.json")
        }
        other => unreachable!("no sample {other}"),
    }
}

/// A bundled sample record by file name, as the plugin receives it (JSON text).
pub fn sample(file: &str, key: Option<&str>) -> anyhow::Result<String> {
    Ok(sample_record(sample_text(file), key)?.to_string())
}

/// A sample as the plugin receives it: notes removed, and Ramp's ERP ids removed because the
/// simulated company cannot have another firm's ListIDs (the plugins then go by full name).
pub fn sample_record(json: &str, key: Option<&str>) -> anyhow::Result<serde_json::Value> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("external_id");
                map.remove("_meta");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(json)?;
    strip(&mut v);
    Ok(match key {
        Some(k) => v
            .get(k)
            .cloned()
            .with_context(|| format!("sample has no `{k}`"))?,
        None => v,
    })
}

/// A simulated company file set up as a firm would before turning the sync on: the income,
/// expense, card and bank accounts the plugins post to, a customer:job and a class.
pub fn firm_company(path: &str) -> anyhow::Result<Company> {
    let mut c = Company::new(path);
    let mut rq = String::new();
    let account = |name: &str, parent: Option<&str>, kind: &str| {
        let parent = parent.map_or(String::new(), |p| {
            format!("<ParentRef><FullName>{p}</FullName></ParentRef>")
        });
        format!(
            "<AccountAddRq><AccountAdd><Name>{name}</Name>{parent}<AccountType>{kind}</AccountType></AccountAdd></AccountAddRq>"
        )
    };
    for (name, parent, kind) in [
        ("Autotask Other", None, "Income"),
        ("Autotask Expenses", None, "Expense"),
        ("Cost of Goods Sold", None, "CostOfGoodsSold"),
        // Autotask's computed tax is owed (the Autotask plugin's tax item posts here), and
        // Ramp cashback is income.
        ("Sales Tax Payable", None, "OtherCurrentLiability"),
        ("Ramp Cashback", None, "OtherIncome"),
        ("Ramp Card", None, "CreditCard"),
        ("Ramp Bill Pay", None, "Bank"),
        ("Meals", None, "Expense"),
        ("Client Entertainment", Some("Meals"), "Expense"),
        ("Staff Meals", Some("Meals"), "Expense"),
        ("Software", None, "Expense"),
        ("Travel", None, "Expense"),
        ("Computer Equipment", None, "Expense"),
        ("Freight &amp; Delivery", None, "Expense"),
        ("Duties", Some("Freight &amp; Delivery"), "Expense"),
    ] {
        rq.push_str(&account(name, parent, kind));
    }
    rq.push_str(
        "<CustomerAddRq><CustomerAdd><Name>Acme Holdings</Name></CustomerAdd></CustomerAddRq>",
    );
    rq.push_str("<CustomerAddRq><CustomerAdd><Name>EMEA Rollout</Name><ParentRef><FullName>Acme Holdings</FullName></ParentRef></CustomerAdd></CustomerAddRq>");
    rq.push_str("<ClassAddRq><ClassAdd><Name>Sales</Name></ClassAdd></ClassAddRq>");
    rq.push_str("<ClassAddRq><ClassAdd><Name>EMEA</Name><ParentRef><FullName>Sales</FullName></ParentRef></ClassAdd></ClassAddRq>");
    rq.push_str("<ItemNonInventoryAddRq><ItemNonInventoryAdd><Name>Pallet - EUR 1200x800</Name><SalesOrPurchase><AccountRef><FullName>Cost of Goods Sold</FullName></AccountRef></SalesOrPurchase></ItemNonInventoryAdd></ItemNonInventoryAddRq>");
    let xml = format!(
        r#"<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">{rq}</QBXMLMsgsRq></QBXML>"#
    );
    c.open("").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let out = c.process(&xml).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    c.close();
    if out.contains("statusSeverity=\"Error\"") {
        bail!("setting up the simulated company failed: {out}");
    }
    Ok(c)
}

/// A plugin under development run through the demo (`demo --plugin FILE --records DIR`).
#[derive(Debug, Clone)]
pub struct OwnPlugin {
    /// The component.
    pub component: PathBuf,
    /// The folder of record files.
    pub records: PathBuf,
}

/// Most record files read from `--records`.
const MAX_RECORD_FILES: usize = 1000;
/// Actor of the demo's install of `--plugin`.
const DEMO_ACTOR: &str = "cli:demo";

/// One file of `--records`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordFile {
    kind: String,
    record: serde_json::Value,
}

/// The records of `--records`: (file name, kind, record JSON), in file-name order.
fn read_record_dir(dir: &Path) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the records folder {}", dir.display()))?
    {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "json") {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        bail!(
            "{} holds no *.json files; put each record in one as {{\"kind\": \"...\", \"record\": {{...}}}}",
            dir.display()
        );
    }
    if paths.len() > MAX_RECORD_FILES {
        bail!(
            "{} holds {} *.json files; the demo takes at most {MAX_RECORD_FILES}",
            dir.display(),
            paths.len()
        );
    }
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let len = std::fs::metadata(path)?.len();
            // The envelope adds little to the record, which ingest bounds.
            if len > 2 * MAX_RECORD_BYTES as u64 {
                bail!("{} is {len} bytes; a record file holds one record of at most {MAX_RECORD_BYTES} bytes", path.display());
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let file: RecordFile = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not {{\"kind\": \"...\", \"record\": {{...}}}}",
                    path.display()
                )
            })?;
            Ok((name, file.kind, file.record.to_string()))
        })
        .collect()
}

/// Installs `--plugin` into the demo's engine (approving it if it replaces a bundled plugin
/// with more permissions: the demo's data is thrown away) and returns its name.
fn install_own(plugins: &PluginManager, component: &Path) -> anyhow::Result<String> {
    let wasm = std::fs::read(component)
        .with_context(|| format!("cannot read the plugin file {}", component.display()))?;
    let outcome = plugins
        .install(&wasm, None, DEMO_ACTOR)
        .with_context(|| format!("{} is not an installable plugin", component.display()))?;
    let (name, version) = match outcome {
        InstallOutcome::Staged { name, version, .. } => {
            plugins.approve(&name, &version, DEMO_ACTOR)?;
            (name, version)
        }
        InstallOutcome::Activated { name, version, .. }
        | InstallOutcome::AlreadyActive { name, version }
        | InstallOutcome::DevInstalled { name, version, .. } => (name, version),
    };
    println!(
        "plugin {name} {version} installed from {}",
        component.display()
    );
    Ok(name)
}

/// The demo's engine, running in-process on a loopback port.
pub struct DemoEngine {
    /// The engine's store.
    pub store: Store,
    /// The running plugins.
    pub plugins: Arc<PluginManager>,
    /// The demo firm's connection id.
    pub connection: i64,
    /// The demo Web Connector user's password.
    pub password: String,
    /// The engine's QBWC endpoint.
    pub url: String,
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Where the demo's company file sits (as the Web Connector reports it).
const DEMO_FILE: &str = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\demo-firm.qbw";

impl DemoEngine {
    /// Creates the demo firm's connection and Web Connector user in `data_dir`, then boots
    /// and runs the engine as `serve` does (`Engine::boot` and `Engine::run`, so the
    /// scheduler, the deferred calls and audit anchoring run too).
    pub fn start(data_dir: &Path) -> anyhow::Result<DemoEngine> {
        let config = Config {
            data_dir: data_dir.to_path_buf(),
            // The demo lasts seconds: check schedules and deferred calls every second
            // rather than every 30.
            schedule_check_every: Duration::from_secs(1),
            ..Config::default()
        };
        let store = Store::open(&config.data_dir, StoreOptions::default())?;
        // A connection (company file) and a Web Connector user, as `qbridge connection add`
        // and `qbridge user add` would make them.
        let connection = accounts::add_connection(&store, "demo-firm", DEMO_FILE, "demo")?.id;
        let password = accounts::add_user(&store, "demo-firm", "demo-sync", "demo")?;
        let engine = Engine::boot(config, store.clone())?;
        let plugins = engine.state.plugins.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}/qbwc", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = runtime.spawn(engine.run(listener, async {
            let _ = stopped.await;
        }));
        Ok(DemoEngine {
            store,
            plugins,
            connection,
            password,
            url,
            runtime,
            stop,
            server,
        })
    }

    /// Stops the engine as `serve` stops at SIGTERM.
    pub fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.runtime.block_on(self.server)?
    }
}

/// Runs the demo; `keep` keeps the data dir at that path instead of a temporary one; `own`
/// runs an author's plugin and records instead of the samples.
pub fn run(keep: Option<&Path>, own: Option<&OwnPlugin>) -> anyhow::Result<()> {
    // Read the records first: a mistake in them should not wait for the engine to boot.
    let own_records = own.map(|o| read_record_dir(&o.records)).transpose()?;
    let tmp = tempfile::Builder::new().prefix("qbridge-demo-").tempdir()?;
    let data_dir: PathBuf = keep.map_or_else(|| tmp.path().join("data"), Path::to_path_buf);
    println!("qbridge demo — data dir {}", data_dir.display());
    // 1–2. The firm's connection and user, and the engine serving on a loopback port.
    let engine = DemoEngine::start(&data_dir)?;
    let (store, plugins, connection, url) = (
        engine.store.clone(),
        engine.plugins.clone(),
        engine.connection,
        engine.url.clone(),
    );
    println!("engine listening at {url}");

    // 3. The sample records through the bundled plugins, or the author's records.
    let mut ingested = 0;
    let mut refused = 0;
    if let (Some(own), Some(records)) = (own, &own_records) {
        let plugin = install_own(&plugins, &own.component)?;
        println!("\nRecords");
        for (file, kind, record) in records {
            match ingest(
                Origin::Push,
                &store,
                &plugins,
                connection,
                &plugin,
                kind,
                record,
            ) {
                Ok(done) => {
                    ingested += 1;
                    println!(
                        "  {plugin:<9} {kind:<12} {file:<38} → {} request(s)",
                        done.jobs.len()
                    );
                }
                Err(e) => {
                    refused += 1;
                    println!("  {plugin:<9} {kind:<12} {file:<38} → refused: {e}");
                }
            }
        }
    }
    if own.is_none() {
        println!("\nRecords");
    }
    for (plugin, kind, name, key) in SAMPLES.iter().filter(|_| own.is_none()) {
        let record = sample_record(sample_text(name), *key)?;
        let done = ingest(
            Origin::Push,
            &store,
            &plugins,
            connection,
            plugin,
            kind,
            &record.to_string(),
        )
        .with_context(|| format!("ingesting {name}"))?;
        ingested += 1;
        println!(
            "  {plugin:<9} {kind:<12} {name:<38} → {} request(s)",
            done.jobs.len()
        );
    }

    // 4. QuickBooks and the Web Connector, until the engine has nothing left to send.
    let mut company = firm_company(DEMO_FILE)?;
    // What the firm set up itself is not the sync's doing.
    let set_up = company.write_log().len();
    let mut wc = WebConnector::new(
        &url,
        "demo-sync",
        &engine.password,
        WcOptions {
            noop_wait: Duration::from_millis(50),
            ..WcOptions::default()
        },
    );
    let mut sessions = sync(&mut wc, &mut company)?;
    // 5. Changes after the first sync (the samples only): the source renames the invoice's
    //    customer, which changes the invoice too; once that is in QuickBooks, it voids it.
    let first_sync = company.write_log().len();
    if own.is_none() {
        println!("\nChanges after the first sync");
        let mut edited = sample_record(sample_text(CHANGED_SAMPLE), None)?;
        let renamed = format!(
            "{} PLLC",
            edited["company"]["companyName"]
                .as_str()
                .unwrap_or("Customer")
        );
        edited["company"]["companyName"] = serde_json::Value::String(renamed.clone());
        let mut voided = edited.clone();
        voided["invoice"]["isVoided"] = serde_json::Value::Bool(true);
        for (what, record) in [
            (format!("customer renamed to {renamed:?}"), edited),
            ("invoice voided".to_string(), voided),
        ] {
            let done = ingest(
                Origin::Push,
                &store,
                &plugins,
                connection,
                "autotask",
                "invoice",
                &record.to_string(),
            )
            .with_context(|| format!("ingesting the changed {CHANGED_SAMPLE}"))?;
            let versions = done
                .jobs
                .iter()
                .filter(|(_, e)| !matches!(e, Enqueued::AlreadyInQuickBooks))
                .count();
            println!("  autotask  invoice      {what:<38} → {versions} new version(s)");
            sessions += sync(&mut wc, &mut company)?;
        }
        for w in &company.write_log()[first_sync..] {
            println!("  QuickBooks: {:<18} {:<40} {}", w.request, w.name, w.id);
        }
    }
    engine.stop()?;

    // 5. What happened, from the company file and the queue.
    let jobs = store.list_jobs(&JobFilter {
        limit: 10_000,
        ..JobFilter::default()
    })?;
    let completed = jobs
        .iter()
        .filter(|j| j.state == JobState::Completed)
        .count();
    println!(
        "\nSync: {sessions} Web Connector session(s), {} request(s) queued, {completed} completed",
        jobs.len()
    );
    println!("\nCreated in QuickBooks");
    let mut created = 0;
    for kind in [
        "Customer",
        "Vendor",
        "ItemService",
        "ItemNonInventory",
        "ItemOtherCharge",
        "Invoice",
        "CreditCardCharge",
        "CreditCardCredit",
        "Bill",
        "BillPaymentCheck",
        "BillPaymentCreditCard",
    ] {
        let n = company.write_log()[set_up..]
            .iter()
            .filter(|w| w.request == kind)
            .count();
        if n > 0 {
            created += n;
            println!("  {kind:<22} {n}");
        }
    }
    if own.is_some() {
        println!("\nQuickBooks now holds (written by the sync)");
        for w in &company.write_log()[set_up..] {
            println!("  {:<22} {:<40} {}", w.request, w.name, w.id);
        }
    }
    let notes: Vec<String> = jobs
        .iter()
        .flat_map(|j| j.notes.iter().map(move |n| format!("{}: {n}", j.key)))
        .collect();
    if !notes.is_empty() {
        println!("\nAdjusted to fit QuickBooks");
        for n in &notes {
            println!("  {n}");
        }
    }
    let failed: Vec<_> = jobs
        .iter()
        .filter(|j| j.state != JobState::Completed)
        .collect();
    if own.is_none() {
        println!("\nThe invoice now");
        for inv in company.invoices() {
            println!(
                "  {:<12} {:<40} total {}.{:02}{}",
                inv.ref_number.as_deref().unwrap_or("-"),
                inv.entity.as_deref().unwrap_or("-"),
                inv.total_cents / 100,
                inv.total_cents % 100,
                if inv.is_voided { "  (voided)" } else { "" }
            );
        }
    }
    if !failed.is_empty() {
        println!("\nNot completed");
        for j in &failed {
            println!(
                "  job {} {} {} ({}): {}",
                j.id,
                j.request_type,
                j.key,
                j.state,
                j.advice.clone().unwrap_or_default()
            );
        }
    }
    println!(
        "\nSummary: {ingested} records → {} requests → {created} QuickBooks objects created; {} failed",
        jobs.len(),
        failed.len()
    );
    if !failed.is_empty() {
        bail!("{} request(s) did not complete (see above)", failed.len());
    }
    if refused > 0 {
        bail!("the plugin refused {refused} record(s) (see above)");
    }
    Ok(())
}
