//! Fuzz target bodies for the parsers that read untrusted input, shared by the libFuzzer
//! binaries (`fuzz_targets/`, coverage-guided, `cargo fuzz run`) and the seeded tests
//! (`tests/seeded.rs`, plain `cargo test` on stable, bounded and reproducible).
//!
//! Each target feeds arbitrary bytes to one parser and checks the promises its callers rely
//! on: no panic, and an accepted input yields bounded, well-formed output.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use qbridge::config::Config;
use qbridge::store::{Store, StoreOptions};
use qbridge_sdk::{Manifest, Request};

/// The byte limit the SOAP endpoint passes for embedded qbXML parameters.
const MAX_TEXT: usize = 64 * 1024;

/// `qbwc::envelope::parse`: any body either fails with an error or yields a method whose
/// parameters each respect the text limit.
pub fn soap_envelope(data: &[u8]) {
    if let Ok(request) = qbridge::qbwc::envelope::parse(data, MAX_TEXT) {
        for (name, value) in &request.params {
            assert!(value.len() <= MAX_TEXT, "parameter {name} over the limit");
        }
    }
}

/// `qbxml::parse_response`: never panics; an accepted response holds at most
/// `MAX_RESPONSES` responses, each with its raw XML within `RET_XML_CAP`.
pub fn qbxml_response(data: &[u8]) {
    if let Ok(set) = qbridge::qbxml::parse_response(data) {
        assert!(set.responses.len() <= qbridge::qbxml::MAX_RESPONSES);
        for r in &set.responses {
            let kept = r.ret_xml.as_ref().map_or(0, String::len);
            assert!(
                kept <= qbridge::qbxml::RET_XML_CAP,
                "{} keeps {kept} bytes of *Ret XML",
                r.kind
            );
        }
    }
}

/// `Config::load` with an arbitrary TOML file and `QBRIDGE_*` variables: the input is split
/// at the first NUL byte into the file text and `NAME=value` lines.
pub fn config(data: &[u8]) {
    let (toml, env) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let path = scratch_file("config.toml");
    let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(toml));
    assert!(written.is_ok(), "cannot write {}", path.display());
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("QBRIDGE_{k}"), v.to_string()))
        .collect();
    let _ = Config::load(Some(&path), env, &[]);
}

/// The QWC generator's inputs: connection name, username (as the store accepts them) and
/// the public URL and SOAP path settings. Whatever is accepted must come out as a
/// well-formed XML document naming the user.
pub fn qwc(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{0}');
    let connection = parts.next().unwrap_or_default();
    let username = parts.next().unwrap_or_default();
    let mut config = Config::default();
    if let Some(url) = parts.next() {
        let _ = config.apply(
            "server.public_url",
            url,
            qbridge::config::Origin::Flag("fuzz".into()),
        );
    }
    if let Some(path) = parts.next() {
        let _ = config.apply(
            "qbwc.path",
            path,
            qbridge::config::Origin::Flag("fuzz".into()),
        );
    }
    let store = qwc_store();
    if store
        .add_connection(connection, "{FILE-ID}", "", "fuzz")
        .is_err()
    {
        return;
    }
    if store
        .add_qbwc_user(
            connection,
            username,
            "{FILE-ID}",
            "$argon2id$unused",
            "fuzz",
        )
        .is_err()
    {
        return;
    }
    let Ok(qwc) = qbridge::qbwc::qwc_for_user(store, &config, username) else {
        return;
    };
    let mut reader = quick_xml::Reader::from_str(&qwc);
    let mut names_user = false;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(e)) => {
                names_user |= e.name().into_inner() == "UserName";
            }
            Ok(_) => {}
            Err(e) => panic!("QWC for {username:?} is not well-formed XML ({e}):\n{qwc}"),
        }
    }
    assert!(names_user, "QWC has no UserName element: {qwc}");
}

/// `plugins::output::check_requests`: the input is split at NUL bytes into a request's
/// key, qbXML, probe and dependencies. Whatever passes must be one XML element.
pub fn plugin_output(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{0}');
    let key = parts.next().unwrap_or_default().to_string();
    let qbxml = parts.next().unwrap_or_default().to_string();
    let probe = parts.next().map(str::to_string);
    let depends_on = parts.map(str::to_string).collect();
    let manifest = Manifest::new("fuzz", "1.0.0", "Fuzz").request_types(&[
        "CustomerAdd",
        "CustomerQuery",
        "InvoiceAdd",
    ]);
    let mut request = Request::new(key, qbxml)
        .depends_on::<Vec<String>, String>(depends_on)
        .adopt_existing();
    request.probe = probe;
    if qbridge::plugins::output::check_requests(&manifest, std::slice::from_ref(&request)).is_ok() {
        let x = request.qbxml.trim();
        assert!(
            x.starts_with('<') && x.ends_with('>'),
            "accepted qbXML that is not an element: {x:?}"
        );
    }
}

/// A per-process scratch file (fuzzing runs many processes side by side).
fn scratch_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qbridge-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name)
}

/// One store per process for the QWC target (opening a store takes the data-dir lock and
/// runs the migrations, far too slow per input).
fn qwc_store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = scratch_file("qwc-store");
        let _ = std::fs::remove_dir_all(&dir);
        Store::open(&dir, StoreOptions::default()).unwrap_or_else(|e| panic!("store: {e}"))
    })
}

/// A small deterministic generator (xorshift64*) for the seeded runs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Tokens that tend to reach interesting parser states.
const DICTIONARY: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"&amp;",
    b"&lt;",
    b"&#x0;",
    b"&#65;",
    b"&xxe;",
    b"<!DOCTYPE x [<!ENTITY a \"b\">]>",
    b"<![CDATA[",
    b"]]>",
    b"<?xml version=\"1.0\"?>",
    b"\"",
    b"'",
    b"=",
    b"\0",
    b"\xef\xbb\xbf",
    b"\xff",
    b"soap:",
    b"xmlns=\"\"",
    b"[",
    b"]",
    b"\n",
    b"=\"",
    b"0x",
    b"-1",
    b"99999999999999999999",
];

/// One mutation of `input`: flips, inserts, deletes, dictionary tokens, splices, repeats.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.insert(at, rng.next_u64() as u8),
            2 if at < out.len() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                out.splice(at..at, token.iter().copied());
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + rng.below(64)).min(other.len());
                out.splice(at..at, other[from..end].iter().copied());
            }
            5 if at < out.len() => {
                // Repeat a slice: deep nesting and long runs.
                let end = (at + 1 + rng.below(32)).min(out.len());
                let piece = out[at..end].to_vec();
                for _ in 0..rng.below(64) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            _ => out.truncate(at),
        }
    }
    out.truncate(256 * 1024);
    out
}

/// Runs `target` on every seed and then on `iterations` mutations of them.
pub fn run_seeded(target: fn(&[u8]), seeds: &[&[u8]], iterations: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    for s in seeds {
        target(s);
    }
    let mut pool: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
    for _ in 0..iterations {
        let a = rng.below(pool.len());
        let b = rng.below(pool.len());
        let input = mutate(&mut rng, &pool[a], &pool[b]);
        target(&input);
        // Keep some mutants so that mutations stack up over the run.
        if rng.below(8) == 0 && pool.len() < 256 {
            pool.push(input);
        }
    }
}
