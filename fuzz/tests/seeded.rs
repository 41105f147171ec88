//! Seeded fuzzing on stable Rust: every target runs over its corpus (`corpus/<target>/`)
//! and then over deterministic random mutations of it. `QBRIDGE_FUZZ_ITERATIONS` sets the
//! mutations per target (default 3,000, a few seconds), `QBRIDGE_FUZZ_SEED` the seed.
//! A failing input is printed with the seed; add it to the corpus as a regression case.

use std::path::Path;

fn iterations() -> usize {
    std::env::var("QBRIDGE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

fn seed() -> u64 {
    std::env::var("QBRIDGE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "{} holds no seed", dir.display());
    seeds
}

fn fuzz(target: &str, body: fn(&[u8])) {
    let seeds = corpus(target);
    let refs: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    qbridge_fuzz::run_seeded(body, &refs, iterations(), seed());
}

#[test]
fn soap_envelope_parser_survives_mutated_envelopes() {
    fuzz("soap_envelope", qbridge_fuzz::soap_envelope);
}

#[test]
fn qbxml_response_parser_survives_mutated_responses() {
    fuzz("qbxml_response", qbridge_fuzz::qbxml_response);
}

#[test]
fn config_loader_survives_mutated_toml_and_environment() {
    fuzz("config", qbridge_fuzz::config);
}

#[test]
fn qwc_generator_writes_well_formed_xml_for_any_accepted_names() {
    fuzz("qwc", qbridge_fuzz::qwc);
}

#[test]
fn plugin_output_validator_survives_mutated_requests() {
    fuzz("plugin_output", qbridge_fuzz::plugin_output);
}
